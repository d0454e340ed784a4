"""``nightswitch run``: the appliance daemon, as systemd runs it."""

from __future__ import annotations

import logging
import sys

from appliance.config import load_config
from appliance.errors import NightswitchError


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "run", parents=[common.config, common.data],
        help="run the appliance daemon (systemd runs this)",
        description="Run the appliance in the foreground: drive the relays, LEDs and PBX link, "
                    "serve the web page, log to stdout for journald. SIGTERM stops it with every "
                    "relay de-energized.")
    p.set_defaults(func=run)


def run(args) -> int:
    from appliance.daemon import Appliance

    # journald adds its own timestamps; keep lines short and level-tagged.
    logging.getLogger().handlers[0].setFormatter(
        logging.Formatter("<%(levelno)s>%(name)s: %(message)s" if not sys.stderr.isatty()
                          else "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    from gpiozero.exc import GPIOZeroError

    config = load_config(args.config)
    try:
        appliance = Appliance(config, args.data)
    except GPIOZeroError as exc:
        raise NightswitchError(
            f"cannot open the GPIO pins ({exc}); on a Raspberry Pi check that python3-lgpio is "
            "installed and the user is in the gpio group; on a PC use `nightswitch simulate`"
        ) from None
    return appliance.run_forever()
