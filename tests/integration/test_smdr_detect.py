"""`calls detect` finds the format and the port settings of a PBX it has never seen.

Each case is a simulated PBX printing SMDR in one format at one rate and framing onto a
simulated RS-232 line (appliance/sim/smdr_line.py): two real ptys, the PBX side opened
with pyserial at its settings, and a wire that paces the bytes at the PBX's rate and
passes them through the UART model, so a listen at the wrong rate reads the garbage a
real UART reads, and a 7E1 PBX's parity bit arrives as the top bit. Every shipped format
is a candidate each time."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from appliance.cli import main
from appliance.pbx.port_settings import SerialSettings
from appliance.sim.smdr_line import SmdrLine
from appliance.smdr.detect import detect
from appliance.smdr.formats import load_all

TZ = ZoneInfo("Europe/Berlin")
NO_SITE = "/nonexistent/nightswitch-smdr-site"
FORMATS, _ = load_all(NO_SITE)
LISTEN = dict(seconds=4, lines=5)

CASES = [
    (1200, "8N1", "avaya-partner"),
    (1200, "7E1", "panasonic-kx-ta"),
    (2400, "8N1", "toshiba-strata-dk"),
    (2400, "7E1", "mitel-sx200"),
    (4800, "8N1", "nec-sl1100"),
    (4800, "7E1", "samsung-dcs"),
    (9600, "8N1", "panasonic-kx-tda"),
    (9600, "7E1", "nortel-meridian"),
]


#: Formats whose printouts the sources show alike: Partner and Merlin; Panasonic KX-TD
#: and KX-TDA (which differ in what the date and time mean, not in how they look).
ALIKE = {"avaya-partner": {"avaya-merlin"}, "panasonic-kx-tda": {"panasonic-kx-td"}}


def settings_for(rate: int, framing: str) -> SerialSettings:
    bits, parity = {"8N1": (8, "none"), "7E1": (7, "even")}[framing]
    return SerialSettings(baudrate=rate, bytesize=bits, parity=parity)


@pytest.mark.parametrize("rate,framing,name", CASES, ids=[f"{r}-{f}-{n}" for r, f, n in CASES])
def test_detect_finds_the_format_rate_and_framing(rate, framing, name):
    with SmdrLine(FORMATS[name], settings_for(rate, framing), every=0.1, tz=TZ, seed=rate) as line:
        result = detect(line.path, list(FORMATS.values()), tz=TZ, **LISTEN)
        printed = list(line.lines)
    best = result.proposal
    assert best is not None, {r: len(d) for r, d in result.captured.items()}
    assert (best.fmt, best.rate, best.framing) == (name, rate, framing), [
        (r.fmt, r.rate, r.framing, r.read) for r in result.readings if r.calls
    ][:5]
    assert best.junk == 0 and best.calls >= 3
    # Formats that print alike are named as ties, for the installer to compare.
    assert {t.fmt for t in result.ties} <= ALIKE.get(name, set())
    assert result.parity[rate] == ("even" if framing == "7E1" else "none")
    # The other rates read garbage: nothing there reads as a call in any format.
    assert not [r for r in result.readings if r.rate != rate and r.calls]
    # The examples are lines the PBX printed, read back.
    for raw, record in best.examples:
        assert raw.rstrip() in printed and record.fmt == name


def test_the_command_prints_the_proposal_and_the_config_lines(capsys, tmp_path):
    settings = SerialSettings(baudrate=2400, bytesize=7, parity="even")
    with SmdrLine(FORMATS["panasonic-kx-ta"], settings, every=0.1, tz=TZ, seed=7) as line:
        code = main(
            [
                "calls",
                "detect",
                "--port",
                line.path,
                "--config",
                str(tmp_path / "none.toml"),
                "--tz",
                "Europe/Berlin",
                "--seconds",
                "4",
                "--lines",
                "5",
                "--rates",
                "1200,2400",
            ]
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Listening on" in err and "2400 baud:" in err
    assert "Proposal: format panasonic-kx-ta at 2400 baud 7E1" in out
    assert "even parity of the other seven" in out
    assert f'port = "{line.path}"' in out
    assert 'settings = { baudrate = 2400, bytesize = 7, parity = "even", stopbits = 1 }' in out
    assert "Examples:" in out and "-> " in out


def test_the_command_says_so_when_nothing_reads(capsys, tmp_path):
    settings = SerialSettings(baudrate=9600)
    with SmdrLine(FORMATS["panasonic-kx-ta"], settings, every=None, tz=TZ) as line:
        code = main(
            [
                "calls",
                "detect",
                "--port",
                line.path,
                "--config",
                str(tmp_path / "none.toml"),
                "--tz",
                "UTC",
                "--seconds",
                "1",
                "--rates",
                "9600",
                "--json",
            ]
        )
    out, _ = capsys.readouterr()
    assert code == 1
    result = json.loads(out)
    assert result["proposal"] is None and result["rates"][0]["bytes"] == 0


@pytest.mark.parametrize(
    "args,words",
    [
        (["--rates", "1200,1234"], "'1234' is not a rate"),
        (["--seconds", "0"], "use a number 1 to 600"),
        (["--lines", "many"], "use a number 1 to 1000"),
        (["--format", "nope"], "unknown SMDR format 'nope'"),
    ],
)
def test_bad_options_are_named(capsys, tmp_path, args, words):
    code = main(
        [
            "calls",
            "detect",
            "--port",
            "/dev/null",
            "--config",
            str(tmp_path / "none.toml"),
            "--tz",
            "UTC",
            *args,
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2 and words in err and "Traceback" not in err


def test_a_port_that_cannot_be_opened_is_reported(capsys, tmp_path):
    code = main(
        [
            "calls",
            "detect",
            "--port",
            str(tmp_path / "ttyNONE"),
            "--config",
            str(tmp_path / "none.toml"),
            "--tz",
            "UTC",
            "--seconds",
            "1",
            "--rates",
            "1200",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 1 and "cannot listen" in out and "Nothing arrived" in out
