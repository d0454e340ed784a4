"""What the ``nightswitch calls`` commands share: the site and its time zone, the zone
and its SMDR routes, dates, the formats directory and the data directory, from the
arguments and the config; and how a call's duration and answer are written."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.errors import FieldError, ValidationError


def _site(args):
    """``(tz, config or None, note)``: the time zone from the config, else ``--tz``, else
    UTC."""
    tz_arg = getattr(args, "tz", None)
    if args.config and Path(args.config).exists():
        from appliance.config import load_config  # lazily: `calls formats` needs no config

        config = load_config(args.config)
        note = None
        if tz_arg and tz_arg != config.timezone:
            note = (
                f"note: --tz {tz_arg} ignored; the config {args.config} sets "
                f"site.timezone = {config.timezone}"
            )
        return ZoneInfo(config.timezone), config, note
    if tz_arg:
        try:
            return ZoneInfo(tz_arg), None, None
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                [
                    FieldError(
                        "--tz",
                        f"{tz_arg!r} is not an IANA time zone; "
                        "use a name such as Europe/Berlin or "
                        "America/Chicago",
                    )
                ]
            ) from None
    return (
        ZoneInfo("UTC"),
        None,
        f"note: no config at {args.config} and no --tz: times are read as UTC",
    )


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
        raise ValidationError(
            [FieldError("--zone", f"no zone {zone!r} in {args.config}; zones: {', '.join(zones)}")]
        )
    return zone


def _date(value: str, option: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            [FieldError(option, f"{value!r} is not a date; use YYYY-MM-DD, such as 2026-03-01")]
        ) from None


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
        raise ValidationError(
            [
                FieldError(
                    "--data",
                    f"no nightswitch database in {path}; "
                    "give the data directory of the "
                    "appliance (default /var/lib/nightswitch)",
                )
            ]
        )
    return Store(path)


def _dur(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _yes(value) -> str:
    return "?" if value is None else ("yes" if value else "no")
