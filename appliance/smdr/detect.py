"""Which format and port settings read a PBX's SMDR port: listen, then read every way.

An installer at a PBX whose SMDR port settings nobody wrote down runs
``nightswitch calls detect --port /dev/ttyUSB0``. The port is opened at each usual rate
(1200 to 9600 baud, docs/pbx-families.md#serial-settings) for a while, and what arrives is
read as every shipped format at each usual framing (8N1 and 7E1). The settings and format
that read the most lines (calls and page headers) win; examples of what they read are
shown.

Two facts of the wire make one listen per rate enough for both framings:

* An 8N1 receiver and a 7E1 receiver sample the same ten bit times per character (a
  start bit, eight bits, a stop bit); 7E1 takes the eighth as parity, 8N1 as data. So
  the bytes read at 8N1 hold exactly what a 7E1 receiver would see, and both readings
  are made from one capture (7E1: the low seven bits).
* Because SMDR is ASCII, a line reads the same either way (the framer clears the top
  bit). What tells the framings apart is the top bit itself: from a 7E1 PBX it is the
  even parity of the other seven on every character; from an 8N1 PBX it is always 0.
  :func:`parity_of` counts that, and the proposal says which framing the PBX uses.

Listening is the only I/O (:func:`listen`); everything else is pure and tested on bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import serial

from appliance.smdr.framing import LineFramer
from appliance.smdr.parser import LineKind, parse_line

#: The rates listened at, slowest first (1200 to 9600 are the usual:
#: docs/pbx-families.md#serial-settings).
RATES = (1200, 2400, 4800, 9600)
#: The framings each capture is read as: name -> (data bits, parity).
FRAMINGS = {"8N1": (8, "none"), "7E1": (7, "even")}
#: How many printable characters the parity verdict needs before it says anything.
PARITY_MIN_CHARS = 40
#: The share of characters that must agree for a parity verdict.
PARITY_AGREE = 0.97
EXAMPLES = 3


@dataclass
class Reading:
    """What one capture gave when read as one format at one framing."""

    rate: int
    framing: str
    fmt: str
    lines: int = 0
    calls: int = 0
    headers: int = 0
    junk: int = 0
    examples: list = field(default_factory=list)  # (raw line, CallRecord)

    @property
    def read(self) -> int:
        """Lines the format read: calls and headers."""
        return self.calls + self.headers

    def sort_key(self):
        return (self.read, self.calls, -self.junk)


@dataclass
class Detection:
    """The outcome: every reading, the parity seen per rate, and the proposal (or None).

    :param proposal: the best :class:`Reading`, or None when no line read as any format.
    :param ties: other readings as good as the proposal (same lines read).
    """

    readings: list[Reading]
    captured: dict[int, bytes]
    parity: dict[int, str | None]
    proposal: Reading | None
    ties: list[Reading]
    errors: dict[int, str] = field(default_factory=dict)

    def best_per_rate(self) -> dict[int, Reading | None]:
        out: dict[int, Reading | None] = {}
        for rate in self.captured:
            here = [r for r in self.readings if r.rate == rate]
            out[rate] = max(here, key=Reading.sort_key, default=None)
        return out


def parity_of(data: bytes) -> str | None:
    """What the top bit of *data*'s characters says about the sender's framing:
    ``"even"``/``"odd"`` (it is the parity of the low seven bits: 7E1/7O1), ``"none"``
    (always 0: 8 bits, no parity, or 7 bits space parity), ``"mark"`` (always 1), or
    None (too few characters, or no pattern: 8-bit text, or garbage from a wrong rate).
    Only characters whose low seven bits are printable ASCII or CR/LF count, and only
    when nine in ten characters are such."""
    counts = {"even": 0, "odd": 0, "none": 0, "mark": 0}
    total = 0
    for byte in data:
        low = byte & 0x7F
        if not (0x20 <= low < 0x7F or low in (0x0A, 0x0D)):
            continue
        total += 1
        top = byte >> 7
        ones = bin(low).count("1") & 1
        counts["even" if top == ones else "odd"] += 1
        counts["mark" if top else "none"] += 1
    # Text is nearly all printable; garbage from a wrong rate is not, and its top bits
    # mean nothing.
    if total < PARITY_MIN_CHARS or total < 0.9 * len(data):
        return None
    # "none"/"mark" first: on text they also agree with one parity on some characters.
    for verdict in ("none", "mark", "even", "odd"):
        if counts[verdict] >= PARITY_AGREE * total:
            return verdict
    return None


def framing_bytes(data: bytes, framing: str) -> bytes:
    """What a receiver at *framing* reads from bytes captured at 8N1, same rate."""
    bits, _ = FRAMINGS[framing]
    return data if bits == 8 else bytes(b & 0x7F for b in data)


def evaluate(
    captured: dict[int, bytes],
    formats,
    *,
    now: datetime,
    tz: tzinfo,
    errors: dict[int, str] | None = None,
) -> Detection:
    """Read every capture as every format at every framing; propose the best.

    :param captured: ``{rate: bytes read at that rate, 8N1}``.
    :param formats: the :class:`~appliance.smdr.formats.SmdrFormat` s to try.
    :param now: when the capture was made (the reference for a missing year).
    """
    readings: list[Reading] = []
    parity = {rate: parity_of(data) for rate, data in captured.items()}
    for rate, data in captured.items():
        for framing in FRAMINGS:
            received = framing_bytes(data, framing)
            for fmt in formats:
                reading = Reading(rate, framing, fmt.name)
                framer = LineFramer(**fmt.framer_options())
                for line in framer.feed(received) + framer.flush():
                    reading.lines += 1
                    if line.dropped:
                        reading.junk += 1
                        continue
                    parsed = parse_line(line.text, fmt, now=now, tz=tz)
                    if parsed.kind is LineKind.CALL:
                        reading.calls += 1
                        if len(reading.examples) < EXAMPLES:
                            reading.examples.append((line.text, parsed.record))
                    elif parsed.kind is LineKind.HEADER:
                        reading.headers += 1
                    else:
                        reading.junk += 1
                readings.append(reading)
    useful = [r for r in readings if r.calls]
    if not useful:
        return Detection(readings, captured, parity, None, [], errors or {})

    by_name = {fmt.name: fmt for fmt in formats}

    def documented(r: Reading) -> bool:
        serial_ = by_name[r.fmt].serial
        bits, parity_ = FRAMINGS[r.framing]
        return (
            serial_ is not None
            and serial_.baudrate == r.rate
            and serial_.bytesize == bits
            and serial_.parity == parity_
        )

    def rank(r: Reading):
        # Equal readings: the framing the top bits point to; then a format whose manual
        # gives these very settings (Partner and Merlin print alike, and the Partner's
        # port is documented at 1200; KX-TD and KX-TDA alike, the KX-TDA at 9600 8N1,
        # the KX-TD with mark parity); then 8N1.
        said = parity.get(r.rate)
        agrees = (r.framing == "7E1") == (said == "even")
        return (*r.sort_key(), agrees, documented(r), r.framing == "8N1")

    best = max(useful, key=rank)
    ties = [
        r
        for r in useful
        if r is not best
        and r.sort_key() == best.sort_key()
        and (r.rate, r.framing) == (best.rate, best.framing)
    ]
    return Detection(readings, captured, parity, best, ties, errors or {})


def listen(
    port: str,
    rate: int,
    *,
    seconds: float,
    lines: int,
    stop=None,
    opener=serial.serial_for_url,
    monotonic=time.monotonic,
) -> bytes:
    """The bytes that arrive on *port* at *rate* 8N1, for up to *seconds*, or until
    *lines* line ends have come.

    What was waiting in the port's buffer before (received at another speed) is thrown
    away first.

    :raises serial.SerialException: the port cannot be opened.
    """
    handle = opener(
        port,
        baudrate=rate,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        timeout=0.1,
    )
    data = bytearray()
    try:
        handle.reset_input_buffer()
        end = monotonic() + seconds
        while monotonic() < end and not (stop and stop.is_set()):
            chunk = handle.read(handle.in_waiting or 1)
            if chunk:
                data += chunk
                if max(data.count(b"\n"), data.count(b"\r")) >= lines:
                    break
    finally:
        handle.close()
    return bytes(data)


def detect(
    port: str,
    formats,
    *,
    rates=RATES,
    seconds: float = 30.0,
    lines: int = 12,
    tz: tzinfo,
    now=None,
    opener=serial.serial_for_url,
    progress=None,
) -> Detection:
    """Listen at each of *rates* in turn, then :func:`evaluate`.

    :param progress: called with ``(rate, bytes)`` after each rate (the CLI prints it).
    """
    from appliance.inputs.clock import SystemClock

    captured: dict[int, bytes] = {}
    errors: dict[int, str] = {}
    for rate in rates:
        try:
            captured[rate] = listen(port, rate, seconds=seconds, lines=lines, opener=opener)
        except (serial.SerialException, OSError, ValueError) as exc:
            errors[rate] = str(exc)
            captured[rate] = b""
        if progress is not None:
            progress(rate, captured[rate])
    when = now or SystemClock().now()
    return evaluate(captured, formats, now=when, tz=tz, errors=errors)
