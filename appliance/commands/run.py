"""``nightswitch run``: the appliance daemon, as systemd runs it."""

from __future__ import annotations

import logging
import sys

from appliance.config import load_config
from appliance.errors import NightswitchError

log = logging.getLogger(__name__)


class JournalFormatter(logging.Formatter):
    """Prefix each line with its syslog priority (``<4>`` for a warning), which journald
    reads from a service's stdout/stderr; journald adds its own timestamps."""

    PRIORITY = {
        logging.CRITICAL: 2,
        logging.ERROR: 3,
        logging.WARNING: 4,
        logging.INFO: 6,
        logging.DEBUG: 7,
    }

    def __init__(self):
        super().__init__("%(name)s: %(message)s")

    def format(self, record) -> str:
        priority = self.PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "run",
        parents=[common.config, common.data],
        help="run the appliance daemon (systemd runs this)",
        description="Run the appliance in the foreground: drive the relays, LEDs and PBX link, "
        "serve the web page, log to stdout for journald. SIGTERM stops it with every "
        "relay de-energized. With --mock-pins it runs on a PC: the relays, LEDs and "
        "key switch are gpiozero's mock pins, while the serial port and the clock "
        "are real, to rehearse against a real PBX through a USB-serial cable.",
    )
    p.add_argument(
        "--mock-pins",
        action="store_true",
        help="use gpiozero's MockFactory for every pin (no GPIO needed: a PC or "
        "laptop) and the real serial ports of the config",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from appliance.daemon import Appliance
    from appliance.inputs.clock import system_clock_from_env

    if not sys.stderr.isatty():
        logging.getLogger().handlers[0].setFormatter(JournalFormatter())
    from gpiozero.exc import GPIOZeroError

    config = load_config(args.config)
    pin_factory = None
    if getattr(args, "mock_pins", False):
        from gpiozero.pins.mock import MockFactory

        pin_factory = MockFactory()
        log.warning(
            "mock pins: no relay, LED or key switch is real; serial ports are: %s",
            ", ".join(
                f"{a['name']} on {a['port']}" for a in config.actuators if a["type"] == "serial"
            )
            or "none in the config",
        )
    try:
        appliance = Appliance(
            config,
            args.data,
            pin_factory=pin_factory,
            clock=system_clock_from_env(config.clock_sync),
        )
    except GPIOZeroError as exc:
        raise NightswitchError(
            f"cannot open the GPIO pins ({exc}); on a Raspberry Pi check that python3-lgpio is "
            "installed and the user is in the gpio group; on a PC use `nightswitch run "
            "--mock-pins` (a real PBX on a USB-serial cable) or `nightswitch simulate`"
        ) from None
    return appliance.run_forever()
