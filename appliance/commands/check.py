"""``nightswitch check``: validate the installer's config and say what it sets up."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from appliance.actuators import pins_of
from appliance.commands.check_profiles import profile_lines
from appliance.config import load_config
from appliance.decision.schedule import parse_schedule
from appliance.errors import FieldError, ValidationError
from appliance.store.db import DB_NAME


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "check",
        parents=[common.config, common.data],
        help="validate the config file (and the saved schedules against it) and summarize it",
        description="Validate the config file. Every problem is listed with its key and what is "
        "allowed; exit status 2 when there is any. The schedules saved in the data "
        "directory (if it exists and is readable) are checked against the config: "
        "a mode the actuators cannot make is a config error. With no problem, print "
        "what the config sets up: zones, key switch, LEDs, actuators and the modes "
        "they produce, the PBX profile file each serial actuator uses, and warnings "
        "(a password the profile never sends, files in the site profile folder no "
        "actuator uses, relays not held off at boot).",
    )
    p.add_argument(
        "--boot-config",
        metavar="PATH",
        help="the Pi's boot config to compare the relay pins with (default: "
        "/boot/firmware/config.txt, else /boot/config.txt)",
    )
    p.set_defaults(func=run)


BOOT_CONFIGS = ("/boot/firmware/config.txt", "/boot/config.txt")
_INPUT_PINS = ("sense", "lamp")


def boot_levels(text: str) -> dict[int, str]:
    """The level each GPIO is driven to at boot by ``gpio=`` lines: ``{17: "dl"}``. Later
    lines win, as in the firmware; model filters (``[pi4]``) are not evaluated."""
    levels: dict[int, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("gpio=") or line.count("=") != 2:
            continue
        _, pins, options = line.split("=")
        opts = {o.strip() for o in options.split(",")}
        level = "dl" if "dl" in opts else "dh" if "dh" in opts else None
        for part in pins.split(","):
            lo, _, hi = part.strip().partition("-")
            try:
                numbers = range(int(lo), int(hi or lo) + 1)
            except ValueError:
                continue
            for n in numbers:
                if "ip" in opts:
                    levels.pop(n, None)
                elif level:
                    levels[n] = level
    return levels


def boot_warnings(config, boot_config: str | None) -> list[str]:
    """Relay outputs the boot config does not hold OFF while the Pi starts (the safe
    state at power-on is set by firmware/:
    docs/design.md#the-safe-relay-state-in-three-places). A moved or added relay pin, or an
    active-low relay, is not covered by the shipped fragment."""
    paths = [boot_config] if boot_config else [p for p in BOOT_CONFIGS if Path(p).is_file()]
    if not paths:
        return ["boot levels not checked: no /boot/firmware/config.txt here (not a Pi?)"]
    try:
        levels = boot_levels(Path(paths[0]).read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        return [f"boot levels not checked: cannot read {paths[0]} ({exc.strerror})"]
    out = []
    for spec in config.actuators:
        off = "dl" if spec.get("active_high", True) else "dh"
        for what, pin in pins_of(spec):
            if what in _INPUT_PINS or levels.get(pin) == off:
                continue
            out.append(
                f"warning: actuator {spec['name']} {what} GPIO{pin} is not held "
                f"{'LOW' if off == 'dl' else 'HIGH'} (off) at boot by {paths[0]}: "
                f"add gpio={pin}=op,{off} below the nightswitch block, or the relay may "
                "close while the Pi starts (firmware/README.md)"
            )
    return out or [f"boot levels: every relay is held off at boot by {paths[0]}"]


def saved_schedule_errors(config, data_dir) -> tuple[list[FieldError], list[str]]:
    """The saved schedules' conflicts with *config*, read without writing anything (the
    daemon may be running, and ``check`` may run as someone who must not create files).
    Returns ``(errors, lines to print)``: what was checked, then a warning per schedule
    whose time zone is not the site's."""
    db = Path(data_dir) / DB_NAME
    nothing = [f"no saved schedule in {data_dir} yet: the default plan will be used"]
    try:
        if not db.is_file():
            return [], nothing
        # Read-only must not mean "creates files": opening a WAL database makes its -shm
        # (owned by whoever runs check, so root's would lock the service out). While the
        # daemon runs, its -wal and -shm exist and are shared; otherwise the file is
        # complete on its own (a clean close checkpoints it) and is read as immutable.
        live = all(Path(f"{db}{suffix}").exists() for suffix in ("-wal", "-shm"))
        conn = sqlite3.connect(
            f"file:{db}?{'mode=ro' if live else 'immutable=1'}", uri=True, timeout=5
        )
        try:
            rows = {
                zone: conn.execute(
                    "SELECT version, data FROM schedules WHERE zone = ? ORDER BY version DESC "
                    "LIMIT 1",
                    (zone,),
                ).fetchone()
                for zone in config.zone_names
            }
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        # Not this command's business to fail on: the service user owns the data, and a
        # damaged file is the daemon's to quarantine.
        hint = "; run it with sudo" if isinstance(exc, PermissionError) else ""
        return [], [f"saved schedules not checked: cannot read {db} ({exc}){hint}"]
    errors, checked, warnings = [], [], []
    single = len(config.zone_names) == 1
    for zone, row in rows.items():
        if row is None:
            continue
        version, text = row
        where = f"schedule version {version}" + ("" if single else f" of zone {zone}")
        checked.append(where)
        try:
            data = json.loads(text)
            parsed = parse_schedule(data, allowed_modes=config.zone_modes(zone))
            warnings += stale_lines(config, zone, parsed, db, where)
            if data.get("timezone") != config.timezone:
                # The schedule decides in its zone; the page, the log and "until 19:30"
                # use the site's: two clocks an hour apart confuse everybody.
                warnings.append(
                    f"warning: {where} runs on {data.get('timezone')}, but "
                    f"site.timezone is {config.timezone}; make them the same "
                    "(Schedule page, Advanced, or the config)"
                )
        except ValidationError as exc:
            errors += [FieldError(f"{where}: {e.field}", e.message) for e in exc.errors]
        except ValueError as exc:
            errors.append(FieldError(where, f"is not readable JSON ({exc})"))
    if not checked:
        return errors, nothing
    return errors, ["saved " + ", ".join(checked) + " fits the config", *warnings]


def stale_lines(config, zone, parsed, db, where) -> list[str]:
    """The stale-schedule warnings (issue 15) as ``warning:`` lines naming the field."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from appliance.outputs.alerts.check_lines import stale_warning_lines

    today = datetime.now(ZoneInfo(config.timezone)).date()
    return stale_warning_lines(config, zone, parsed, db, where, today)


def summarize(config) -> list[str]:
    lines = [
        f"site: {config.site_name} ({config.timezone}), web on "
        f"{config.listen_host}:{config.listen_port}"
        + (", public status page" if config.public_status else "")
    ]
    for zone in config.zones:
        modes = config.zone_modes(zone.name)
        lines.append(
            f"zone {zone.name} ({zone.label}): modes "
            + (", ".join(sorted(modes)) if modes is not None else "any (no actuators)")
        )
        for panel in config.panels:
            if panel.zone == zone.name:
                pins = ", ".join(f"{k}=GPIO{v}" for k, v in panel.pins.items())
                lines.append(
                    f"  front panel: {panel.key_switch} key switch, debounce "
                    f"{panel.debounce_ms} ms; {pins}"
                )
        for spec in config.zone_actuators(zone.name):
            extra = ""
            if spec["type"] == "pulse" and spec.get("unverified"):
                extra = " UNVERIFIED: no lamp input, a PBX power cut can invert the mode"
            elif spec["type"] == "serial":
                extra = f" profile {spec.get('profile')} on {spec.get('port')}"
            lines.append(
                f"  actuator {spec['name']}: {spec['type']} ({spec['role']}), modes "
                + ", ".join(sorted(spec["_modes"]))
                + extra
            )
        for cal in config.calendars:
            if cal.zone == zone.name:
                lines.append(
                    f"  calendar {cal.name}: {cal.source}, every "
                    f"{cal.refresh_minutes} min (try it: nightswitch calendar check "
                    f"--name '{cal.name}')"
                )
    lines.append(f"PBX read-back every {config.check_minutes} min, drift = {config.drift}")
    if config.smdr:
        lines.append(
            f"SMDR: {config.smdr['format']} on {config.smdr['port']} "
            f"(zone {config.smdr['zone']})" + _smdr_network(config.smdr)
        )
        for route in config.smdr.get("routes") or ():
            what = [f"extensions {' '.join(route.extensions)}"] if route.extensions else []
            what += [f"trunks {' '.join(route.trunks)}"] if route.trunks else []
            lines.append(f"  calls on {' or '.join(what)} go to zone {route.zone}")
    if config.mqtt:
        from appliance.outputs.mqtt.settings import describe

        lines.append(describe(config.mqtt))
    return lines


def _smdr_network(smdr: dict) -> str:
    """What a network SMDR port adds to the summary: the login, or who may connect."""
    port = smdr["port"]
    if port.startswith("telnet://"):
        return f", login {smdr.get('login', 'panasonic-telnet')}"
    if port.startswith("listen://"):
        allow = smdr.get("allow")
        return ", the PBX connects" + (
            f" from {', '.join(allow)} only" if allow else " (from any address: set smdr.allow)"
        )
    return ""


def run(args) -> int:
    config = load_config(args.config)
    errors, schedule_lines = saved_schedule_errors(config, args.data)
    if errors:
        # A schedule mode no actuator can make is a config error, file, key, reason
        # (docs/design.md#modes-and-precedence).
        raise ValidationError(
            errors
            + [
                FieldError(
                    "",
                    "change the actuators' modes in the config, or save a schedule that uses "
                    "only the modes listed by a successful check",
                )
            ],
            str(Path(args.data) / DB_NAME),
        )
    for line in [
        *summarize(config),
        *profile_lines(config),
        *schedule_lines,
        *boot_warnings(config, args.boot_config),
    ]:
        print(line)
    print(f"{args.config}: OK")
    return 0
