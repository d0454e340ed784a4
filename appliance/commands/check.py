"""``nightswitch check``: validate the installer's config and say what it sets up."""

from __future__ import annotations

from appliance.config import load_config


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "check", parents=[common.config],
        help="validate the config file and summarize it",
        description="Validate the config file. Every problem is listed with its key and what is "
                    "allowed; exit status 2 when there is any. With no problem, print what the "
                    "config sets up: zones, key switch, LEDs, actuators and the modes they produce.")
    p.set_defaults(func=run)


def summarize(config) -> list[str]:
    lines = [f"site: {config.site_name} ({config.timezone}), web on "
             f"{config.listen_host}:{config.listen_port}"
             + (", public status page" if config.public_status else "")]
    for zone in config.zones:
        modes = config.zone_modes(zone.name)
        lines.append(f"zone {zone.name} ({zone.label}): modes "
                     + (", ".join(sorted(modes)) if modes is not None else "any (no actuators)"))
        for panel in config.panels:
            if panel.zone == zone.name:
                pins = ", ".join(f"{k}=GPIO{v}" for k, v in panel.pins.items())
                lines.append(f"  front panel: {panel.key_switch} key switch, debounce "
                             f"{panel.debounce_ms} ms; {pins}")
        for spec in config.zone_actuators(zone.name):
            extra = ""
            if spec["type"] == "pulse" and spec.get("unverified"):
                extra = " UNVERIFIED: no lamp input, a PBX power cut can invert the mode"
            elif spec["type"] == "serial":
                extra = f" profile {spec.get('profile')} on {spec.get('port')}"
            lines.append(f"  actuator {spec['name']}: {spec['type']} ({spec['role']}), modes "
                         + ", ".join(sorted(spec["_modes"])) + extra)
    lines.append(f"PBX read-back every {config.check_minutes} min, drift = {config.drift}")
    if config.smdr:
        lines.append(f"SMDR: {config.smdr['format']} on {config.smdr['port']} "
                     f"(zone {config.smdr['zone']})")
    return lines


def run(args) -> int:
    config = load_config(args.config)
    for line in summarize(config):
        print(line)
    print(f"{args.config}: OK")
    return 0
