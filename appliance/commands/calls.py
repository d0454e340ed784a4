"""``nightswitch calls``: after-hours call reports, SMDR log import, the list of formats.

* ``calls report`` prints the after-hours calls of a zone per night and per hour of the
  day, or writes them as CSV, from the call records and mode history in the data
  directory (docs/design.md#after-hours-calls-smdr).
* ``calls import FILE --format NAME`` feeds a captured SMDR log through the same framing
  and parser as the live port. Installers use it with ``--dry-run`` to check that a
  format reads their PBX's printout before wiring the port.
* ``calls formats`` lists the SMDR formats, shipped and site ones, with their source and
  whether they were checked against a real unit.
* ``calls detect --port PATH`` listens on an SMDR port at the usual rates and proposes
  the format and settings that read the most lines (:mod:`appliance.smdr.detect`).

The site's time zone comes from the config's ``site.timezone`` when the config exists,
else from ``--tz``, else UTC (with a note), since PBXs print local time.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.commands.output import emit
from appliance.errors import FieldError, ValidationError
from appliance.timetext import stamp

NAME = "calls"
DEFAULT_DAYS = 7
#: History fetched before a report's start so that a night that began earlier gets its
#: true label (see appliance.smdr.report).
HISTORY_LEAD = timedelta(days=31)
SHOW_UNPARSED = 5


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME, help="after-hours call reports and SMDR formats",
        description="After-hours call reports from the PBX's call records (SMDR), "
                    "import of captured SMDR logs, and the list of SMDR formats.")
    sub = parser.add_subparsers(dest="calls_command", metavar="ACTION")
    sub.required = True

    tz_help = ("the site's time zone, such as Europe/Berlin, when there is no config "
               "file (default: the config's site.timezone, else UTC)")

    report = sub.add_parser(
        "report", parents=[common.config, common.data],
        help="after-hours calls per night and per hour",
        description="Print the after-hours calls of a zone (calls that started while the "
                    "mode applied was not day) per night and per hour of the day, or write "
                    "one CSV row per call. A night is labelled with the local date on "
                    "which its after-hours span began.")
    report.add_argument("--zone", metavar="NAME",
                        help="the zone (default: the config's first zone, else main)")
    report.add_argument("--from", dest="start", metavar="DATE",
                        help=f"first local date, YYYY-MM-DD (default: {DEFAULT_DAYS - 1} "
                             "days before --to)")
    report.add_argument("--to", dest="end", metavar="DATE",
                        help="last local date, YYYY-MM-DD, included (default: today)")
    report.add_argument("--csv", metavar="FILE",
                        help="write the after-hours calls as CSV to FILE ('-' for standard "
                             "output) instead of the table")
    report.add_argument("--json", action="store_true",
                        help="print the summary as JSON (what the web page charts)")
    report.add_argument("--tz", metavar="ZONE", help=tz_help)
    report.set_defaults(func=run_report)

    imp = sub.add_parser(
        "import", parents=[common.config, common.data],
        help="feed a captured SMDR log through a format into the store",
        description="Read a captured SMDR log (bytes as the port sent them) through the "
                    "same framing and parser as the live port and store the calls and the "
                    "unparsed lines. Calls already stored (same start and same line) are "
                    "not stored twice. With --dry-run nothing is stored: use it to check "
                    "that a format reads your PBX's printout.")
    imp.add_argument("file", metavar="FILE", help="the captured log; '-' reads standard input")
    imp.add_argument("--format", dest="fmt", metavar="NAME", required=True,
                     help="the SMDR format (see `nightswitch calls formats`)")
    imp.add_argument("--zone", metavar="NAME",
                     help="the zone the calls belong to (default: the config's first "
                          "zone, else main)")
    imp.add_argument("--now", metavar="TIME",
                     help="when the log was captured, YYYY-MM-DDTHH:MM in the site's time "
                          "(the reference for records printed without a year; default: "
                          "the file's modification time)")
    imp.add_argument("--dry-run", action="store_true",
                     help="parse and show what would be stored; store nothing")
    imp.add_argument("--show", metavar="N", type=str, default="20",
                     help="with --dry-run, how many parsed calls to show (default: 20)")
    imp.add_argument("--tz", metavar="ZONE", help=tz_help)
    imp.add_argument("--formats-dir", metavar="DIR",
                     help="the site's format directory (default: smdr/ beside the config)")
    imp.set_defaults(func=run_import)

    fmts = sub.add_parser(
        "formats", parents=[common.config],
        help="list the SMDR formats",
        description="List the SMDR formats: the shipped ones and the site's own "
                    "(NAME.toml in the smdr/ directory beside the config, which win over "
                    "shipped ones of the same name), with where each comes from and "
                    "whether it was checked against a real unit.")
    fmts.add_argument("--json", action="store_true", help="print the list as JSON")
    fmts.add_argument("--formats-dir", metavar="DIR",
                      help="the site's format directory (default: smdr/ beside the config)")
    fmts.set_defaults(func=run_formats)

    det = sub.add_parser(
        "detect", parents=[common.config],
        help="find the SMDR format and port settings by listening to the port",
        description="Listen on an SMDR port at each usual rate (1200 to 9600 baud) and "
                    "read what arrives as every SMDR format at 8N1 and at 7E1; propose "
                    "the format and settings that read the most lines, with examples and "
                    "the [smdr] lines for the config. Make a few calls while it listens. "
                    "One listen per rate serves both framings: a 7E1 and an 8N1 receiver "
                    "sample the same bits, and the top bit of each character (the parity "
                    "bit from a 7E1 PBX, 0 from an 8N1 one) tells which the PBX sends. "
                    "Stop the service first if it reads this port "
                    "(sudo systemctl stop nightswitch).")
    det.add_argument("--port", required=True, metavar="PATH",
                     help="the serial port the PBX's SMDR output is on, such as /dev/ttyUSB0")
    det.add_argument("--seconds", metavar="S", default="30",
                     help="the longest listen at each rate, 1 to 600 seconds (default 30)")
    det.add_argument("--lines", metavar="N", default="12",
                     help="stop listening at a rate after N lines, 1 to 1000 (default 12)")
    det.add_argument("--rates", metavar="LIST", default="1200,2400,4800,9600",
                     help="the rates to try, comma-separated (default 1200,2400,4800,9600)")
    det.add_argument("--format", dest="formats", metavar="NAME", action="append",
                     help="try only this format (repeat for several; default: every format)")
    det.add_argument("--json", action="store_true", help="print the result as JSON")
    det.add_argument("--tz", metavar="ZONE", help=tz_help)
    det.add_argument("--formats-dir", metavar="DIR",
                     help="the site's format directory (default: smdr/ beside the config)")
    det.set_defaults(func=run_detect)


# -- shared helpers ------------------------------------------------------------------

def _site(args):
    """``(tz, config or None, note)``: the time zone from the config, else ``--tz``, else
    UTC."""
    tz_arg = getattr(args, "tz", None)
    if args.config and Path(args.config).exists():
        from appliance.config import load_config  # lazily: `calls formats` needs no config

        config = load_config(args.config)
        note = None
        if tz_arg and tz_arg != config.timezone:
            note = (f"note: --tz {tz_arg} ignored; the config {args.config} sets "
                    f"site.timezone = {config.timezone}")
        return ZoneInfo(config.timezone), config, note
    if tz_arg:
        try:
            return ZoneInfo(tz_arg), None, None
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError([FieldError("--tz", f"{tz_arg!r} is not an IANA time zone; "
                                                      "use a name such as Europe/Berlin or "
                                                      "America/Chicago")]) from None
    return (ZoneInfo("UTC"), None,
            f"note: no config at {args.config} and no --tz: times are read as UTC")


def _router(args, zone: str, config):
    """Without ``--zone``, the config's ``[[smdr.routes]]`` share the calls out among the
    zones as the live intake does; with it, every call goes to that zone."""
    from appliance.smdr.routing import CallRouter

    smdr = config.smdr if config is not None else None
    if args.zone is None and smdr and smdr.get("routes"):
        return CallRouter(smdr["zone"], smdr["routes"])
    return CallRouter(zone)


def _zone(args, config) -> str:
    zones = config.zone_names if config is not None else None
    zone = args.zone or (zones[0] if zones else "main")
    if zones is not None and zone not in zones:
        raise ValidationError([FieldError("--zone", f"no zone {zone!r} in {args.config}; "
                                                    f"zones: {', '.join(zones)}")])
    return zone


def _date(value: str, option: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError([FieldError(option, f"{value!r} is not a date; use YYYY-MM-DD, "
                                                  "such as 2026-03-01")]) from None


def _formats_dir(args) -> Path:
    if getattr(args, "formats_dir", None):
        return Path(args.formats_dir)
    return Path(args.config).parent / "smdr"


def _note(text: str | None) -> None:
    if text:
        print(text, file=sys.stderr)


def _open_store(data_dir, *, must_exist: bool):
    from appliance.store import Store

    path = Path(data_dir)
    if must_exist and not (path / "nightswitch.db").exists():
        raise ValidationError([FieldError("--data", f"no nightswitch database in {path}; "
                                                     "give the data directory of the "
                                                     "appliance (default /var/lib/nightswitch)")])
    return Store(path)


# -- report ---------------------------------------------------------------------------

def _report_span(args, tz) -> tuple[date, date]:
    errors = []
    start = end = None
    try:
        end = _date(args.end, "--to") if args.end else None
    except ValidationError as exc:
        errors += exc.errors
    try:
        start = _date(args.start, "--from") if args.start else None
    except ValidationError as exc:
        errors += exc.errors
    if errors:
        raise ValidationError(errors)
    if end is None:
        from appliance.inputs.clock import SystemClock  # the one place the time is read

        end = SystemClock().now().astimezone(tz).date()
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationError([FieldError("--from", f"{start} is after --to {end}; the "
                                                    "first date must not be after the last")])
    if (end - start).days > 3660:
        raise ValidationError([FieldError("--from", "the report spans more than ten years; "
                                                    "choose a shorter range")])
    return start, end


def _local_midnight(day: date, tz) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def run_report(args) -> int:
    from appliance.smdr.report import summary, to_csv

    tz, config, note = _site(args)
    zone = _zone(args, config)
    first, last = _report_span(args, tz)
    if args.csv and args.json:
        raise ValidationError([FieldError("--csv", "choose one of --csv or --json")])
    start = _local_midnight(first, tz)
    end = _local_midnight(last + timedelta(days=1), tz)
    _note(note)
    store = _open_store(args.data, must_exist=True)
    try:
        calls = store.calls(zone, start, end)
        history = store.mode_history(zone, start - HISTORY_LEAD, end)
    finally:
        store.close()
    if args.csv:
        text = to_csv(calls, history, tz)
        if args.csv == "-":
            emit(text, end="")
            return 0
        try:
            with open(args.csv, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        except OSError as exc:
            raise ValidationError([FieldError("--csv", f"cannot write {args.csv}: "
                                                       f"{exc.strerror or exc}")]) from None
        print(f"{text.count(chr(10)) - 1} after-hours calls written to {args.csv}",
              file=sys.stderr)
        return 0
    result = summary(calls, history, tz, start, end)
    if args.json:
        emit(json.dumps(result, indent=2))
    else:
        emit(format_summary(result, zone=zone, first=first, last=last))
    return 0


def format_summary(result: dict, *, zone: str, first: date, last: date) -> str:
    """The summary as the readable tables ``calls report`` prints."""
    t = result["totals"]
    lines = [f"After-hours calls, zone {zone}, {first} to {last} ({result['timezone']})",
             f"{t['calls']} calls in all, {t['after_hours']} after hours: "
             f"{t['answered']} answered, {t['unanswered']} unanswered, "
             f"{t['unknown']} not said by the PBX"]
    if t["no_history"]:
        lines.append(f"{t['no_history']} calls came before any recorded mode and are not "
                     "counted")
    lines += ["", f"{'Night':<11} {'began':<21} {'ended':<21} {'calls':>6} {'answered':>9} "
                  f"{'unanswered':>11} {'unknown':>8}"]
    if not result["per_night"]:
        lines.append("(no after-hours periods in this range)")
    for n in result["per_night"]:
        began = _short(n["began"])
        ended = _short(n["ended"]) if n["ended"] else "(still on)"
        lines.append(f"{n['night']:<11} {began:<21} {ended:<21} {n['calls']:>6} "
                     f"{n['answered']:>9} {n['unanswered']:>11} {n['unknown']:>8}")
    lines += ["", f"{'Hour':<5} {'calls':>5} {'answered':>9} {'unanswered':>11} {'unknown':>8}"]
    peak = max((h["calls"] for h in result["per_hour"]), default=0)
    for h in result["per_hour"]:
        bar = "#" * (round(20 * h["calls"] / peak) if peak else 0)
        lines.append(f"{h['hour']:02d}    {h['calls']:>5} {h['answered']:>9} "
                     f"{h['unanswered']:>11} {h['unknown']:>8}  {bar}".rstrip())
    return "\n".join(lines)


def _short(iso: str) -> str:
    return stamp(iso, None, seconds=False)      # the report's times are local already


# -- import ---------------------------------------------------------------------------

def _load_format(name: str, site_dir: Path):
    from appliance.smdr.formats import UnknownFormat, load_format

    try:
        return load_format(name, site_dir)
    except UnknownFormat as exc:
        raise ValidationError([FieldError("--format", str(exc))]) from None


def _read_capture(path: str) -> tuple[bytes, datetime | None]:
    try:
        if path == "-":
            return sys.stdin.buffer.read(), None
        data = Path(path).read_bytes()
        mtime = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc)
        return data, mtime
    except OSError as exc:
        raise ValidationError([FieldError("FILE", f"cannot read {path}: "
                                                  f"{exc.strerror or exc}")]) from None


def _capture_time(args, tz, mtime) -> datetime:
    if args.now:
        try:
            when = datetime.fromisoformat(args.now)
        except ValueError:
            raise ValidationError([FieldError("--now", f"{args.now!r} is not a date and time; "
                                                       "use YYYY-MM-DDTHH:MM such as "
                                                       "2026-03-02T08:30")]) from None
        return when.replace(tzinfo=tz) if when.tzinfo is None else when
    if mtime is not None:
        return mtime
    from appliance.inputs.clock import SystemClock  # the one place the time is read

    return SystemClock().now()


def run_import(args) -> int:
    from appliance.smdr.framing import frame_bytes
    from appliance.smdr.parser import LineKind, ParsedLine, parse_line

    errors = []
    try:
        show = int(args.show, 10)
        if show < 0:
            raise ValueError
    except ValueError:
        errors.append(FieldError("--show", f"{args.show!r} is not allowed; use a whole "
                                           "number 0 or more"))
        show = 0
    if errors:
        raise ValidationError(errors)
    tz, config, note = _site(args)
    zone = _zone(args, config)
    router = _router(args, zone, config)
    fmt = _load_format(args.fmt, _formats_dir(args))
    data, mtime = _read_capture(args.file)
    now = _capture_time(args, tz, mtime)
    _note(note)

    # (line number, what it read as or None when cut off, why it is junk, the text)
    parsed: list[tuple[int, ParsedLine | None, str | None, str]] = []
    for number, line in enumerate(frame_bytes(data, **fmt.framer_options()), start=1):
        if line.dropped:
            parsed.append((number, None, f"line longer than 512 characters: {line.dropped} "
                                         "more were cut off", line.text))
            continue
        result = parse_line(line.text, fmt, now=now, tz=tz)
        parsed.append((number, result, result.reason, line.text))
    calls = [p for _, p, _, _ in parsed if p is not None and p.kind is LineKind.CALL]
    headers = [p for _, p, _, _ in parsed if p is not None and p.kind is LineKind.HEADER]
    junk = [(n, reason, text) for n, p, reason, text in parsed
            if p is None or p.kind is LineKind.JUNK]
    if junk and not calls:
        n, reason, _ = junk[0]
        raise ValidationError([FieldError("--format", f"no line of {args.file} reads as a "
                                                      f"{fmt.name} call (line {n}: {reason}); "
                                                      "check the format with --dry-run or "
                                                      "`nightswitch calls formats`")])
    duplicates = 0
    if not args.dry_run:
        store = _open_store(args.data, must_exist=False)
        try:
            duplicates = _store_import(store, router, fmt.name, calls, junk, now)
        finally:
            store.close()
    where = (f"zone {zone}" if not router.routes
             else "zones " + ", ".join(router.zones) + " by [[smdr.routes]]")
    lines = [f"{args.file}: {len(parsed)} lines as {fmt.name} ({where}, "
             f"{getattr(tz, 'key', tz)}): {len(calls)} calls, {len(headers)} headers "
             f"skipped, {len(junk)} unparsed"]
    if args.dry_run:
        lines[0] += " — dry run, nothing stored"
        for p in calls[:show]:
            r = p.record
            if r is None:
                continue    # a call line always carries its record
            lines.append(f"  {stamp(r.started_at, tz)}  "
                         f"{r.direction or '?':<8} ext {r.extension or '-':<6} "
                         f"trunk {r.trunk or '-':<5} dur {_dur(r.duration_s):>8}  "
                         f"answered {_yes(r.answered):<3}  {r.number or ''}")
        if len(calls) > show:
            lines.append(f"  ... {len(calls) - show} more calls")
    elif duplicates:
        lines.append(f"{duplicates} of the calls were stored already and were skipped")
    for n, reason, text in junk[:SHOW_UNPARSED]:
        lines.append(f"  line {n} unparsed: {reason}: {text[:60]!r}")
    if len(junk) > SHOW_UNPARSED:
        lines.append(f"  ... {len(junk) - SHOW_UNPARSED} more unparsed lines")
    emit("\n".join(lines))
    return 0


def _store_import(store, router, fmt_name, calls, junk, now) -> int:
    """Store *calls* not already stored (each in the zone *router* gives it) and the *junk*
    lines; returns the duplicates."""
    duplicates = 0
    if calls:
        starts = [p.record.started_at for p in calls]
        existing = set()
        for zone in router.zones:
            existing |= {(zone, c["started_at"], c["raw"]) for c in
                         store.calls(zone, min(starts), max(starts) + timedelta(seconds=1))}
        for p in calls:
            zone = router.zone_of(p.record)
            key = (zone, p.record.started_at.astimezone(timezone.utc).isoformat(),
                   p.record.raw)
            if key in existing:
                duplicates += 1
                continue
            try:
                store.add_call(zone, p.record)
            except ValidationError as exc:
                store.add_unparsed(at=now, fmt=fmt_name, raw=p.record.raw,
                                   reason=f"the store refused the record: {exc}"[:500])
            existing.add(key)
    for _, reason, text in junk:
        store.add_unparsed(at=now, fmt=fmt_name, raw=text, reason=reason)
    return duplicates


def _dur(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _yes(value) -> str:
    return "?" if value is None else ("yes" if value else "no")


# -- formats --------------------------------------------------------------------------

def run_formats(args) -> int:
    from appliance.smdr.formats import load_all

    good, bad = load_all(_formats_dir(args))
    if args.json:
        emit(json.dumps([{"name": f.name, "title": f.title, "verified": f.verified,
                            "source": f.source, "path": f.path,
                            "year_printed": f.year_printed, "time_printed": f.printed}
                           for f in good.values()], indent=2))
    else:
        lines = []
        for f in good.values():
            lines.append(f.describe())
            lines += textwrap.wrap(f"source: {f.source}", 100, initial_indent=" " * 23,
                                   subsequent_indent=" " * 31, break_on_hyphens=False,
                                   break_long_words=False)
        emit("\n".join(lines))
    for name, exc in bad.items():
        for line in exc.render().splitlines():
            print(f"nightswitch: error: format {name}: {line}", file=sys.stderr)
    return 2 if bad else 0


# -- detect ---------------------------------------------------------------------------

def _number(text: str, option: str, lo, hi, kind=float):
    try:
        value = kind(text)
        if not lo <= value <= hi:
            raise ValueError
        return value
    except ValueError:
        raise ValidationError([FieldError(option, f"{text!r} is not allowed; use a number "
                                                  f"{lo} to {hi}")]) from None


def _rates(text: str) -> list[int]:
    from appliance.pbx.port_settings import BAUD_RATES

    rates = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) not in BAUD_RATES:
            raise ValidationError([FieldError("--rates", f"{part!r} is not a rate; use "
                                                         "comma-separated rates from "
                                                         + ", ".join(map(str, BAUD_RATES)))])
        rates.append(int(part))
    return list(dict.fromkeys(rates))


PARITY_WORDS = {"even": "even parity (7E1)", "odd": "odd parity (7O1)",
                "none": "always 0 (8N1)", "mark": "always 1 (mark parity)", None: "no pattern"}


def run_detect(args) -> int:
    from appliance.smdr.detect import detect
    from appliance.smdr.formats import load_all

    seconds = _number(args.seconds, "--seconds", 1, 600)
    lines = _number(args.lines, "--lines", 1, 1000, int)
    rates = _rates(args.rates)
    tz, _, note = _site(args)
    good, bad = load_all(_formats_dir(args))
    if args.formats:
        unknown = [n for n in args.formats if n not in good]
        if unknown:
            raise ValidationError([FieldError("--format", f"unknown SMDR format "
                                                          f"{', '.join(map(repr, unknown))}; "
                                                          "formats are " + ", ".join(good))])
        formats = [good[n] for n in args.formats]
    else:
        formats = list(good.values())
    _note(note)
    if not args.json:
        print(f"Listening on {args.port} at {', '.join(map(str, rates))} baud, up to "
              f"{seconds:g} s each (make a few calls now) ...", file=sys.stderr)

    def progress(rate, data):
        if not args.json:
            print(f"  {rate} baud: {len(data)} bytes", file=sys.stderr)

    result = detect(args.port, formats, rates=rates, seconds=seconds, lines=lines, tz=tz,
                    progress=progress)
    if args.json:
        emit(json.dumps(_detection_json(result, args.port, good), indent=2))
    else:
        emit("\n".join(_detection_text(result, args.port, good, tz)))
    return 0 if result.proposal is not None else 1


def _proposed_settings(reading, good) -> dict:
    fmt = good[reading.fmt]
    bits, parity = {"8N1": (8, "none"), "7E1": (7, "even")}[reading.framing]
    stopbits = fmt.serial.stopbits if fmt.serial is not None else 1
    return {"baudrate": reading.rate, "bytesize": bits, "parity": parity,
            "stopbits": stopbits}


def _detection_text(result, port, good, tz) -> list[str]:
    out = [f"{'rate':>5}  {'bytes':>6}  {'lines':>5}  {'best format':<24} {'read':>7} "
           f"{'calls':>5} {'junk':>5}  top bit"]
    for rate, best in result.best_per_rate().items():
        data = result.captured[rate]
        if rate in result.errors:
            out.append(f"{rate:>5}  cannot listen: {result.errors[rate]}")
            continue
        if best is None or not best.calls:
            lines = best.lines if best else 0
            out.append(f"{rate:>5}  {len(data):>6}  {lines:>5}  {'(none reads)':<24} "
                       f"{'':>7} {'':>5} {'':>5}  {PARITY_WORDS[result.parity[rate]]}")
            continue
        out.append(f"{rate:>5}  {len(data):>6}  {best.lines:>5}  {best.fmt:<24} "
                   f"{best.read:>3}/{best.lines:<3} {best.calls:>5} {best.junk:>5}  "
                   f"{PARITY_WORDS[result.parity[rate]]}")
    out.append("")
    best = result.proposal
    if best is None:
        if not any(result.captured.values()):
            out.append("Nothing arrived at any rate. Check that the PBX's SMDR output is on, "
                       "the cable (a null-modem adapter?) and the port; make calls while "
                       "listening, or listen longer with --seconds.")
        else:
            out.append("Bytes arrived, but no line read as any format at any of these rates "
                       "and framings. Capture a sample (section 7 of the installer guide), "
                       "try it with `nightswitch calls import FILE --format NAME --dry-run`, "
                       "and write a site format if none fits.")
        return out
    settings = _proposed_settings(best, good)
    out.append(f"Proposal: format {best.fmt} at {best.rate} baud {best.framing} "
               f"({best.read} of {best.lines} lines read: {best.calls} calls, "
               f"{best.headers} headers, {best.junk} unparsed)")
    said = result.parity[best.rate]
    other = "8N1" if best.framing == "7E1" else "7E1"
    if said == "even":
        out.append(f"  {other} reads the same lines; the top bit of every character is the "
                   "even parity of the other seven, so the PBX sends 7 data bits with even "
                   "parity.")
    elif said == "none":
        out.append(f"  {other} reads the same lines; the top bit is always 0, so the PBX "
                   "sends 8 data bits without parity.")
    else:
        out.append(f"  the top bit shows {PARITY_WORDS[said]}: check the PBX's parity "
                   "setting; the lines read either way.")
    out.append("  Stop bits cannot be told by listening; 1 reads a PBX that sends 2.")
    for tie in result.ties:
        out.append(f"  {tie.fmt} reads as many lines: compare the examples of both with "
                   "`calls import --dry-run`.")
    out += ["", "[smdr]", f'port = "{port}"', f'format = "{best.fmt}"',
            "settings = { " + ", ".join(f'{k} = {v}' if not isinstance(v, str)
                                        else f'{k} = "{v}"'
                                        for k, v in settings.items()) + " }", "",
            "Examples:"]
    for raw, record in best.examples:
        out.append(f"  {raw.strip()[:78]}")
        out.append(f"    -> {stamp(record.started_at, tz)} "
                   f"{record.direction or '?'} ext {record.extension or '-'} trunk "
                   f"{record.trunk or '-'} dur {_dur(record.duration_s)} answered "
                   f"{_yes(record.answered)} {record.number or ''}".rstrip())
    return out


def _detection_json(result, port, good) -> dict:
    best = result.proposal
    rates = []
    for rate, reading in result.best_per_rate().items():
        rates.append({"rate": rate, "bytes": len(result.captured[rate]),
                      "error": result.errors.get(rate), "top_bit": result.parity[rate],
                      "best": None if reading is None or not reading.calls else
                      {"format": reading.fmt, "framing": reading.framing,
                       "lines": reading.lines, "calls": reading.calls,
                       "headers": reading.headers, "junk": reading.junk}})
    proposal = None
    if best is not None:
        proposal = {"format": best.fmt, "rate": best.rate, "framing": best.framing,
                    "settings": _proposed_settings(best, good), "lines": best.lines,
                    "calls": best.calls, "headers": best.headers, "junk": best.junk,
                    "ties": [t.fmt for t in result.ties],
                    "examples": [{"line": raw, "start": r.started_at.isoformat(),
                                  "direction": r.direction, "extension": r.extension,
                                  "trunk": r.trunk, "duration_s": r.duration_s}
                                 for raw, r in best.examples]}
    return {"port": port, "rates": rates, "proposal": proposal}
