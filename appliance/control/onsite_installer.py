"""The installer at the terminal during ``nightswitch test all``: hands and eyes.

The walk asks an *installer* for what the software cannot do itself: turn the key, pull
a cable, say whether an LED lit. :class:`OnSiteInstaller` asks the person at the
terminal; :class:`~appliance.sim.installer.SimulatedInstaller` does the same on a
simulated site.
"""

from __future__ import annotations

from appliance.control.commissioning_results import NobodyThere
from appliance.errors import NightswitchError


class OnSiteInstaller:
    """The person at the terminal: the hands for the key and the cables, and the eyes.

    :param asker: a :class:`~appliance.commands.hwtest.Asker` (``--yes``: nobody asked,
        and nothing that needs a hand is done).
    """

    simulated = False

    def __init__(self, asker):
        self.asker = asker

    @property
    def present(self) -> bool:
        return not self.asker.yes

    def _prompt(self, text: str) -> str:
        try:
            return self.asker.prompt(text)
        except NightswitchError as exc:
            raise NobodyThere(str(exc)) from None

    def watch(self, pins: dict):
        return None  # real pins cannot tell whether the relay clicked

    def pbx_mode(self) -> str | None:
        return None

    def confirm(self, question: str) -> tuple[bool | None, str]:
        """Ask *question*; ``(True, "yes")``, ``(False, "no: what they saw")`` or
        ``(None, why nobody was asked)``."""
        if not self.present:
            return None, "not asked (--yes)"
        answer = self._prompt(f"  {question} [y/n] ").strip()
        if answer.lower().startswith("y"):
            return True, "yes"
        note = self._prompt("  what did you see? (Enter to skip) ").strip()
        return False, "no" + (f": {note}" if note else "")

    def turn_key(self, panel, position: str) -> str | None:
        if not self.present:
            return None
        self._prompt(f"  turn the key of zone {panel.zone} to {position.upper()} and press Enter ")
        return f"the installer turned the key to {position.upper()}"

    def press_button(self, panel) -> str | None:
        if not self.present:
            return None
        self._prompt(
            f"  press the push button of zone {panel.zone} once, briefly, then press Enter "
        )
        return "the installer pressed the button"

    def disconnect(self, spec: dict) -> str | None:
        if not self.present:
            return None
        self._prompt(
            f"  disconnect the primary {spec['name']} ({_where(spec)}) from the PBX "
            "and press Enter "
        )
        return f"the installer disconnected {spec['name']}"

    def reconnect(self, spec: dict) -> str | None:
        self._prompt(f"  connect {spec['name']} ({_where(spec)}) to the PBX again and press Enter ")
        return f"the installer connected {spec['name']} again"

    def reconnect_all(self) -> None:
        pass  # the person was asked; nothing is left to put back

    def move_clock_to(self, at) -> None:
        return None  # real time cannot be moved


def _where(spec: dict) -> str:
    if spec["type"] == "serial":
        return f"maintenance port {spec.get('port')}"
    from appliance.actuators import pins_of

    return ", ".join(f"{what} GPIO{pin}" for what, pin in pins_of(spec))


__all__ = ["OnSiteInstaller"]
