"""``nightswitch console``: a terminal on the PBX's maintenance port.

It opens the port with the profile's settings (speed, framing, flow control, line
ending) through pyserial's miniterm, so the installer types to the PBX exactly as the
appliance talks to it. Each session is recorded in the audit log (who, start, end, port):
someone typed on the PBX's maintenance port, and the facilities team should be able to
see that next to any mode change it caused.

The serial actuator opens the port only for each operation and both use an exclusive
lock on it, so a console session and the daemon take turns instead of garbling each
other: while the console is open, the daemon's PBX operations fail and are retried.
"""

from __future__ import annotations

import getpass
import os
import sys
import termios
import time

from appliance.commands.common import site_tz
from appliance.errors import FieldError, NightswitchError, ValidationError
from appliance.timetext import stamp

EXIT_CHARACTER = "\x1d"  # Ctrl+]
MENU_CHARACTER = "\x14"  # Ctrl+T


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "console",
        parents=[common.config, common.data],
        help="a terminal on the PBX's maintenance port (recorded in the audit log)",
        description="Open a terminal on the PBX maintenance port with the profile's "
        "settings. Pick the port from the config's serial actuator "
        "(--actuator, or the only one), or give --profile and --port. Quit "
        "with Ctrl+]. The session is recorded in the audit log.",
    )
    p.add_argument(
        "--actuator",
        metavar="NAME",
        help="the config's serial actuator whose port and profile to use",
    )
    p.add_argument("--profile", metavar="NAME", help="a PBX profile (with --port)")
    p.add_argument(
        "--port",
        metavar="URL",
        help="a serial device or pyserial URL (with --profile), such as "
        "/dev/ttyUSB0 or socket://host:port",
    )
    p.add_argument(
        "--profiles-dir",
        metavar="DIR",
        help="site profile directory (default: the config's, or /etc/nightswitch/profiles)",
    )
    p.add_argument("--baud", type=int, metavar="N", help="the port speed, instead of the profile's")
    p.add_argument(
        "--zone",
        metavar="ZONE",
        help="the zone to record the session under (default: the actuator's, or main)",
    )
    p.set_defaults(func=run)


def who() -> str:
    """The person at the keyboard: the user who ran sudo, else the login user."""
    for name in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def resolve(args):
    """``(profile, port, settings, zone)`` from the arguments (and the config)."""
    from appliance.pbx.port_settings import SerialSettings, parse_settings
    from appliance.pbx.profiles import DEFAULT_SITE_DIR, load_profiles

    if args.profile or args.port:
        if args.actuator:
            raise ValidationError(
                [
                    FieldError(
                        "--actuator", "give either --actuator or --profile with --port, not both"
                    )
                ]
            )
        missing = [
            FieldError(flag, "is required with " + other)
            for flag, value, other in (
                ("--profile", args.profile, "--port"),
                ("--port", args.port, "--profile"),
            )
            if not value
        ]
        if missing:
            raise ValidationError(missing)
        profiles = load_profiles(args.profiles_dir or DEFAULT_SITE_DIR)
        profile = profiles.require(args.profile, "--profile")
        spec = {"port": args.port}
        zone = args.zone or "main"
    else:
        from appliance.config import load_config

        config = load_config(args.config)
        serial_specs = [s for s in config.actuators if s["type"] == "serial"]
        if args.actuator:
            chosen = [s for s in serial_specs if s["name"] == args.actuator]
            if not chosen:
                names = ", ".join(s["name"] for s in serial_specs) or "none"
                raise ValidationError(
                    [
                        FieldError(
                            "--actuator",
                            f"{args.actuator!r} is not a "
                            f"serial actuator in {args.config}; serial actuators: "
                            f"{names}",
                        )
                    ]
                )
        else:
            chosen = serial_specs
            if len(chosen) != 1:
                raise ValidationError(
                    [
                        FieldError(
                            "--actuator",
                            (
                                "the config has no serial actuator; give --profile and --port"
                                if not chosen
                                else "the config has several serial actuators; name one: "
                                + ", ".join(s["name"] for s in chosen)
                            ),
                        )
                    ]
                )
        spec = chosen[0]
        profiles = load_profiles(args.profiles_dir or config.profiles_dir)
        profile = profiles.require(spec["profile"], "profile")
        zone = args.zone or spec.get("zone", "main")
    settings = profile.serial.settings if profile.has_serial else SerialSettings()
    overrides = dict(spec.get("settings", {}))
    if args.baud is not None:
        overrides["baudrate"] = args.baud
    settings, errors = parse_settings(overrides, "settings", settings)
    if errors:
        raise ValidationError(
            [FieldError("--baud" if args.baud is not None else e.field, e.message) for e in errors]
        )
    return profile, spec["port"], settings, zone


def run(args) -> int:
    import serial
    from serial.tools.miniterm import Miniterm, key_description

    from appliance.inputs.clock import SystemClock

    profile, port_url, settings, zone = resolve(args)
    if not sys.stdin.isatty():
        raise NightswitchError(
            "console needs a terminal on stdin; run it from an SSH or local login, not a pipe"
        )
    store = _open_store(args.data)
    clock = SystemClock()
    user = who()
    try:
        try:
            port = serial.serial_for_url(
                port_url, do_not_open=False, exclusive=True, **settings.pyserial_kwargs()
            )
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            raise NightswitchError(
                f"cannot open {port_url}: {exc} (is the daemon in the "
                "middle of an operation, or another console open?)"
            ) from None
        started = clock.now()
        store.add_audit(
            zone,
            at=started,
            who=user,
            source="console",
            old_mode=None,
            new_mode=None,
            reason=f"console session on {port_url} started (profile {profile.name})",
        )
        began = time.monotonic()
        if not profile.has_serial:
            print(
                f"--- note: profile {profile.name} has no maintenance dialogue: "
                f"{profile.serial.note}",
                file=sys.stderr,
            )
        print(f"--- {profile.title} on {port_url}: {settings.describe()}", file=sys.stderr)
        term = Miniterm(port, echo=False, eol=settings.line_ending, filters=["default"])
        term.exit_character = EXIT_CHARACTER
        term.menu_character = MENU_CHARACTER
        term.set_rx_encoding("latin-1")
        term.set_tx_encoding("latin-1")
        print(
            f"--- Quit: {key_description(EXIT_CHARACTER)} | Menu: "
            f"{key_description(MENU_CHARACTER)} | the session is recorded in the audit log",
            file=sys.stderr,
        )
        term.start()
        try:
            term.join(True)
        except KeyboardInterrupt:
            pass
        term.join()
        term.close()
        ended = clock.now()
        store.add_audit(
            zone,
            at=ended,
            who=user,
            source="console",
            old_mode=None,
            new_mode=None,
            reason=f"console session on {port_url} ended after "
            f"{time.monotonic() - began:.0f} s (started "
            f"{stamp(started, site_tz(args))})",
        )
        print("\n--- console closed", file=sys.stderr)
    finally:
        store.close()
    return 0


def _open_store(data_dir):
    from appliance.errors import StoreError
    from appliance.store import Store

    try:
        return Store(data_dir)
    except (StoreError, OSError) as exc:
        raise NightswitchError(
            f"cannot open the data directory {data_dir} to record the "
            f"console session: {exc} (run with sudo, or give --data)"
        ) from None
