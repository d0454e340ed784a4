"""The hardware tests of the Installer page, on the running appliance.

None of them blocks the controller thread: the LED test is paced by a thread of its own
(:class:`~appliance.control.commissioning.LedTest`) and only asks the controller to light
each LED in turn (a key turn ends it at once); a relay test runs on its zone's worker,
the one thread that drives that relay; reading the key switch is a look at the panel.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from appliance.control.commissioning import LED_ORDER, LedTest
from appliance.errors import FieldError, Refused, ValidationError

if TYPE_CHECKING:
    from appliance.control.parts import ControllerParts


class HardwareTests:
    """The :class:`~appliance.control.controller.Controller`'s hardware tests (a part of
    it, in a module of its own)."""

    def test_leds(self: ControllerParts, seconds: float, *, by: str) -> Future:
        """Light each LED of each panel in turn for *seconds* (real time). Returns a
        future of ``{"tested": [...], "interrupted": bool}`` at once; a key turn ends the
        test early. Nothing waits on the controller thread."""

        def begin():
            if self._led_test is not None:
                raise Refused("an LED test is running already; wait for it to end")
            steps = [
                (panel, led) for panel in self.panels for led in LED_ORDER if led in panel.leds.leds
            ]
            test = LedTest(steps, seconds, self._post, by=by)
            self._led_test = test
            test.start()
            return test.future

        return self.call(begin)

    def _on_led_test(self: ControllerParts, what: str, test: LedTest, panel, led) -> None:
        if test is not self._led_test:
            return  # ended already (a key turn); its pacer is late
        if what == "show":
            for name in LED_ORDER:
                panel.leds.show(name, "on" if name == led else "off")
            test.lit.append(f"{panel.zone}:{led}")
        else:
            self._end_led_test(test)

    def _end_led_test(self: ControllerParts, test: LedTest) -> None:
        if test is not self._led_test:
            return
        self._led_test = None
        self._finish_led_test(test)

    def _interrupt_led_test(self: ControllerParts) -> LedTest | None:
        """End the running LED test now (a key turn), so the LEDs are the decision's
        again; the rest of its ending is :meth:`_finish_led_test`. Returns the test."""
        test = self._led_test
        if test is not None:
            test.cancel()
            self._led_test = None
        return test

    def _finish_led_test(self: ControllerParts, test: LedTest) -> None:
        """The LEDs back to what they mean, the audit row, the answer: for a test that
        is no longer :attr:`_led_test`."""
        for zone in self.zones.values():
            self._update_leds(zone)
        self._audit(
            self.resolve_zone(None),
            who=test.by,
            source="test",
            old=None,
            new=None,
            reason=f"LED test: {', '.join(test.lit) or 'no LEDs are wired'} lit for "
            f"{test.seconds:g} s each"
            + (" (ended early: the key was turned)" if test.interrupted else ""),
        )
        if not test.future.done():
            test.future.set_result({"tested": list(test.lit), "interrupted": test.interrupted})

    def test_relay(self: ControllerParts, name: str, seconds: float, *, by: str) -> Future:
        """Show relay *name* in the other state for *seconds*, on its zone's worker
        (:meth:`~appliance.control.worker.ActuatorWorker.relay_test`). Returns the
        worker's future at once."""
        for zone in self.zones.values():
            if name in zone.worker.relays():
                return zone.worker.relay_test(name, seconds, by=by)
        raise ValidationError(
            [
                FieldError(
                    "name", f"no relay named {name!r}; relays are " + ", ".join(self.relay_names())
                )
            ]
        )

    def test_pbx(self: ControllerParts, name: str, *, by: str) -> Future:
        """Run the PBX dialogue test of serial actuator *name* on its zone's worker
        (:meth:`~appliance.control.worker.ActuatorWorker.dialogue_test`). Returns the
        worker's future at once."""
        for zone in self.zones.values():
            for actuator in zone.actuators:
                if actuator.name == name and hasattr(actuator, "test_dialogue"):
                    return zone.worker.dialogue_test(actuator, by=by)
        names = self.serial_actuator_names()
        raise ValidationError(
            [
                FieldError(
                    "name",
                    f"no serial actuator named {name!r}; "
                    + (
                        "they are " + ", ".join(names)
                        if names
                        else "this site switches no PBX over its maintenance port"
                    ),
                )
            ]
        )

    def serial_actuator_names(self: ControllerParts) -> list[str]:
        """The actuators that talk to the PBX over its maintenance port."""
        return [
            a.name for z in self.zones.values() for a in z.actuators if hasattr(a, "test_dialogue")
        ]

    def actuator_ports(self: ControllerParts) -> dict[str, str]:
        """``{actuator name: port}`` of the actuators that use a serial port, as they
        really use it (in ``simulate``: the simulated PBX's pseudo-terminal)."""
        return {
            a.name: a.port
            for z in self.zones.values()
            for a in z.actuators
            if isinstance(getattr(a, "port", None), str)
        }

    def read_key(self: ControllerParts) -> dict:
        """The key switch of each zone: its debounced position and each contact's raw
        reading (commissioning shows the wiring rather than what it means)."""
        return {
            "zones": {
                z.name: {
                    "position": z.key.value,
                    "raw": z.panel.contacts() if z.panel else {},
                    "wiring_fault": bool(z.panel and z.panel.wiring_fault),
                }
                for z in self.zones.values()
            }
        }

    def relay_names(self: ControllerParts) -> list[str]:
        return [n for z in self.zones.values() for n in z.worker.relays()]

    def relay_states(self: ControllerParts) -> dict[str, str]:
        states = {}
        for zone in self.zones.values():
            for actuator in zone.actuators:
                states.update(actuator.relays())
        return states
