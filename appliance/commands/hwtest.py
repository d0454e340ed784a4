"""``nightswitch test leds|relays|key|pbx|alerts|all``: commissioning.

Each part alone, or ``all``: the whole walk on the appliance with a report to hand over
(:mod:`appliance.commands.test_all`). It drives the real pins, so the daemon must be
stopped first (the pins belong to one process). Interactive by default: it says what to
look for and asks; ``--yes`` runs without questions for scripts. ``--simulate`` runs it on
gpiozero's mock pins (and, for ``all``, the PBX simulator) to try it.
"""

from __future__ import annotations

import functools
import time

from appliance.control.commissioning import MAX_TEST_SECONDS
from appliance.errors import NightswitchError


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "test",
        parents=[common.config, common.data],
        help="commissioning: test the LEDs, relays, key switch or PBX dialogue, or all of "
        "it with a report",
        description="Test one part of the installation, or all of it: 'all' walks through the "
        "relays, LEDs, key switch, each mode through the PBX, the fallback, the "
        "schedule, the holidays and the alerts, and writes a commissioning report "
        "(DATA/reports/commissioning-*.html) to hand to the customer. Stop the "
        "service first (systemctl stop nightswitch): the test drives the same pins.",
    )
    p.add_argument(
        "part",
        choices=("leds", "relays", "key", "pbx", "alerts", "all"),
        help="what to test (alerts: a test message to each [[alerts.targets]]; "
        "the service may keep running; all: everything, with a report)",
    )
    p.add_argument(
        "--installer",
        metavar="NAME",
        help="all: the installer's name, for the report and the log (asked if "
        "not given; needed with --yes)",
    )
    p.add_argument(
        "--yes", action="store_true", help="do not ask; run every step and report (for scripts)"
    )
    p.add_argument(
        "--seconds", type=float, default=2.0, help="how long each LED or relay stays on (default 2)"
    )
    p.add_argument(
        "--simulate",
        action="store_true",
        help="use gpiozero's mock pins (pbx and all: and the PBX simulator on a "
        "pseudo-terminal; all: in a scratch data directory unless --data is "
        "given)",
    )
    p.set_defaults(func=run)


class Asker:
    def __init__(self, yes: bool, out=print, read=input):
        self.yes, self.out, self.read = yes, out, read
        self.failures: list[str] = []

    def ask(self, question: str, label: str) -> None:
        """Ask *question*; anything but yes records *label* as a failure."""
        if self.yes:
            self.out(f"  {question} (not asked: --yes)")
            return
        if not self.prompt(f"  {question} [y/n] ").strip().lower().startswith("y"):
            self.failures.append(label)

    def prompt(self, text: str) -> str:
        """Read one answer. A closed input is nobody there to answer, not a "no": the
        installer learns how to run it unattended instead of seeing their wiring fail."""
        try:
            return self.read(text)
        except EOFError:
            raise NightswitchError(
                f"no answer to {text.strip()!r}: standard input is closed; run the test at a "
                "terminal to answer, or add --yes to run every step without asking"
            ) from None


def _factory(args):
    if args.simulate:
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    return None


def _ensure_daemon_stopped(data_dir) -> None:
    from appliance.store.lock import DataDirLock

    lock = DataDirLock(data_dir)
    try:
        if not lock.acquire(blocking=False):
            raise NightswitchError(
                "the nightswitch service is running and owns the pins; stop it "
                "first: sudo systemctl stop nightswitch"
            )
    finally:
        lock.release()


def test_leds(config, factory, asker: Asker, seconds: float) -> None:
    from appliance.inputs.panel import StatusLeds

    for panel in config.panels:
        leds = StatusLeds(panel.pins, pin_factory=factory)
        try:
            for name, led in leds.leds.items():
                asker.out(f"LED {name} (GPIO{panel.pins['led_' + name]}) on for {seconds:g} s")
                led.on()
                time.sleep(seconds)
                led.off()
                asker.ask(f"did the {name} LED light?", f"led {name}")
        finally:
            leds.close()


def _sleep(seconds: float) -> bool:
    """The pause of :func:`~appliance.control.commissioning.exercise_relay` with the
    service stopped: nothing can cut it short."""
    time.sleep(seconds)
    return False


def test_relays(config, factory, asker: Asker, seconds: float) -> None:
    from appliance.actuators import pins_of
    from appliance.actuators.relay import Relay
    from appliance.control.commissioning import exercise_relay

    for spec in config.actuators:
        if spec["type"] == "serial":
            continue
        for what, pin in pins_of(spec):
            if what in ("sense", "lamp"):
                continue
            relay = Relay(
                f"{spec['name']} {what}",
                pin,
                active_high=spec.get("active_high", True),
                pin_factory=factory,
            )
            try:
                verb = "opened" if relay.is_closed else "closed"
                asker.out(
                    f"relay {spec['name']} {what} (GPIO{pin}) {verb} for {seconds:g} s: "
                    "listen for the click; its LED on the relay board lights"
                )
                exercise_relay(relay, seconds, _sleep)
                asker.ask(
                    f"did relay {spec['name']} {what} click on and off?",
                    f"relay {spec['name']} {what}",
                )
            finally:
                relay.close()


def test_key(config, factory, asker: Asker, seconds: float) -> None:
    from appliance.decision.decide import Key
    from appliance.inputs.clock import SystemClock
    from appliance.inputs.keyswitch import key_switch
    from appliance.inputs.panel import FrontPanel

    clock = SystemClock("always")
    for cfg in config.panels:
        if not key_switch(cfg.key_switch).inputs and "button" not in cfg.pins:
            asker.out(f"zone {cfg.zone}: no key switch configured")
            continue
        panel = FrontPanel(cfg, pin_factory=factory, clock=clock)

        def reads(panel=panel) -> str:
            return ", ".join(
                f"{name}={'closed' if closed else 'open'}"
                for name, closed in panel.contacts().items()
            )

        try:
            asker.out(f"key switch ({cfg.key_switch}) of zone {cfg.zone}: reads {reads()}")
            if Key.AUTO.value in panel.switch.positions:  # a key with DAY, AUTO, NIGHT
                for position in ("day", "night", "auto"):
                    if asker.yes:
                        asker.out(f"  turn the key to {position.upper()} (not waited for: --yes)")
                        continue
                    asker.prompt(f"  turn the key to {position.upper()} and press Enter ")
                    time.sleep(cfg.debounce_ms / 1000 * 2)
                    panel.poll()
                    seen = panel.reading_position().value
                    ok = seen == position
                    asker.out(f"  reads {seen.upper()}: {'OK' if ok else 'WRONG'}")
                    if not ok:
                        asker.failures.append(f"key {position}")
            elif panel.switch.inputs and not asker.yes:
                asker.prompt("  operate the key or button and press Enter ")
                asker.out(f"  reads {reads()}")
            if panel.button is not None and not asker.yes:
                asker.prompt("  hold the reception push button down and press Enter ")
                ok = panel.contacts()["button"]
                asker.out(f"  button reads {'closed: OK' if ok else 'open: WRONG'}")
                if not ok:
                    asker.failures.append("push button")
        finally:
            panel.close()


def test_pbx(config, factory, asker: Asker, seconds: float, *, simulate: bool = False) -> None:
    """The PBX dialogue of each serial actuator; with *simulate*, against the PBX
    simulator on a pseudo-terminal (as ``simulate`` runs it) instead of the config's
    port."""
    from appliance.pbx.commission import test_dialogue

    serial_specs = [s for s in config.actuators if s["type"] == "serial"]
    if not serial_specs:
        raise NightswitchError(
            "no serial actuator in the config: nothing to test on the PBX "
            'port (add an [[actuators]] table with type = "serial")'
        )
    sims: list = []  # the PBX simulators started for --simulate, stopped at the end
    if simulate:
        from appliance.sim.pbx_model import PbxModel
        from appliance.sim.pty_pbx import simulate_serial_ports

        configured = {spec["name"]: spec["port"] for spec in serial_specs}
        serial_specs, sims = simulate_serial_ports(
            serial_specs, PbxModel(), profiles_dir=config.profiles_dir
        )
        for spec in serial_specs:
            asker.out(
                f"simulated: {spec['name']} talks to the PBX simulator on {spec['port']}"
                f" (a pseudo-terminal) instead of {configured[spec['name']]}"
            )
    try:
        for spec in serial_specs:
            asker.out(
                f"PBX dialogue of {spec['name']}: profile {spec['profile']} on {spec['port']}"
            )
            if not test_dialogue(spec, profiles_dir=config.profiles_dir, out=asker.out):
                asker.failures.append(f"pbx {spec['name']}")
    finally:
        for sim in sims:
            sim.close()


def test_alerts(config, factory, asker: Asker, seconds: float) -> None:
    from appliance.outputs.alerts.commands import run_test

    run_test(config, asker)


TESTS = {
    "leds": test_leds,
    "relays": test_relays,
    "key": test_key,
    "pbx": test_pbx,
    "alerts": test_alerts,
}


def run(args) -> int:
    from appliance.config import load_config

    if not 0.1 <= args.seconds <= 60:
        raise NightswitchError("--seconds must be between 0.1 and 60")
    if args.part == "all":
        from appliance.commands.test_all import run as run_all

        if args.seconds > MAX_TEST_SECONDS:
            raise NightswitchError(
                f"--seconds must be between 0.1 and {MAX_TEST_SECONDS:g} for test all"
            )
        return run_all(args, Asker(args.yes))
    if args.installer is not None:
        raise NightswitchError("--installer is for test all (the report names the installer)")
    config = load_config(args.config)
    if not args.simulate and args.part != "alerts":  # alerts touch no pin
        _ensure_daemon_stopped(args.data)
    asker = Asker(args.yes)
    test = TESTS[args.part]
    if args.part == "pbx":
        test = functools.partial(test_pbx, simulate=args.simulate)
    test(config, _factory(args), asker, args.seconds)
    if asker.failures:
        raise NightswitchError(
            f"test {args.part} failed: not confirmed: " + ", ".join(asker.failures)
        )
    print(f"test {args.part}: done" + ("" if args.yes else ", all confirmed"))
    return 0
