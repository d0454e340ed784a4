"""The installer's config file: ``/etc/nightswitch/nightswitch.toml``.

:func:`load_config` reads and validates it and returns a :class:`Config`. Every problem
in the file is reported at once as a :exc:`~appliance.errors.ValidationError` whose
lines name the key (``actuators[1].pin``) and say what is allowed. Sections that belong
to a plug-in (each actuator ``type``) are checked by that plug-in's ``check()``.

Without a file, :func:`default_config` gives the default wiring from
``hardware/pinmap.toml`` (the single source of pin numbers), which ``simulate`` uses.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from appliance.errors import FieldError, NightswitchError, ValidationError
from appliance.inputs.keyswitch import KEY_SWITCHES, key_switch
from appliance.validation import Problems
from appliance.vocabulary import KeySwitchKind

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
KEY_SWITCH_KINDS = tuple(KeySwitchKind)
PANEL_PIN_KEYS = ("key_day", "key_night", "key", "button", "led_day", "led_night", "led_fault")
_HOST_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def listen_host_problem(host: str) -> str | None:
    """Say what is wrong with *host* as a listen address, or return :data:`None`.

    An IPv4 or IPv6 address, or an ASCII host name (letters, digits and hyphens in
    dot-separated labels), is allowed. Anything else would only fail later, inside the
    resolver, with a message about codecs rather than about the setting.
    """
    if not host:
        return (
            "an empty host is not an address; use 0.0.0.0 for every interface or "
            "127.0.0.1 for this machine only"
        )
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if (
        len(host) <= 253
        and all(_HOST_LABEL_RE.match(label) for label in labels)
        and not labels[-1].isdigit()
    ):
        return None
    return (
        f"{host!r} is not an address; use an IPv4 address (0.0.0.0, 192.168.1.20), "
        "an IPv6 address (::, ::1) or a host name of letters, digits, '-' and '.'"
    )


@dataclass(frozen=True)
class PanelConfig:
    """One front panel: a key switch and LEDs, bound to one zone."""

    zone: str
    key_switch: str
    pins: dict
    debounce_ms: int = 50
    hold_s: float = 3.0
    pull_up: bool = True


@dataclass(frozen=True)
class ZoneConfig:
    name: str
    label: str


@dataclass
class Config:
    """A validated config. Build it with :func:`load_config` or :func:`default_config`."""

    source: str
    site_name: str = "Nightswitch"
    timezone: str = "UTC"
    clock_sync: str = "timesyncd"
    listen_host: str = "0.0.0.0"
    listen_port: int = 8080
    public_status: bool = False
    allowed_hosts: tuple = ()
    check_minutes: int = 15
    drift: str = "enforce"
    reassert_minutes: int = 60
    fallback_drill_days: int = 0
    zones: list[ZoneConfig] = field(default_factory=lambda: [ZoneConfig("main", "Main")])
    panels: list[PanelConfig] = field(default_factory=list)
    actuators: list[dict] = field(default_factory=list)
    smdr: dict | None = None
    mqtt: object = None  # appliance.outputs.mqtt.settings.MqttSettings
    profiles_dir: str = "/etc/nightswitch/profiles"
    smdr_dir: str = "/etc/nightswitch/smdr"
    calendars: list = field(default_factory=list)  # CalendarConfig (inputs.calendars)
    alerts: object = None  # appliance.outputs.alerts.settings.AlertsConfig
    raw: dict = field(default_factory=dict)

    @property
    def zone_names(self) -> list[str]:
        return [z.name for z in self.zones]

    def zone_actuators(self, zone: str, role: str | None = None) -> list[dict]:
        return [
            a for a in self.actuators if a["zone"] == zone and (role is None or a["role"] == role)
        ]

    def zone_modes(self, zone: str) -> set[str] | None:
        """The modes every primary actuator of *zone* can produce, or None (any mode)
        when the zone has no actuators."""
        modes = None
        for spec in self.zone_actuators(zone, "primary"):
            produced = set(spec["_modes"])
            modes = produced if modes is None else modes & produced
        return modes


# -- the sections ------------------------------------------------------------------------

TOP_KEYS = {
    "site",
    "clock",
    "web",
    "verify",
    "zones",
    "front_panel",
    "front_panels",
    "actuators",
    "smdr",
    "profiles",
    "spare",
    "reserved",
    "calendars",
    "mqtt",
    "alerts",
}


def _check_site(c: Problems, data: dict, cfg: Config) -> None:
    site = c.table(data, "site", "") or {}
    c.unknown(site, {"name", "timezone"}, "site")
    cfg.site_name = c.string(site, "name", "site", default=cfg.site_name)
    tz = site.get("timezone", cfg.timezone)
    try:
        if not isinstance(tz, str) or not tz:
            raise ZoneInfoNotFoundError
        ZoneInfo(tz)
        cfg.timezone = tz
    except (ZoneInfoNotFoundError, ValueError):
        hint = (
            difflib.get_close_matches(tz, sorted(available_timezones()), n=3, cutoff=0.6)
            if isinstance(tz, str)
            else []
        )
        c.err(
            "site.timezone",
            f"{tz!r} is not an IANA time zone such as 'Europe/Berlin'"
            + (f"; did you mean {', '.join(hint)}?" if hint else ""),
        )

    clock = c.table(data, "clock", "") or {}
    c.unknown(clock, {"sync"}, "clock")
    cfg.clock_sync = c.string(
        clock, "sync", "clock", default=cfg.clock_sync, choices=("timesyncd", "rtc", "always")
    )

    web = c.table(data, "web", "") or {}
    c.unknown(web, {"listen", "public_status", "allowed_hosts"}, "web")
    listen = c.string(web, "listen", "web", default=f"{cfg.listen_host}:{cfg.listen_port}")
    if listen:
        host, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not host:
            c.err("web.listen", f"{listen!r} must be HOST:PORT, such as '0.0.0.0:8080'")
        elif problem := listen_host_problem(host.strip("[]")):
            c.err("web.listen", f"the host {problem}")
        else:
            cfg.listen_host, cfg.listen_port = host.strip("[]"), int(port)
    cfg.public_status = c.boolean(web, "public_status", "web", default=False)
    from appliance.web_config import check_allowed_hosts

    check_allowed_hosts(c, web, cfg)

    verify = c.table(data, "verify", "") or {}
    c.unknown(
        verify, {"check_minutes", "drift", "reassert_minutes", "fallback_drill_days"}, "verify"
    )
    cfg.check_minutes = c.integer(verify, "check_minutes", "verify", default=15, lo=1, hi=1440)
    cfg.drift = c.string(verify, "drift", "verify", default="enforce", choices=("enforce", "adopt"))
    # A PBX may come back from its own power cut in another mode
    # (docs/pbx-families.md#after-a-power-cut); an actuator that cannot read it back
    # dials its absolute code again this often (0: never).
    cfg.reassert_minutes = c.integer(
        verify, "reassert_minutes", "verify", default=60, lo=0, hi=1440
    )
    # A backup route is only worth something if it is tested: every N days the fallback
    # applies the mode in force and reads it back (0: never, the default).
    cfg.fallback_drill_days = c.integer(
        verify, "fallback_drill_days", "verify", default=0, lo=0, hi=365
    )

    profiles = c.table(data, "profiles", "") or {}
    c.unknown(profiles, {"dir"}, "profiles")
    cfg.profiles_dir = c.string(profiles, "dir", "profiles", default=cfg.profiles_dir)


def _check_zones(c: Problems, data: dict, cfg: Config) -> None:
    zones = data.get("zones")
    if zones is None:
        return
    if not isinstance(zones, list) or not zones:
        c.err("zones", "must be a list of [[zones]] tables with at least one zone")
        return
    seen, result = set(), []
    for i, zone in enumerate(zones):
        path = f"zones[{i}]"
        if not isinstance(zone, dict):
            c.err(path, "must be a table with name and label")
            continue
        c.unknown(zone, {"name", "label"}, path)
        name = c.string(zone, "name", path, pattern=NAME_RE)
        if zone.get("name") is None:
            c.err(f"{path}.name", "is required")
        if name in seen:
            c.err(f"{path}.name", f"zone {name!r} is defined twice")
        if name:
            seen.add(name)
            result.append(
                ZoneConfig(
                    name, c.string(zone, "label", path, default=name.replace("-", " ").title())
                )
            )
    if result:
        cfg.zones = result


def _check_panels(c: Problems, data: dict, cfg: Config) -> None:
    raw = []
    if "front_panel" in data and "front_panels" in data:
        c.err("front_panel", "use either [front_panel] or [[front_panels]], not both")
    if isinstance(data.get("front_panel"), dict):
        raw = [("front_panel", data["front_panel"])]
    elif "front_panel" in data:
        c.err("front_panel", "must be a table")
    if "front_panels" in data:
        if not isinstance(data["front_panels"], list):
            c.err("front_panels", "must be a list of [[front_panels]] tables")
        else:
            raw = [(f"front_panels[{i}]", p) for i, p in enumerate(data["front_panels"])]
    zones_with_panel = set()
    for path, panel in raw:
        if not isinstance(panel, dict):
            c.err(path, "must be a table")
            continue
        c.unknown(panel, {"zone", "key_switch", "debounce_ms", "hold_s", "pull_up", "pins"}, path)
        zone = c.string(panel, "zone", path, default=cfg.zones[0].name)
        if zone and zone not in cfg.zone_names:
            c.err(f"{path}.zone", f"unknown zone {zone!r}; zones are " + ", ".join(cfg.zone_names))
        if zone in zones_with_panel:
            c.err(f"{path}.zone", f"zone {zone!r} already has a front panel")
        zones_with_panel.add(zone)
        kind = c.string(
            panel, "key_switch", path, default="three-position", choices=KEY_SWITCH_KINDS
        )
        debounce = c.integer(panel, "debounce_ms", path, default=50, lo=5, hi=1000)
        hold = c.number(panel, "hold_s", path, default=3.0, lo=1, hi=10)
        pull_up = c.boolean(panel, "pull_up", path, default=True)
        pins = c.table(panel, "pins", path) or {}
        c.unknown(pins, set(PANEL_PIN_KEYS), f"{path}.pins")
        checked = {}
        for key, value in pins.items():
            if key in PANEL_PIN_KEYS:
                pin = c.pin(value, f"{path}.pins.{key}")
                if pin is not None:
                    checked[key] = pin
        switch = key_switch(kind or "none")
        for key in switch.inputs:
            if key not in pins:
                c.err(f"{path}.pins.{key}", f"is required for a {kind} key switch")
        for key in ("key_day", "key_night", "key"):
            if key in pins and key not in switch.inputs:
                if not switch.inputs:
                    c.err(f"{path}.pins.{key}", f"key_switch is {kind!r}, so no key pin is used")
                    continue
                users = " or ".join(k.kind for k in KEY_SWITCHES.values() if key in k.inputs)
                uses = " and ".join(f"'{i}'" for i in switch.inputs)
                c.err(
                    f"{path}.pins.{key}",
                    f"is only used by a {users} key switch; a {kind} switch uses {uses}",
                )
        if switch.momentary and "button" in pins:
            c.err(
                f"{path}.pins.button",
                "a button key switch is wired to 'key'; 'button' is "
                "a push button beside a key switch",
            )
        cfg.panels.append(
            PanelConfig(
                zone or cfg.zones[0].name,
                kind or "none",
                checked,
                debounce or 50,
                float(hold or 3.0),
                bool(pull_up),
            )
        )


def _actuator_module(type_name: str):
    from appliance.actuators import actuator_module

    return actuator_module(type_name)


def _check_actuators(c: Problems, data: dict, cfg: Config) -> None:
    from appliance.actuators import ACTUATOR_TYPES

    actuators = data.get("actuators", [])
    if not isinstance(actuators, list):
        c.err("actuators", "must be a list of [[actuators]] tables")
        return
    names = set()
    for i, spec in enumerate(actuators):
        path = f"actuators[{i}]"
        if not isinstance(spec, dict):
            c.err(path, "must be a table")
            continue
        spec = dict(spec)
        type_name = spec.get("type")
        # isinstance first: `type = ["contact"]` is unhashable and must be an error, not a crash
        if not isinstance(type_name, str) or type_name not in ACTUATOR_TYPES:
            c.err(
                f"{path}.type",
                f"{type_name!r} is not an actuator type; use one of " + ", ".join(ACTUATOR_TYPES),
            )
            continue
        name = spec.setdefault("name", f"{type_name}-{i + 1}")
        if not isinstance(name, str) or not NAME_RE.match(name):
            c.err(
                f"{path}.name",
                f"{name!r} is not allowed; use lower-case letters, digits, '-' and '_' (up to 32)",
            )
        elif name in names:
            c.err(f"{path}.name", f"actuator {name!r} is defined twice")
        else:
            names.add(name)
        zone = spec.setdefault("zone", cfg.zones[0].name)
        if zone not in cfg.zone_names:
            c.err(f"{path}.zone", f"unknown zone {zone!r}; zones are " + ", ".join(cfg.zone_names))
        role = spec.setdefault("role", "primary")
        if role not in ("primary", "fallback"):
            c.err(f"{path}.role", f"{role!r} is not allowed; use 'primary' or 'fallback'")
        module = _actuator_module(type_name)
        errors = module.check(spec, path, profiles_dir=cfg.profiles_dir)
        c.errors.extend(errors)
        if not errors:
            spec["_modes"] = frozenset(module.modes_of(spec, profiles_dir=cfg.profiles_dir))
            missing = {"day", "night"} - spec["_modes"]
            if role == "primary" and missing:
                # The key switch and the schedule's default plan ask for both; a zone that
                # cannot make one of them would retry that mode for ever.
                c.err(
                    f"{path}.modes",
                    f"actuator {name!r} cannot make "
                    + " or ".join(repr(m) for m in sorted(missing))
                    + "; a primary actuator must make both 'day' and 'night' (it makes "
                    + ", ".join(sorted(spec["_modes"]))
                    + ")",
                )
                continue
            cfg.actuators.append(spec)
    for zone in cfg.zone_names:
        if cfg.zone_actuators(zone) and not cfg.zone_actuators(zone, "primary"):
            c.err(
                "actuators",
                f"zone {zone!r} has only fallback actuators; "
                'give it at least one with role = "primary"',
            )


def _check_pins_unique(c: Problems, cfg: Config) -> None:
    from appliance.actuators import pins_of

    used: dict[int, str] = {}
    claims = []
    for _p, panel in enumerate(cfg.panels):
        for key, pin in panel.pins.items():
            claims.append((pin, f"front panel {panel.zone} {key}"))
    for spec in cfg.actuators:
        for what, pin in pins_of(spec):
            claims.append((pin, f"actuator {spec['name']} {what}"))
    for pin, who in claims:
        if pin in used and used[pin] != who:
            c.err("pins", f"GPIO{pin} is used twice: by {used[pin]} and by {who}")
        used.setdefault(pin, who)


def _check_smdr(c: Problems, data: dict, cfg: Config) -> None:
    smdr = c.table(data, "smdr", "")
    if smdr is None:
        return
    c.unknown(
        smdr,
        {"port", "format", "zone", "settings", "routes", "login", "username", "password", "allow"},
        "smdr",
    )
    port = c.string(smdr, "port", "smdr")
    fmt = c.string(smdr, "format", "smdr")
    if port is None:
        c.err(
            "smdr.port",
            "is required: a serial device or URL such as /dev/ttyUSB0, "
            "socket://192.0.2.10:2300, telnet://192.0.2.10:2300 or "
            "listen://:33333",
        )
    if fmt is None:
        c.err(
            "smdr.format",
            "is required: the name of an SMDR format (see `nightswitch calls formats`)",
        )
    else:
        from appliance.smdr.intake import check as check_smdr

        c.errors.extend(check_smdr(smdr, "smdr", site_dir=cfg.smdr_dir))
    zone = c.string(smdr, "zone", "smdr", default=cfg.zones[0].name)
    if zone not in cfg.zone_names:
        c.err("smdr.zone", f"unknown zone {zone!r}; zones are " + ", ".join(cfg.zone_names))
    settings = c.table(smdr, "settings", "smdr") or {}
    from appliance.smdr.routing import check_routes

    routes, errors = check_routes(smdr.get("routes"), cfg.zone_names)
    c.errors.extend(errors)
    cfg.smdr = {
        "port": port,
        "format": fmt,
        "zone": zone,
        "settings": dict(settings),
        "routes": routes,
    }
    # The network keys (telnet://, listen://), checked by appliance.smdr.sources.
    cfg.smdr.update({k: smdr[k] for k in ("login", "username", "password", "allow") if k in smdr})


def validate_config(data: dict, source: str = "config", *, site_dir=None) -> Config:
    """Validate a parsed TOML document and return the :class:`Config`."""
    c = Problems()
    cfg = Config(source=source, raw=data)
    if site_dir is not None:
        cfg.profiles_dir = str(Path(site_dir) / "profiles")
        cfg.smdr_dir = str(Path(site_dir) / "smdr")
    if not isinstance(data, dict):
        raise ValidationError([FieldError("", "the config must be a TOML document")], source)
    c.unknown(data, TOP_KEYS, "")
    _check_site(c, data, cfg)
    _check_zones(c, data, cfg)
    _check_panels(c, data, cfg)
    _check_actuators(c, data, cfg)
    _check_pins_unique(c, cfg)
    _check_smdr(c, data, cfg)
    from appliance.inputs.calendars.settings import check_calendars

    cfg.calendars, errors = check_calendars(data.get("calendars"), cfg.zone_names, cfg.zone_modes)
    c.errors.extend(errors)
    from appliance.outputs.mqtt.settings import check_mqtt

    cfg.mqtt = check_mqtt(data, c.errors)
    from appliance.outputs.alerts.settings import check_alerts  # issue 15: its own module

    cfg.alerts, alert_errors = check_alerts(data.get("alerts"), cfg.zone_names)
    c.errors.extend(alert_errors)
    if c.errors:
        raise ValidationError(c.errors, source)
    return cfg


def load_config_text(text: str, source: str = "config", *, site_dir=None) -> Config:
    """Parse and validate TOML *text*. *site_dir* (the config file's directory) holds the
    site's own PBX profiles (``profiles/``) and SMDR formats (``smdr/``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([FieldError("", f"not valid TOML: {exc}")], source) from None
    return validate_config(data, source, site_dir=site_dir)


def load_config(path) -> Config:
    """Read and validate the config file at *path*."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NightswitchError(
            f"{path}: no config file here; run install.sh, or copy hardware/pinmap.toml "
            "there and add a [site] section"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NightswitchError(f"{path}: cannot read the config: {exc}") from None
    return load_config_text(text, str(path), site_dir=path.resolve().parent)


def find_pinmap() -> Path:
    """The default wiring: ``hardware/pinmap.toml`` in a checkout, or the copy installed
    beside the package (``<prefix>/share/nightswitch/pinmap.toml``)."""
    candidates = [
        Path(__file__).resolve().parent.parent / "hardware" / "pinmap.toml",
        Path(sys.prefix) / "share" / "nightswitch" / "pinmap.toml",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise NightswitchError(
        "hardware/pinmap.toml is missing from this installation; reinstall nightswitch"
    )


def default_config(timezone: str = "Europe/Berlin") -> Config:
    """The default wiring (the pin map) with a site in *timezone*: what ``simulate``
    runs without ``--config``."""
    path = find_pinmap()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["site"] = {"name": "Nightswitch (simulation)", "timezone": timezone}
    return validate_config(data, str(path))
