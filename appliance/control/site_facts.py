"""What a commissioning report says about the site: its wiring and the versions running.

Only facts an installer hands to a customer: the site, the zones and their modes, each
front panel's pins, each actuator's pins, port and profile, and the versions of
nightswitch, Python and gpiozero on the hardware they ran on. Nothing is copied from the
config wholesale: each value is picked by name, so a password, a token or a keypad's
code (which may carry a PIN) never reaches the report.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from appliance import __version__

#: The actuator keys shown in the wiring table; anything else (passwords, user names,
#: keypad sequences, timings) stays out of the report.
SHOWN_KEYS = ("name", "type", "zone", "role", "port", "profile")
#: Where a Raspberry Pi names its model.
PI_MODEL_FILE = Path("/proc/device-tree/model")


def _pins(spec: dict) -> list[str]:
    from appliance.actuators import pins_of

    shown = []
    for what, pin in pins_of(spec):
        shown.append(f"{what} GPIO{pin}")
    return shown


def wiring(config) -> dict:
    """The site's wiring, as the report's tables show it.

    :returns: ``{"zones": [...], "panels": [...], "actuators": [...], "profiles": [...]}``.
    """
    zones = [
        {
            "name": z.name,
            "label": z.label,
            "modes": sorted(config.zone_modes(z.name) or {"day", "night"}),
        }
        for z in config.zones
    ]
    panels = [
        {
            "zone": p.zone,
            "key_switch": p.key_switch,
            "debounce_ms": p.debounce_ms,
            "pins": [f"{name} GPIO{pin}" for name, pin in p.pins.items()],
        }
        for p in config.panels
    ]
    actuators = []
    for spec in config.actuators:
        row = {key: spec[key] for key in SHOWN_KEYS if key in spec}
        row["pins"] = _pins(spec)
        row["modes"] = sorted(
            spec.get("_modes") or spec.get("modes") or spec.get("sequences") or ()
        )
        if spec["type"] == "serial" and spec.get("settings"):
            row["settings"] = ", ".join(
                f"{k} {v}"
                for k, v in sorted(spec["settings"].items())
                if isinstance(v, (int, float, str))
            )
        actuators.append(row)
    return {
        "zones": zones,
        "panels": panels,
        "actuators": actuators,
        "profiles": profile_facts(config),
    }


def profile_facts(config) -> list[dict]:
    """For each serial actuator: its PBX profile, the file it came from, and what the
    profile says no real unit has verified."""
    from appliance.pbx.profiles import SHIPPED_DIR, load_profiles

    serial = [spec for spec in config.actuators if spec["type"] == "serial"]
    if not serial:
        return []
    found = load_profiles(Path(config.profiles_dir))
    facts = []
    for spec in serial:
        profile = found.get(spec["profile"])
        if profile is None:
            continue
        path = Path(profile.path) if profile.path else None
        facts.append(
            {
                "actuator": spec["name"],
                "profile": profile.name,
                "title": profile.title,
                "file": str(path) if path else "?",
                "kind": "shipped" if path and path.parent == SHIPPED_DIR else "site profile",
                "verified": profile.verified,
            }
        )
    return facts


def hardware(simulated: bool) -> str:
    """``Raspberry Pi 4 Model B Rev 1.5``, or what this machine is."""
    if simulated:
        return f"PC (simulation: mock pins, simulated PBX) {platform.machine()}".strip()
    try:
        model = PI_MODEL_FILE.read_bytes().rstrip(b"\x00").decode("utf-8", "replace").strip()
    except OSError:
        model = ""
    return model or f"PC ({platform.machine() or 'unknown machine'}, not a Raspberry Pi)"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def versions(simulated: bool) -> dict:
    """The versions that ran the commissioning."""
    try:
        gpiozero = metadata.version("gpiozero")
    except metadata.PackageNotFoundError:
        gpiozero = "not installed"
    return {
        "nightswitch": __version__,
        "python": platform.python_version(),
        "gpiozero": gpiozero,
        "hardware": hardware(simulated),
        "os": _os_name(),
    }


__all__ = ["hardware", "profile_facts", "versions", "wiring"]
