r"""SMDR formats as data: one TOML file per PBX family, extensible from a site directory.

Each PBX family prints its call records differently. Rather than one parser per family,
a format file describes the printout: a layout (a regular expression with named groups,
or fixed columns numbered as the manual numbers them), the date, time-of-day and
duration templates (:mod:`appliance.smdr.templates`), whether the printed time is the
start or the end of the call, how direction and "answered" are encoded, which lines are
page headers to skip, how to print a record (for the PBX simulator), and the sample lines
from the manual with the fields they must give. The shipped files live in
``appliance/smdr/formats/``; an installer adds or overrides one by dropping a file of the
same shape into ``/etc/nightswitch/smdr/``, as pyserial picks a URL handler by scheme:
a registry keyed by name, no if-chains.

:func:`load_format` is what the config check and the intake call; :func:`load_all` is
what ``nightswitch calls formats`` lists.

A note for whoever writes a layout regex: avoid a repeat inside a repeat whose pieces can
match the same text (``(\s?[A-Z]\w*)*``). Python's ``re`` backtracks, and such a pattern
takes exponential time on a line that almost fits, which would freeze the intake. Make
each repeated piece start with something the previous one cannot end with
(``\w+(?:\s+\w+)*``). ``tests/unit/test_smdr_parser.py`` feeds every shipped format
long noise to catch this.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from importlib import resources
from pathlib import Path
from string import Formatter
from typing import Generic, TypeGuard, TypeVar

from appliance.errors import FieldError, NightswitchError, TemplateError, ValidationError
from appliance.pbx.port_settings import SerialSettings, parse_settings
from appliance.smdr.record import DIRECTIONS, CallRecord
from appliance.smdr.templates import (
    Template,
    compile_template,
    render_clock,
    render_date,
    render_duration,
)
from appliance.validation import Problems

#: Where an installer puts site formats (``<name>.toml``); they win over shipped ones.
SITE_DIR = Path("/etc/nightswitch/smdr")

#: CallRecord fields a format may fill straight from layout groups.
TEXT_FIELDS = ("extension", "trunk", "number")
#: What a render template may use.
RENDER_KEYS = (
    "date",
    "time",
    "duration",
    "ring",
    "extension",
    "trunk",
    "number",
    "end_date",
    "end_time",
)
PRINTED = ("start", "end", "unknown")
NUL_MODES = ("strip", "end")
#: The name of a format (and of an SMDR login): its file's name without ``.toml``.
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
TOP_KEYS = {
    "name",
    "title",
    "source",
    "verified",
    "notes",
    "serial",
    "framing",
    "layout",
    "fields",
    "time",
    "direction",
    "answered",
    "skip",
    "render",
    "samples",
}
EXPECT_KEYS = {
    "kind",
    "reason",
    "start",
    "duration_s",
    "extension",
    "trunk",
    "direction",
    "answered",
    "ring_s",
    "number",
}


V = TypeVar("V")


class UnknownFormat(NightswitchError, LookupError):
    """No format of that name is shipped or in the site directory."""


@dataclass(frozen=True)
class Rule(Generic[V]):
    """ "When layout group *group* fully matches *pattern*, the field is *value*"."""

    group: str
    pattern: re.Pattern
    value: V

    def applies(self, groups: dict[str, str]) -> bool:
        return self.pattern.fullmatch(groups.get(self.group) or "") is not None


@dataclass(frozen=True)
class Skip:
    """A line that is not a call: page header, column headings, log-in notices."""

    name: str
    pattern: re.Pattern


@dataclass(frozen=True)
class RenderRule:
    """The template to print a record with, when its direction, answered and the
    fields it lacks (``missing``) match."""

    template: str
    direction: str | None = None  # in | out | internal | unknown; None = any
    answered: bool | None = None  # None = any
    missing: tuple[str, ...] = ()  # record fields that must be empty (Partner prints IN)

    def applies(self, record: CallRecord, values: dict[str, str]) -> bool:
        if self.direction is not None and (record.direction or "unknown") != self.direction:
            return False
        if any(values.get(name) for name in self.missing):
            return False
        return self.answered is None or record.answered is self.answered


@dataclass(frozen=True)
class Layout:
    """Where the fields are on a line: a regex with named groups, or fixed columns.

    :param regex: matched against the whole line, leading and trailing spaces removed.
    :param columns: ``{group: (first, last)}``, 1-based and inclusive as manuals number
        them; a line shorter than a column gives an empty field.
    :param require: with columns, a regex the line must match (searched) to be a record.
    """

    regex: re.Pattern | None = None
    columns: dict[str, tuple[int, int]] | None = None
    require: re.Pattern | None = None

    @property
    def groups(self) -> set[str]:
        if self.regex is not None:
            return set(self.regex.groupindex)
        return set(self.columns or {})

    def split(self, line: str) -> dict[str, str] | None:
        """The layout's groups in *line*, stripped, or None when the line does not fit."""
        if self.regex is not None:
            m = self.regex.fullmatch(line.strip())
            if m is None:
                return None
            return {k: (v.strip() if v else "") for k, v in m.groupdict().items()}
        if self.require is not None and self.require.search(line) is None:
            return None
        return {
            name: line[first - 1 : last].strip()
            for name, (first, last) in (self.columns or {}).items()
        }


@dataclass(frozen=True)
class SmdrFormat:
    """One PBX family's SMDR printout, loaded from its TOML file.

    Build it with :func:`load_format` or :func:`parse_format`. The parser
    (:func:`appliance.smdr.parser.parse_line`) reads it; :meth:`render` prints a
    :class:`~appliance.smdr.record.CallRecord` the way the PBX would.
    """

    name: str
    title: str
    source: str
    verified: bool
    notes: str
    path: str
    layout: Layout
    fields: dict[str, tuple[str, ...]]
    date: tuple[Template, ...]
    clock: tuple[Template, ...]
    printed: str
    duration: Template | None
    ring: Template | None
    direction: tuple[Rule[str], ...]
    answered: tuple[Rule[bool], ...]
    skip: tuple[Skip, ...]
    renders: tuple[RenderRule, ...]
    serial: SerialSettings | None
    nul: str = "strip"
    samples: tuple[dict, ...] = field(default=(), repr=False)
    ascii7: bool = True

    def framer_options(self) -> dict:
        """Keyword arguments for :class:`~appliance.smdr.framing.LineFramer`: how this
        PBX's records are framed (a NUL ends a record or is noise; whether the top bit
        is parity to clear, or part of UTF-8 names that must not be turned into commas
        and line ends)."""
        return {"nul": self.nul, "ascii7": self.ascii7}

    @property
    def year_printed(self) -> bool:
        """True when the records carry the year (else the parser infers it)."""
        return any("Y" in t.letters for t in self.date)

    def render(self, record: CallRecord, tz: tzinfo = timezone.utc) -> str:
        """Print *record* as this PBX would, in the site's time zone *tz*.

        Formats that print the end of the call print start + duration. Fields the format
        does not print are simply absent, so parsing the result gives back what the
        format can carry (tests check the round trip).

        :param record: the call.
        :param tz: the site's time zone (a :class:`zoneinfo.ZoneInfo`); UTC by default.
        """
        when = record.started_at
        if self.printed == "end":
            when = when + timedelta(seconds=record.duration_s or 0)
        local = when.astimezone(tz)
        ended = (record.started_at + timedelta(seconds=record.duration_s or 0)).astimezone(tz)
        values = {
            "date": render_date(self.date[0], local.year, local.month, local.day)
            if self.date
            else "",
            "time": render_clock(self.clock[0], local.hour, local.minute, local.second),
            "duration": render_duration(self.duration, record.duration_s)
            if self.duration is not None and record.duration_s is not None
            else "",
            "ring": render_duration(self.ring, record.ring_s)
            if self.ring is not None and record.ring_s is not None
            else "",
            "extension": record.extension or "",
            "trunk": record.trunk or "",
            "number": record.number or "",
            "end_date": render_date(self.date[0], ended.year, ended.month, ended.day)
            if self.date
            else "",
            "end_time": render_clock(self.clock[0], ended.hour, ended.minute, ended.second),
        }
        for rule in self.renders:
            if rule.applies(record, values):
                return rule.template.format(**values).rstrip()
        raise AssertionError("load-time validation guarantees a catch-all render rule")

    def describe(self) -> str:
        """One line for ``calls formats``: name, verified or not, title."""
        state = "verified" if self.verified else "unverified"
        return f"{self.name:<22} {state:<10} {self.title}"


# -- loading --------------------------------------------------------------------------


def _shipped_dir():
    return resources.files("appliance.smdr") / "formats"


def format_paths(site_dir: Path | str | None = None) -> dict[str, object]:
    """``{name: path}`` of every format file: shipped ones, then the site's over them."""
    found: dict[str, object] = {}
    for entry in sorted(_shipped_dir().iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            found[entry.name[:-5]] = entry
    site = Path(site_dir) if site_dir is not None else SITE_DIR
    try:
        site_files = sorted(site.glob("*.toml"))
    except OSError:
        site_files = []
    for entry in site_files:
        found[entry.stem] = entry
    return found


def load_format(name: str, site_dir: Path | str | None = None) -> SmdrFormat:
    """The format called *name*.

    :param str name: the format's name, such as ``"panasonic-kx-td"``.
    :param site_dir: the site's format directory (default :data:`SITE_DIR`).
    :raises UnknownFormat: naming the formats that exist.
    :raises ValidationError: when the file is broken, naming every bad key.
    """
    paths = format_paths(site_dir)
    if name not in paths:
        raise UnknownFormat(
            f"unknown SMDR format {name!r}; known formats are "
            + ", ".join(sorted(paths))
            + f" (site formats go in {Path(site_dir or SITE_DIR)}/NAME.toml)"
        )
    return _load_path(paths[name], name)


def load_all(
    site_dir: Path | str | None = None,
) -> tuple[dict[str, SmdrFormat], dict[str, ValidationError]]:
    """Every format that loads, and the error of every one that does not.

    A broken site file must not hide the good ones, so errors are returned, not raised.
    """
    good: dict[str, SmdrFormat] = {}
    bad: dict[str, ValidationError] = {}
    for name, path in format_paths(site_dir).items():
        try:
            good[name] = _load_path(path, name)
        except ValidationError as exc:
            bad[name] = exc
    return good, bad


def _load_path(path, name: str) -> SmdrFormat:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(
            [FieldError("", f"cannot read the format file: {exc}")], source
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([FieldError("", f"not valid TOML: {exc}")], source) from None
    return parse_format(data, source=source, expected_name=name)


def parse_format(data, *, source: str = "format", expected_name: str | None = None) -> SmdrFormat:
    """Validate a format document (parsed TOML) and compile it.

    Every problem is reported at once, each naming its key (``layout.regex``,
    ``direction[2].match``, ``render[0].template``) and what is allowed.

    :param data: the parsed TOML document.
    :param str source: the file it came from, for error messages.
    :param expected_name: the file's stem; ``name`` must equal it.
    :raises ValidationError: listing every problem.
    """
    c = Problems()
    if not isinstance(data, dict):
        raise ValidationError([FieldError("", "a format must be a TOML document")], source)
    for key in data:
        if key not in TOP_KEYS:
            c.err(key, "unknown key; allowed keys are " + ", ".join(sorted(TOP_KEYS)))

    name = c.string(data, "name", "", required=True)
    if name is not None and not NAME_RE.fullmatch(name):
        c.err(
            "name",
            f"{name!r} is not allowed; use lower-case letters, digits and '-' "
            "such as 'panasonic-kx-td'",
        )
    if name is not None and expected_name is not None and name != expected_name:
        c.err("name", f"{name!r} must match the file name {expected_name}.toml")
    title = c.string(data, "title", "", required=True)
    src = c.string(data, "source", "", required=True)
    notes = c.string(data, "notes", "") or ""
    verified = data.get("verified")
    if not isinstance(verified, bool):
        c.err(
            "verified",
            "is required: true only when the layout was checked against a "
            "printout from a real unit, else false",
        )

    serial = None
    if "serial" in data:
        serial, errors = parse_settings(data["serial"], "serial")
        c.errors.extend(errors)

    nul = "strip"
    ascii7 = True
    framing = c.table(data, "framing", "")
    if framing is not None:
        c.unknown(framing, {"nul", "ascii7"}, "framing")
        ascii7 = framing.get("ascii7", True)
        if not isinstance(ascii7, bool):
            c.err(
                "framing.ascii7",
                f"{ascii7!r} is not allowed; use true (clear the top bit: "
                "a 7-bit port read at 8 bits) or false (keep every byte, "
                "for a TCP stream whose names are UTF-8)",
            )
            ascii7 = True
        nul = framing.get("nul", "strip")
        if nul not in NUL_MODES:
            c.err(
                "framing.nul",
                f'{nul!r} is not allowed; use "strip" (NULs may appear '
                'anywhere, as on a Meridian) or "end" (NUL ends a record, '
                "as on a Samsung OfficeServ)",
            )
            nul = "strip"

    layout = _layout(c, data)
    groups = layout.groups if layout else set()

    fields = _fields(c, data, groups)
    date, clock, printed, duration, ring = _time(c, data, groups)
    direction = _rules(
        c, data, "direction", groups, _is_direction, "one of " + ", ".join(DIRECTIONS)
    )
    answered = _rules(c, data, "answered", groups, _is_bool, "true or false")
    skip = _skips(c, data)
    renders = _renders(c, data)
    samples = _samples(c, data)

    if c.errors or layout is None or not isinstance(verified, bool):
        # a missing layout or verified flag has put its error in c.errors
        raise ValidationError(c.errors, source)
    return SmdrFormat(
        name=name,
        title=title,
        source=src,
        verified=verified,
        notes=notes,
        path=source,
        layout=layout,
        fields=fields,
        date=date,
        clock=clock,
        printed=printed,
        duration=duration,
        ring=ring,
        direction=direction,
        answered=answered,
        skip=skip,
        renders=renders,
        serial=serial,
        nul=nul,
        samples=samples,
        ascii7=ascii7,
    )


def _layout(c: Problems, data: dict) -> Layout | None:
    layout = c.table(data, "layout", "")
    if layout is None:
        c.err("layout", "is required: a table with `regex` (named groups) or `columns`")
        return None
    c.unknown(layout, {"regex", "columns", "require"}, "layout")
    if ("regex" in layout) == ("columns" in layout):
        c.err("layout", "give exactly one of `regex` or `columns`")
        return None
    if "regex" in layout:
        regex = c.regex(layout["regex"], "layout.regex")
        if regex is None:
            return None
        if "require" in layout:
            c.err("layout.require", "only goes with `columns`; put the condition in the regex")
        if "time" not in regex.groupindex:
            c.err("layout.regex", "needs a named group `time` (?P<time>...): the time of day")
        return Layout(regex=regex)
    columns = layout["columns"]
    if not isinstance(columns, dict) or not columns:
        c.err("layout.columns", "must be a table of group = [first, last] (1-based columns)")
        return None
    parsed: dict[str, tuple[int, int]] = {}
    for group, span in columns.items():
        path = f"layout.columns.{group}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", group):
            c.err(path, "a group name must be a letter or _ then letters, digits or _")
        elif (
            not isinstance(span, list)
            or len(span) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)
            or not 1 <= span[0] <= span[1] <= 1000
        ):
            c.err(path, "must be [first, last]: 1-based columns, first <= last <= 1000")
        else:
            parsed[group] = (span[0], span[1])
    if "time" not in columns:
        c.err("layout.columns", "needs a `time` column: the time of day")
    require = c.regex(layout["require"], "layout.require") if "require" in layout else None
    return Layout(columns=parsed, require=require)


def _fields(c: Problems, data: dict, groups: set[str]) -> dict[str, tuple[str, ...]]:
    table = c.table(data, "fields", "") or {}
    c.unknown(table, set(TEXT_FIELDS), "fields")
    out: dict[str, tuple[str, ...]] = {}
    for name in TEXT_FIELDS:
        value = table.get(name, name if name in groups else None)
        if value is None:
            continue
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            c.err(f"fields.{name}", "must be a group name or a list of group names")
            continue
        for group in names:
            if groups and group not in groups:
                c.err(
                    f"fields.{name}",
                    f"no layout group called {group!r}; groups are " + ", ".join(sorted(groups)),
                )
        out[name] = tuple(names)
    return out


def _template(c: Problems, kind: str, value, path: str) -> tuple[Template, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        c.err(path, "must be a template string or a list of them")
        return ()
    out = []
    for i, text in enumerate(values):
        try:
            out.append(compile_template(kind, text))
        except TemplateError as exc:
            c.err(path if len(values) == 1 else f"{path}[{i}]", str(exc))
    return tuple(out)


def _time(c: Problems, data: dict, groups: set[str]):
    table = c.table(data, "time", "")
    if table is None:
        c.err(
            "time",
            "is required: a table with `clock` (and `date`, `printed`, "
            "`duration`, `ring` as the format has them)",
        )
        return (), (), "unknown", None, None
    c.unknown(table, {"date", "clock", "printed", "duration", "ring"}, "time")
    date = _template(c, "date", table["date"], "time.date") if "date" in table else ()
    if "clock" in table:
        clock = _template(c, "clock", table["clock"], "time.clock")
    else:
        c.err("time.clock", 'is required: how the time of day is printed, such as "hh:mm"')
        clock = ()
    printed = table.get("printed")
    if printed not in PRINTED:
        c.err(
            "time.printed",
            f'{printed!r} is not allowed; use "start" or "end" (which '
            'moment of the call the printed time is), or "unknown" when '
            "the source does not say (it is then taken as the start)",
        )
        printed = "unknown"
    duration = ring = None
    if "duration" in table:
        found = _template(c, "duration", table["duration"], "time.duration")
        duration = found[0] if len(found) == 1 else None
        if len(found) > 1:
            c.err("time.duration", "give one duration template")
    if "ring" in table:
        found = _template(c, "duration", table["ring"], "time.ring")
        ring = found[0] if len(found) == 1 else None
    if printed == "end" and "duration" not in table:
        c.err("time.printed", '"end" needs a `duration` template: the start is end - duration')
    if groups and "end_date" in groups and "date" not in table:
        c.err("time.date", "the layout has an `end_date` group; say how dates are printed")
    if groups and "end_date" in groups and "end_time" not in groups:
        c.err("layout", "an `end_date` group needs an `end_time` group beside it")
    for group, present in (
        ("date", "date" in table),
        ("duration", "duration" in table),
        ("ring", "ring" in table),
    ):
        if groups and present and group not in groups:
            c.err(f"time.{group}", f"the layout has no `{group}` group to read it from")
        if groups and group in groups and not present:
            c.err(f"time.{group}", f"the layout has a `{group}` group; say how it is printed")
    return date, clock, printed, duration, ring


def _is_direction(value: object) -> TypeGuard[str]:
    return value in DIRECTIONS


def _is_bool(value: object) -> TypeGuard[bool]:
    return isinstance(value, bool)


def _rules(
    c: Problems,
    data: dict,
    key: str,
    groups: set[str],
    ok: Callable[[object], TypeGuard[V]],
    allowed: str,
) -> tuple[Rule[V], ...]:
    out: list[Rule[V]] = []
    for i, rule in enumerate(c.tables(data, key, "")):
        path = f"{key}[{i}]"
        c.unknown(rule, {"field", "match", "value"}, path)
        group = rule.get("field")
        if not isinstance(group, str) or (groups and group not in groups):
            c.err(
                f"{path}.field", "must name a layout group; groups are " + ", ".join(sorted(groups))
            )
        pattern = c.regex(rule.get("match", ".+"), f"{path}.match")
        value = rule.get("value")
        if not ok(value):
            c.err(f"{path}.value", f"{value!r} is not allowed; use {allowed}")
        if isinstance(group, str) and pattern is not None and ok(value):
            out.append(Rule(group, pattern, value))
    return tuple(out)


def _skips(c: Problems, data: dict) -> tuple[Skip, ...]:
    out = []
    for i, rule in enumerate(c.tables(data, "skip", "")):
        path = f"skip[{i}]"
        c.unknown(rule, {"name", "pattern"}, path)
        name = c.string(rule, "name", f"{path}", required=True)
        pattern = c.regex(rule.get("pattern"), f"{path}.pattern")
        if name and pattern is not None:
            out.append(Skip(name, pattern))
    return tuple(out)


def _renders(c: Problems, data: dict) -> tuple[RenderRule, ...]:
    out = []
    rules = c.tables(data, "render", "")
    if not rules:
        c.err(
            "render",
            "is required: at least one [[render]] with a `template`, so the "
            "PBX simulator can print this format",
        )
    for i, rule in enumerate(rules):
        path = f"render[{i}]"
        c.unknown(rule, {"template", "when"}, path)
        template = c.string(rule, "template", f"{path}", required=True)
        if template is not None:
            try:
                keys = {f for _, f, _, _ in Formatter().parse(template) if f is not None}
                bad = keys - set(RENDER_KEYS)
                if bad:
                    c.err(
                        f"{path}.template",
                        "unknown field "
                        + ", ".join(sorted(bad))
                        + "; fields are "
                        + ", ".join(RENDER_KEYS),
                    )
                else:
                    template.format(**dict.fromkeys(RENDER_KEYS, ""))
            except (ValueError, IndexError, KeyError) as exc:
                c.err(f"{path}.template", f"not a valid template: {exc}")
                template = None
        when = rule.get("when", {})
        if not isinstance(when, dict):
            c.err(f"{path}.when", 'must be a table such as { direction = "in" }')
            when = {}
        c.unknown(when, {"direction", "answered", "missing"}, f"{path}.when")
        direction = when.get("direction")
        if direction is not None and direction not in (*DIRECTIONS, "unknown"):
            c.err(
                f"{path}.when.direction",
                f"{direction!r} is not allowed; use in, out, internal or unknown",
            )
        answered = when.get("answered")
        if answered is not None and not isinstance(answered, bool):
            c.err(f"{path}.when.answered", "must be true or false")
        missing = when.get("missing", [])
        missing = [missing] if isinstance(missing, str) else missing
        if not isinstance(missing, list) or not all(m in RENDER_KEYS for m in missing):
            c.err(f"{path}.when.missing", "must name fields from " + ", ".join(RENDER_KEYS))
            missing = []
        if template is not None:
            out.append(RenderRule(template, direction, answered, tuple(missing)))
    if rules and not any(r.direction is None and r.answered is None and not r.missing for r in out):
        c.err("render", "needs one [[render]] without `when`, for records no other matches")
    return tuple(out)


def _samples(c: Problems, data: dict) -> tuple[dict, ...]:
    out = []
    for i, sample in enumerate(c.tables(data, "samples", "")):
        path = f"samples[{i}]"
        c.unknown(sample, {"line", "now", "note", "expect"}, path)
        if not isinstance(sample.get("line"), str):
            c.err(f"{path}.line", "is required: the sample line exactly as the source prints it")
        if "now" in sample:
            try:
                datetime.fromisoformat(str(sample["now"]))
            except ValueError:
                c.err(f"{path}.now", "must be a local date-time such as 1999-01-05T09:00")
        expect = sample.get("expect")
        if not isinstance(expect, dict):
            c.err(f"{path}.expect", "is required: a table with `kind` and the fields expected")
            continue
        c.unknown(expect, EXPECT_KEYS, f"{path}.expect")
        if expect.get("kind") not in ("call", "header", "junk"):
            c.err(f"{path}.expect.kind", 'must be "call", "header" or "junk"')
        out.append(sample)
    return tuple(out)
