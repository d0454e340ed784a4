"""The UART model of the simulated line, and the pure half of `calls detect`: reading
captured bytes as every format and framing, and telling 7E1 from 8N1 by the top bit."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sim.uart import frame_bits, receive, through_the_wire
from appliance.smdr.detect import evaluate, framing_bytes, parity_of
from appliance.smdr.formats import load_all
from appliance.smdr.record import CallRecord

TZ = ZoneInfo("Europe/Berlin")
FORMATS, _ = load_all("/nonexistent/nightswitch-smdr-site")
RATES = (1200, 2400, 4800, 9600)


def printout(name: str, count: int = 6) -> bytes:
    fmt = FORMATS[name]
    lines = []
    for i in range(count):
        record = CallRecord(
            datetime(2026, 3, 2, 8 + i, 15, tzinfo=timezone.utc),
            60 + i,
            str(101 + i),
            f"0{i + 1}",
            "out",
            True,
            5,
            f"030123456{i}",
            name,
            "",
        )
        lines.append(fmt.render(record, TZ))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def test_a_frame_is_start_data_parity_stop():
    assert frame_bits(b"A") == [0, 1, 0, 0, 0, 0, 0, 1, 0, 1]
    # 'A' has two ones: even parity adds 0, odd adds 1; two stop bits.
    assert frame_bits(b"A", bytesize=7, parity="even", stopbits=2) == [
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        1,
        0,
        1,
        1,
    ]
    assert frame_bits(b"A", bytesize=7, parity="odd")[-2] == 1


def test_at_the_right_rate_the_bytes_arrive_and_7e1_sets_the_top_bit():
    data = printout("panasonic-kx-ta")
    assert through_the_wire(data, tx_baud=1200, rx_baud=1200) == data
    assert through_the_wire(data, tx_baud=1200, rx_baud=1200, stopbits=2) == data
    seven = through_the_wire(data, tx_baud=2400, rx_baud=2400, bytesize=7, parity="even")
    assert bytes(b & 0x7F for b in seven) == data
    assert any(b & 0x80 for b in seven)
    assert all((b >> 7) == bin(b & 0x7F).count("1") % 2 for b in seven)


def test_at_the_wrong_rate_the_line_is_garbage():
    data = printout("panasonic-kx-ta")
    for tx in RATES:
        for rx in RATES:
            if tx != rx:
                got = through_the_wire(data, tx_baud=tx, rx_baud=rx)
                assert got != data and data[:20] not in got


@settings(max_examples=80, deadline=None)
@given(
    data=st.binary(max_size=200),
    tx=st.sampled_from(RATES),
    rx=st.sampled_from(RATES),
    bits=st.sampled_from([7, 8]),
    parity=st.sampled_from(["none", "even", "odd", "mark"]),
    stop=st.sampled_from([1, 2]),
)
def test_the_receiver_never_fails_and_reads_no_more_than_fits(data, tx, rx, bits, parity, stop):
    line = frame_bits(data, bytesize=bits, parity=parity, stopbits=stop)
    got = receive(line, tx, rx)
    # A character takes at least 9.5 of the receiver's bit times.
    assert len(got) <= len(line) * rx / tx / 9.5 + 1


def test_parity_of_tells_the_framings_apart():
    data = printout("nec-sl1100")
    assert parity_of(data) == "none"
    assert (
        parity_of(through_the_wire(data, tx_baud=9600, rx_baud=9600, bytesize=7, parity="even"))
        == "even"
    )
    assert (
        parity_of(through_the_wire(data, tx_baud=9600, rx_baud=9600, bytesize=7, parity="odd"))
        == "odd"
    )
    assert parity_of(bytes(b | 0x80 for b in data)) == "mark"
    assert parity_of(b"short") is None
    assert parity_of(through_the_wire(data, tx_baud=1200, rx_baud=9600)) is None
    assert framing_bytes(b"\xc1\x41", "7E1") == b"AA"


def test_evaluate_proposes_the_format_rate_and_framing_that_read_most():
    data = printout("panasonic-kx-ta")
    captured = {
        rx: through_the_wire(data, tx_baud=2400, rx_baud=rx, bytesize=7, parity="even")
        for rx in RATES
    }
    result = evaluate(
        captured, list(FORMATS.values()), now=datetime(2026, 3, 2, 18, 0, tzinfo=TZ), tz=TZ
    )
    best = result.proposal
    assert (best.fmt, best.rate, best.framing) == ("panasonic-kx-ta", 2400, "7E1")
    assert (best.calls, best.junk, best.lines) == (6, 0, 6)
    assert result.parity == {1200: None, 2400: "even", 4800: None, 9600: None}
    assert len(best.examples) == 3 and best.examples[0][1].extension == "101"


def test_evaluate_proposes_nothing_when_nothing_reads():
    result = evaluate(
        {1200: b"", 9600: bytes(range(256)) * 4},
        list(FORMATS.values()),
        now=datetime(2026, 3, 2, 18, 0, tzinfo=TZ),
        tz=TZ,
    )
    assert result.proposal is None and result.ties == []
