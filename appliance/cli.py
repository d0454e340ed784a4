"""The ``nightswitch`` command.

Each subcommand lives in its own module under :mod:`appliance.commands` and is listed
in :data:`COMMAND_MODULES`; this module only builds the parser and turns errors a
person caused into one readable line instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from types import SimpleNamespace

from appliance import __version__
from appliance.errors import NightswitchError, ValidationError

DEFAULT_CONFIG = "/etc/nightswitch/nightswitch.toml"
DEFAULT_DATA = "/var/lib/nightswitch"

#: The modules that each add one subcommand (or a group of them).
COMMAND_MODULES = [
    "appliance.commands.run",
    "appliance.commands.simulate",
    "appliance.commands.status",
    "appliance.commands.check",
    "appliance.commands.hwtest",
    "appliance.commands.preview",
    "appliance.commands.schedule_io",
    "appliance.commands.user",
    "appliance.commands.token",
    "appliance.commands.backup",
    "appliance.commands.pbx_sim",
    "appliance.commands.console",
    "appliance.commands.calls",
    "appliance.commands.calendar",
    "appliance.commands.fleet",
]


def _common_parents() -> SimpleNamespace:
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument(
        "--config",
        metavar="PATH",
        default=DEFAULT_CONFIG,
        help=f"the installer's config file (default: {DEFAULT_CONFIG})",
    )
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data",
        metavar="DIR",
        default=DEFAULT_DATA,
        help=f"the data directory holding nightswitch.db (default: {DEFAULT_DATA})",
    )
    return SimpleNamespace(config=config, data=data)


def build_parser(modules=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightswitch", description="Switch a legacy office PBX between day and night service."
    )
    parser.add_argument("--version", action="version", version=f"nightswitch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    common = _common_parents()
    for name in modules or COMMAND_MODULES:
        # Every listed module is shipped: a missing one (a misspelt name in the list) is
        # a bug to fail on loudly, not a command to leave out quietly.
        importlib.import_module(name).register(subparsers, common)
    return parser


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    logging.getLogger(__name__).warning("%s: %s", category.__name__, message)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library warnings (gpiozero's pin-factory fallbacks) become one log line each.
    warnings.showwarning = _log_warning
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that left raises here, not at exit
        return code
    except BrokenPipeError:
        # `nightswitch ... | head`: the reader has what it wanted; not an error.
        from appliance.commands.output import reader_gone

        reader_gone()
        return 0
    except ValidationError as exc:
        for line in exc.render().splitlines():
            print(f"nightswitch: error: {line}", file=sys.stderr)
        return 2
    except NightswitchError as exc:
        print(f"nightswitch: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with -v
        log = logging.getLogger(__name__)
        log.debug("internal error", exc_info=True)
        print(
            f"nightswitch: internal error: {type(exc).__name__}: {exc}"
            + ("" if args.verbose else " (run with -v for details)"),
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
