"""Date, time-of-day and duration templates, as SMDR manuals print them.

A format file says how its dates look (``"MM/DD/YY"``), how its times look
(``"hh:mmAP"``) and how its durations look (``"HH:MM'SS"``) in the notation the
manuals use, so an installer can copy the column heading of a printout into a site
format without writing a regular expression. Each template compiles once to a regular
expression for parsing and a renderer for the PBX simulator.

Tokens (a run of the same letter is one field; its length is the printed width):

* dates: ``YYYY`` or ``YY`` year, ``MM`` month, ``DD`` day;
* times of day: ``hh`` hour, ``mm`` minute, ``ss`` second, ``AP`` for ``AM``/``PM``
  (``hh`` is then a 12-hour clock);
* durations: ``H`` hours, ``M`` minutes, ``S`` seconds, ``t`` tenths of a second,
  ``m`` tenths of a minute (Definity). The first field absorbs what the template has no
  field for: ``"M'SS"`` prints 75 minutes as ``75'00``.

Any other character is printed and matched literally. A field followed by a literal (or
ending the template) accepts fewer digits than its width, since printers write ``9:05``
as well as ``09:05``; a field one letter wide there, and the first field of a duration,
accept any number (``"M'SS"`` reads ``75'00``). Fields written back to back with no
literal between them (``"MMDDYYYY"``, Definity's ``"HMMm"``) take exactly their width.
Rendering pads each field with zeros to its width.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from appliance.errors import TemplateError

#: The letters each kind of template understands, with what they mean.
KINDS = {
    "date": {"Y": "year", "M": "month", "D": "day"},
    "clock": {"h": "hour", "m": "minute", "s": "second"},
    "duration": {
        "H": "hours",
        "M": "minutes",
        "S": "seconds",
        "t": "tenths of a second",
        "m": "tenths of a minute",
    },
}


@dataclass(frozen=True)
class _Field:
    letter: str
    width: int


@dataclass(frozen=True)
class Fields:
    """What :meth:`Template.match` read: the numbers by letter, and ``AM``/``PM`` as
    ``"A"``/``"P"`` (None when the template has no ``AP``)."""

    numbers: dict[str, int]
    ap: str | None = None


@dataclass(frozen=True)
class Template:
    """One compiled template.

    :param str kind:
        ``"date"``, ``"clock"`` or ``"duration"``.
    :param str text:
        The template as written in the format file.
    """

    kind: str
    text: str
    parts: tuple  # of _Field | str (literal) | "AP"
    regex: re.Pattern
    #: The regex groups in order: a field's letter, or "AP".
    slots: tuple[str, ...]
    year_width: int

    @property
    def letters(self) -> set[str]:
        return {p.letter for p in self.parts if isinstance(p, _Field)}

    def match(self, text: str) -> Fields | None:
        """The fields of *text*, or None if it does not fit: the numbers by letter
        (``{"Y": 98, "M": 12, ...}``) and, with ``AP``, ``"A"`` or ``"P"``.

        A year also gives ``Y_width`` (2 or 4) among the numbers, so the parser knows
        whether to pick the century.
        """
        m = self.regex.fullmatch(text.strip())
        if m is None:
            return None
        numbers: dict[str, int] = {}
        ap = None
        for slot, value in zip(self.slots, m.groups()):
            if slot == "AP":
                ap = value[0].upper()
            else:
                numbers[slot] = int(value)
        if self.year_width:
            numbers["Y_width"] = self.year_width
        return Fields(numbers, ap)

    def render(self, values: Mapping[str, int | str]) -> str:
        """Print *values* (numbers by letter, ``"AP"``: ``"A"`` or ``"P"``) in this
        template."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(("AM" if values["AP"] == "A" else "PM") if part == "AP" else part)
            else:
                value = int(values[part.letter])
                if part.letter == "Y" and part.width == 2:
                    value %= 100
                out.append(str(value).zfill(part.width))
        return "".join(out)


def compile_template(kind: str, text: str) -> Template:
    """Compile *text* as a template of *kind*.

    :param str kind: ``"date"``, ``"clock"`` or ``"duration"``.
    :param str text: the template, such as ``"MM/DD/YY"``.
    :raises TemplateError: naming the offending part and the tokens allowed.
    """
    if kind not in KINDS:
        raise TemplateError(f"unknown template kind {kind!r}")
    if not isinstance(text, str) or not text.strip():
        raise TemplateError(
            "must be a non-empty string such as "
            + {"date": '"MM/DD/YY"', "clock": '"hh:mm"', "duration": '"HH:MM:SS"'}[kind]
        )
    letters = KINDS[kind]
    parts: list = []
    i = 0
    while i < len(text):
        ch = text[i]
        if kind == "clock" and text.startswith("AP", i):
            parts.append("AP")
            i += 2
            continue
        if ch in letters:
            j = i
            while j < len(text) and text[j] == ch:
                j += 1
            parts.append(_Field(ch, j - i))
            i = j
            continue
        if ch.isalpha():
            allowed = ", ".join(f"{k} ({v})" for k, v in letters.items())
            extra = ", AP (AM/PM)" if kind == "clock" else ""
            raise TemplateError(
                f"{text!r}: letter {ch!r} is not a {kind} token; tokens are {allowed}{extra}"
            )
        parts.append(ch)
        i += 1
    seen = [p.letter for p in parts if isinstance(p, _Field)]
    if len(seen) != len(set(seen)):
        raise TemplateError(f"{text!r}: each field may appear once")
    problems = {
        "date": lambda: (
            (None if {"M", "D"} <= set(seen) else "needs MM and DD")
            or next(
                (
                    "year must be YY or YYYY"
                    for p in parts
                    if isinstance(p, _Field) and p.letter == "Y" and p.width not in (2, 4)
                ),
                None,
            )
        ),
        "clock": lambda: None if {"h", "m"} <= set(seen) else "needs hh and mm",
        "duration": lambda: None if seen else "needs at least one of H, M, S, m",
    }[kind]()
    if problems:
        raise TemplateError(f"{text!r}: {problems}")
    slots = tuple(
        "AP" if p == "AP" else p.letter for p in parts if isinstance(p, _Field) or p == "AP"
    )
    year_width = next((p.width for p in parts if isinstance(p, _Field) and p.letter == "Y"), 0)
    return Template(kind, text, tuple(parts), re.compile(_pattern(kind, parts)), slots, year_width)


def _pattern(kind: str, parts: list) -> str:
    pattern = []
    first_field = True
    for index, part in enumerate(parts):
        if part == "AP":
            pattern.append(r"(AM|PM|A|P|am|pm|a|p)")
        elif isinstance(part, str):
            pattern.append(re.escape(part))
        else:
            following = parts[index + 1] if index + 1 < len(parts) else None
            adjacent = isinstance(following, _Field)
            if adjacent:
                pattern.append(rf"(\d{{{part.width}}})")
            elif part.width == 1 or (kind == "duration" and first_field):
                pattern.append(r"(\d+)")
            else:
                pattern.append(rf"(\d{{1,{part.width}}})")
            first_field = False
    return "".join(pattern)


# -- conversions the parser and the renderer share -------------------------------------


def duration_seconds(template: Template, text: str) -> int | None:
    """Seconds in *text* printed by duration *template*, or None if it does not fit."""
    fields = template.match(text)
    if fields is None:
        return None
    v = fields.numbers
    minutes = v.get("M", 0)
    seconds = v.get("S", 0)
    if ("H" in v or "M" in v) and seconds > 59 and "S" in v:
        return None
    if "H" in v and "M" in v and minutes > 59:
        return None
    total = v.get("H", 0) * 3600 + minutes * 60 + seconds + v.get("m", 0) * 6
    return total


def render_duration(template: Template, seconds: int) -> str:
    """Print *seconds* in duration *template* (tenths of a second print as 0)."""
    letters = template.letters
    rest = int(seconds)
    values: dict[str, int] = {}
    if "H" in letters:
        values["H"], rest = divmod(rest, 3600)
    if "M" in letters:
        if "S" in letters or "m" in letters:
            values["M"], rest = divmod(rest, 60)
        else:
            values["M"], rest = rest // 60, 0
    if "m" in letters:
        values["m"] = rest // 6 if "S" not in letters else 0
        rest = rest % 6 if "S" in letters else 0
    if "S" in letters:
        values["S"] = rest
    values["t"] = 0
    return template.render(values)


def clock_values(template: Template, text: str) -> tuple[int, int, int] | None:
    """``(hour, minute, second)`` in 24-hour time, or None if *text* is not such a time."""
    fields = template.match(text)
    if fields is None:
        return None
    v = fields.numbers
    hour, minute, second = v["h"], v["m"], v.get("s", 0)
    if fields.ap is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if fields.ap == "P" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return hour, minute, second


def render_clock(template: Template, hour: int, minute: int, second: int) -> str:
    values: dict[str, int | str] = {"h": hour, "m": minute, "s": second}
    if "AP" in template.slots:
        values["AP"] = "P" if hour >= 12 else "A"
        values["h"] = hour % 12 or 12
    return template.render(values)


def render_date(template: Template, year: int, month: int, day: int) -> str:
    return template.render({"Y": year, "M": month, "D": day})
