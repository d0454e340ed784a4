"""Serial settings of a PBX port, as an installer writes them in TOML.

A profile gives the family's documented settings (``[methods.serial.settings]``) and
an actuator table may override any of them (``settings = { baudrate = 1200 }``), since
many PBXs let the installer change the port speed. Both go through
:func:`parse_settings`, which reports every bad value at once, naming the key and what
is allowed.

Line ending and pacing live here too: they are properties of the wire, not of the
dialogue. Pacing is the pause between characters that old maintenance ports need,
because their UARTs have a one-byte buffer and drop what arrives while they are busy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import serial

from appliance.errors import FieldError

#: The standard rates from 300 to 115200; PBX ports use nothing else.
BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
BYTESIZES = {7: serial.SEVENBITS, 8: serial.EIGHTBITS}
PARITIES = {
    "none": serial.PARITY_NONE,
    "even": serial.PARITY_EVEN,
    "odd": serial.PARITY_ODD,
    "mark": serial.PARITY_MARK,
    "space": serial.PARITY_SPACE,
}
STOPBITS = {1: serial.STOPBITS_ONE, 2: serial.STOPBITS_TWO}
LINE_ENDINGS = {"cr": "\r", "lf": "\n", "crlf": "\r\n"}
KEYS = (
    "baudrate",
    "bytesize",
    "parity",
    "stopbits",
    "xonxoff",
    "rtscts",
    "line_ending",
    "pacing_ms",
)


@dataclass(frozen=True)
class SerialSettings:
    """The settings of one serial port.

    :param int baudrate: one of :data:`BAUD_RATES`.
    :param int bytesize: 7 or 8 data bits.
    :param str parity: ``none``, ``even``, ``odd``, ``mark`` or ``space``.
    :param int stopbits: 1 or 2.
    :param bool xonxoff: software flow control.
    :param bool rtscts: hardware flow control.
    :param str line_ending: what ends a line we send: ``cr``, ``lf`` or ``crlf``.
    :param int pacing_ms: pause after each character sent, 0 to 1000 ms.
    """

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "none"
    stopbits: int = 1
    xonxoff: bool = False
    rtscts: bool = False
    line_ending: str = "cr"
    pacing_ms: int = 0

    @property
    def eol(self) -> str:
        """The characters that end a line we send."""
        return LINE_ENDINGS[self.line_ending]

    @property
    def char_time_s(self) -> float:
        """Seconds one character takes on the wire: start bit, data, parity, stop bits."""
        bits = 1 + self.bytesize + (0 if self.parity == "none" else 1) + self.stopbits
        return bits / self.baudrate

    def pyserial_kwargs(self) -> dict:
        """Keyword arguments for :func:`serial.serial_for_url`."""
        return {
            "baudrate": self.baudrate,
            "bytesize": BYTESIZES[self.bytesize],
            "parity": PARITIES[self.parity],
            "stopbits": STOPBITS[self.stopbits],
            "xonxoff": self.xonxoff,
            "rtscts": self.rtscts,
        }

    def describe(self) -> str:
        """``9600 8N1 CR`` style summary, as written on a PBX manual's port page."""
        flow = " XON/XOFF" if self.xonxoff else ""
        flow += " RTS/CTS" if self.rtscts else ""
        pace = f", {self.pacing_ms} ms between characters" if self.pacing_ms else ""
        return (
            f"{self.baudrate} {self.bytesize}{self.parity[0].upper()}{self.stopbits}"
            f"{flow}, line ending {self.line_ending.upper()}{pace}"
        )


def parse_settings(
    data, path: str, base: SerialSettings | None = None
) -> tuple[SerialSettings | None, list[FieldError]]:
    """Read a settings table over *base* (the defaults when None).

    :param data: the TOML table (a dict); keys it lacks keep *base*'s values.
    :param str path: where the table is, for error messages (``methods.serial.settings``).
    :param base: the settings to start from, such as a profile's, when reading a
        config's overrides.
    :returns: ``(settings, errors)``; settings is None when there are errors.
    """
    base = base or SerialSettings()
    if not isinstance(data, dict):
        return None, [
            FieldError(path, 'must be a table such as { baudrate = 9600, parity = "none" }')
        ]
    errors: list[FieldError] = []
    # keyword arguments for dataclasses.replace: each value checked below for its field
    values: dict[str, Any] = {}
    for key in data:
        if key not in KEYS:
            errors.append(
                FieldError(f"{path}.{key}", "unknown key; allowed keys are " + ", ".join(KEYS))
            )
    if "baudrate" in data:
        value = data["baudrate"]
        # isinstance first: a list or table is unhashable, and `in` would raise
        if isinstance(value, bool) or not isinstance(value, int) or value not in BAUD_RATES:
            errors.append(
                FieldError(
                    f"{path}.baudrate",
                    f"{value!r} is not allowed; use one of " + ", ".join(map(str, BAUD_RATES)),
                )
            )
        else:
            values["baudrate"] = value
    for key, sizes in (("bytesize", BYTESIZES), ("stopbits", STOPBITS)):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in sizes:
                errors.append(
                    FieldError(
                        f"{path}.{key}",
                        f"{value!r} is not allowed; use " + " or ".join(map(str, sizes)),
                    )
                )
            else:
                # TOML's 8.0 is the 8 of "8N1": kept whole, so it is described that way.
                values[key] = int(value)
    for key, allowed in (("parity", PARITIES), ("line_ending", LINE_ENDINGS)):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or value.lower() not in allowed:
                errors.append(
                    FieldError(
                        f"{path}.{key}",
                        f"{value!r} is not allowed; use " + ", ".join(f'"{a}"' for a in allowed),
                    )
                )
            else:
                values[key] = value.lower()
    for key in ("xonxoff", "rtscts"):
        if key in data:
            if not isinstance(data[key], bool):
                errors.append(
                    FieldError(f"{path}.{key}", f"must be true or false, not {data[key]!r}")
                )
            else:
                values[key] = data[key]
    if "pacing_ms" in data:
        value = data["pacing_ms"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
            errors.append(
                FieldError(
                    f"{path}.pacing_ms",
                    f"{value!r} is not allowed; use a whole number of milliseconds 0 to 1000",
                )
            )
        else:
            values["pacing_ms"] = value
    merged = replace(base, **values)
    if merged.xonxoff and merged.rtscts:
        errors.append(
            FieldError(
                f"{path}.rtscts", "choose one kind of flow control: xonxoff or rtscts, not both"
            )
        )
    return (None if errors else merged), errors
