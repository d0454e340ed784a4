"""What the command-line subcommands share: who a change is made by, the time, JSON
and table output, whole numbers from the command line.

The offline commands (``schedule``, ``user``, ``token``, ``backup``) work on the data
directory directly, with or without the daemon running: SQLite's locking and the store's
``BEGIN IMMEDIATE`` keep their writes and the daemon's apart.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime

from appliance.errors import FieldError, ValidationError


def now() -> datetime:
    """The current instant, from the one module that reads the clock."""
    from appliance.inputs.clock import SystemClock

    return SystemClock().now()


def actor() -> str:
    """Who a change made from the command line is recorded as: ``cli:<login name>``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid())
    return f"cli:{name}"[:128]


def site_tz(args):
    """The time zone for times printed to people: the config's ``site.timezone`` when
    ``--config`` names a file that loads, else this machine's own zone (on the appliance
    it is the site's). Times are shown with :mod:`appliance.timetext`."""
    path = getattr(args, "config", None)
    if path and os.path.isfile(path):
        from zoneinfo import ZoneInfo

        from appliance.config import load_config
        from appliance.errors import NightswitchError

        try:
            return ZoneInfo(load_config(path).timezone)
        except (NightswitchError, OSError, ValueError):
            pass  # `check` reports a broken config; times still print
    return datetime.now().astimezone().tzinfo


def print_json(value) -> None:
    """*value* as JSON on standard output (:func:`appliance.commands.output.emit_json`)."""
    from appliance.commands.output import emit_json

    emit_json(value)


def parse_whole_number(text: str, field: str, *, minimum: int = 1) -> int:
    """*text* as an int >= *minimum*, or a ValidationError naming *field* (argparse's own
    ``type=int`` would print the usage text as well as the error)."""
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum:
        raise ValidationError(
            [FieldError(field, f"{text!r} is not a whole number of at least {minimum}")]
        )
    return value


def table(rows: list[list[str]], header: list[str]) -> str:
    """Rows as left-aligned columns under *header*."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]
    ]
    return "\n".join(lines)
