"""``nightswitch schedule``: export, import, history and rollback of a zone's schedule.

Offline, on the data directory: a facilities manager can keep the hours in a file under
version control, and an installer can put back last week's hours after a bad edit. An
import is checked exactly as the web page checks a schedule (and, when the config file
is there, against the modes the zone's actuators can produce); one that fails changes
nothing and lists every problem.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from appliance.commands.common import (
    actor,
    now,
    parse_whole_number,
    print_json,
    site_tz,
    table,
)
from appliance.commands.jsonfile import read_json_file
from appliance.commands.output import emit
from appliance.errors import FieldError, NightswitchError, ValidationError
from appliance.store import Store, files
from appliance.store.validate import Checker
from appliance.timetext import stamp

NAME = "schedule"
DEFAULT_ZONE = "main"


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="export, import, list and roll back the schedule",
        description="Export and import a zone's schedule as JSON (the same shape as the web "
        "page and GET /api/v1/schedule), list its saved versions, and put an "
        "old version back. Works without the daemon.",
    )
    sub = parser.add_subparsers(dest="schedule_command", metavar="ACTION")
    sub.required = True
    zone_help = (
        "the zone (default: the config's first zone, or the only zone with a "
        f"schedule, or '{DEFAULT_ZONE}')"
    )

    export = sub.add_parser(
        "export",
        parents=[common.data, common.config],
        help="write the schedule as JSON",
        description="Write the zone's schedule as pretty JSON to FILE, or to standard output.",
    )
    export.add_argument("file", metavar="FILE", nargs="?", help="where to write (default: stdout)")
    export.add_argument("--zone", metavar="NAME", help=zone_help)
    export.add_argument(
        "--version",
        dest="version",
        metavar="N",
        help="an older saved version (see 'schedule history')",
    )
    export.set_defaults(func=run_export)

    imp = sub.add_parser(
        "import",
        parents=[common.data, common.config],
        help="check a JSON schedule and save it as the newest version",
        description="Check a JSON schedule and save it as the zone's newest "
        "version. When the config file exists, its modes are "
        "checked against what the zone's actuators can produce. "
        "A schedule with errors changes nothing; every error is "
        "listed and the exit code is 2.",
    )
    imp.add_argument("file", metavar="FILE", help="the schedule as JSON; '-' reads stdin")
    imp.add_argument("--zone", metavar="NAME", help=zone_help)
    imp.set_defaults(func=run_import)

    hist = sub.add_parser(
        "history",
        parents=[common.data, common.config],
        help="list the saved versions",
        description="List the zone's saved schedule versions, newest first.",
    )
    hist.add_argument("--zone", metavar="NAME", help=zone_help)
    hist.add_argument("--limit", metavar="N", default="20", help="how many (default 20)")
    hist.add_argument("--json", action="store_true", help="print JSON")
    hist.set_defaults(func=run_history)

    back = sub.add_parser(
        "rollback",
        parents=[common.data, common.config],
        help="make an old version the schedule again",
        description="Save a copy of an old version as the newest version. "
        "History is never rewritten: the rollback is itself a "
        "new version.",
    )
    back.add_argument("version", metavar="VERSION", help="the version to go back to")
    back.add_argument("--zone", metavar="NAME", help=zone_help)
    back.set_defaults(func=run_rollback)


# -- helpers ---------------------------------------------------------------------------


def _load_config(args):
    """The installer's config if the file exists, else None (imported lazily: a fresh
    Pi may have no config yet, and the schedule commands must still work)."""
    path = Path(args.config)
    if not path.is_file():
        return None
    from appliance.config import load_config

    return load_config(path)


def _zone(args, store: Store, config) -> str:
    if args.zone is not None:
        check = Checker()
        zone = check.zone("--zone", args.zone)
        if zone is None:  # its problem is in check
            raise ValidationError(check.errors)
        if config is not None and zone not in config.zone_names:
            raise ValidationError(
                [
                    FieldError(
                        "--zone",
                        f"no zone {zone!r} in {args.config}; zones: {', '.join(config.zone_names)}",
                    )
                ]
            )
        return zone
    if config is not None:
        return config.zone_names[0]
    zones = store.schedule_zones()
    if not zones or DEFAULT_ZONE in zones:
        return DEFAULT_ZONE
    if len(zones) == 1:
        return zones[0]
    raise ValidationError(
        [
            FieldError(
                "--zone",
                f"this site has several zones ({', '.join(zones)}); choose one with --zone",
            )
        ]
    )


def _allowed_modes(config, zone):
    return config.zone_modes(zone) if config is not None else None


def _natural_order(data: dict) -> dict:
    """*data* with its keys in the order people read them (timezone first, weekdays
    Monday to Sunday) rather than the store's sorted order."""
    from appliance.decision.schedule import parse_schedule, schedule_to_json

    try:
        return schedule_to_json(parse_schedule(data))
    except ValidationError:
        # A version saved by an older nightswitch that today's rules reject: export it
        # as stored, so it can still be fixed and imported again.
        return data


# -- commands --------------------------------------------------------------------------


def run_export(args) -> int:
    config = _load_config(args)
    with Store(args.data) as store:
        zone = _zone(args, store, config)
        if args.version is not None:
            number = parse_whole_number(args.version, "--version")
            data = store.get_schedule_version(zone, number)
            if data is None:
                raise ValidationError(
                    [FieldError("--version", f"zone {zone!r} has no schedule version {number}")]
                )
        else:
            data = store.get_schedule(zone)
            if data is None:
                raise NightswitchError(
                    f"zone {zone!r} has no saved schedule yet; import one "
                    "with: nightswitch schedule import FILE"
                )
    text = json.dumps(_natural_order(data), indent=2, ensure_ascii=False) + "\n"
    if args.file in (None, "-"):
        sys.stdout.write(text)
        return 0
    try:
        files.write_durably(Path(args.file), text.encode("utf-8"), mode=None)
    except OSError as exc:
        raise NightswitchError(f"cannot write {args.file}: {exc.strerror or exc}") from None
    print(f"zone {zone}: schedule written to {args.file}", file=sys.stderr)
    return 0


def run_import(args) -> int:
    from appliance.decision.schedule import parse_schedule, schedule_to_json

    data = read_json_file(args.file)
    config = _load_config(args)
    with Store(args.data) as store:
        zone = _zone(args, store, config)
        try:
            schedule = parse_schedule(data, allowed_modes=_allowed_modes(config, zone))
        except ValidationError as exc:
            raise ValidationError(exc.errors, source=args.file) from None
        version = store.save_schedule(zone, schedule_to_json(schedule), by=actor(), at=now())
    print(f"zone {zone}: saved {args.file} as schedule version {version}")
    return 0


def run_history(args) -> int:
    limit = parse_whole_number(args.limit, "--limit")
    config = _load_config(args)
    with Store(args.data) as store:
        zone = _zone(args, store, config)
        history = store.schedule_history(zone, limit=min(limit, 1000))
    if args.json:
        print_json(history)
    elif not history:
        print(f"zone {zone} has no saved schedule yet")
    else:
        tz = site_tz(args)
        rows = [
            [
                str(h["version"]),
                stamp(h["saved_at"], tz, seconds=False),
                h["by"],
                f"copy of version {h['restored_from']}" if "restored_from" in h else "",
            ]
            for h in history
        ]
        emit(table(rows, ["VERSION", "SAVED", "BY", "NOTE"]))
    return 0


def run_rollback(args) -> int:
    from appliance.decision.schedule import parse_schedule

    number = parse_whole_number(args.version, "VERSION")
    config = _load_config(args)
    with Store(args.data) as store:
        zone = _zone(args, store, config)

        def fits(old):
            # An old version may use a mode the actuators no longer produce: check it as
            # an import would be checked.
            try:
                parse_schedule(old, allowed_modes=_allowed_modes(config, zone))
            except ValidationError as exc:
                raise ValidationError(exc.errors, source=f"version {number}") from None

        version = store.rollback_schedule(zone, number, by=actor(), at=now(), fits=fits)
    print(f"zone {zone}: version {number} is the schedule again, saved as version {version}")
    return 0
