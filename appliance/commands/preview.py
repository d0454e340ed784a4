"""``nightswitch preview``: the changes of mode a schedule makes, offline.

An installer or a facilities manager can try a schedule before loading it: every
change of mode over the coming days, with its reason, in the site's local time; or the
same as JSON (docs/design.md#the-api-and-the-command-line). A bad file is reported field
by field and exits 2.

Without ``--schedule`` it shows the schedule in force: the zone's newest saved
schedule in the data directory, with the closures of its subscribed calendars (their
last good copies in the store, fetched by the daemon).
"""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

from appliance.commands.jsonfile import read_json_file
from appliance.commands.output import emit
from appliance.decision.decide import MAX_PREVIEW_DAYS, check_preview_span, preview
from appliance.decision.preview_text import format_preview, transitions_to_json
from appliance.decision.schedule import parse_schedule
from appliance.errors import FieldError, ValidationError
from appliance.timetext import stamp

NAME = "preview"
DEFAULT_DAYS = 7


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="list the changes of mode a schedule file makes",
        description="List the changes of mode that a schedule (the JSON the web page "
        "edits and GET /api/v1/schedule returns) makes: the mode in force at "
        "local midnight starting DATE, then every change in the next N days, "
        "each with its reason. Nothing is switched.",
    )
    parser.add_argument(
        "--schedule",
        metavar="FILE",
        default=None,
        help="the schedule as JSON; '-' reads standard input (default: "
        "the schedule in force, read from the data directory)",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="without --schedule: the data directory (default /var/lib/nightswitch)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="the first local date, YYYY-MM-DD (default: today in the schedule's time zone)",
    )
    parser.add_argument(
        "--days",
        metavar="N",
        help=f"how many days, 1 to {MAX_PREVIEW_DAYS} (default: {DEFAULT_DAYS})",
    )
    parser.add_argument(
        "--json", action="store_true", help='print [{"at", "mode", "reason"}] instead of a table'
    )
    # Not the common --config: its default path would make every preview depend on an
    # installed config, and modes are checked only where a config is given
    # (docs/design.md#the-api-and-the-command-line).
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="also check the schedule's modes against what this config's actuators can produce",
    )
    parser.add_argument(
        "--zone",
        metavar="NAME",
        default=None,
        help="the zone whose actuators count, or whose saved schedule is "
        "shown (default: the config's first zone)",
    )
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
            errors.append(
                FieldError(
                    "--from", f"{args.start!r} is not a date; use YYYY-MM-DD, such as 2026-12-21"
                )
            )
    days = DEFAULT_DAYS
    if args.days is not None:
        try:
            days = int(args.days, 10)
            if not 1 <= days <= MAX_PREVIEW_DAYS:
                errors.append(
                    FieldError(
                        "--days",
                        f"{days} is out of range; use a whole number from 1 to {MAX_PREVIEW_DAYS}",
                    )
                )
        except ValueError:
            errors.append(
                FieldError(
                    "--days",
                    f"{args.days!r} is not a number; use a whole "
                    f"number from 1 to {MAX_PREVIEW_DAYS}",
                )
            )
    if args.data is not None and args.schedule is not None:
        errors.append(
            FieldError("--data", "reads the schedule in force; leave it out with --schedule FILE")
        )
    if args.zone is not None and args.config is None and args.schedule is not None:
        errors.append(FieldError("--zone", "needs --config: zones are defined in the config file"))
    if errors:
        raise ValidationError(errors)
    return start, days


def read_schedule_file(path: str) -> object:
    """The JSON document at *path* ('-' for standard input)."""
    return read_json_file(path, option="--schedule")


def _allowed_modes(args) -> set[str] | None:
    if args.config is None:
        return None
    from appliance.config import load_config  # only when asked: preview works without one

    config = load_config(args.config)
    zone = args.zone if args.zone is not None else config.zone_names[0]
    if zone not in config.zone_names:
        raise ValidationError(
            [
                FieldError(
                    "--zone",
                    f"no zone {zone!r} in {args.config}; zones: {', '.join(config.zone_names)}",
                )
            ]
        )
    return config.zone_modes(zone)


def _today(timezone: str) -> date:
    from zoneinfo import ZoneInfo

    from appliance.inputs.clock import SystemClock  # the one place the time is read

    return SystemClock().now().astimezone(ZoneInfo(timezone)).date()


def _in_force(args):
    """The zone's saved schedule with its calendars' closures, and a line saying so."""
    from pathlib import Path

    from appliance.cli import DEFAULT_CONFIG, DEFAULT_DATA
    from appliance.commands.common import now
    from appliance.config import load_config
    from appliance.errors import NightswitchError
    from appliance.inputs.calendars.service import layers_from_store
    from appliance.store import Store

    data_dir = Path(args.data or DEFAULT_DATA)
    if not (data_dir / "nightswitch.db").is_file():
        raise NightswitchError(
            f"{data_dir}: no saved schedule here (no nightswitch.db); "
            "give --data DIR, or --schedule FILE to preview a file"
        )
    config_path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    config = load_config(config_path) if config_path else None
    with Store(data_dir) as store:
        zones = config.zone_names if config else store.schedule_zones()
        zone = args.zone or (zones[0] if zones else "main")
        if config is not None and zone not in config.zone_names:
            raise ValidationError(
                [FieldError("--zone", f"no zone {zone!r} in the config; zones: {', '.join(zones)}")]
            )
        data = store.get_schedule(zone)
        if data is None:
            raise NightswitchError(f"{data_dir}: zone {zone!r} has no saved schedule")
        history = store.schedule_history(zone, limit=1)
        calendars = [c for c in (config.calendars if config else []) if c.zone == zone]
        layers = layers_from_store(
            calendars, store, now=now(), timezone=config.timezone if config else data["timezone"]
        )
        copies = {c.name: store.get_calendar_copy(c.key) for c in calendars}
    try:
        schedule = parse_schedule(data, allowed_modes=config.zone_modes(zone) if config else None)
    except ValidationError:
        schedule = parse_schedule(data)  # in force all the same; `check` reports it
    schedule = schedule.with_layers(*layers.get(zone, ()))
    note = (
        f"Schedule in force for zone {zone}: version {history[0]['version']}"
        if history
        else f"Schedule in force for zone {zone}"
    )
    if calendars:
        fetched_tz = ZoneInfo(schedule.timezone)
        parts = [
            f"{name} (fetched {stamp(copy['fetched_at'], fetched_tz, seconds=False)})"
            if copy
            else f"{name} (never fetched)"
            for name, copy in copies.items()
        ]
        note += ", with calendars " + ", ".join(parts)
    return schedule, note


def run(args) -> int:
    start, days = _parse_args(args)
    note = None
    if args.schedule is None:
        schedule, note = _in_force(args)
    else:
        data = read_schedule_file(args.schedule)
        allowed = _allowed_modes(args)
        try:
            schedule = parse_schedule(data, allowed_modes=allowed)
        except ValidationError as exc:
            raise ValidationError(
                exc.errors, "<stdin>" if args.schedule == "-" else args.schedule
            ) from None
    if start is None:
        start = _today(schedule.timezone)
    try:
        check_preview_span(start, days)
    except ValidationError as exc:
        raise ValidationError([FieldError(f"--{e.field}", e.message) for e in exc.errors]) from None
    entries = preview(schedule, start, days)
    if args.json:
        text = json.dumps(transitions_to_json(entries), indent=2, ensure_ascii=False)
    else:
        text = format_preview(entries, timezone=schedule.timezone, start=start, days=days)
        if note:
            text = f"{note}\n{text}"
    emit(text)  # `nightswitch preview ... | head`: the reader may leave early
    return 0
