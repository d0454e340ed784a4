"""``nightswitch simulate``: the whole appliance on a PC."""

from __future__ import annotations

import secrets
import tempfile


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run the whole appliance on this PC with mock pins and a simulated PBX",
        description="Run the appliance with gpiozero's mock pins, the built-in PBX simulator and a "
        "simulated clock. The web page (with a virtual front panel: key switch, LEDs, "
        "relays) is on http://127.0.0.1:PORT/. Without --config the default pin map is "
        "used; without --data a fresh data directory holds the default schedule.",
    )
    p.add_argument("--port", type=int, default=8080, help="web port (default 8080; 0 picks one)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="a config file (default: hardware/pinmap.toml's wiring)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="data directory (default: a fresh temporary one)",
    )
    p.add_argument(
        "--timezone",
        default="Europe/Berlin",
        help="site time zone when no --config is given (default Europe/Berlin)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from gpiozero.pins.mock import MockFactory

    from appliance.commands.daemon_client import announce_simulation
    from appliance.config import default_config, listen_host_problem, load_config
    from appliance.daemon import Appliance, simulated_clock
    from appliance.errors import FieldError, ValidationError

    if not 0 <= args.port <= 65535:
        raise ValidationError([FieldError("--port", f"{args.port} is not a port; use 0 to 65535")])
    if problem := listen_host_problem(args.host):
        raise ValidationError([FieldError("--host", problem)])
    config = load_config(args.config) if args.config else default_config(args.timezone)
    config.clock_sync = "always"
    data = args.data or tempfile.mkdtemp(prefix="nightswitch-sim-")
    appliance = Appliance(
        config,
        data,
        pin_factory=MockFactory(),
        clock=simulated_clock(),
        simulate=True,
        port=args.port,
        host=args.host,
    )
    password = None
    if not any(u.get("role") == "admin" for u in appliance.store.list_users()):
        password = secrets.token_urlsafe(9)
        appliance.store.add_user("admin", "admin", password)
    appliance.start()
    web = f"http://{args.host}:{appliance.port}/"
    marker = announce_simulation(data, web)
    try:
        for line in started_lines(data, web, password, fresh=args.data is None):
            print(f"nightswitch simulate: {line}", flush=True)
        return appliance.wait_for_signal()
    finally:
        marker.unlink(missing_ok=True)


def started_lines(data, web: str, password: str | None, *, fresh: bool) -> list[str]:
    """What ``simulate`` tells the person who started it: where its data is and how
    other commands reach it, how to log in (or reset the admin's password when the
    data was used before), and how to come back to it."""
    lines = [
        f"data in {data}"
        + (" (a new temporary directory; it stays after Ctrl+C)" if fresh else ""),
        f"open {web} (the virtual front panel and the simulated PBX are on the Installer page)",
    ]
    if password:
        lines.append(f"log in as admin with password {password}")
    else:
        lines.append(
            f"log in with the accounts already in {data}; forgot the admin's "
            f"password? nightswitch user passwd admin --data {data}"
        )
    lines += [
        f"other commands reach this simulation with --data {data}, such as: "
        f"nightswitch status --data {data}",
        f"to come back to it later: nightswitch simulate --data {data}",
        "Ctrl+C stops it",
    ]
    return lines
