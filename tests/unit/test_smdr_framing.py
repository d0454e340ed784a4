"""Framing: bytes as PBXs send them to clean lines, whatever the chunking; and a
megabyte of random bytes through framing and the parser without a crash and with
bounded memory."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.smdr.formats import load_all
from appliance.smdr.framing import FramedLine, LineFramer, frame_bytes
from appliance.smdr.parser import LineKind, parse_line

REC = b"12/31/98 12:52PM 103 05 0123 00:00'16 ...."


@pytest.mark.parametrize(
    "stream,lines",
    [
        (REC + b"\r\n" + REC + b"\r\n", [REC, REC]),  # CR LF
        (REC + b"\n" + REC + b"\n", [REC, REC]),  # LF
        (REC + b"\r" + REC + b"\r", [REC, REC]),  # CR alone (Panasonic NL = CR)
        (REC + b"\n\r" + REC + b"\n\r", [REC, REC]),  # LF CR
        (b"\x02" + REC + b"\x03\x02" + REC + b"\x03", [REC, REC]),  # STX/ETX, no line ends
        (b"\x0cSMDR REPORT\r\n" + REC + b"\r\n", [b"SMDR REPORT", REC]),  # form feed header
        (REC[:10] + b"\x00" + REC[10:] + b"\x00\x00\r\n", [REC]),  # NULs anywhere (Meridian)
        (b"\x11" + REC + b"\x13\x07\r\n", [REC]),  # XON, XOFF, BEL
        (b"\r\n\r\n   \r\n" + REC, [REC]),  # blank lines; last without end
    ],
)
def test_line_ends_and_control_characters(stream, lines):
    assert [line.text.encode() for line in frame_bytes(stream)] == lines


def test_nul_can_end_records_for_samsung_officeserv():
    stream = b"rec one\x00rec two\x00\x0c==== header ====\x00"
    assert [line.text for line in frame_bytes(stream, nul="end")] == [
        "rec one",
        "rec two",
        "==== header ====",
    ]
    assert [line.text for line in frame_bytes(stream)] == ["rec onerec two", "==== header ===="]


def test_seven_bit_parity_read_as_eight_bits_still_reads():
    # A 7E1 PBX read at 8N1: characters with odd bit counts arrive with the top bit set.
    def even_parity(byte: int) -> int:
        return byte | 0x80 if bin(byte).count("1") % 2 else byte

    wire = bytes(even_parity(b) for b in REC + b"\r\n")
    assert wire != REC + b"\r\n"
    assert frame_bytes(wire) == [FramedLine(REC.decode())]
    # Latin-1 names survive when the 7-bit cleaning is turned off.
    assert frame_bytes("Müller\r\n".encode("latin-1"), ascii7=False)[0].text == "Müller"


def test_an_overlong_line_is_cut_and_says_how_much():
    lines = frame_bytes(b"x" * 1000 + b"\r\nshort\r\n", max_line=100)
    assert lines == [FramedLine("x" * 100, 900), FramedLine("short", 0)]


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=12), nul=st.sampled_from(["strip", "end"]))
def test_chunking_does_not_change_the_lines(cuts, nul):
    stream = (
        b"\x0cHEADER\r\n"
        + REC
        + b"\r\n\x02"
        + REC
        + b"\x03"
        + REC[:5]
        + b"\x00"
        + REC[5:]
        + b"\n\r"
        + b"y" * 300
        + b"\r\n"
        + REC
    )
    whole = frame_bytes(stream, nul=nul, max_line=128)
    framer = LineFramer(128, nul=nul)
    got = []
    last = 0
    for cut in sorted(set(cuts)) + [len(stream)]:
        got += framer.feed(stream[last:cut])
        last = cut
    got += framer.flush()
    assert got == whole


def test_flush_gives_the_unfinished_line_once():
    framer = LineFramer()
    assert framer.feed(b"partial") == []
    assert framer.pending == 7
    assert framer.flush() == [FramedLine("partial")]
    assert framer.flush() == []


def test_framer_rejects_nonsense_options():
    with pytest.raises(ValueError):
        LineFramer(4)
    with pytest.raises(ValueError):
        LineFramer(nul="sometimes")


def test_a_megabyte_of_random_bytes_through_framing_and_every_parser():
    """No crash, no line over the limit, nothing buffered beyond it, and every line is
    either junk with a reason, a header, or (rarely) a call."""
    rng = random.Random(20260302)
    data = rng.randbytes(1 << 20)
    formats, _ = load_all("/nonexistent/nightswitch-smdr-site")
    tz = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    framer = LineFramer(256)
    lines = []
    for offset in range(0, len(data), 4096):
        lines += framer.feed(data[offset : offset + 4096])
        assert framer.pending <= 256
    lines += framer.flush()
    assert len(lines) > 10_000
    assert all(len(line.text) <= 256 for line in lines)
    assert all(ch == "\t" or 32 <= ord(ch) < 127 for line in lines for ch in line.text)
    fmts = list(formats.values())
    kinds = dict.fromkeys(LineKind, 0)
    for i, line in enumerate(lines):
        parsed = parse_line(line.text, fmts[i % len(fmts)], now=now, tz=tz)
        kinds[parsed.kind] += 1
        if parsed.kind is LineKind.JUNK:
            assert parsed.reason
    assert kinds[LineKind.JUNK] > 0.99 * len(lines)
