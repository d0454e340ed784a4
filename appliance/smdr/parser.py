"""One SMDR line in, one :class:`ParsedLine` out: a call, a header, or junk with a reason.

The parser is pure: the format, the line, the instant it was received (``now``) and the
site's time zone go in; nothing is read from the clock, the port or the disk. Framing
(NULs, form feeds, STX/ETX, line ends) has already been done by
:mod:`appliance.smdr.framing`.

Two things a printout leaves out are worked out here:

* **The year** (and on some PBXs the date). Many PBXs print ``MM/DD`` or only ``hh:mm``
  (docs/pbx-families.md#timestamps-and-years). The record is placed at the *latest* date
  that is not later than the moment it was received, plus a little slack for a PBX clock
  that runs fast: a ``12/31`` record received on 2 January is last year's, and a
  ``06/15`` record that sat in the PBX's buffer while the port was down, received in
  January, is last June's.
  Two-digit years are placed in the century that satisfies the same rule.
* **The start of the call**, when the format prints its end (Panasonic KX-TD): start =
  end - duration.
* **The duration**, when the format prints the start and the end of the call but no
  duration (NEC NEAX): the end is placed at the first moment not before the start that
  the printed end time (and end date, without a year) allows.

Local times are read in the site's zone and stored as aware UTC. In the hour that
occurs twice in autumn the first occurrence is taken: the printout cannot say which.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from appliance.smdr.formats import SmdrFormat
from appliance.smdr.record import CallRecord
from appliance.smdr.templates import clock_values, duration_seconds

#: How far in the future a record without a printed year may be before it is taken to
#: be last year's: a PBX clock a day or two fast must not push a call back a year.
YEAR_SLACK = timedelta(days=2)
#: The same for records with no date at all: the time of day must not be more than this
#: ahead of the receive time, else it is yesterday's.
DAY_SLACK = timedelta(hours=1)


#: No call lasts longer; a bigger figure is line noise in the duration column.
MAX_DURATION_S = 7 * 86400


class LineKind(enum.StrEnum):
    """What a line turned out to be."""

    #: A call record; :attr:`ParsedLine.record` holds it.
    CALL = "call"
    #: A line the format declares is not a call (page header, column headings, log-in
    #: notice); skipped but counted.
    HEADER = "header"
    #: A line that is neither; kept raw with :attr:`ParsedLine.reason` and counted.
    JUNK = "junk"


@dataclass(frozen=True)
class ParsedLine:
    """The parser's verdict on one line.

    :param LineKind kind: call, header or junk.
    :param str raw: the line as given.
    :param record: the :class:`CallRecord` for a call, else None.
    :param reason: for a header, which kind of header; for junk, what did not fit.
    """

    kind: LineKind
    raw: str
    record: CallRecord | None = None
    reason: str | None = None


def parse_line(line: str, fmt: SmdrFormat, *, now: datetime, tz: tzinfo) -> ParsedLine:
    """Parse one framed SMDR *line* in format *fmt*.

    :param str line: one line, without its line ending.
    :param SmdrFormat fmt: the PBX's format.
    :param datetime now: when the line was received (aware); the reference for a
        missing year or date.
    :param tz: the site's time zone (:class:`zoneinfo.ZoneInfo`); the PBX prints local time.
    """
    if not line.strip():
        return ParsedLine(LineKind.JUNK, line, reason="empty line")
    for skip in fmt.skip:
        if skip.pattern.search(line):
            return ParsedLine(LineKind.HEADER, line, reason=skip.name)
    groups = fmt.layout.split(line)
    if groups is None:
        return ParsedLine(LineKind.JUNK, line, reason=f"does not match the {fmt.name} layout")
    try:
        record = _record(groups, fmt, line, now, tz)
    except _Bad as exc:
        return ParsedLine(LineKind.JUNK, line, reason=str(exc))
    except (ValueError, OverflowError) as exc:
        # A site format can produce values no one foresaw; the line is kept, not lost.
        return ParsedLine(LineKind.JUNK, line, reason=f"cannot be read as a call: {exc}")
    return ParsedLine(LineKind.CALL, line, record=record)


class _Bad(ValueError):
    pass


def _record(
    groups: dict[str, str], fmt: SmdrFormat, line: str, now: datetime, tz: tzinfo
) -> CallRecord:
    duration = _seconds(groups, "duration", fmt.duration)
    ring = _seconds(groups, "ring", fmt.ring)
    local = _local_time(groups, fmt, now.astimezone(tz).replace(tzinfo=None))
    # fold=0: in the repeated autumn hour take the first occurrence (the printout is silent).
    instant = local.replace(tzinfo=tz).astimezone(timezone.utc)
    if duration is None and groups.get("end_time"):
        duration = _duration_from_end(groups, fmt, local, instant, tz)
    if fmt.printed == "end" and duration is not None:
        instant -= timedelta(seconds=duration)
    direction = next((r.value for r in fmt.direction if r.applies(groups)), None)
    answered = next((r.value for r in fmt.answered if r.applies(groups)), None)
    text = {}
    for name, sources in fmt.fields.items():
        text[name] = next((groups[g] for g in sources if groups.get(g)), None)
    return CallRecord(
        started_at=instant,
        duration_s=duration,
        extension=text.get("extension"),
        trunk=text.get("trunk"),
        direction=direction,
        answered=answered,
        ring_s=ring,
        number=text.get("number"),
        fmt=fmt.name,
        raw=line,
    )


def _seconds(groups: dict[str, str], name: str, template) -> int | None:
    text = groups.get(name)
    if not text or template is None:
        return None
    value = duration_seconds(template, text)
    if value is None:
        raise _Bad(f"{name} {text!r} is not {template.text}")
    if value > MAX_DURATION_S:
        raise _Bad(f"{name} {text!r} is longer than a week")
    return value


def _duration_from_end(
    groups: dict[str, str], fmt: SmdrFormat, start: datetime, start_utc: datetime, tz: tzinfo
) -> int:
    """Seconds from the printed start to the printed end (``end_date``/``end_time``)."""
    text = groups["end_time"]
    hms = next((v for t in fmt.clock if (v := clock_values(t, text)) is not None), None)
    if hms is None:
        raise _Bad(f"end time {text!r} is not " + " or ".join(t.text for t in fmt.clock))
    day_text = groups.get("end_date", "")
    if day_text and fmt.date:
        fields = next((f for t in fmt.date if (f := t.match(day_text)) is not None), None)
        if fields is None:
            raise _Bad(f"end date {day_text!r} is not " + " or ".join(t.text for t in fmt.date))
        candidates = []
        for year in (start.year, start.year + 1):
            try:
                candidates.append(datetime(year, fields.numbers["M"], fields.numbers["D"], *hms))
            except ValueError:
                continue
    else:
        candidates = [
            datetime.combine(start.date() + timedelta(days=d), datetime.min.time()).replace(
                hour=hms[0], minute=hms[1], second=hms[2]
            )
            for d in (0, 1)
        ]
    later = [c for c in candidates if c >= start]
    if not later:
        raise _Bad(f"the call ends ({day_text} {text}) before it starts")
    seconds = int(
        (min(later).replace(tzinfo=tz).astimezone(timezone.utc) - start_utc).total_seconds()
    )
    if seconds > MAX_DURATION_S:
        raise _Bad(f"the call ends ({day_text} {text}) more than a week after it starts")
    return max(seconds, 0)


def _local_time(groups: dict[str, str], fmt: SmdrFormat, now: datetime) -> datetime:
    """The naive local date-time the record prints, with the year/date inferred."""
    text = groups.get("time", "")
    hms = next((v for t in fmt.clock if (v := clock_values(t, text)) is not None), None)
    if hms is None:
        raise _Bad(f"time {text!r} is not " + " or ".join(t.text for t in fmt.clock))
    if not fmt.date:
        return _latest_not_after(
            [
                datetime.combine(now.date() + timedelta(days=d), datetime.min.time()).replace(
                    hour=hms[0], minute=hms[1], second=hms[2]
                )
                for d in (1, 0, -1)
            ],
            now + DAY_SLACK,
        )
    text = groups.get("date", "")
    fields = next((f for t in fmt.date if (f := t.match(text)) is not None), None)
    if fields is None:
        raise _Bad(f"date {text!r} is not " + " or ".join(t.text for t in fmt.date))
    parts = fields.numbers
    month, day = parts["M"], parts["D"]
    if "Y" in parts and parts["Y_width"] == 4:
        years = [parts["Y"]]
    elif "Y" in parts:
        years = [century + parts["Y"] for century in (2100, 2000, 1900)]
    else:
        # Back four years so that a 29 February without a year still finds a leap year.
        years = [now.year + 1 - k for k in range(6)]
    candidates = []
    for year in years:
        try:
            candidates.append(datetime(year, month, day, *hms))
        except ValueError:
            continue
    if not candidates:
        raise _Bad(f"date {text!r} does not exist")
    if len(years) == 1:
        return candidates[0]
    return _latest_not_after(candidates, now + YEAR_SLACK)


def _latest_not_after(candidates: list[datetime], limit: datetime) -> datetime:
    fitting = [c for c in candidates if c <= limit]
    if not fitting:  # every reading lies in the future: the PBX clock is wrong
        return min(candidates)
    return max(fitting)
