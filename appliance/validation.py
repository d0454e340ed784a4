"""One way to check what people write, and to say what is wrong with it.

Installers write the config, PBX profiles and SMDR formats in TOML; facilities write
schedules in JSON (through the page or the API); scripts call the API and the store.
Every one of them is checked the same way: a :class:`Problems` walks the document once,
collects a :class:`~appliance.errors.FieldError` for each problem (naming the field with
its full path, such as ``actuators[1].sense.pin``, and saying what is allowed), and
:meth:`Problems.done` raises one :class:`~appliance.errors.ValidationError` with all of
them. Nothing is half-loaded: a document with one error is refused whole.

The readers take the *table* a key is in, the *key*, and the *path* of that table
(``""`` at the top), so a field's full path is built in one place (:func:`join`). The
words every part shares live here too: what a mode name is (:data:`MODE_RE`), a phone
key of a keypad sequence (:data:`KEY_TOKEN_RE`), a usable GPIO (:func:`pin_problem`).
"""

from __future__ import annotations

import re

from appliance.errors import FieldError, ValidationError
from appliance.vocabulary import MODE_RE, MODE_RULE

#: One key of a keypad sequence as the config and the PBX simulator read it: a named key
#: such as ``<NIGHT>``, the ``{password}`` placeholder, a digit, ``*`` or ``#``.
NAMED_KEY_RE = re.compile(r"<[A-Z][A-Z0-9_]{0,15}>")
KEY_TOKEN_RE = re.compile(r"<[A-Z][A-Z0-9_]{0,15}>|\{password\}|[0-9*#]")

#: BCM GPIO numbers on the 40-pin header.
GPIO_RANGE = range(0, 28)
#: GPIOs with another job on this appliance's Pi (see hardware/pinmap.toml).
RESERVED_PINS = {
    0: "HAT EEPROM ID_SD",
    1: "HAT EEPROM ID_SC",
    2: "I2C SDA (RTC)",
    3: "I2C SCL (RTC)",
    14: "UART TXD (PBX port)",
    15: "UART RXD (PBX port)",
}

__all__ = [
    "GPIO_RANGE",
    "KEY_TOKEN_RE",
    "MODE_RE",
    "MODE_RULE",
    "NAMED_KEY_RE",
    "Problems",
    "RESERVED_PINS",
    "join",
    "json_type",
    "mode_problem",
    "pin_problem",
    "show",
]


def join(path: str, key) -> str:
    """The full path of *key* inside the table at *path*: ``join("site", "name")`` is
    ``site.name``; an index gives ``actuators[1]``; at the top the key alone."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def show(value) -> str:
    """A value as the person wrote it, shortened so an error line stays one line."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def json_type(value) -> str:
    """What a JSON value is, in the words of a JSON document."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def mode_problem(value) -> str | None:
    """Why *value* is not a mode name, or None when it is one."""
    if isinstance(value, str) and MODE_RE.match(value):
        return None
    return f"{show(value)} is not a mode name; use {MODE_RULE}"


def pin_problem(value) -> str | None:
    """Why *value* is not a GPIO the appliance may use, or None when it is one."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in GPIO_RANGE:
        return (
            f"{show(value)} is not a GPIO; use a BCM GPIO number 4 to 27 (not 0/1, "
            "2/3 or 14/15, which have other jobs)"
        )
    if value in RESERVED_PINS:
        return f"GPIO{value} is reserved for {RESERVED_PINS[value]}; use another BCM GPIO 4 to 27"
    return None


class ProblemList:
    """Collects :class:`~appliance.errors.FieldError` entries and raises them together:
    what :class:`Problems` (a document's readers) and the store's checks share."""

    def __init__(self):
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        """Record a problem with the field at *path*."""
        self.errors.append(FieldError(path, message))

    def extend(self, errors) -> None:
        self.errors.extend(errors)

    def done(self, source: str = "") -> None:
        """Raise :exc:`~appliance.errors.ValidationError` with every problem, if any."""
        if self.errors:
            raise ValidationError(self.errors, source)

    def __bool__(self) -> bool:
        return bool(self.errors)


class Problems(ProblemList):
    """Collects :class:`~appliance.errors.FieldError` entries while a document is read.

    Each reader returns the value (or a *default* after an error), so a caller reads every
    field first and calls :meth:`done` once::

        problems = Problems()
        site = problems.table(data, "site", "") or {}
        name = problems.string(site, "name", "site", required=True)
        problems.done()
    """

    # -- tables ---------------------------------------------------------------------------
    def unknown(self, table: dict, allowed, path: str) -> None:
        """A problem for each key of *table* not in *allowed*."""
        for key in table:
            if key not in allowed:
                self.err(
                    join(path, key), "unknown key; allowed keys are " + ", ".join(sorted(allowed))
                )

    def table(self, parent: dict, key: str, path: str, *, required: bool = False) -> dict | None:
        """The table at *key*, or None (missing, or not a table)."""
        where = join(path, key)
        value = parent.get(key)
        if value is None:
            if required:
                self.err(where, "is required (a table)")
            return None
        if not isinstance(value, dict):
            self.err(where, f"must be a table, not {type(value).__name__}")
            return None
        return value

    def tables(self, parent: dict, key: str, path: str) -> list[dict]:
        """The array of tables at *key* (``[[key]]``), or an empty list."""
        value = parent.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.err(join(path, key), f"must be an array of tables ([[{key}]])")
            return []
        return value

    # -- values ---------------------------------------------------------------------------
    def string(
        self,
        table: dict,
        key: str,
        path: str,
        *,
        default=None,
        required=False,
        choices=None,
        pattern=None,
        allow_empty=False,
    ):
        """A string (non-empty unless *allow_empty*), one of *choices*, or matching
        *pattern* (a mode-like word)."""
        where = join(path, key)
        if key not in table or table[key] is None:
            if required:
                self.err(where, "is required (a string)")
            return default
        value = table[key]
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            self.err(where, f"must be a non-empty string, not {show(value)}")
            return default
        if choices and value not in choices:
            self.err(where, f"{show(value)} is not allowed; use one of " + ", ".join(choices))
            return default
        if pattern is not None and not pattern.match(value):
            self.err(where, f"{show(value)} is not allowed; use {MODE_RULE}")
            return default
        return value

    def integer(
        self, table: dict, key: str, path: str, *, default=None, lo=None, hi=None, required=False
    ):
        """A whole number (not true/false) from *lo* to *hi*."""
        return self._number(table, key, path, default, lo, hi, required, whole=True)

    def number(
        self, table: dict, key: str, path: str, *, default=None, lo=None, hi=None, required=False
    ):
        """A number (whole or not, not true/false) from *lo* to *hi*."""
        return self._number(table, key, path, default, lo, hi, required, whole=False)

    def _number(self, table, key, path, default, lo, hi, required, *, whole):
        where = join(path, key)
        if key not in table:
            if required:
                self.err(
                    where,
                    f"is required: a {'whole ' if whole else ''}number"
                    + (f" {lo:g} to {hi:g}" if lo is not None and hi is not None else ""),
                )
            return default
        value = table[key]
        kinds = int if whole else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or (lo is not None and value < lo)
            or (hi is not None and value > hi)
        ):
            allowed = f"a {'whole ' if whole else ''}number"
            if lo is not None and hi is not None:
                allowed += f" {lo:g} to {hi:g}"
            self.err(where, f"{show(value)} is not allowed; use {allowed}")
            return default
        return value

    def boolean(self, table: dict, key: str, path: str, *, default=None, required=False):
        """true or false."""
        where = join(path, key)
        if key not in table:
            if required:
                self.err(where, "is required: true or false")
            return default
        if not isinstance(table[key], bool):
            self.err(where, f"must be true or false, not {show(table[key])}")
            return default
        return table[key]

    def regex(self, source, path: str, *, flags: int = 0, groups=()) -> re.Pattern | None:
        """A regular expression, compiled, with each named group of *groups*."""
        if not isinstance(source, str) or not source:
            self.err(path, f"must be a regular expression (a non-empty string), not {show(source)}")
            return None
        try:
            pattern = re.compile(source, flags)
        except re.error as exc:
            self.err(path, f"is not a valid regular expression: {exc}")
            return None
        for group in groups:
            if group not in pattern.groupindex:
                self.err(path, f"needs a named group (?P<{group}>...)")
        return pattern

    def pin(self, value, path: str) -> int | None:
        """A BCM GPIO the appliance may drive or read."""
        problem = pin_problem(value)
        if problem:
            self.err(path, problem)
            return None
        return value

    def mode(self, value, path: str, modes=None) -> str | None:
        """A mode name, and one of *modes* when they are given."""
        problem = mode_problem(value)
        if problem:
            self.err(path, problem)
            return None
        if modes is not None and value not in modes:
            self.err(
                path,
                f"mode {value!r} cannot be produced by this zone's actuators; "
                "allowed: " + ", ".join(sorted(modes)),
            )
            return None
        return value
