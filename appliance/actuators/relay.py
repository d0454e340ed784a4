"""One relay output, off at construction and at close.

Why a wrapper at all: the relay must come up *off* without a blip. lgpio claims an
output LOW before gpiozero sets the initial level
(docs/raspberry-pi.md#outputs-and-the-lgpio-blip), so an active-high relay (off = LOW)
is never pulsed on at start-up; an active-low relay would be, for a
few microseconds, and the docs say so. ``close()`` drives it off before releasing the
line, because a released line floats and only the external pull-down holds it.
"""

from __future__ import annotations

from gpiozero import OutputDevice


class Relay:
    """A named relay channel.

    :param str name: shown on the web page (``night-service``, ``key-7``).
    :param int pin: BCM GPIO.
    :param bool active_high: True when a HIGH level energizes the relay.
    :param pin_factory: gpiozero pin factory.
    :param after_drive: called after each drive of the contact (the actuator tells its
        zone's worker that the relay has moved).
    """

    def __init__(
        self, name: str, pin: int, *, active_high: bool = True, pin_factory=None, after_drive=None
    ):
        self.name = name
        self.after_drive = after_drive
        self.device = OutputDevice(
            pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
        )

    @property
    def pin(self):
        return self.device.pin

    @property
    def is_closed(self) -> bool:
        return bool(self.device.value)

    def close_contact(self) -> None:
        self.device.on()
        if self.after_drive is not None:
            self.after_drive()

    def open_contact(self) -> None:
        # At shutdown a stuck worker may let go of a relay after close() released it
        # directly: de-energized is what both wanted.
        if not self.device.closed:
            self.device.off()
            if self.after_drive is not None:
                self.after_drive()

    def close(self) -> None:
        if not self.device.closed:
            self.device.off()
            self.device.close()

    def __repr__(self) -> str:
        return f"<Relay {self.name} pin={self.device.pin} {'closed' if self.is_closed else 'open'}>"
