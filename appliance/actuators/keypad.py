"""``keypad``: relays across the keys of a dedicated phone, dialling a feature code.

Most legacy PBXs switch night service with a feature code dialled from a programming
extension (NEC SV8100 ``718`` + mode, Mitel SX ``312``/``313``), not over
the serial port (docs/pbx-families.md#dedicated-night-inputs-are-rare). A spare phone on
the desk and a relay across each key it needs (and across its hook switch) lets the
appliance dial that code.

A sequence is the keys in order; a space waits ``pause_ms`` (for a second dial tone or a
prompt), ``{password}`` is replaced by the ``password`` (never logged), and ``<NAME>`` is
a named key of the phone, such as Samsung's ``<NIGHT>`` programmable button.

Config::

    [[actuators]]
    name = "feature-code"
    type = "keypad"
    hook_pin = 20
    keys = { "7" = 21, "1" = 12, "8" = 18, "2" = 16 }
    sequences = { day = "718 1", night = "718 2" }   # NEC: 1 = Day1, 2 = Night
    password = ""            # e.g. "1234" and "718 {password} 2"
    press_ms = 150
    gap_ms = 150
    offhook_ms = 800         # wait for dial tone
    pause_ms = 1000
    hangup_ms = 500          # hold the line after the last key, for the confirmation tone
"""

from __future__ import annotations

import re
import time

from appliance.actuators.base import (
    RelayActuator,
    check_int,
    check_keys,
    check_mode_names,
    check_pin,
    check_relay,
)
from appliance.actuators.sense import SenseInput, check_sense, mode_read_back, wait_for_sense
from appliance.errors import ActuatorError, FieldError
from appliance.validation import KEY_TOKEN_RE, NAMED_KEY_RE

ALLOWED = {
    "hook_pin",
    "keys",
    "sequences",
    "password",
    "active_high",
    "press_ms",
    "gap_ms",
    "offhook_ms",
    "pause_ms",
    "hangup_ms",
    "settle_ms",
    "sense",
}
KEY_NAMES = set("0123456789*#")
#: A sequence read token by token: the keys of KEY_TOKEN_RE, a space (a pause), and any
#: other character (an error the check names).
TOKEN = re.compile(KEY_TOKEN_RE.pattern + "| |.")
TIMINGS = {
    "press_ms": (150, 30, 2000),
    "gap_ms": (150, 30, 2000),
    "offhook_ms": (800, 0, 10000),
    "pause_ms": (1000, 0, 10000),
    "hangup_ms": (500, 0, 10000),
    "settle_ms": (3000, 0, 60000),
}


def tokens(sequence: str, password: str = "") -> list[str]:
    """The keys of *sequence* in order: digits, ``*``, ``#``, named keys like ``<NIGHT>``,
    and ``" "`` for a pause; ``{password}`` becomes the password's keys."""
    result: list[str] = []
    for token in TOKEN.findall(sequence):
        result.extend(password if token == "{password}" else [token])
    return result


def is_key(token: str) -> bool:
    return token in KEY_NAMES or bool(NAMED_KEY_RE.fullmatch(token))


def check(spec: dict, path: str, **_) -> list[FieldError]:
    errors = check_keys(spec, ALLOWED, path) + check_relay(spec, path, "hook_pin")
    for key, (_default, lo, hi) in TIMINGS.items():
        errors += check_int(spec, key, path, lo, hi)
    keys = spec.get("keys")
    if not isinstance(keys, dict) or not keys:
        errors.append(
            FieldError(
                f"{path}.keys",
                "is required: the GPIO of the relay across each "
                'key, such as { "7" = 21, "1" = 12 }',
            )
        )
        keys = {}
    for key, pin in keys.items():
        if not is_key(key):
            errors.append(
                FieldError(
                    f"{path}.keys",
                    f'{key!r} is not a phone key; use 0-9, *, # or a named key such as "<NIGHT>"',
                )
            )
        errors += check_pin(pin, f"{path}.keys.{key}")
    password = spec.get("password", "")
    if not isinstance(password, str) or not re.fullmatch(r"[0-9*#]*", password):
        errors.append(FieldError(f"{path}.password", "must be a string of phone keys (0-9 * #)"))
        password = ""
    sequences = spec.get("sequences")
    if not isinstance(sequences, dict) or not sequences:
        errors.append(
            FieldError(
                f"{path}.sequences",
                "is required: the keys to dial per mode, "
                'such as { day = "718 1", night = "718 2" }',
            )
        )
        sequences = {}
    errors += check_mode_names(sequences, f"{path}.sequences")
    for mode, sequence in sequences.items():
        where = f"{path}.sequences.{mode}"
        if not isinstance(sequence, str) or not sequence.strip():
            errors.append(FieldError(where, "must be a non-empty string of keys"))
            continue
        if "{password}" in sequence and not password:
            errors.append(FieldError(where, "uses {password} but no password is set"))
        for token in tokens(sequence):
            if token == " ":
                continue
            if not is_key(token):
                errors.append(
                    FieldError(
                        where,
                        f"{token!r} is not a phone key; use 0-9, *, #, "
                        "<NAME> for a named key, a space for a pause "
                        "and {password}",
                    )
                )
            elif token not in keys:
                errors.append(FieldError(where, f"key {token!r} has no relay; add it to keys"))
        for ch in password:
            if "{password}" in sequence and ch not in keys:
                errors.append(
                    FieldError(
                        f"{path}.password",
                        "a key of the password has no relay; add every key it uses to keys",
                    )
                )
                break
    if "sense" in spec:
        errors += check_sense(spec["sense"], f"{path}.sense", set(sequences))
    return errors


def modes_of(spec: dict, **_) -> set[str]:
    return set(spec["sequences"])


def pins_of(spec: dict):
    yield "hook", spec["hook_pin"]
    for key, pin in spec["keys"].items():
        yield f"key {key}", pin
    if "sense" in spec:
        yield "sense", spec["sense"]["pin"]


def build(spec: dict, *, pin_factory=None, sleep=time.sleep, **_):
    return KeypadActuator(spec, pin_factory=pin_factory, sleep=sleep)


class KeypadActuator(RelayActuator):
    """Dials a feature code on a phone through relays. See the module docstring."""

    type_name = "keypad"

    def __init__(self, spec: dict, *, pin_factory=None, sleep=time.sleep):
        super().__init__(spec, sleep=sleep)
        self._password = spec.get("password", "")
        self.keys = {}
        try:
            self.hook = self._add_relay(f"{self.name}-hook", spec["hook_pin"], pin_factory)
            for key, pin in spec["keys"].items():
                name = f"{self.name}-key-{key.strip('<>').lower()}"
                self.keys[key] = self._add_relay(name, pin, pin_factory)
        except Exception:
            self.close()
            raise
        self.t = {key: spec.get(key, default) / 1000 for key, (default, _, _) in TIMINGS.items()}
        self.sense = SenseInput(spec["sense"], pin_factory=pin_factory) if "sense" in spec else None
        self.can_read_back = self.sense is not None
        sequences = list(spec["sequences"].values())
        # One code per mode is absolute; the same code for two modes is a toggle.
        self.reasserts_blind = self.sense is None and len(set(sequences)) == len(sequences)

    def dial(self, sequence: str) -> None:
        """Go off-hook, press each key of *sequence* (``{password}`` filled in) and hang
        up, whatever happens."""
        keys = tokens(sequence, self._password)
        # The one safe point: once off-hook, the whole sequence is dialled, since half
        # a feature code leaves the phone in some menu of the PBX's.
        self.check_abandon("before going off-hook")
        try:
            self.hook.close_contact()
            self.sleep(self.t["offhook_ms"])
            for key in keys:
                if key == " ":
                    self.sleep(self.t["pause_ms"])
                    continue
                relay = self.keys[key]
                try:
                    relay.close_contact()
                    self.sleep(self.t["press_ms"])
                finally:
                    relay.open_contact()
                self.sleep(self.t["gap_ms"])
            self.sleep(self.t["hangup_ms"])
        finally:
            for relay in self.keys.values():
                relay.open_contact()
            self.hook.open_contact()

    def apply(self, mode: str) -> None:
        sequence = self.spec["sequences"].get(mode)
        if sequence is None:
            raise ActuatorError(
                f"{self.name}: no sequence for mode {mode!r}; it knows "
                + ", ".join(sorted(self.spec["sequences"]))
            )
        self.dial(sequence)
        self.last_mode = mode
        if self.sense and not wait_for_sense(
            self.sense, self.sense.expects_active(mode), self.t["settle_ms"], self.sleep
        ):
            raise ActuatorError(
                f"{self.name}: dialled the code for {mode}, but the PBX status input on "
                f"GPIO{self.spec['sense']['pin']} did not follow within "
                f"{self.t['settle_ms'] * 1000:.0f} ms; check the code and the password"
            )

    def read_back(self) -> str | None:
        if self.sense is None:
            return None
        return mode_read_back(
            self.sense.is_active, self.last_mode, self.spec["sequences"], self.sense.active_in
        )

    def __repr__(self) -> str:
        # The password is a secret: never in a repr, a log line or an error.
        return (
            f"<KeypadActuator {self.name!r} zone={self.zone} keys="
            f"{' '.join(sorted(self.keys))} password={'***' if self._password else 'none'}>"
        )
