"""``nightswitch preview``: the changes of mode a schedule file makes, offline.

An installer or a facilities manager can try a schedule before loading it: every
change of mode over the coming days, with its reason, in the site's local time; or the
same as JSON (SPEC 8). A bad file is reported field by field and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date

from appliance.decision.decide import MAX_PREVIEW_DAYS, check_preview_span, preview
from appliance.errors import FieldError, ValidationError
from appliance.commands.jsonfile import read_json_file
from appliance.decision.preview_text import format_preview, transitions_to_json
from appliance.decision.schedule import parse_schedule

NAME = "preview"
DEFAULT_DAYS = 7


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME, help="list the changes of mode a schedule file makes",
        description="List the changes of mode that a schedule (the JSON the web page "
                    "edits and GET /api/v1/schedule returns) makes: the mode in force at "
                    "local midnight starting DATE, then every change in the next N days, "
                    "each with its reason. Nothing is switched.")
    parser.add_argument("--schedule", metavar="FILE", required=True,
                        help="the schedule as JSON; '-' reads standard input")
    parser.add_argument("--from", dest="start", metavar="DATE",
                        help="the first local date, YYYY-MM-DD (default: today in the "
                             "schedule's time zone)")
    parser.add_argument("--days", metavar="N",
                        help=f"how many days, 1 to {MAX_PREVIEW_DAYS} (default: "
                             f"{DEFAULT_DAYS})")
    parser.add_argument("--json", action="store_true",
                        help='print [{"at", "mode", "reason"}] instead of a table')
    # Not the common --config: its default path would make every preview depend on an
    # installed config, and SPEC 8 checks modes only where a config is given.
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="also check the schedule's modes against what this config's "
                             "actuators can produce")
    parser.add_argument("--zone", metavar="NAME", default=None,
                        help="with --config: the zone whose actuators count (default: the "
                             "config's first zone)")
    parser.set_defaults(func=run)


def _parse_args(args) -> tuple[date | None, int]:
    errors = []
    start = None
    if args.start is not None:
        try:
            if len(args.start) != 10:
                raise ValueError
            start = date.fromisoformat(args.start)
        except ValueError:
            errors.append(FieldError("--from", f"{args.start!r} is not a date; use "
                                               "YYYY-MM-DD, such as 2026-12-21"))
    days = DEFAULT_DAYS
    if args.days is not None:
        try:
            days = int(args.days, 10)
            if not 1 <= days <= MAX_PREVIEW_DAYS:
                errors.append(FieldError("--days", f"{days} is out of range; use a whole "
                                                   f"number from 1 to {MAX_PREVIEW_DAYS}"))
        except ValueError:
            errors.append(FieldError("--days", f"{args.days!r} is not a number; use a whole "
                                               f"number from 1 to {MAX_PREVIEW_DAYS}"))
    if args.zone is not None and args.config is None:
        errors.append(FieldError("--zone", "needs --config: zones are defined in the "
                                           "config file"))
    if errors:
        raise ValidationError(errors)
    return start, days


def read_schedule_file(path: str) -> object:
    """The JSON document at *path* ('-' for standard input)."""
    return read_json_file(path, option="--schedule")


def _allowed_modes(args) -> set[str] | None:
    if args.config is None:
        return None
    from appliance.config import load_config   # only when asked: preview works without one

    config = load_config(args.config)
    zone = args.zone if args.zone is not None else config.zone_names[0]
    if zone not in config.zone_names:
        raise ValidationError([FieldError("--zone", f"no zone {zone!r} in {args.config}; "
                                                    f"zones: {', '.join(config.zone_names)}")])
    return config.zone_modes(zone)


def _today(timezone: str) -> date:
    from zoneinfo import ZoneInfo

    from appliance.inputs.clock import SystemClock   # the one place the time is read

    return SystemClock().now().astimezone(ZoneInfo(timezone)).date()


def run(args) -> int:
    start, days = _parse_args(args)
    data = read_schedule_file(args.schedule)
    allowed = _allowed_modes(args)
    try:
        schedule = parse_schedule(data, allowed_modes=allowed)
    except ValidationError as exc:
        raise ValidationError(exc.errors,
                              "<stdin>" if args.schedule == "-" else args.schedule) from None
    if start is None:
        start = _today(schedule.timezone)
    try:
        check_preview_span(start, days)
    except ValidationError as exc:
        raise ValidationError([FieldError(f"--{e.field}", e.message)
                               for e in exc.errors]) from None
    entries = preview(schedule, start, days)
    if args.json:
        text = json.dumps(transitions_to_json(entries), indent=2, ensure_ascii=False)
    else:
        text = format_preview(entries, timezone=schedule.timezone, start=start, days=days)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # `nightswitch preview ... | head`: the reader has enough; no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
