"""The schedule editor's form, to and from the schedule JSON (docs/API.md#schedule).

Pure: no Flask, no clock. The form's field names *are* the JSON paths that
:func:`~appliance.decision.schedule.parse_schedule` names in its errors (``weekly.mon[1].end``,
``seasons[0].from``), so an error lands on the very field that caused it.

The *model* is the form's state: the JSON's shape with every value as the text typed,
blank rows included (a row just added is blank). :func:`model_to_json` drops blank rows
and remembers which rows it kept, so an error about ``weekly.mon[1]`` of the JSON is
shown at the row the person sees as the third when a blank second row was skipped.

Add, remove and copy buttons are plain submit buttons named ``action``
(:func:`apply_action`), so the editor works without JavaScript.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from appliance import timetext as timefmt
from appliance.decision.holiday_source import holiday_name_key
from appliance.decision.schedule import DAY_MINUTES, WEEKDAYS, format_minutes, parse_typed_time

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d{1,4})\]|(\.)")
#: Form fields that are not part of the schedule.
NOT_SCHEDULE = {"csrf_token", "action", "zone", "confirm", "preview_from", "preview_to"}
MAX_ROWS = 200
_YEARLY = re.compile(r"^(\d{1,2})-(\d{1,2})$")


class FormError(ValueError):
    """The form itself is malformed (a hand-made request, not a typo)."""


class DayFull(FormError):
    """ "+ Add hours" on a day whose hours already cover 00:00 to 24:00: said on the page,
    nothing added."""


def blank_range(mode: str = "day") -> dict:
    return {"start": "", "end": "", "mode": mode}


def blank_weekly() -> dict:
    return {day: [] for day in WEEKDAYS}


BLANKS: dict[str, Callable[..., dict]] = {
    "range": blank_range,
    "custom": lambda: {"name": "", "date": ""},
    "season": lambda: {"name": "", "from": "", "to": "", "weekly": blank_weekly()},
    "exception": lambda: {
        "name": "",
        "from": "",
        "to": "",
        "repeat": "",
        "weekday": "",
        "when": "",
        "ranges": [],
    },
}
#: The "Repeats" choices of an exception: once (its dates), every year on its date, or
#: every year on a weekday near its date ("the Friday before 24 December").
REPEATS = (
    ("", "once"),
    ("yearly", "every year on this date"),
    ("weekday", "every year, a weekday near it"),
)
WHEN_CHOICES = (
    ("before", "before"),
    ("after", "after"),
    ("on_or_before", "on or before"),
    ("on_or_after", "on or after"),
)
_MONTH_DAY = re.compile(r"^(?:\d{4}-)?(\d{1,2})-(\d{1,2})$")


# -- paths --------------------------------------------------------------------------------


def parse_path(path: str) -> list:
    """``"weekly.mon[1].end"`` -> ``["weekly", "mon", 1, "end"]``."""
    if not isinstance(path, str) or not path or len(path) > 200:
        raise FormError(f"{str(path)[:60]!r} is not a field of the schedule form")
    parts: list = []
    pos = 0
    expect_name = True
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if match is None:
            raise FormError(f"{path[:60]!r} is not a field of the schedule form")
        name, index, dot = match.groups()
        if name is not None:
            if not expect_name:
                raise FormError(f"{path[:60]!r} is not a field of the schedule form")
            parts.append(name)
            expect_name = False
        elif index is not None:
            if expect_name or int(index) >= MAX_ROWS:
                raise FormError(f"{path[:60]!r} is not a field of the schedule form")
            parts.append(int(index))
        else:
            if expect_name:
                raise FormError(f"{path[:60]!r} is not a field of the schedule form")
            expect_name = True
        pos = match.end()
    if expect_name:
        raise FormError(f"{path[:60]!r} is not a field of the schedule form")
    return parts


def join_path(parts) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def dom_id(path: str) -> str:
    """An HTML id for the field at *path* (``weekly-mon-1-end``)."""
    return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-")


# -- form <-> model -----------------------------------------------------------------------


def _lists(node):
    """Turn ``{0: a, 2: b}`` dicts (from indexed names) into lists, in index order."""
    if isinstance(node, dict):
        if node and all(isinstance(k, int) for k in node):
            return [_lists(node[k]) for k in sorted(node)]
        return {k: _lists(v) for k, v in node.items()}
    return node


def form_to_model(form) -> dict:
    """The editor's state from a submitted form (a werkzeug ``MultiDict``).

    :raises FormError: for field names that are not paths of the form.
    """
    root: dict = {}
    for key in form.keys():
        if key in NOT_SCHEDULE:
            continue
        parts = parse_path(key)
        if parts in (["holidays", "ignore"], ["holidays", "categories"]):
            value = [v for v in form.getlist(key) if isinstance(v, str)]
        else:
            value = form.get(key, "")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
            if i > 8:
                raise FormError(f"{key[:60]!r} is nested too deeply")
        last = parts[-1]
        if isinstance(node.get(last), dict):
            raise FormError(f"{key[:60]!r} clashes with another field")
        node[last] = value
    model = _lists(root)
    return normalize(model)


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _time(value) -> str:
    """A time as typed, written "HH:MM" when it reads as one ("8:00", "0800", "17.30"),
    else as typed, so the schedule's check names it at its field."""
    text = _text(value)
    return parse_typed_time(text) or text


def _ranges(value) -> list[dict]:
    if not isinstance(value, list):
        return []
    out = []
    for row in value[:MAX_ROWS]:
        row = row if isinstance(row, dict) else {}
        out.append(
            {
                "start": _time(row.get("start")),
                "end": _time(row.get("end")),
                "mode": _text(row.get("mode")),
            }
        )
    return out


def _weekly(value) -> dict:
    value = value if isinstance(value, dict) else {}
    return {day: _ranges(value.get(day)) for day in WEEKDAYS}


def normalize(model) -> dict:
    """A well-shaped model: every key present, every value text."""
    model = model if isinstance(model, dict) else {}
    hol = model.get("holidays") if isinstance(model.get("holidays"), dict) else {}
    ignore = hol.get("ignore", [])
    if isinstance(ignore, str):
        ignore = [ignore]
    if not isinstance(ignore, list):
        ignore = []
    categories = hol.get("categories", [])
    if isinstance(categories, str):
        categories = [categories]
    if not isinstance(categories, list):
        categories = []
    custom = []
    rows = hol.get("custom")
    for row in (rows if isinstance(rows, list) else [])[:MAX_ROWS]:
        row = row if isinstance(row, dict) else {}
        custom.append({"name": _text(row.get("name")), "date": _text(row.get("date"))})
    seasons = []
    for row in (model.get("seasons") if isinstance(model.get("seasons"), list) else [])[:MAX_ROWS]:
        row = row if isinstance(row, dict) else {}
        seasons.append(
            {
                "name": _text(row.get("name")),
                "from": _text(row.get("from")),
                "to": _text(row.get("to")),
                "weekly": _weekly(row.get("weekly")),
            }
        )
    exceptions = []
    for row in (model.get("exceptions") if isinstance(model.get("exceptions"), list) else [])[
        :MAX_ROWS
    ]:
        row = row if isinstance(row, dict) else {}
        exceptions.append(
            {
                "name": _text(row.get("name")),
                "from": _text(row.get("from")),
                "to": _text(row.get("to")),
                "repeat": _text(row.get("repeat")),
                "weekday": _text(row.get("weekday")),
                "when": _text(row.get("when")),
                "ranges": _ranges(row.get("ranges")),
            }
        )
    return {
        "timezone": _text(model.get("timezone")),
        "default_mode": _text(model.get("default_mode")) or "night",
        "weekly": _weekly(model.get("weekly")),
        "holidays": {
            "country": _text(hol.get("country")),
            "subdivision": _text(hol.get("subdivision")),
            "mode": _text(hol.get("mode")) or "night",
            "ignore": [_text(v) for v in ignore if _text(v)][:MAX_ROWS],
            "categories": sorted({_text(v) for v in categories if _text(v)})[:MAX_ROWS],
            "custom": custom,
        },
        "seasons": seasons,
        "exceptions": exceptions,
    }


def _ranges_from_json(ranges) -> list[dict]:
    return [
        {
            "start": str(r.get("start", "")),
            "end": str(r.get("end", "")),
            "mode": str(r.get("mode", "")),
        }
        for r in ranges or []
        if isinstance(r, dict)
    ]


def _weekly_from_json(weekly) -> dict:
    weekly = weekly if isinstance(weekly, dict) else {}
    return {day: _ranges_from_json(weekly.get(day)) for day in WEEKDAYS}


def model_from_json(doc: dict) -> dict:
    """The editor's state for a saved schedule document."""
    hol = doc.get("holidays") or {}
    custom = []
    for item in hol.get("custom") or []:
        if "date" in item:
            when = str(item["date"])
        else:
            when = f"{int(item.get('month', 0)):02d}-{int(item.get('day', 0)):02d}"
        custom.append({"name": str(item.get("name", "")), "date": when})
    return normalize(
        {
            "timezone": doc.get("timezone", ""),
            "default_mode": doc.get("default_mode", "night"),
            "weekly": _weekly_from_json(doc.get("weekly")),
            "holidays": {
                "country": hol.get("country") or "",
                "subdivision": hol.get("subdivision") or "",
                "mode": hol.get("mode") or "night",
                "ignore": list(hol.get("ignore") or []),
                "categories": list(hol.get("categories") or []),
                "custom": custom,
            },
            "seasons": [
                {
                    "name": s.get("name", ""),
                    "from": s.get("from", ""),
                    "to": s.get("to", ""),
                    "weekly": _weekly_from_json(s.get("weekly")),
                }
                for s in doc.get("seasons") or []
            ],
            "exceptions": [_exception_from_json(e) for e in doc.get("exceptions") or []],
        }
    )


def _exception_from_json(exc: dict) -> dict:
    row = {
        "name": exc.get("name", ""),
        "from": exc.get("from", ""),
        "to": exc.get("to", ""),
        "repeat": "",
        "weekday": "",
        "when": "",
        "ranges": _ranges_from_json(exc.get("ranges")),
    }
    yearly = exc.get("yearly")
    if isinstance(yearly, dict):
        month, day = int(yearly.get("month", 0)), int(yearly.get("day", 0))
        row["from"] = f"{month:02d}-{day:02d}"
        row["repeat"] = "weekday" if yearly.get("weekday") else "yearly"
        row["weekday"], row["when"] = yearly.get("weekday", ""), yearly.get("when", "")
        days = int(yearly.get("days", 1))
        if days > 1:
            try:
                last = date(2000, month, day) + timedelta(days=days - 1)
                row["to"] = f"{last.month:02d}-{last.day:02d}"
            except ValueError:
                row["to"] = ""
    return row


def _yearly_json(exc: dict) -> dict:
    """The ``yearly`` of an exception row; what cannot be read is passed on as typed,
    so the schedule's own check names it (and the error lands on the row's field)."""
    found = _MONTH_DAY.match(exc["from"])
    yearly: dict = (
        {"month": int(found.group(1)), "day": int(found.group(2))}
        if found
        else {"month": exc["from"] or None, "day": None}
    )
    if exc["repeat"] == "weekday":
        yearly["weekday"] = exc["weekday"] or None
        yearly["when"] = exc["when"] or None
    elif exc["to"] and found:
        last = _MONTH_DAY.match(exc["to"])
        first_day: date | None
        last_day: date | None
        try:
            first_day = date(2000, yearly["month"], yearly["day"])
            last_day = date(2000, int(last.group(1)), int(last.group(2))) if last else None
        except ValueError:
            first_day = last_day = None
        if last_day is None or first_day is None:
            yearly["days"] = exc["to"]
        else:
            if last_day < first_day:  # 24 December to 2 January
                last_day = (
                    last_day.replace(year=2001)
                    if not (last_day.month == 2 and last_day.day == 29)
                    else last_day
                )
            yearly["days"] = (last_day - first_day).days + 1
    return yearly


class IndexMap:
    """Which model row each JSON list entry came from, to put errors on the right row."""

    def __init__(self):
        self.kept: dict[str, list[int]] = {}

    def keep(self, model_path: str, indices: list[int]) -> None:
        self.kept[model_path] = indices

    def to_model(self, json_path: str) -> str:
        """The model path of a JSON path (``weekly.mon[0]`` -> ``weekly.mon[1]``)."""
        try:
            parts = parse_path(json_path)
        except FormError:
            return json_path
        out: list = []
        for part in parts:
            if isinstance(part, int):
                kept = self.kept.get(join_path(out))
                out.append(kept[part] if kept is not None and part < len(kept) else part)
            else:
                out.append(part)
        path = join_path(out)
        # A yearly custom holiday is one field in the form: MM-DD in its date.
        path = re.sub(r"^(holidays\.custom\[\d+\])\.(month|day)$", r"\1.date", path)
        # A yearly exception's date is its From (and its length its To).
        for key, field in (
            ("month", "from"),
            ("day", "from"),
            ("days", "to"),
            ("weekday", "weekday"),
            ("when", "when"),
        ):
            path = re.sub(rf"^(exceptions\[\d+\])\.yearly\.{key}$", rf"\1.{field}", path)
        return re.sub(r"^(exceptions\[\d+\])\.yearly$", r"\1.repeat", path)


def _blank_range(row: dict) -> bool:
    return not row["start"] and not row["end"]


def _ranges_json(rows: list[dict], path: str, index: IndexMap) -> list[dict]:
    kept = [i for i, row in enumerate(rows) if not _blank_range(row)]
    index.keep(path, kept)
    return [dict(rows[i]) for i in kept]


def _weekly_json(weekly: dict, path: str, index: IndexMap) -> dict:
    return {day: _ranges_json(weekly[day], f"{path}.{day}", index) for day in WEEKDAYS}


def model_to_json(model: dict, *, holiday_names: set[str] | None = None) -> tuple[dict, IndexMap]:
    """The schedule document for a model, and the map for its errors.

    :param dict model: from :func:`form_to_model` or :func:`model_from_json`.
    :param set holiday_names: the library's holiday names (casefolded) for the chosen
        country; ``ignore`` entries that name another country's holiday (left over after
        the country was changed) are dropped. None keeps them all.
    """
    index = IndexMap()
    doc: dict = {
        "timezone": model["timezone"],
        "default_mode": model["default_mode"],
        "weekly": _weekly_json(model["weekly"], "weekly", index),
    }
    hol = model["holidays"]
    kept_custom = [i for i, row in enumerate(hol["custom"]) if row["name"] or row["date"]]
    index.keep("holidays.custom", kept_custom)
    custom = []
    for i in kept_custom:
        row = hol["custom"][i]
        yearly = _YEARLY.match(row["date"])
        if yearly:
            custom.append(
                {"month": int(yearly.group(1)), "day": int(yearly.group(2)), "name": row["name"]}
            )
        else:
            custom.append({"date": row["date"], "name": row["name"]})
    if hol["country"] or custom:
        ignore = []
        if hol["country"]:
            for item in hol["ignore"]:
                is_date = re.match(r"^\d{4}-\d{2}-\d{2}$", item)
                if is_date or holiday_names is None or holiday_name_key(item) in holiday_names:
                    ignore.append(item)
        doc["holidays"] = {
            "country": hol["country"] or None,
            "subdivision": hol["subdivision"] or None,
            "mode": hol["mode"],
            "ignore": ignore,
            "custom": custom,
        }
        if hol["categories"] and hol["country"]:
            # Extra holiday categories (Bavaria's catholic Assumption Day) on top of public.
            doc["holidays"]["categories"] = hol["categories"]
    else:
        doc["holidays"] = None
    seasons = []
    kept = []
    for i, season in enumerate(model["seasons"]):
        # A season just added holds a copy of the weekly hours: untouched and without
        # name or dates it is not filled in yet, and not an error to shout about.
        weekly_blank = (
            all(_blank_range(r) for rows in season["weekly"].values() for r in rows)
            or season["weekly"] == model["weekly"]
        )
        if not (season["name"] or season["from"] or season["to"]) and weekly_blank:
            continue
        kept.append(i)
        entry = {"name": season["name"], "from": season["from"]}
        if season["to"]:
            entry["to"] = season["to"]
        entry["weekly"] = _weekly_json(season["weekly"], f"seasons[{i}].weekly", index)
        seasons.append(entry)
    index.keep("seasons", kept)
    doc["seasons"] = seasons
    exceptions = []
    kept = []
    for i, exc in enumerate(model["exceptions"]):
        if not (exc["name"] or exc["from"] or exc["to"]) and all(
            _blank_range(r) for r in exc["ranges"]
        ):
            continue
        kept.append(i)
        if exc["repeat"] in ("yearly", "weekday"):
            entry = {"name": exc["name"], "yearly": _yearly_json(exc)}
        else:
            entry = {"name": exc["name"], "from": exc["from"]}
            if exc["to"]:
                entry["to"] = exc["to"]
        entry["ranges"] = _ranges_json(exc["ranges"], f"exceptions[{i}].ranges", index)
        exceptions.append(entry)
    index.keep("exceptions", kept)
    doc["exceptions"] = exceptions
    return doc, index


# -- editing actions ----------------------------------------------------------------------

_LIST_KIND = (
    (re.compile(r"^weekly\.(mon|tue|wed|thu|fri|sat|sun)$"), "range"),
    (re.compile(r"^seasons\[\d+\]\.weekly\.(mon|tue|wed|thu|fri|sat|sun)$"), "range"),
    (re.compile(r"^exceptions\[\d+\]\.ranges$"), "range"),
    (re.compile(r"^holidays\.custom$"), "custom"),
    (re.compile(r"^seasons$"), "season"),
    (re.compile(r"^exceptions$"), "exception"),
)


def _kind_of(list_path: str) -> str | None:
    for pattern, kind in _LIST_KIND:
        if pattern.match(list_path):
            return kind
    return None


def _node(model: dict, parts: list):
    node = model
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise FormError("the row to change is not in the form any more; reload the page")
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                raise FormError("that part of the form does not exist")
            node = node[part]
    return node


def apply_action(model: dict, action: str, *, default_mode: str = "day") -> str | None:
    """Apply an editing button to *model* (in place).

    ``add:LIST`` appends a blank row (a range, custom holiday, season or exception),
    ``remove:LIST[i]`` removes one, ``copy:weekly.DAY`` copies a weekday's ranges to the
    other working days (Monday to Friday). Returns the path to focus next, or None.

    :raises FormError: for an action that names no list of the form.
    """
    verb, _, path = (action or "").partition(":")
    parts = parse_path(path)
    if verb == "add":
        kind = _kind_of(path)
        target = _node(model, parts)
        if kind is None or not isinstance(target, list):
            raise FormError(f"cannot add a row to {path[:60]!r}")
        if len(target) >= MAX_ROWS:
            raise FormError(f"{path} already has {MAX_ROWS} rows")
        row = BLANKS[kind](default_mode) if kind == "range" else BLANKS[kind]()
        if kind == "range":
            # Never an empty row: one that the person only has to adjust (issue 16).
            hours = next_hours(target, usual_hours(model))
            if hours is None:
                raise DayFull(
                    f"{field_label(path)}: the hours already cover 00:00 to "
                    "24:00; change a range instead of adding one"
                )
            row["start"], row["end"] = hours
        if kind == "season":
            # A new season starts as a copy of the weekly hours: saved with only its
            # dates, it must not close the office for the whole season (issue 17).
            row["weekly"] = {day: [dict(r) for r in model["weekly"][day]] for day in WEEKDAYS}
        target.append(row)
        first = {"range": "start", "custom": "name", "season": "name", "exception": "name"}[kind]
        return f"{path}[{len(target) - 1}].{first}"
    if verb == "remove":
        if not parts or not isinstance(parts[-1], int):
            raise FormError(f"cannot remove {path[:60]!r}")
        list_path = join_path(parts[:-1])
        target = _node(model, parts[:-1])
        if _kind_of(list_path) is None or not isinstance(target, list) or parts[-1] >= len(target):
            raise FormError(f"cannot remove {path[:60]!r}")
        del target[parts[-1]]
        return list_path
    if verb == "copy":
        match = re.match(r"^weekly\.(mon|tue|wed|thu|fri)$", path)
        if not match:
            raise FormError("only a working day's hours (mon to fri) can be copied")
        rows = model["weekly"][match.group(1)]
        for day in ("mon", "tue", "wed", "thu", "fri"):
            if day != match.group(1):
                model["weekly"][day] = [dict(r) for r in rows]
        return path
    raise FormError(f"{verb[:30]!r} is not an editing action; use add, remove or copy")


#: The hours a new range starts with when there is nothing to go by.
OFFICE_HOURS = ("08:00", "18:00")


def _minutes(text: str, *, is_end: bool = False) -> int | None:
    typed = parse_typed_time(text)
    if typed is None:
        return None
    minutes = int(typed[:2]) * 60 + int(typed[3:])
    return minutes if minutes < DAY_MINUTES or is_end else None


def usual_hours(model: dict) -> tuple[str, str]:
    """The office's usual hours: the first readable range of the weekly hours, Monday
    first (08:00-18:00 when there is none)."""
    for day in WEEKDAYS:
        for row in model["weekly"][day]:
            start, end = _minutes(row["start"]), _minutes(row["end"], is_end=True)
            if start is not None and end is not None and end > start:
                return format_minutes(start), format_minutes(end)
    return OFFICE_HOURS


def next_hours(rows: list[dict], usual: tuple[str, str]) -> tuple[str, str] | None:
    """The hours a new range of a day starts with: the *usual* hours on an empty day;
    after the last range otherwise (up to 4 hours, as for an afternoon after a morning);
    the first free time of the day when the last range runs to midnight; None when the
    day is covered from 00:00 to 24:00.

    :param rows: the day's ranges as typed (unreadable ones are passed over).
    :param usual: :func:`usual_hours`.
    """
    taken = []
    for row in rows:
        start, end = _minutes(row["start"]), _minutes(row["end"], is_end=True)
        if start is not None and end is not None and end > start:
            taken.append((start, end))
    if not taken:
        return usual
    taken.sort()
    last_end = max(end for _, end in taken)
    if last_end < DAY_MINUTES:
        return format_minutes(last_end), format_minutes(min(last_end + 240, DAY_MINUTES))
    at = 0
    for start, end in taken:
        if start > at:
            return format_minutes(at), format_minutes(min(start, at + 240))
        at = max(at, end)
    return None


_DAY_NAMES = dict(
    zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))
)
_WORDS = {
    "weekly": None,
    "ranges": "hours",
    "start": "from",
    "end": "until",
    "mode": "mode",
    "from": "from",
    "to": "to",
    "name": "name",
    "date": "date",
    "month": "date",
    "day": "date",
    "holidays": "holidays",
    "country": "country",
    "subdivision": "state or region",
    "ignore": "worked holiday",
    "custom": "own holiday",
    "seasons": "season",
    "exceptions": "exception",
    "timezone": "time zone",
    "repeat": "repeats",
    "weekday": "weekday",
    "when": "before or after",
    "yearly": "repeats",
    "days": "to",
    "default_mode": "mode outside all hours",
}


def field_label(path: str) -> str:
    """A field's path in words for the error list: ``weekly.tue[0].end`` ->
    ``Tuesday, hours 1, until``; ``seasons[1].from`` -> ``season 2, from``."""
    try:
        parts = parse_path(path)
    except FormError:
        return path or "schedule"
    words: list[str] = []
    for i, part in enumerate(parts):
        previous = parts[i - 1] if i else None
        if isinstance(part, int):
            if previous in WEEKDAYS:
                words[-1] += f", hours {part + 1}"
            elif previous == "ranges":
                words[-1] = f"hours {part + 1}"
            elif words:
                words[-1] += f" {part + 1}"
        elif part in WEEKDAYS:
            words.append(_DAY_NAMES[part])
        else:
            word = _WORDS.get(part, part)
            if word:
                words.append(word)
    text = ", ".join(words) or "schedule"
    return text[:1].upper() + text[1:]


# -- a saved version in words, and the difference between two -----------------------------


def _hours_text(rows: list[dict], closed: str) -> str:
    return ", ".join(f"{r['mode']} {r['start']}-{r['end']}" for r in rows) or closed


def _exception_when(exc: dict) -> str:
    span = exc["from"] + (f" to {exc['to']}" if exc["to"] and exc["to"] != exc["from"] else "")
    if exc["repeat"] == "weekday":
        when = dict(WHEN_CHOICES).get(exc["when"], exc["when"])
        return (
            f"every year, the {_DAY_NAMES.get(exc['weekday'], exc['weekday'])} {when} {exc['from']}"
        )
    if exc["repeat"] == "yearly":
        return f"every year, {span}"
    return span


def describe(doc: dict) -> list[str]:
    """A saved schedule as lines a person reads, one fact a line, each line whole on its
    own (so a difference between two versions is a list of lines): the weekly hours day
    by day, holidays, exceptions and seasons.

    :param dict doc: a schedule document (docs/API.md#schedule).
    """
    from appliance.decision.holiday_source import category_word, country_name

    model = model_from_json(doc)
    default = model["default_mode"]
    lines = [
        f"{_DAY_NAMES[day]}: {_hours_text(model['weekly'][day], default + ' all day')}"
        for day in WEEKDAYS
    ]
    lines.append(f"Outside all hours: {default}")
    hol = model["holidays"]
    if hol["country"]:
        place = f"{country_name(hol['country'])} ({hol['country']})"
        if hol["subdivision"]:
            place += f", region {hol['subdivision']}"
        lines.append(f"Public holidays of {place}: {hol['mode']} all day")
        for category in hol["categories"]:
            word = category_word(category)
            lines.append(f"Also closed on: {word if word.endswith('s') else word + 's'}")
        lines += [f"Worked anyway: {item}" for item in hol["ignore"]]
    else:
        lines.append("Public holidays: none")
    lines += [f"Own holiday {c['name']}: {c['date']}" for c in hol["custom"]]
    for exc in model["exceptions"]:
        lines.append(
            f"Exception {exc['name']} ({_exception_when(exc)}): "
            f"{_hours_text(exc['ranges'], 'closed all day (' + default + ')')}"
        )
    for season in model["seasons"]:
        head = f"Season {season['name']} ({season['from']} to {season['to']})"
        lines += [
            f"{head}, {_DAY_NAMES[day]}: {_hours_text(season['weekly'][day], default + ' all day')}"
            for day in WEEKDAYS
        ]
    lines.append(f"Time zone: {model['timezone']}")
    return lines


def difference(in_force: list[str], other: list[str]) -> list[tuple[str, str]]:
    """What changes from *in_force* to *other* (lines of :func:`describe`), in the
    schedule's order: ``("removed", line)`` for a line only in force now, ``("added",
    line)`` for one only in *other*. Empty when they say the same."""
    import difflib

    out = []
    for line in difflib.ndiff(in_force, other):
        if line.startswith("- "):
            out.append(("removed", line[2:]))
        elif line.startswith("+ "):
            out.append(("added", line[2:]))
    return out


# -- what the page shows besides the form -----------------------------------------------


def coming_year_warning(schedule, today: date, *, holiday_reason, horizon: int = 365) -> str | None:
    """A warning when the next year has no holiday and no exception at all: the phones
    would then follow weekly hours on Christmas Day.

    :param schedule: a parsed :class:`~appliance.decision.schedule.Schedule`.
    :param today: the local date.
    :param holiday_reason: :func:`appliance.decision.dayplan.holiday_reason`.
    """
    from datetime import timedelta

    last = today + timedelta(days=horizon)
    if any(layer.entries for layer in getattr(schedule, "layers", ())):
        return None  # closures come from a subscribed calendar
    for exc in schedule.exceptions:
        if exc.yearly is not None or exc.last >= today and exc.first < last:
            return None
    if schedule.holidays is not None:
        day = today
        while day < last:
            if holiday_reason(schedule.holidays, day) is not None:
                return None
            day += timedelta(days=1)
    past = [e for e in schedule.exceptions if e.last is not None and e.last < today]
    hint = ""
    if past:
        latest = max(past, key=lambda e: e.last)
        hint = (
            f" The last exception was {latest.name} on {latest.first.isoformat()}; add this year's."
        )
    return (
        "There are no holidays and no exceptions in the next 12 months, so the phones "
        "will follow the weekly hours on every public holiday and on Christmas Eve. "
        "Pick your country under Holidays, or add closures under Exceptions." + hint
    )


def season_warnings(schedule) -> list[str]:
    """One line per season without any open hours: saved like that, it keeps the phones
    in the default mode (night service) for the whole season."""
    found = []
    for season in schedule.seasons:
        if not any(
            r.mode != schedule.default_mode for ranges in season.weekly.values() for r in ranges
        ):
            found.append(
                f"Season {season.name} has no open hours: from "
                f"{timefmt.day(season.first)} to {timefmt.day(season.last)} the "
                f"phones stay in {schedule.default_mode} all day. Give it hours, "
                "or remove it if the office is not closed then."
            )
    return found


__all__ = [
    "field_label",
    "season_warnings",
    "FormError",
    "DayFull",
    "form_to_model",
    "model_from_json",
    "model_to_json",
    "apply_action",
    "IndexMap",
    "dom_id",
    "parse_path",
    "join_path",
    "coming_year_warning",
    "normalize",
    "describe",
    "difference",
    "next_hours",
    "usual_hours",
]
