"""Hardware tests for commissioning: the LEDs, the relays and the key switch.

The same tests run from the Installer page on the running appliance and from
``nightswitch test leds|relays|key`` with the service stopped. What a test does lives
here once: the order the LEDs light in, and what a relay test shows (the state the relay
is *not* in, so the installer sees it move whether it was open or closed).

On the running appliance no test blocks the controller: a relay test runs on its zone's
actuator worker (:meth:`~appliance.control.worker.ActuatorWorker.relay_test`), and the
LED test is paced by a thread of its own (:class:`LedTest`) that asks the controller to
light each LED in turn, so a key turn during the test is handled at once and ends it.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

log = logging.getLogger(__name__)

#: The order the LEDs light in, on every panel.
LED_ORDER = ("day", "night", "fault")
#: The longest an LED or relay is held for one test step.
MAX_TEST_SECONDS = 10.0


def exercise_relay(relay, seconds: float, pause) -> dict:
    """Show *relay* in the state it is not in for *seconds*, then put it back.

    :param relay: an :class:`~appliance.actuators.relay.Relay`.
    :param float seconds: how long the other state is held.
    :param pause: ``pause(seconds) -> bool``: waits, True when cut short.
    :returns: ``{"relay", "was", "shown", "seconds", "interrupted"}``.
    """
    was_closed = relay.is_closed
    (relay.open_contact if was_closed else relay.close_contact)()
    try:
        interrupted = bool(pause(seconds))
    finally:
        (relay.close_contact if was_closed else relay.open_contact)()
    return {
        "relay": relay.name,
        "was": "closed" if was_closed else "open",
        "shown": "open" if was_closed else "closed",
        "seconds": seconds,
        "interrupted": interrupted,
    }


def describe_relay_test(result: dict) -> str:
    """One line for the audit log and the page: ``relay night-service was closed: opened
    for 1 s, then closed again`` (the state it was in, so nobody reads "closed for 1 s"
    of a relay that never opened)."""
    verb = "opened" if result["shown"] == "open" else "closed"
    back = "closed" if result["shown"] == "open" else "opened"
    text = (
        f"relay {result['relay']} was {result['was']}: {verb} for {result['seconds']:g} s, "
        f"then {back} again"
    )
    if result.get("interrupted"):
        text += " (ended early: the mode changed)"
    return text


class LedTest:
    """Each LED of each panel lit in turn for *seconds*, paced by a thread of its own.

    :param list steps: ``[(panel, led name), ...]`` in order.
    :param float seconds: how long each LED stays lit.
    :param post: ``post(item)`` hands ``("show", test, panel, led)`` and ``("end", test,
        None, None)`` to the controller thread (the controller alone drives the LEDs);
        this thread only keeps time.
    :param str by: who asked, for the audit log.

    :attr:`future` holds ``{"tested": ["zone:led", ...], "interrupted": bool}`` when the
    test ends. :meth:`cancel` ends it early (a key turn).
    """

    def __init__(self, steps, seconds: float, post, *, by: str = "installer"):
        self.steps = list(steps)
        self.by = by
        self.seconds = seconds
        self.post = post
        self.future: Future = Future()
        self.lit: list[str] = []
        self.interrupted = False
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._pace, name="led-test", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self.interrupted = True
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _pace(self) -> None:
        for panel, led in self.steps:
            if self._cancel.is_set():
                break
            self.post(("show", self, panel, led))
            if self._cancel.wait(self.seconds):
                break
        self.post(("end", self, None, None))


__all__ = ["LED_ORDER", "LedTest", "MAX_TEST_SECONDS", "describe_relay_test", "exercise_relay"]
