"""The SMDR line parser: missing years across New Year, missing dates, end times,
local time to UTC, and junk kept with a reason."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.errors import TemplateError
from appliance.smdr.formats import format_paths, load_format, parse_format
from appliance.smdr.parser import LineKind, parse_line
from appliance.smdr.templates import (
    clock_values,
    compile_template,
    duration_seconds,
    render_duration,
)

BERLIN = ZoneInfo("Europe/Berlin")
NO_SITE = "/nonexistent/nightswitch-smdr-site"
MITEL = load_format("mitel-sx200", NO_SITE)
SAMSUNG = load_format("samsung-dcs", NO_SITE)
NEC = load_format("nec-sl1100", NO_SITE)
KX_TD = load_format("panasonic-kx-td", NO_SITE)
KX_TA = load_format("panasonic-kx-ta", NO_SITE)


def local(text: str, tz=BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def start_of(line: str, fmt, now: str, tz=BERLIN) -> str:
    parsed = parse_line(line, fmt, now=local(now, tz), tz=tz)
    assert parsed.kind is LineKind.CALL, parsed.reason
    return parsed.record.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


# -- the missing year --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,now,expected",
    [
        # received the same evening
        ("12/31 23:50 00:01:00 T001", "2026-12-31T23:52", "2026-12-31 23:50:00"),
        # a December record received on 2 January is last year's
        ("12/31 23:50 00:01:00 T001", "2027-01-02T08:00", "2026-12-31 23:50:00"),
        # a New Year's call received just after midnight
        ("01/01 00:05 00:01:00 T001", "2027-01-01T00:07", "2027-01-01 00:05:00"),
        # the PBX clock runs a few minutes fast across midnight: still next year, not last
        ("01/01 00:05 00:01:00 T001", "2026-12-31T23:58", "2027-01-01 00:05:00"),
        # a June record that sat in the PBX buffer while the port was down, read in January
        ("06/15 10:00 00:01:00 T001", "2027-01-20T09:00", "2026-06-15 10:00:00"),
        # 29 February without a year finds the last leap year
        ("02/29 10:00 00:01:00 T001", "2027-03-01T09:00", "2024-02-29 10:00:00"),
    ],
)
def test_year_is_inferred_from_the_receive_time(line, now, expected):
    assert start_of(line, MITEL, now) == expected


def test_two_digit_years_land_in_the_right_century():
    line = "12/31/98 12:52PM 103 05 0123 00:00'16 ...."
    assert start_of(line, KX_TA, "2026-06-01T12:00").startswith("1998-12-31")
    line = "01/02/26 09:00AM 103 05 0123 00:00'16 ...."
    assert start_of(line, KX_TA, "2026-06-01T12:00").startswith("2026-01-02")


def test_a_record_with_no_date_is_today_or_yesterday():
    line = "POT  23:55 001        00:02:00 201        0301234"
    assert start_of(line, NEC, "2026-03-02T00:10") == "2026-03-01 23:55:00"
    assert start_of(line, NEC, "2026-03-01T23:58") == "2026-03-01 23:55:00"
    # a PBX clock up to an hour fast still gives today
    assert (
        start_of("POT  10:30 001        00:02:00 201", NEC, "2026-03-01T10:00")
        == "2026-03-01 10:30:00"
    )


# -- start from end, zones, DST ----------------------------------------------------------


def test_end_time_formats_give_the_start():
    # KX-TD prints the END: 23:00 minus 1 min 20 s.
    line = "03/02/26 11:00PM 101   03 <I>0301234567             0'12 00:01'20"
    parsed = parse_line(line, KX_TD, now=local("2026-02-03T23:01"), tz=BERLIN)
    assert parsed.record.started_at == datetime(2026, 2, 3, 21, 58, 40, tzinfo=timezone.utc)
    assert parsed.record.duration_s == 80 and parsed.record.ring_s == 12
    # KX-TD prints the date day first
    assert parsed.record.started_at.astimezone(BERLIN).month == 2


def test_local_time_is_read_in_the_site_zone_and_stored_as_utc():
    line = "201 701 07/02 17:15:13 00:00:28 IT"
    for tz, hour in ((BERLIN, 15), (ZoneInfo("America/Chicago"), 22)):
        parsed = parse_line(line, SAMSUNG, now=local("2026-07-02T18:00", tz), tz=tz)
        assert parsed.record.started_at.tzinfo is timezone.utc
        assert parsed.record.started_at.hour == hour


def test_the_repeated_autumn_hour_takes_the_first_occurrence():
    line = "201 701 10/25 02:30:00 00:00:28 IT"
    parsed = parse_line(line, SAMSUNG, now=local("2026-10-25T04:00"), tz=BERLIN)
    # 02:30 CEST (first pass) = 00:30 UTC
    assert parsed.record.started_at == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)


# -- headers and junk --------------------------------------------------------------------


@pytest.mark.parametrize(
    "line,reason",
    [
        ("", "empty line"),
        ("   ", "empty line"),
        ("ERROR BUFFER OVERFLOW", "does not match the samsung-dcs layout"),
        ("201 701 13/45 17:15:13 00:00:28 IT", "date '13/45' does not exist"),
        ("201 701 02/30 17:15:13 00:00:28 IT", "date '02/30' does not exist"),
        ("201 701 01/02 25:15:13 00:00:28 IT", "time '25:15:13' is not hh:mm:ss"),
        ("201 701 01/02 17:15:13 00:77:28 IT", "duration '00:77:28' is not HH:MM:SS"),
    ],
)
def test_junk_is_kept_with_a_reason(line, reason):
    parsed = parse_line(line, SAMSUNG, now=local("2026-01-02T18:00"), tz=BERLIN)
    assert parsed.kind is LineKind.JUNK
    assert parsed.reason == reason
    assert parsed.raw == line and parsed.record is None


def test_an_absurd_duration_is_junk_not_a_crash():
    # A site format whose duration is plain seconds, fed line noise.
    fmt = parse_format(
        {
            "name": "seconds",
            "title": "t",
            "source": "s",
            "verified": False,
            "layout": {"regex": r"(?P<time>\d\d:\d\d) (?P<duration>\d+)"},
            "time": {"clock": "hh:mm", "printed": "end", "duration": "S"},
            "render": [{"template": "{time} {duration}"}],
        }
    )
    now = local("2026-06-15T12:00")
    assert parse_line("10:00 90", fmt, now=now, tz=BERLIN).record.duration_s == 90
    parsed = parse_line("10:00 " + "9" * 40, fmt, now=now, tz=BERLIN)
    assert parsed.kind is LineKind.JUNK
    assert parsed.reason.endswith("is longer than a week")


def test_page_headers_are_headers_not_junk():
    for line in (
        "SMDR REPORT FOR [STA Miami ] Mar/21/1999 13:49",
        "T EXT AUTH TRK MM/DD STT.TIME DURATION FG DIALED DIGIT ACCOUNT CODE",
        "======================================================",
    ):
        assert (
            parse_line(line, SAMSUNG, now=local("2026-01-02T18:00"), tz=BERLIN).kind
            is LineKind.HEADER
        )
    header = parse_line(
        "03/02/2026                     PAGE   1", NEC, now=local("2026-03-02T09:00"), tz=BERLIN
    )
    assert (header.kind, header.reason) == (LineKind.HEADER, "page header")


def test_panasonic_clock_scrambled_during_a_call_is_junk():
    # "**/**/** **:**" when the clock was changed 4 times during a call
    # (docs/pbx-families.md#panasonic-kx-tda)
    line = "**/**/** **:**AM 1200 01 <I>0123 0'05 00:01'00"
    fmt = load_format("panasonic-kx-tda", NO_SITE)
    assert parse_line(line, fmt, now=local("2026-01-02T18:00"), tz=BERLIN).kind is LineKind.JUNK


# -- templates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template,text,seconds",
    [
        ("HH:MM:SS", "00:02:37", 157),
        ("HH:MM'SS", "01:00'05", 3605),
        ("M'SS", "5'15", 315),
        ("M'SS", "75'00", 4500),
        ("HH:MM:SS.t", "00:01:05.7", 65),
        ("HMMm", "10305", 3600 + 3 * 60 + 30),  # Definity: hours, minutes, tenths of a minute
        ("S", "000059", 59),
        ("HHMMSS", "000059", 59),
        ("HH:MM:SS", "0:02:37", 157),
        ("HH:MM:SS", "100:00:00", 360000),
    ],
)
def test_duration_templates(template, text, seconds):
    compiled = compile_template("duration", template)
    assert duration_seconds(compiled, text) == seconds
    assert duration_seconds(compiled, render_duration(compiled, seconds)) == seconds


@pytest.mark.parametrize(
    "template,text,hms",
    [
        ("hh:mmAP", "12:52PM", (12, 52, 0)),
        ("hh:mmAP", "12:05AM", (0, 5, 0)),
        ("hh:mmAP", "1:05PM", (13, 5, 0)),
        ("hh:mmAP", "07:42P", (19, 42, 0)),
        ("hh:mm:ss", "13:51:17", (13, 51, 17)),
        ("hhmmss", "000852", (0, 8, 52)),
        ("hh:mmAP", "13:00PM", None),
        ("hh:mm", "24:00", None),
    ],
)
def test_clock_templates(template, text, hms):
    assert clock_values(compile_template("clock", template), text) == hms


@pytest.mark.parametrize(
    "kind,text,words",
    [
        ("date", "MM/DD/YYY", "YY or YYYY"),
        ("date", "MM/YY", "needs MM and DD"),
        ("clock", "mm:ss", "needs hh and mm"),
        ("duration", "HH:XX", "letter 'X'"),
        ("duration", "", "non-empty"),
        ("date", "MM/DD/MM", "once"),
    ],
)
def test_bad_templates_say_what_is_allowed(kind, text, words):
    with pytest.raises(TemplateError) as info:
        compile_template(kind, text)
    assert words in str(info.value)


#: Every shipped format, so that a new one cannot skip the noise test.
FORMATS = [load_format(name, NO_SITE) for name in sorted(format_paths(NO_SITE))]


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(alphabet=st.characters(min_codepoint=9, max_codepoint=255), max_size=160)
    | st.from_regex(r"[0-9 /:'\"<>IAPMCNT.,*#-]{0,90}", fullmatch=True),
    which=st.integers(0, len(FORMATS) - 1),
)
def test_any_text_gives_a_verdict_never_an_exception(text, which):
    parsed = parse_line(text, FORMATS[which], now=local("2026-06-15T12:00"), tz=BERLIN)
    assert parsed.raw == text
    assert (parsed.record is not None) == (parsed.kind is LineKind.CALL)
    if parsed.kind is not LineKind.CALL:
        assert parsed.reason


def test_no_format_backtracks_catastrophically_on_long_noise():
    """A regex with nested repeats can take exponential time on a line that almost fits
    and would freeze the intake thread. This is not a speed target (bench/ has those):
    every adversarial line must simply come back, and 2 s is a thousand times too long."""
    import time

    now = local("2026-06-15T12:00")
    fillers = ["A", "1", " ", "A1 ", "<I>", "'", ":", "/", "AB CD ", "*#"]
    for fmt in FORMATS:
        bases = [s["line"] for s in fmt.samples] or [fmt.render(_generic_call(fmt), BERLIN)]
        for base in bases:
            for cut in (len(base) // 3, 2 * len(base) // 3, len(base)):
                for filler in fillers:
                    line = (base[:cut] + filler * 500)[:500] + " !"
                    start = time.perf_counter()
                    parse_line(line, fmt, now=now, tz=BERLIN)
                    assert time.perf_counter() - start < 2.0, (fmt.name, line)


def _generic_call(fmt):
    from appliance.smdr.record import CallRecord

    return CallRecord(
        datetime(2026, 6, 15, 9, 0, tzinfo=timezone.utc),
        65,
        "201",
        "01",
        "in",
        False,
        5,
        "0301234567",
        fmt.name,
        "",
    )
