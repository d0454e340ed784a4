"""``nightswitch calendar check``: what a calendar feed would contribute, before it is
saved in the config.

It fetches the feed once (an ICS URL, or a CalDAV calendar with ``--caldav``),
expands it as the daemon would, and lists the closures in the days ahead with their
mode, plus every event left out and why. Nothing is saved and nothing is switched. A
feed that cannot be used (404, timeout, refused login, not iCalendar, too large) is
reported in one line and exits 1.

The password of a CalDAV calendar is never an argument (it would stay in the shell's
history and in ``ps``): it comes from ``NIGHTSWITCH_CALENDAR_PASSWORD`` or is asked for.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.errors import FieldError, NightswitchError, ValidationError

NAME = "calendar"
PASSWORD_ENV = "NIGHTSWITCH_CALENDAR_PASSWORD"


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="check a calendar subscription",
        description="Calendar subscriptions (ICS URL or CalDAV).",
    )
    sub = parser.add_subparsers(dest="calendar_command", metavar="COMMAND")
    sub.required = True
    check = sub.add_parser(
        "check",
        help="show what a calendar feed would contribute, before saving it",
        description="Fetch a calendar once and list the closures it would contribute "
        "in the days ahead (mode and local time), and each event left out "
        "with the reason. Nothing is saved. Give a URL, or --name to check a "
        "calendar already in the config.",
    )
    check.add_argument(
        "url",
        nargs="?",
        help="an ICS URL (https://, http://, webcal://) or, with --caldav, a CalDAV calendar URL",
    )
    check.add_argument(
        "--name", help="check the [[calendars]] entry of this name in the config instead of a URL"
    )
    check.add_argument("--caldav", action="store_true", help="URL is a CalDAV calendar")
    check.add_argument(
        "--user",
        help=f"user name for the login; the password comes from ${PASSWORD_ENV} or is asked for",
    )
    check.add_argument(
        "--category",
        action="append",
        default=[],
        help="count only events of this category (repeatable)",
    )
    check.add_argument(
        "--summary",
        action="append",
        default=[],
        help="count only events whose summary contains this text (repeatable)",
    )
    check.add_argument("--mode", default="night", help="the mode of a closure (default night)")
    check.add_argument(
        "--category-mode",
        action="append",
        default=[],
        metavar="CATEGORY=MODE",
        help="events of CATEGORY take MODE (repeatable)",
    )
    check.add_argument(
        "--timezone", help="the site's time zone (default: the config's site.timezone, else UTC)"
    )
    check.add_argument(
        "--days",
        type=int,
        default=90,
        help="list the closures of this many days ahead (default 90)",
    )
    check.add_argument(
        "--timeout", type=float, default=20.0, help="seconds for the whole fetch (default 20)"
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="the installer's config (for --name and the time zone; "
        "default /etc/nightswitch/nightswitch.toml if present)",
    )
    check.set_defaults(func=run_check)


def _config(args):
    from appliance.cli import DEFAULT_CONFIG
    from appliance.config import load_config

    path = args.config or (DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None)
    return load_config(path) if path else None


def _calendar_from_args(args, config):
    from appliance.inputs.calendars.settings import check_calendars

    if args.name:
        if args.url:
            raise ValidationError([FieldError("url", "give either a URL or --name, not both")])
        if config is None:
            raise ValidationError(
                [FieldError("--name", "needs a config (--config PATH) holding [[calendars]]")]
            )
        for cal in config.calendars:
            if cal.name == args.name:
                return cal
        names = ", ".join(c.name for c in config.calendars) or "none"
        raise ValidationError(
            [FieldError("--name", f"no calendar {args.name!r} in the config; calendars: {names}")]
        )
    if not args.url:
        raise ValidationError(
            [
                FieldError(
                    "url",
                    "is required: the calendar's address, or --name NAME for one in the config",
                )
            ]
        )
    item = {
        "name": "Checked",
        "mode": args.mode,
        "categories": args.category or None,
        "summary_contains": args.summary or None,
        "timeout_s": 120,
    }
    item["caldav_url" if args.caldav else "url"] = args.url
    if args.user:
        item["username"] = args.user
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            if not sys.stdin.isatty():
                raise NightswitchError(
                    f"--user {args.user[:40]!r} needs a password: no "
                    "terminal to ask on, so give it in the environment "
                    f"variable {PASSWORD_ENV}"
                )
            password = getpass.getpass(f"password for {args.user}: ")
        item["password"] = password
    modes = {}
    for pair in args.category_mode:
        category, sep, mode = pair.partition("=")
        if not sep or not category.strip():
            raise ValidationError([FieldError("--category-mode", f"{pair!r} is not CATEGORY=MODE")])
        modes[category.strip()] = mode.strip()
    if modes:
        item["category_modes"] = modes
    item = {k: v for k, v in item.items() if v is not None}
    found, errors = check_calendars([item], ["main"], lambda zone: None)
    if errors:
        raise ValidationError([FieldError(_option(e.field), e.message) for e in errors])
    return found[0]


def _option(field: str) -> str:
    key = field.split(".", 1)[-1]
    return {
        "url": "url",
        "caldav_url": "url",
        "mode": "--mode",
        "categories": "--category",
        "summary_contains": "--summary",
    }.get(key.split(".")[0], f"--{key}")


def _timezone(args, config) -> str:
    name = args.timezone or (config.timezone if config else "UTC")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            [FieldError("--timezone", f"{name!r} is not an IANA time zone such as Europe/Berlin")]
        ) from None
    return name


def run_check(args) -> int:
    try:
        return _check(args)
    except BrokenPipeError:
        # `nightswitch calendar check URL | head`: the reader has enough; no traceback.
        from appliance.commands.output import reader_gone

        reader_gone()
        return 0


def _check(args) -> int:
    from appliance.commands.common import now as read_now
    from appliance.errors import FeedError
    from appliance.inputs.calendars.expand import (
        WINDOW_DAYS_AHEAD,
        describe_entry,
        expand_feed,
        upcoming,
    )
    from appliance.inputs.calendars.service import fetch_body

    if not 1 <= args.days <= WINDOW_DAYS_AHEAD:
        raise ValidationError(
            [FieldError("--days", f"{args.days} is out of range; use 1 to {WINDOW_DAYS_AHEAD}")]
        )
    config = _config(args)
    cal = _calendar_from_args(args, config)
    tz = ZoneInfo(_timezone(args, config))
    now = read_now()
    if not args.name:
        import dataclasses

        cal = dataclasses.replace(cal, timeout_s=max(1, int(args.timeout)))
    try:
        body = fetch_body(cal, now=now, tz=tz)
        expansion = expand_feed(body, cal.rules, now=now, tz=tz)
    except FeedError as exc:  # it names the source already
        raise NightswitchError(f"calendar check: {exc}") from None
    horizon = now + timedelta(days=args.days)
    shown = [
        e
        for e in upcoming(expansion.entries, now, tz, len(expansion.entries))
        if (
            e.start
            if isinstance(e.start, datetime)
            else datetime.combine(e.start, datetime.min.time(), tz)
        )
        < horizon
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "source": cal.source,
                    "events": expansion.events,
                    "closures": [
                        {
                            "when": describe_entry(e, tz),
                            "mode": e.mode,
                            "reason": f"{e.mode}: calendar {cal.name}: {e.summary}",
                        }
                        for e in shown
                    ],
                    "left_out": expansion.problems,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print(
        f"Calendar {cal.source}: {expansion.events} event"
        f"{'' if expansion.events == 1 else 's'}, {len(expansion.entries)} closure"
        f"{'' if len(expansion.entries) == 1 else 's'} in the next "
        f"{WINDOW_DAYS_AHEAD} days; local time {tz.key}"
    )
    if shown:
        print(f"Closures in the next {args.days} days:")
        width = max(len(describe_entry(e, tz)) for e in shown)
        mode_width = max(len(e.mode) for e in shown)
        for entry in shown:
            print(
                f"  {describe_entry(entry, tz).ljust(width)}  {entry.mode.ljust(mode_width)}"
                f"  {entry.summary}"
            )
    else:
        print(f"No closures in the next {args.days} days.")
    if expansion.problems:
        print("Left out:")
        for line in expansion.problems:
            print(f"  {line}")
    return 0
