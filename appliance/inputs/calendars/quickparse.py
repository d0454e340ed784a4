"""A quick first pass over a feed: single events read directly, the rest handed on.

``icalendar`` builds a full object tree for every property of every event: about a
second for 5,000 events on a PC, several on a Pi. Most events of a closures calendar
(or of anybody's calendar) are single events: one ``VEVENT`` per ``UID``, no
``RRULE``, ``RDATE``, ``EXDATE`` or ``RECURRENCE-ID``. For those this module reads
the few properties a closure needs (``SUMMARY``, ``CATEGORIES``, ``STATUS``,
``DTSTART``, ``DTEND``, ``DURATION``) straight from the unfolded lines, with
``icalendar``'s own time-zone lookup (IANA names, Windows names, VTIMEZONE-defined
ones it already knows).

Everything else (series, moved occurrences, events whose time zone only a
``VTIMEZONE`` of the feed defines, anything this pass cannot read with certainty) is
passed on, with the feed's ``VTIMEZONE`` blocks and calendar properties
(``X-WR-TIMEZONE``), as a smaller iCalendar text for ``icalendar`` and
``recurring-ical-events`` to parse and expand in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATETIME = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)$")
#: Properties that make an event more than a single event.
_RECURRING = {"RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "EXRULE"}
#: What the full parser needs of an event; the rest (descriptions, attendee lists,
#: Outlook's HTML copy of the description) is left out of the text it gets.
_KEEP = _RECURRING | {
    "UID",
    "SUMMARY",
    "CATEGORIES",
    "STATUS",
    "DTSTART",
    "DTEND",
    "DURATION",
    "SEQUENCE",
    "BEGIN",
    "END",
}


class Unreadable(ValueError):
    """A line that is not ``NAME[;PARAM=VALUE...]:VALUE``."""


@dataclass
class SingleEvent:
    """What a closure needs of one single event."""

    summary: str
    categories: list
    status: str
    start: date | datetime
    end: date | datetime | None  # None: neither DTEND nor DURATION
    duration: timedelta | None = None


def unfold(text: str) -> list[str]:
    """The content lines of *text*, with folded continuation lines joined."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def split_line(line: str) -> tuple[str, dict, str]:
    """``NAME;A=1;B="x:y":value`` -> ``("NAME", {"A": "1", "B": "x:y"}, "value")``."""
    if '"' not in line:
        # Most lines: no quoted parameter, so the first ':' ends the name and parameters.
        head, sep, value = line.partition(":")
        if not sep:
            raise Unreadable(line[:60])
        parts = head.split(";")
    else:
        quoted = False
        for index, char in enumerate(line):
            if char == '"':
                quoted = not quoted
            elif char == ":" and not quoted:
                head, value = line[:index], line[index + 1 :]
                break
        else:
            raise Unreadable(line[:60])
        parts = _split_params(head)
    name = parts[0].upper()
    if not name:
        raise Unreadable(line[:60])
    params = {}
    for part in parts[1:]:
        key, _, val = part.partition("=")
        params[key.upper()] = val.strip('"')
    return name, params, value


def _split_params(head: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in head:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """An iCalendar TEXT value as text (``\\,`` ``\\;`` ``\\n`` ``\\\\``)."""
    if "\\" not in value:
        return value
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            nxt = value[index + 1]
            out.append("\n" if nxt in "nN" else nxt)
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def split_text_list(value: str) -> list[str]:
    """``a,b\\,c`` -> ``["a", "b,c"]``."""
    items, current, index = [], [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            current.append(value[index : index + 2])
            index += 2
            continue
        if char == ",":
            items.append(unescape("".join(current)))
            current = []
        else:
            current.append(char)
        index += 1
    items.append(unescape("".join(current)))
    return [item.strip() for item in items if item.strip()]


def _when(params: dict, value: str, site_tz):
    """A DTSTART/DTEND value; None when this pass cannot read it with certainty."""
    value = value.strip()
    match = _DATE.match(value)
    if match and params.get("VALUE", "DATE").upper() == "DATE":
        return date(int(match[1]), int(match[2]), int(match[3]))
    match = _DATETIME.match(value)
    if not match or params.get("VALUE", "DATE-TIME").upper() != "DATE-TIME":
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    naive = datetime(year, month, day, hour, minute, second)
    if match[7]:
        return naive.replace(tzinfo=timezone.utc)
    tzid = params.get("TZID")
    if tzid is None:
        return naive.replace(tzinfo=site_tz)  # floating: the site's local time
    zone = _zone(tzid)
    if zone is None:
        return None  # only the feed's VTIMEZONE knows it: the full path
    return naive.replace(tzinfo=zone)


_ZONES: dict = {}


def _zone(tzid: str):
    """icalendar's own lookup (IANA and Windows names), remembered per feed pass."""
    if tzid not in _ZONES:
        from icalendar.timezone import tzp

        if len(_ZONES) > 500:
            _ZONES.clear()
        _ZONES[tzid] = tzp.timezone(tzid)
    return _ZONES[tzid]


def _duration(value: str) -> timedelta | None:
    from icalendar.prop import vDuration

    try:
        return vDuration.from_ical(value.strip())
    except Exception:
        return None


def _single(props: list[tuple[str, dict, str]], site_tz) -> SingleEvent | None:
    summary, categories, status = "", [], ""
    start = end = duration = None
    for name, params, value in props:
        if name == "SUMMARY":
            summary = unescape(value)
        elif name == "CATEGORIES":
            categories.extend(split_text_list(value))
        elif name == "STATUS":
            status = value.strip().upper()
        elif name == "DTSTART":
            start = _when(params, value, site_tz)
            if start is None:
                return None
        elif name == "DTEND":
            end = _when(params, value, site_tz)
            if end is None:
                return None
        elif name == "DURATION":
            duration = _duration(value)
            if duration is None:
                return None
    if start is None:
        return None
    if end is None and duration is not None:
        end = start + duration
    return SingleEvent(summary, categories, status, start, end, duration)


@dataclass
class FirstPass:
    """The feed split in two: *singles* read here, and the rest for the full parser: the
    calendar's *header* lines and time *zones*, and *groups*, the lines of each event
    the first pass could not read (a series with its moved occurrences is one group);
    *events* counts ``VEVENT``s."""

    singles: list
    header: list[str]
    zones: list[list[str]]
    groups: list[list[str]]
    events: int

    @property
    def rest(self) -> str | None:
        """The rest as one iCalendar text, or None when nothing is left."""
        texts = self.rest_parts(1.0)
        return texts[0] if texts else None

    def rest_parts(self, *shares: float) -> list[str]:
        """The rest as iCalendar texts, one per *share* (fractions of its lines, the last
        taking what is left), each with the header and every time zone; a group is never
        cut, and a part that would be empty is left out."""
        if not self.groups:
            return []
        total = sum(len(group) for group in self.groups)
        parts: list[list[list[str]]] = [[]]
        limit, taken = total * shares[0], 0
        for group in self.groups:
            if taken >= limit and parts[-1] and len(parts) < len(shares):
                limit += total * shares[len(parts)]
                parts.append([])
            parts[-1].append(group)
            taken += len(group)
        texts = []
        for groups in parts:
            out = ["BEGIN:VCALENDAR", *self.header]
            for block in self.zones:
                out.extend(block)
            for group in groups:
                out.extend(group)
            out.append("END:VCALENDAR")
            texts.append("\r\n".join(out) + "\r\n")
        return texts


def first_pass(text: str, site_tz) -> FirstPass:
    """Split the feed *text*.

    :raises Unreadable: for a content line that is not ``NAME...:VALUE``.
    """
    lines = unfold(text)
    header: list[str] = []
    zones: list[list[str]] = []
    by_uid: dict[str, list] = {}
    order: list[str] = []
    stack: list[str] = []
    block: list[str] = []
    props: list = []
    events = 0
    anonymous = 0
    for line in lines:
        name, params, value = split_line(line)
        if name == "BEGIN":
            stack.append(value.strip().upper())
            if len(stack) == 2:
                block, props = [line], []
            elif len(stack) > 2 and stack[1] != "VEVENT":
                block.append(line)  # an event's VALARM is not needed
            continue
        if name == "END":
            closing = stack.pop() if stack else ""
            if len(stack) >= 2:
                if stack[1] != "VEVENT":
                    block.append(line)
            elif len(stack) == 1:
                block.append(line)
                if closing == "VEVENT":
                    events += 1
                    uid = next((v for n, _, v in props if n == "UID"), None)
                    if uid is None:
                        anonymous += 1
                        uid = f"\x00no-uid-{anonymous}"
                    if uid not in by_uid:
                        order.append(uid)
                    by_uid.setdefault(uid, []).append((block, props))
                elif closing == "VTIMEZONE":
                    zones.append(block)
            continue
        if len(stack) == 1:
            header.append(line)
        elif len(stack) == 2:
            if stack[1] == "VEVENT":
                props.append((name, params, value))
                if name in _KEEP:
                    block.append(line)
            else:
                block.append(line)
        elif stack and stack[1] != "VEVENT":
            block.append(line)  # inside a VTIMEZONE's STANDARD and DAYLIGHT
    singles: list[SingleEvent] = []
    rest_groups: list[list[str]] = []
    for uid in order:
        group = by_uid[uid]
        single = None
        if len(group) == 1 and not any(n in _RECURRING for n, _, _ in group[0][1]):
            single = _single(group[0][1], site_tz)
        if single is not None:
            singles.append(single)
        else:
            rest_groups.append([line for block, _ in group for line in block])
    return FirstPass(singles, header, zones, rest_groups, events)
