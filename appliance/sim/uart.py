"""What a UART receives from a serial line driven at another speed or framing.

A pseudo-terminal moves whole bytes and has no wire: whatever speed and parity the two
ends set, every byte arrives intact. A real RS-232 line is a sequence of bits at the
sender's speed, and the receiver cuts it into characters by its own clock: at the wrong
speed it reads garbage, and with 7 data bits and parity on one side and 8 bits on the
other the parity bit becomes the top bit of each character. To make ``calls detect``
meaningful on a pty, the simulator sends every byte through this model of the wire:

* the sender frames each byte: a start bit (0), the data bits least significant first,
  the parity bit if any (even, odd, mark, space), the stop bits (1); the line rests at 1
  between characters;
* the receiver, at its own bit time, waits for the line to go low, checks the start bit
  half a bit later, samples each data bit in its middle, and delivers the byte whether or
  not the stop bit is there (pyserial switches parity checking, INPCK, off, so a Linux
  UART delivers framing and parity errors as ordinary characters).

The receiver is modelled with 8 data bits, no parity, one stop bit: that is all a Linux
pty keeps of a client's settings (it forces CS8 and clears PARENB; only the speed and
CSTOPB survive), and it is also exact for a 7E1 receiver, which samples the same ten bit
times and only drops the eighth bit. Edges are taken as exact (a real UART finds them to
1/16 of a bit); that makes the model kinder than a real line only by fractions of a bit.
"""

from __future__ import annotations

from bisect import bisect_left

PARITIES = ("none", "even", "odd", "mark", "space")


def _parity_bit(value: int, bytesize: int, parity: str) -> int | None:
    ones = bin(value & ((1 << bytesize) - 1)).count("1")
    return {"none": None, "even": ones & 1, "odd": 1 - (ones & 1), "mark": 1, "space": 0}[parity]


def frame_bits(
    data: bytes, *, bytesize: int = 8, parity: str = "none", stopbits: int = 1
) -> list[int]:
    """The line levels, one per bit time, that send *data* back to back."""
    if parity not in PARITIES:
        raise ValueError(f"parity {parity!r}: use one of " + ", ".join(PARITIES))
    bits: list[int] = []
    for byte in data:
        bits.append(0)
        bits.extend((byte >> i) & 1 for i in range(bytesize))
        p = _parity_bit(byte, bytesize, parity)
        if p is not None:
            bits.append(p)
        bits.extend([1] * stopbits)
    return bits


def receive(bits: list[int], tx_baud: int, rx_baud: int) -> bytes:
    """What an 8N1 receiver at *rx_baud* reads from *bits* sent at *tx_baud*.

    The line is idle (1) before and after *bits*.
    """
    if not bits:
        return b""
    tw, tr = 1.0 / tx_baud, 1.0 / rx_baud
    end = len(bits) * tw
    zeros = [i for i, b in enumerate(bits) if b == 0]

    def level(t: float) -> int:
        index = int(t / tw + 1e-9)
        return bits[index] if 0 <= t and index < len(bits) else 1

    out = bytearray()
    t = 0.0
    while True:
        index = int(t / tw + 1e-9)
        if index < len(bits) and bits[index] == 0:
            edge = t  # still low after the last stop bit sample
        else:
            k = bisect_left(zeros, index + 1 if index < len(bits) else len(bits))
            if k >= len(zeros):
                break
            edge = max(zeros[k] * tw, t)
        if level(edge + tr / 2) != 0:  # a glitch, not a start bit
            t = edge + tr / 2
            continue
        value = 0
        for bit in range(8):
            if level(edge + (1.5 + bit) * tr):
                value |= 1 << bit
        out.append(value)
        t = edge + 9.5 * tr  # the stop bit's middle: hunt from there
        if t >= end:
            break
    return bytes(out)


def through_the_wire(
    data: bytes,
    *,
    tx_baud: int,
    rx_baud: int,
    bytesize: int = 8,
    parity: str = "none",
    stopbits: int = 1,
) -> bytes:
    """*data* as sent with the given framing at *tx_baud* and read at *rx_baud* 8N1."""
    if tx_baud == rx_baud and bytesize == 8 and parity == "none":
        return bytes(data)  # the common case, and exact
    return receive(
        frame_bits(data, bytesize=bytesize, parity=parity, stopbits=stopbits), tx_baud, rx_baud
    )
