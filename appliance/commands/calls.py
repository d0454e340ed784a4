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
import sys
import textwrap
from datetime import date, datetime, time, timedelta, timezone

from appliance.commands.calls_common import (
    _date,
    _formats_dir,
    _note,
    _open_store,
    _site,
    _zone,
)
from appliance.commands.calls_detect import run_detect
from appliance.commands.calls_import import run_import
from appliance.commands.output import emit
from appliance.errors import FieldError, ValidationError
from appliance.timetext import stamp

NAME = "calls"
DEFAULT_DAYS = 7


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="after-hours call reports and SMDR formats",
        description="After-hours call reports from the PBX's call records (SMDR), "
        "import of captured SMDR logs, and the list of SMDR formats.",
    )
    sub = parser.add_subparsers(dest="calls_command", metavar="ACTION")
    sub.required = True

    tz_help = (
        "the site's time zone, such as Europe/Berlin, when there is no config "
        "file (default: the config's site.timezone, else UTC)"
    )

    report = sub.add_parser(
        "report",
        parents=[common.config, common.data],
        help="after-hours calls per night and per hour",
        description="Print the after-hours calls of a zone (calls that started while the "
        "mode applied was not day) per night and per hour of the day, or write "
        "one CSV row per call. A night is labelled with the local date on "
        "which its after-hours span began.",
    )
    report.add_argument(
        "--zone", metavar="NAME", help="the zone (default: the config's first zone, else main)"
    )
    report.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help=f"first local date, YYYY-MM-DD (default: {DEFAULT_DAYS - 1} days before --to)",
    )
    report.add_argument(
        "--to",
        dest="end",
        metavar="DATE",
        help="last local date, YYYY-MM-DD, included (default: today)",
    )
    report.add_argument(
        "--csv",
        metavar="FILE",
        help="write the after-hours calls as CSV to FILE ('-' for standard "
        "output) instead of the table",
    )
    report.add_argument(
        "--json", action="store_true", help="print the summary as JSON (what the web page charts)"
    )
    report.add_argument("--tz", metavar="ZONE", help=tz_help)
    report.set_defaults(func=run_report)

    imp = sub.add_parser(
        "import",
        parents=[common.config, common.data],
        help="feed a captured SMDR log through a format into the store",
        description="Read a captured SMDR log (bytes as the port sent them) through the "
        "same framing and parser as the live port and store the calls and the "
        "unparsed lines. Calls already stored (same start and same line) are "
        "not stored twice. With --dry-run nothing is stored: use it to check "
        "that a format reads your PBX's printout.",
    )
    imp.add_argument("file", metavar="FILE", help="the captured log; '-' reads standard input")
    imp.add_argument(
        "--format",
        dest="fmt",
        metavar="NAME",
        required=True,
        help="the SMDR format (see `nightswitch calls formats`)",
    )
    imp.add_argument(
        "--zone",
        metavar="NAME",
        help="the zone the calls belong to (default: the config's first zone, else main)",
    )
    imp.add_argument(
        "--now",
        metavar="TIME",
        help="when the log was captured, YYYY-MM-DDTHH:MM in the site's time "
        "(the reference for records printed without a year; default: "
        "the file's modification time)",
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="parse and show what would be stored; store nothing"
    )
    imp.add_argument(
        "--show",
        metavar="N",
        type=str,
        default="20",
        help="with --dry-run, how many parsed calls to show (default: 20)",
    )
    imp.add_argument("--tz", metavar="ZONE", help=tz_help)
    imp.add_argument(
        "--formats-dir",
        metavar="DIR",
        help="the site's format directory (default: smdr/ beside the config)",
    )
    imp.set_defaults(func=run_import)

    fmts = sub.add_parser(
        "formats",
        parents=[common.config],
        help="list the SMDR formats",
        description="List the SMDR formats: the shipped ones and the site's own "
        "(NAME.toml in the smdr/ directory beside the config, which win over "
        "shipped ones of the same name), with where each comes from and "
        "whether it was checked against a real unit.",
    )
    fmts.add_argument("--json", action="store_true", help="print the list as JSON")
    fmts.add_argument(
        "--formats-dir",
        metavar="DIR",
        help="the site's format directory (default: smdr/ beside the config)",
    )
    fmts.set_defaults(func=run_formats)

    det = sub.add_parser(
        "detect",
        parents=[common.config],
        help="find the SMDR format and port settings by listening to the port",
        description="Listen on an SMDR port at each usual rate (1200 to 9600 baud) and "
        "read what arrives as every SMDR format at 8N1 and at 7E1; propose "
        "the format and settings that read the most lines, with examples and "
        "the [smdr] lines for the config. Make a few calls while it listens. "
        "One listen per rate serves both framings: a 7E1 and an 8N1 receiver "
        "sample the same bits, and the top bit of each character (the parity "
        "bit from a 7E1 PBX, 0 from an 8N1 one) tells which the PBX sends. "
        "Stop the service first if it reads this port "
        "(sudo systemctl stop nightswitch).",
    )
    det.add_argument(
        "--port",
        required=True,
        metavar="PATH",
        help="the serial port the PBX's SMDR output is on, such as /dev/ttyUSB0",
    )
    det.add_argument(
        "--seconds",
        metavar="S",
        default="30",
        help="the longest listen at each rate, 1 to 600 seconds (default 30)",
    )
    det.add_argument(
        "--lines",
        metavar="N",
        default="12",
        help="stop listening at a rate after N lines, 1 to 1000 (default 12)",
    )
    det.add_argument(
        "--rates",
        metavar="LIST",
        default="1200,2400,4800,9600",
        help="the rates to try, comma-separated (default 1200,2400,4800,9600)",
    )
    det.add_argument(
        "--format",
        dest="formats",
        metavar="NAME",
        action="append",
        help="try only this format (repeat for several; default: every format)",
    )
    det.add_argument("--json", action="store_true", help="print the result as JSON")
    det.add_argument("--tz", metavar="ZONE", help=tz_help)
    det.add_argument(
        "--formats-dir",
        metavar="DIR",
        help="the site's format directory (default: smdr/ beside the config)",
    )
    det.set_defaults(func=run_detect)


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
        raise ValidationError(
            [
                FieldError(
                    "--from",
                    f"{start} is after --to {end}; the first date must not be after the last",
                )
            ]
        )
    if (end - start).days > 3660:
        raise ValidationError(
            [FieldError("--from", "the report spans more than ten years; choose a shorter range")]
        )
    return start, end


def _local_midnight(day: date, tz) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def run_report(args) -> int:
    from appliance.smdr.report import HISTORY_LEAD, summary, to_csv

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
            raise ValidationError(
                [FieldError("--csv", f"cannot write {args.csv}: {exc.strerror or exc}")]
            ) from None
        print(f"{text.count(chr(10)) - 1} after-hours calls written to {args.csv}", file=sys.stderr)
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
    lines = [
        f"After-hours calls, zone {zone}, {first} to {last} ({result['timezone']})",
        f"{t['calls']} calls in all, {t['after_hours']} after hours: "
        f"{t['answered']} answered, {t['unanswered']} unanswered, "
        f"{t['unknown']} not said by the PBX",
    ]
    if t["no_history"]:
        lines.append(f"{t['no_history']} calls came before any recorded mode and are not counted")
    lines += [
        "",
        f"{'Night':<11} {'began':<21} {'ended':<21} {'calls':>6} {'answered':>9} "
        f"{'unanswered':>11} {'unknown':>8}",
    ]
    if not result["per_night"]:
        lines.append("(no after-hours periods in this range)")
    for n in result["per_night"]:
        began = _short(n["began"])
        ended = _short(n["ended"]) if n["ended"] else "(still on)"
        lines.append(
            f"{n['night']:<11} {began:<21} {ended:<21} {n['calls']:>6} "
            f"{n['answered']:>9} {n['unanswered']:>11} {n['unknown']:>8}"
        )
    lines += ["", f"{'Hour':<5} {'calls':>5} {'answered':>9} {'unanswered':>11} {'unknown':>8}"]
    peak = max((h["calls"] for h in result["per_hour"]), default=0)
    for h in result["per_hour"]:
        bar = "#" * (round(20 * h["calls"] / peak) if peak else 0)
        lines.append(
            f"{h['hour']:02d}    {h['calls']:>5} {h['answered']:>9} "
            f"{h['unanswered']:>11} {h['unknown']:>8}  {bar}".rstrip()
        )
    return "\n".join(lines)


def _short(iso: str) -> str:
    return stamp(iso, None, seconds=False)  # the report's times are local already


def run_formats(args) -> int:
    from appliance.smdr.formats import load_all

    good, bad = load_all(_formats_dir(args))
    if args.json:
        emit(
            json.dumps(
                [
                    {
                        "name": f.name,
                        "title": f.title,
                        "verified": f.verified,
                        "source": f.source,
                        "path": f.path,
                        "year_printed": f.year_printed,
                        "time_printed": f.printed,
                    }
                    for f in good.values()
                ],
                indent=2,
            )
        )
    else:
        lines = []
        for f in good.values():
            lines.append(f.describe())
            lines += textwrap.wrap(
                f"source: {f.source}",
                100,
                initial_indent=" " * 23,
                subsequent_indent=" " * 31,
                break_on_hyphens=False,
                break_long_words=False,
            )
        emit("\n".join(lines))
    for name, exc in bad.items():
        for line in exc.render().splitlines():
            print(f"nightswitch: error: format {name}: {line}", file=sys.stderr)
    return 2 if bad else 0
