"""``nightswitch test all``: the whole commissioning walk, step by step, on the appliance.

The night-service checklist asks for testing before go-live that covers business hours,
night mode, manual switching, the automatic schedule, holidays and failover. This module
walks through it on the appliance built as ``run`` builds it (the controller, its
workers and the real actuators), driving it only through the controller's public
methods, so what is tested is what will run:

1. **relays**: each relay shown in the state it is not in, then the mode put back;
2. **LEDs**: each LED of each panel lit alone in turn;
3. **key switch**: each position read, and for DAY and NIGHT the PBX switched by it;
4. **modes**: each mode of each zone set through the PBX and read back;
5. **fallback**: the primary disconnected, the fallback holding the mode, the primary
   taking over again once reconnected;
6. **schedule**: back on the schedule, in the mode it says, and its next change;
7. **holidays**: the holidays and closures of the next twelve months;
8. **alerts**: a test message to each alert target.

Who does what the software cannot is an *installer*:
:class:`~appliance.control.onsite_installer.OnSiteInstaller` asks the
person at the terminal (turn the key, pull the cable, did the LED light?);
:class:`~appliance.sim.installer.SimulatedInstaller` does it on a simulated site and reads
the mock pins instead of a person's eyes. A step that fails is recorded with what went
wrong and the walk goes on; the overrides it set are cancelled at the end whatever
happened.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from appliance.control.commissioning import LED_ORDER, describe_relay_test
from appliance.control.commissioning_results import (
    FAILED,
    PASSED,
    SKIPPED,
    UNCONFIRMED,
    NobodyThere,
    StepResult,
)

log = logging.getLogger(__name__)

#: The audit source of everything the walk does.
SOURCE = "test"
#: The longest a switch (a maintenance-port dialogue with its retries) is waited for.
SWITCH_WAIT_S = 180.0
#: How long a key turn is given to be read (debounce and a person's hand).
KEY_WAIT_S = 10.0
#: How long the primary is given to take over by itself once reconnected, before the
#: walk presses Retry (the worker's own retries back off up to five minutes).
RECOVER_WAIT_S = 45.0
#: How long a simulated PBX is given to act on a relay it was just handed (its pin side
#: reads the relays every 50 ms; a real PBX answers the call that checks it later still).
PBX_SETTLE_S = 2.0
#: How far ahead the holidays are listed, and at most how many.
HOLIDAY_DAYS = 366
HOLIDAY_LIMIT = 12
#: The sources of a date that is not an ordinary working day.
CLOSED_SOURCES = ("holiday", "exception", "calendar", "company")


class CommissioningRun:
    """The walk through every step, on a built appliance whose controller runs.

    :param appliance: the :class:`~appliance.daemon.Appliance` (web off).
    :param installer: :class:`OnSiteInstaller` or
        :class:`~appliance.sim.installer.SimulatedInstaller`.
    :param str by: the installer's name, for the audit log and the report.
    :param float seconds: how long each relay or LED is held.
    :param out: prints one line of progress.
    """

    STEPS = (
        ("relays", "Relays"),
        ("leds", "LEDs"),
        ("key", "Key switch and manual switching"),
        ("modes", "Each mode through the PBX"),
        ("fallback", "Fallback"),
        ("schedule", "The automatic schedule"),
        ("holidays", "Holidays and closures"),
        ("alerts", "Alerts"),
    )

    def __init__(self, appliance, installer, *, by: str, seconds: float = 2.0, out=print):
        self.appliance = appliance
        self.controller = appliance.controller
        self.config = appliance.config
        self.installer = installer
        self.by = by
        self.seconds = seconds
        self.out = out
        self.steps: list[StepResult] = []
        self.stopped: str | None = None

    # -- the walk -----------------------------------------------------------------------
    def run(self) -> list[StepResult]:
        """Run every step; a step's failure is recorded and the walk goes on. Ctrl+C or
        a closed terminal stops it: the steps not run are recorded as skipped."""
        try:
            self.controller.wait_idle(SWITCH_WAIT_S)
            for key, title in self.STEPS:
                step = StepResult(key, title)
                self.steps.append(step)
                if self.stopped:
                    step.add(title, SKIPPED, f"not run: {self.stopped}")
                    continue
                self.out(f"== {title}")
                try:
                    getattr(self, f"step_{key}")(step)
                except (KeyboardInterrupt, NobodyThere) as exc:
                    self.stopped = (
                        "the run was interrupted (Ctrl+C, or the terminal closed)"
                        if isinstance(exc, KeyboardInterrupt)
                        else str(exc)
                    )
                    step.error = self.stopped
                except Exception as exc:  # noqa: BLE001 - recorded, and the walk goes on
                    log.debug("step %s failed", key, exc_info=True)
                    step.error = _say(exc)
                self.out(
                    f"   {title}: {step.result.upper()}"
                    + (f" ({step.error})" if step.error else "")
                )
        finally:
            self.clean_up()
        return self.steps

    def clean_up(self) -> None:
        """Put back what the walk changed: cables, and every zone on its schedule."""
        try:
            self.installer.reconnect_all()
        except Exception:  # noqa: BLE001
            log.exception("could not reconnect the simulated primaries")
        for zone in self.controller.zone_names():
            try:
                if self.controller.status(zone).get("override"):
                    self.controller.cancel_override(zone, by=self.by, source=SOURCE)
            except Exception as exc:  # noqa: BLE001 - the key may be forced; say so
                self.out(
                    f"   zone {zone}: the test's override could not be cancelled "
                    f"({_say(exc)}); run nightswitch auto"
                )
        try:
            self.controller.wait_idle(SWITCH_WAIT_S)
        except TimeoutError:
            log.warning("the actuators were still busy when the walk ended")

    # -- helpers --------------------------------------------------------------------------
    def _status(self, zone: str) -> dict:
        return self.controller.status(zone)

    def _settle(self) -> None:
        self.controller.wait_idle(SWITCH_WAIT_S)

    def _zone_words(self, zone: str) -> str:
        return f" of zone {zone}" if len(self.controller.zone_names()) > 1 else ""

    def _confirm(self, question: str) -> tuple[bool | None, str]:
        if self.installer.simulated:
            return None, "nobody to ask on a simulated site"
        return self.installer.confirm(question)

    @staticmethod
    def _verdict(evidence_ok: bool | None, answer_ok: bool | None) -> str:
        """A check's result from the machine's evidence and the person's answer."""
        if evidence_ok is False or answer_ok is False:
            return FAILED
        if evidence_ok or answer_ok:
            return PASSED
        return UNCONFIRMED

    def _wait_for(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _faults(self, status: dict) -> str:
        return "; ".join(f"{f['kind']}: {f['message']}" for f in status.get("faults", []))

    def _applied_text(self, status: dict, mode: str) -> tuple[bool | None, str]:
        """Whether *mode* is applied, and the words for it: True when it is applied and
        confirmed (read back from the PBX, or seen on the simulated PBX), None when it is
        applied but nothing can read the PBX back (only a person can tell), False when it
        is not applied."""
        readers = [
            a["name"] for a in status["actuators"] if a["can_read_back"] and a["role"] == "primary"
        ]
        applied = status.get("applied_mode")
        ok = bool(applied == mode and status.get("verified") and not status.get("switching"))
        state = (True if readers else None) if ok else False
        if ok:
            text = (
                f"{mode} applied and read back by {', '.join(readers)}"
                if readers
                else f"{mode} applied (no actuator of this zone can read the PBX back)"
            )
        else:
            text = f"{mode} not confirmed: the PBX is in {applied or 'an unknown mode'}"
            if faults := self._faults(status):
                text += f"; {faults}"
        pbx = self._pbx_mode(mode)
        if pbx is not None:
            text += f"; the simulated PBX is in {pbx}"
            if ok:
                state = pbx == mode
        return state, text

    def _pbx_mode(self, expected: str) -> str | None:
        """The simulated PBX's mode once it has had time to reach *expected* (None on a
        real site: only a person can look)."""
        if self.installer.pbx_mode() is None:
            return None
        self._wait_for(lambda: self.installer.pbx_mode() == expected, PBX_SETTLE_S)
        return self.installer.pbx_mode()

    # -- 1. relays ------------------------------------------------------------------------
    def step_relays(self, step: StepResult) -> None:
        relays = {
            name: relay
            for actuator in self.appliance.actuators
            for name, relay in actuator.relay_devices().items()
        }
        if not relays:
            step.add(
                "relays",
                SKIPPED,
                "no relays in the config (the PBX is switched by its maintenance port only)",
            )
            return
        for name, relay in relays.items():
            gpio = _gpio(relay.pin)
            what = f"relay {name} ({gpio})"
            witness = self.installer.watch({name: (gpio, relay.device.active_high)})
            self.out(
                f"  {what}: moves for {self.seconds:g} s, then the mode is put back: "
                "listen for the click, watch its LED on the relay board"
            )
            result = self.controller.test_relay(name, self.seconds, by=self.by).result(
                timeout=self.seconds + SWITCH_WAIT_S
            )
            detail = describe_relay_test(result)
            if result.get("reasserted"):
                detail += f", then {result['reasserted']} applied again"
            evidence = None
            if witness is not None:
                shown = result["shown"] == "closed"
                evidence = any(s[name] == shown for s in witness.states_seen()[1:])
                detail += (
                    "; the mock pin went "
                    + ("high" if shown == relay.device.active_high else "low")
                    + " and back"
                    if evidence
                    else "; the mock pin never moved"
                )
            if result.get("interrupted"):
                evidence = False
                detail += " (cut short: the mode changed during the test)"
            ok, answer = self._confirm(f"did relay {name} click {result['shown']} and back?")
            step.add(what, self._verdict(evidence, ok), detail, answer)

    # -- 2. LEDs --------------------------------------------------------------------------
    def step_leds(self, step: StepResult) -> None:
        panels = [p for p in self.appliance.panels if p.leds.leds]
        if not panels:
            step.add(
                "LEDs",
                SKIPPED,
                "no LEDs are wired (front_panel.pins has no led_day, led_night, led_fault)",
            )
            return
        pins = {
            f"{p.zone}:{name}": (_gpio(led.pin), led.active_high)
            for p in panels
            for name, led in p.leds.leds.items()
        }
        witness = self.installer.watch(pins)
        order = ", ".join(n.upper() for n in LED_ORDER)
        self.out(f"  each LED lights alone for {self.seconds:g} s, in the order {order}")
        result = self.controller.test_leds(self.seconds, by=self.by).result(
            timeout=self.seconds * len(pins) + SWITCH_WAIT_S
        )
        seen = witness.states_seen() if witness is not None else None
        for panel in panels:
            names = [n for n in LED_ORDER if n in panel.leds.leds]
            lit = [t.split(":", 1)[1] for t in result["tested"] if t.startswith(panel.zone + ":")]
            gpios = ", ".join(f"{n} {_gpio(panel.leds.leds[n].pin)}" for n in names)
            detail = f"lit in turn: {', '.join(lit) or 'none'} ({gpios})"
            evidence = None
            if result.get("interrupted"):
                evidence = False
                detail += "; ended early: the key was turned during the test"
            elif lit != names:
                evidence = False
            if seen is not None and evidence is not False:
                alone = [
                    n
                    for n in names
                    if any(
                        s[f"{panel.zone}:{n}"]
                        and not any(s[f"{panel.zone}:{o}"] for o in names if o != n)
                        for s in seen
                    )
                ]
                evidence = alone == names
                detail += (
                    "; each mock pin was lit alone"
                    if evidence
                    else "; lit alone on the mock pins: " + (", ".join(alone) or "none")
                )
            ok, answer = self._confirm(
                f"did the LEDs{self._zone_words(panel.zone)} light one at a time: "
                + ", ".join(n.upper() for n in names)
                + "?"
            )
            step.add(
                f"LEDs{self._zone_words(panel.zone)}", self._verdict(evidence, ok), detail, answer
            )

    # -- 3. key switch --------------------------------------------------------------------
    def _key_read(self, zone: str) -> dict:
        return self.controller.read_key()["zones"][zone]

    def step_key(self, step: StepResult) -> None:
        panels = [p for p in self.appliance.panels if p.kind != "none" or p.button is not None]
        if not panels:
            step.add(
                "key switch",
                SKIPPED,
                "no key switch or push button is configured (front_panel.key_switch = none)",
            )
            return
        for panel in panels:
            zone = panel.zone
            if panel.kind == "three-position":
                for position in ("day", "night", "auto"):
                    self._key_position(step, panel, position)
            elif panel.kind == "two-position":
                for position in ("night", "day"):
                    self._key_flip(step, panel, position)
            elif panel.kind == "button":
                self._button_toggle(step, panel, "key")
            if panel.button is not None:
                self._button_toggle(step, panel, "button")
            self.controller.sync()
            if self._status(zone).get("override"):
                self.controller.cancel_override(zone, by=self.by, source=SOURCE)
            self._settle()

    def _key_position(self, step: StepResult, panel, position: str) -> None:
        zone = panel.zone
        what = f"key{self._zone_words(zone)} in {position.upper()}"
        did = self.installer.turn_key(panel, position)
        if did is None:
            raw = self._key_read(zone)
            step.add(
                what,
                SKIPPED,
                "turning the key needs someone at reception (run without "
                f"--yes); it reads {raw['position'].upper()} now",
            )
            return
        self._wait_for(lambda: self._key_read(zone)["position"] == position, KEY_WAIT_S)
        read = self._key_read(zone)
        contacts = ", ".join(f"{k} {'closed' if v else 'open'}" for k, v in read["raw"].items())
        if read["position"] != position:
            step.add(
                what,
                FAILED,
                f"reads {read['position'].upper()} ({contacts})"
                + (
                    "; DAY and NIGHT both closed: check the wiring"
                    if read["wiring_fault"]
                    else "; the two contacts may be swapped, or a wire is open"
                ),
                did,
            )
            return
        detail = f"reads {position.upper()} ({contacts})"
        if position == "auto":
            step.add(what, PASSED, detail + "; the schedule decides again", did)
            return
        self.controller.sync()
        self._settle()
        status = self._status(zone)
        followed, text = self._applied_text(status, position)
        if status["source"] != "key":
            followed = False
        ok, answer = self._confirm(
            f"is the PBX in {position.upper()} now, and does the "
            f"{position.upper()} LED blink slowly?"
        )
        step.add(
            what,
            self._verdict(followed, ok),
            f"{detail}; the PBX followed the key: {text}"
            if followed is not False
            else f"{detail}; the PBX did not follow: {text}",
            f"{did}; {answer}",
        )

    def _key_flip(self, step: StepResult, panel, position: str) -> None:
        zone = panel.zone
        what = f"two-position key{self._zone_words(zone)} to {position.upper()}"
        did = self.installer.turn_key(panel, position)
        if did is None:
            step.add(
                what, SKIPPED, "turning the key needs someone at reception (run without --yes)"
            )
            return
        self._wait_for(lambda: self._status(zone)["mode"] == position, KEY_WAIT_S)
        self.controller.sync()
        self._settle()
        followed, text = self._applied_text(self._status(zone), position)
        step.add(what, self._verdict(followed, None), text, did)

    def _button_toggle(self, step: StepResult, panel, which: str) -> None:
        """A short press of the button (or the push button beside the key) toggles the
        mode: the press is seen, and the PBX follows."""
        zone = panel.zone
        what = f"push button{self._zone_words(zone)}"
        before = self._status(zone)["mode"]
        did = self.installer.press_button(panel)
        if did is None:
            step.add(
                what, SKIPPED, "pressing the button needs someone at reception (run without --yes)"
            )
            return
        wanted = "night" if before == "day" else "day"
        if not self._wait_for(lambda: self._status(zone)["mode"] == wanted, KEY_WAIT_S):
            reads = "closed" if self._key_read(zone)["raw"].get(which) else "open"
            step.add(
                what,
                FAILED,
                f"the press did not switch {before} to {wanted}: check the "
                f"button's wiring (its input reads {reads} now)",
                did,
            )
            return
        self.controller.sync()
        self._settle()
        followed, text = self._applied_text(self._status(zone), wanted)
        step.add(
            what,
            self._verdict(followed, None),
            f"the press switched {before} to {wanted}: {text}",
            did,
        )

    # -- 4. each mode -----------------------------------------------------------------------
    def _key_to_auto(self, step: StepResult, zone: str) -> bool:
        """The key must be in AUTO before the walk may switch; ask for it if it is not."""
        key = self._status(zone)["key"]
        if key not in ("day", "night"):
            return True
        panel = next((p for p in self.appliance.panels if p.zone == zone), None)
        did = self.installer.turn_key(panel, "auto") if panel is not None else None
        if did is not None:
            self._wait_for(lambda: self._status(zone)["key"] == "auto", KEY_WAIT_S)
            self.controller.sync()
        if self._status(zone)["key"] in ("day", "night"):
            step.add(
                f"zone {zone}",
                FAILED,
                f"the key switch is in {key.upper()}: it decides, "
                "so nothing else can switch; turn it to AUTO",
            )
            return False
        return True

    def step_modes(self, step: StepResult) -> None:
        for zone in self.controller.zone_names():
            if not self._key_to_auto(step, zone):
                continue
            status = self._status(zone)
            modes = status.get("modes") or ["day", "night"]
            now = status.get("applied_mode") or status["mode"]
            order = [m for m in modes if m != now] + [m for m in modes if m == now]
            for mode in order:
                what = f"{mode.upper()}{self._zone_words(zone)}"
                self.out(f"  switching{self._zone_words(zone)} to {mode.upper()}")
                self.controller.set_override(zone, mode, None, by=self.by, source=SOURCE)
                self._settle()
                ok_applied, text = self._applied_text(self._status(zone), mode)
                ok, answer = self._confirm(
                    f"is the PBX in {mode.upper()} now? (check its display, or call the "
                    "site's number from outside)"
                )
                step.add(what, self._verdict(ok_applied, ok), text, answer)

    # -- 5. fallback ------------------------------------------------------------------------
    def step_fallback(self, step: StepResult) -> None:
        live = {a.name: a for a in self.appliance.actuators}
        for zone in self.controller.zone_names():
            where = self._zone_words(zone)
            specs = [s for s in self.config.actuators if s["zone"] == zone]
            fallbacks = [s["name"] for s in specs if s.get("role") == "fallback"]
            primaries = [s for s in specs if s.get("role", "primary") == "primary"]
            what = f"fallback{where}"
            if not fallbacks:
                step.add(what, SKIPPED, f'zone {zone} has no fallback actuator (role = "fallback")')
                continue
            noticing = [
                s
                for s in primaries
                if s["type"] == "serial" or getattr(live.get(s["name"]), "can_read_back", False)
            ]
            if not noticing:
                step.add(
                    what,
                    SKIPPED,
                    "the primary "
                    + ", ".join(s["name"] for s in primaries)
                    + " cannot read the PBX back, so it cannot notice that it is "
                    "disconnected, and the fallback only takes over when a primary "
                    "reports a failure",
                )
                continue
            if not self._key_to_auto(step, zone):
                continue
            self._fallback_drill(step, zone, noticing[0], fallbacks)

    def _fallback_drill(self, step, zone: str, primary: dict, fallbacks: list[str]) -> None:
        where = self._zone_words(zone)
        did = self.installer.disconnect(primary)
        if did is None:
            step.add(
                f"fallback{where}",
                SKIPPED,
                f"disconnecting {primary['name']} needs someone at the PBX (run without --yes)",
            )
            return
        status = self._status(zone)
        modes = status.get("modes") or ["day", "night"]
        now = status.get("applied_mode") or status["mode"]
        tried, engaged = [], None
        try:
            # The mode in force comes last: a pulled cable may read as some other mode
            # (a sense input at rest reads "day" for a lamp lit at night), and then only
            # the way back shows the failure. At night that is the only way to see it.
            for mode in [m for m in modes if m != now] + [now]:
                self.out(f"  {primary['name']} disconnected; switching{where} to {mode.upper()}")
                self.controller.set_override(zone, mode, None, by=self.by, source=SOURCE)
                self._settle()
                status = self._status(zone)
                kinds = {f["kind"] for f in status["faults"]}
                if "fallback" in kinds and status.get("applied_mode") == mode:
                    engaged = mode
                    break
                faults = self._faults(status) or "the primary reported no failure"
                tried.append(f"to {mode}: {faults}")
            if engaged is None:
                step.add(
                    f"fallback{where} takes over",
                    FAILED,
                    f"with {primary['name']} disconnected, the fallback "
                    f"({', '.join(fallbacks)}) never held the mode: " + "; ".join(tried),
                    did,
                )
            else:
                message = next(f["message"] for f in status["faults"] if f["kind"] == "fallback")
                detail = (
                    f"with {primary['name']} disconnected, switching to {engaged} failed "
                    f"on it and the fallback ({', '.join(fallbacks)}) holds {engaged}; the "
                    f"status shows: {message}"
                )
                if tried:
                    detail += (
                        "; before that, switching "
                        + "; ".join(tried)
                        + " (a read-back cannot tell that mode from a pulled cable)"
                    )
                evidence = True
                pbx = self._pbx_mode(engaged)
                if pbx is not None:
                    detail += f"; the simulated PBX is in {pbx}"
                    evidence = pbx == engaged
                ok, answer = self._confirm(
                    f"is the PBX in {engaged.upper()} now (put there by the fallback)?"
                )
                step.add(
                    f"fallback{where} takes over",
                    self._verdict(evidence, ok),
                    detail,
                    f"{did}; {answer}",
                )
        finally:
            back = self.installer.reconnect(primary)
        if engaged is not None:
            self._primary_back(step, zone, primary, engaged, back)

    def _primary_back(self, step, zone: str, primary: dict, mode: str, did: str) -> None:
        where = self._zone_words(zone)

        def back() -> bool:
            status = self._status(zone)
            return (
                not any(f["kind"] == "fallback" for f in status["faults"])
                and bool(status.get("verified"))
                and status.get("applied_mode") == mode
            )

        started = time.monotonic()
        how = None
        if self._wait_for(back, RECOVER_WAIT_S):
            how = f"by itself after {time.monotonic() - started:.0f} s"
        else:
            self.out(f"  {primary['name']} has not taken over yet: pressing Retry")
            self.controller.retry(zone, by=self.by, source=SOURCE)
            if self._wait_for(back, SWITCH_WAIT_S):
                how = (
                    "after Retry (its own next retry was not due yet: they back off up to "
                    "5 minutes)"
                )
        self._settle()
        ok_applied, text = self._applied_text(self._status(zone), mode)
        if how is None:
            step.add(
                f"primary{where} takes over again",
                FAILED,
                f"{primary['name']} reconnected, but the fallback still holds the mode: {text}",
                did,
            )
        else:
            step.add(
                f"primary{where} takes over again",
                self._verdict(ok_applied, None),
                f"{primary['name']} reconnected and took over again {how}: {text}",
                did,
            )

    # -- 6. schedule ------------------------------------------------------------------------
    def step_schedule(self, step: StepResult) -> None:
        from appliance.decision.decide import decide, preview
        from appliance.timetext import when

        tz = self.controller.tz
        for zone in self.controller.zone_names():
            where = self._zone_words(zone)
            if self._status(zone).get("override"):
                self.controller.cancel_override(zone, by=self.by, source=SOURCE)
            self._settle()
            status = self._status(zone)
            now = self.controller.clock.now()
            schedule = self.controller.schedule_in_force(zone)
            expected = decide(now, schedule)
            ok_applied, text = self._applied_text(status, expected.mode)
            nxt = status.get("next_change")
            detail = f"in force: {status['reason']}; {text}"
            if status["source"] in ("key", "override"):
                ok_applied = False
                detail += f"; but the {status['source']} decides, not the schedule"
            if nxt:
                detail += (
                    f"; next change: {nxt['mode']} "
                    f"{when(datetime.fromisoformat(nxt['at']), now, tz)}"
                )
            ok, answer = self._confirm(
                f"the schedule{where} has the phones in {expected.mode.upper()} now"
                + (
                    f" and switches to {nxt['mode'].upper()} "
                    f"{when(datetime.fromisoformat(nxt['at']), now, tz)}"
                    if nxt
                    else ""
                )
                + ": are these the office's hours?"
            )
            step.add(f"schedule{where} in force", self._verdict(ok_applied, ok), detail, answer)
            rows = [
                (t.at.strftime("%a %d %b"), t.at.strftime("%H:%M %Z"), t.mode, t.reason)
                for t in preview(schedule, now.astimezone(tz).date(), 7)
            ]
            step.tables.append(
                {
                    "title": f"The next 7 days{where}",
                    "head": ["Date", "Time", "Mode", "Why"],
                    "rows": rows,
                }
            )
            if nxt:
                self._next_change(step, zone, nxt)

    def _next_change(self, step, zone: str, nxt: dict) -> None:
        """On a simulated site, move the clock to the schedule's next change and see the
        appliance switch by itself."""
        where = self._zone_words(zone)
        at = datetime.fromisoformat(nxt["at"]) + timedelta(seconds=1)
        did = self.installer.move_clock_to(at)
        if did is None:
            step.add(
                f"schedule{where} switches by itself",
                SKIPPED,
                f"real time cannot be moved: the change to {nxt['mode']} at "
                f"{nxt['at'][11:16]} happens then (the log will show it)",
            )
            return
        self._wait_for(lambda: self._status(zone)["mode"] == nxt["mode"], KEY_WAIT_S)
        self.controller.sync()
        self._settle()
        status = self._status(zone)
        ok_applied, text = self._applied_text(status, nxt["mode"])
        if status["source"] in ("key", "override"):
            ok_applied = False
        step.add(
            f"schedule{where} switches by itself",
            self._verdict(ok_applied, None),
            f"{did}; now {status['reason']}; {text}",
        )

    # -- 7. holidays ------------------------------------------------------------------------
    def step_holidays(self, step: StepResult) -> None:
        from appliance.decision.dayplan import day_plan

        tz = self.controller.tz
        today = self.controller.clock.now().astimezone(tz).date()
        for zone in self.controller.zone_names():
            where = self._zone_words(zone)
            schedule = self.controller.schedule_in_force(zone)
            found = []
            for offset in range(HOLIDAY_DAYS):
                day = today + timedelta(days=offset)
                pieces = [p for p in day_plan(schedule, day).pieces if p.source in CLOSED_SOURCES]
                if pieces:
                    found.append((day, pieces))
                    if len(found) >= HOLIDAY_LIMIT:
                        break
            if not found:
                ok, answer = self._confirm(
                    f"the schedule{where} has no holidays or closures "
                    "in the next 12 months: is that right for this "
                    "office?"
                )
                step.add(
                    f"holidays{where}",
                    FAILED if not ok else PASSED,
                    "no holidays or closures in the next 12 months: on a public holiday "
                    "the phones follow the weekday hours. Choose the country on the "
                    "Schedule page (Holidays), or add the closures",
                    answer,
                )
                continue
            rows = [
                (
                    d.strftime("%a %d %b %Y"),
                    ", ".join(sorted({p.mode for p in pieces})),
                    "; ".join(dict.fromkeys(p.why for p in pieces)),
                )
                for d, pieces in found
            ]
            step.tables.append(
                {
                    "title": f"The next holidays and closures{where}",
                    "head": ["Date", "Mode", "Why"],
                    "rows": rows,
                }
            )
            for row in rows:
                self.out(f"  {row[0]}: {row[1]}: {row[2]}")
            first = found[0]
            ok, answer = self._confirm(
                f"these are the next closed days{where}: are they the office's?"
            )
            step.add(
                f"holidays{where}",
                self._verdict(True, ok),
                f"{len(found)} closed day(s) found, the first on {first[0]:%a %d %b %Y} "
                f"({rows[0][2]})",
                answer,
            )

    # -- 8. alerts --------------------------------------------------------------------------
    def step_alerts(self, step: StepResult) -> None:
        from appliance.outputs.alerts import send_test
        from appliance.outputs.alerts.settings import AlertsConfig

        settings = getattr(self.config, "alerts", None) or AlertsConfig()
        if not settings.targets:
            step.add(
                "alerts",
                SKIPPED,
                "no [[alerts.targets]] in the config: nobody is told "
                "of a fault but the page and the fault LED",
            )
            return
        results = send_test(
            self.config, by=self.by, now=self.controller.clock.now(), store=self.appliance.store
        )
        for result in results:
            what = f"alert target {result['target']}"
            if not result["ok"]:
                step.add(what, FAILED, f"not delivered: {result['detail']}")
                continue
            ok, answer = self._confirm(f"did the test message reach {result['target']}?")
            step.add(
                what,
                self._verdict(True, ok),
                f"a test message was delivered to {result['detail']}",
                answer,
            )


def _gpio(pin) -> str:
    """``GPIO17``: the name gpiozero gives the pin (its ``number`` is deprecated)."""
    info = getattr(pin, "info", None)
    return getattr(info, "name", None) or str(pin)


def _say(exc: BaseException) -> str:
    from appliance.errors import ValidationError

    if isinstance(exc, ValidationError):
        return exc.render().replace("\n", "; ")
    if isinstance(exc, TimeoutError):
        return f"no answer in time: {exc}" if str(exc) else "no answer in time"
    return str(exc) or type(exc).__name__


__all__ = ["CommissioningRun"]
