"""The simulated PBX's state: its mode, its power, its password, its feature codes.

One :class:`PbxModel` is shared by the simulator's serial side
(:mod:`appliance.sim.pty_pbx`) and its pin side (:mod:`appliance.sim.pin_pbx`), so a
mode set by a relay shows on the maintenance port's status query and the other way
round, as on a real PBX. It knows nothing about ptys or pins: it is plain state with a
lock, listeners, and the decoding of dialled digits into feature codes.

What the model does after a power cut follows the profile's ``[power] on_power_up``
(docs/pbx-families.md#after-a-power-cut: Mitel restores the prior service after a
reboot, Partner keeps its night state). Where the sources do not say (``unknown``), the
simulator comes back in a mode *other* than the one it had: the worst case, so a test
proves the read-back notices.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import SimError
from appliance.validation import KEY_TOKEN_RE


@dataclass(frozen=True)
class ModeChange:
    """One change of the simulated PBX's mode, for listeners and tests."""

    at: float  # monotonic seconds
    old: str
    new: str
    by: str  # serial | contact | toggle | keypad | power | console


@dataclass(frozen=True)
class KeypadResult:
    """What the PBX made of a dialled sequence.

    :param mode: the mode it switched to, or None.
    :param str outcome: ``accepted``, ``wrong_password`` or ``unknown_code``.
    :param str dialled: the keys as decoded (the password masked).
    """

    mode: str | None
    outcome: str
    dialled: str


def _code_pattern(template: str, password_length: int | None) -> re.Pattern:
    """A feature-code template (``718 2``, ``<NIGHT> {password} 1``) as a regex over
    the dialled keys; spaces are pauses and do not appear in what is dialled."""
    parts = []
    for token in KEY_TOKEN_RE.findall(template):
        if token == "{password}":
            size = f"{{{password_length}}}" if password_length else "+?"
            parts.append(f"(?P<password>[0-9*#]{size})")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


class PbxModel:
    """The simulated PBX.

    :param modes: the modes it has (a profile's ``modes``).
    :param str mode: the mode it starts in (default: the first).
    :param str on_power_up: ``retain``, ``unknown`` or a mode (a profile's ``[power]``).
    :param str username: the maintenance login's user.
    :param str password: the maintenance login's and the keypad's password.
    :param feature_codes: ``{mode: template}`` the keypad accepts (``718 2``).
    :param monotonic: the clock stamped on :class:`ModeChange` records.
    """

    def __init__(
        self,
        modes=("day", "night"),
        *,
        mode: str | None = None,
        on_power_up: str = "unknown",
        username: str = "",
        password: str = "",
        feature_codes: dict | None = None,
        monotonic=time.monotonic,
    ):
        self.modes = tuple(modes)
        if not self.modes:
            raise SimError("a simulated PBX needs at least one mode")
        start = mode or self.modes[0]
        if start not in self.modes:
            raise SimError(
                f"mode {start!r} is not one of the PBX's modes: " + ", ".join(self.modes)
            )
        self.on_power_up = on_power_up
        self.username = username
        self._password = password
        self.feature_codes = dict(feature_codes or {})
        self.monotonic = monotonic
        self._mode = start
        self.powered = True
        self.history: list[ModeChange] = []
        self.keypad_log: list[KeypadResult] = []
        self._listeners: list[Callable[[ModeChange], None]] = []
        self._lock = threading.RLock()

    @classmethod
    def from_profile(cls, profile, *, mode=None, username=None, password="", **kwargs):
        """A model with a profile's modes, power-up behaviour, default username and
        keypad feature codes."""
        keypad = profile.methods["keypad"]
        codes = dict(keypad.details.get("sequences", {})) if keypad.supported else {}
        if not password and keypad.supported:
            # A PBX fresh from the factory has the documented default passcode.
            password = str(keypad.details.get("password_default", ""))
        if username is None:
            username = profile.serial.username if profile.has_serial else ""
        return cls(
            profile.modes,
            mode=mode,
            on_power_up=profile.power.on_power_up,
            username=username,
            password=password,
            feature_codes=codes,
            **kwargs,
        )

    def __repr__(self) -> str:
        power = "on" if self.powered else "OFF"
        return f"<PbxModel mode={self._mode} power={power} modes={'/'.join(self.modes)}>"

    # -- state ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode

    def subscribe(self, callback: Callable[[ModeChange], None]) -> None:
        """Call *callback(change)* after every :class:`ModeChange` (from the thread that
        caused it; keep it short)."""
        self._listeners.append(callback)

    def set_mode(self, mode: str, *, by: str) -> None:
        """Put the PBX in *mode*, as *by* (``serial``, ``keypad``, ...) asked."""
        if mode not in self.modes:
            raise SimError(f"mode {mode!r} is not one of the PBX's modes: " + ", ".join(self.modes))
        with self._lock:
            old = self._mode
            self._mode = mode
            change = ModeChange(self.monotonic(), old, mode, by)
            self.history.append(change)
        if old != mode:
            for callback in list(self._listeners):
                callback(change)

    def add_modes(self, modes) -> None:
        """Give the PBX more modes (the pin side adds those its actuators use, so a
        simulated PBX has whatever modes the installation switches)."""
        with self._lock:
            self.modes = self.modes + tuple(m for m in dict.fromkeys(modes) if m not in self.modes)

    def toggle(self, pair=("day", "night"), *, by: str = "toggle") -> str:
        """A toggle key: from any mode but the second of *pair* to it, else to the first."""
        with self._lock:
            target = pair[0] if self._mode == pair[1] else pair[1]
            self.set_mode(target, by=by)
            return target

    # -- power ------------------------------------------------------------------------

    def power_off(self) -> None:
        with self._lock:
            self.powered = False

    def power_on(self, comes_back_in: str | None = None) -> str:
        """Restore power; the mode follows ``on_power_up`` unless *comes_back_in* says.
        Returns the mode after power-up."""
        with self._lock:
            self.powered = True
            if comes_back_in is not None:
                target = comes_back_in
            elif self.on_power_up == "retain":
                target = self._mode
            elif self.on_power_up in self.modes:
                target = self.on_power_up
            else:
                # unknown: come back wrong, the case a read-back must catch
                others = [m for m in self.modes if m != self._mode]
                target = others[0] if others else self._mode
            self.set_mode(target, by="power")
            return target

    def power_cut(self, comes_back_in: str | None = None) -> str:
        """Power off and straight back on."""
        self.power_off()
        return self.power_on(comes_back_in)

    # -- passwords and feature codes ----------------------------------------------------

    def check_password(self, password: str) -> bool:
        return password == self._password

    def set_password(self, password: str) -> None:
        """Change the PBX's password (the ``wrong_password`` fault: ours no longer fits)."""
        self._password = password

    def decode(self, dialled: str) -> KeypadResult:
        """Act on a sequence dialled between off-hook and on-hook.

        :param str dialled: the keys pressed, named keys written ``<NIGHT>``.
        """
        length = len(self._password) or None
        result = None
        for mode, template in self.feature_codes.items():
            match = _code_pattern(template, length).fullmatch(dialled)
            if match is None:
                continue
            given = match.groupdict().get("password")
            shown = dialled
            if given is not None:
                start, end = match.span("password")
                shown = dialled[:start] + "***" + dialled[end:]
            if given is not None and not self.check_password(given):
                result = KeypadResult(None, "wrong_password", shown)
                break
            if not self.powered:
                result = KeypadResult(None, "unknown_code", shown)
                break
            self.set_mode(mode, by="keypad")
            result = KeypadResult(mode, "accepted", shown)
            break
        if result is None:
            result = KeypadResult(None, "unknown_code", dialled)
        self.keypad_log.append(result)
        return result
