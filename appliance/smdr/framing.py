"""Bytes from the SMDR port in, lines out.

Framing is kept apart from parsing (as pyserial's ``threaded.LineReader`` keeps it): the
:class:`LineFramer` only decides where one record ends and the next begins, and cleans
what no format wants, so that the parser sees one tidy line at a time. What PBXs send,
from docs/pbx-families.md#stream-hygiene:

* line ends as CR LF, LF, CR alone (Panasonic's "NL code" may be CR) or LF CR;
* NUL bytes at arbitrary positions (Meridian TTY), or a NUL at the end of each record
  (Samsung OfficeServ over TCP): the format chooses ``nul = "strip"`` or ``"end"``;
* a form feed before each page header (Samsung, Panasonic page breaks);
* STX ... ETX around each record (NEC NEAX), often with no line end at all;
* XON/XOFF and other control characters from printer-minded ports;
* 7-bit data with parity read as 8-bit: with the port at 8N1 and the PBX at 7E1, every
  other character has its top bit set. SMDR is ASCII, so the top bit is cleared by default
  and such a line still reads right.

Empty lines are dropped: they carry nothing. A line longer than ``max_line`` characters is
cut there and the rest up to the next line end is discarded, so a port spewing garbage
without line ends costs bounded memory; :attr:`FramedLine.dropped` says how much was cut
so the intake can keep the line as unparsed with that reason.
"""

from __future__ import annotations

from typing import NamedTuple

NUL, STX, ETX, LF, FF, CR = 0x00, 0x02, 0x03, 0x0A, 0x0C, 0x0D
TAB = 0x09

#: Characters that end a line whatever the format: CR, LF, FF, STX, ETX.
_BREAKS = frozenset((CR, LF, FF, STX, ETX))


class FramedLine(NamedTuple):
    """One line out of the framer.

    :param str text: the line, without its line end and without control characters.
    :param int dropped: characters cut off because the line was longer than the limit.
    """

    text: str
    dropped: int = 0


class LineFramer:
    """Turns a byte stream into :class:`FramedLine` objects, incrementally.

    Feed it whatever the port returned, in chunks of any size; it keeps at most
    *max_line* characters between calls.

    :param int max_line:
        The longest line kept, in characters (the longest documented SMDR record is
        Samsung's 154 characters; 512 leaves room for site formats).
    :param str nul:
        ``"strip"`` removes NULs wherever they are; ``"end"`` treats a NUL as the end of a
        record.
    :param bool ascii7:
        Clear the top bit of every byte (see the module notes). Turn it off only for a PBX
        that prints Latin-1 names.
    """

    def __init__(self, max_line: int = 512, *, nul: str = "strip", ascii7: bool = True):
        if max_line < 16:
            raise ValueError("max_line must be at least 16 characters")
        if nul not in ("strip", "end"):
            raise ValueError('nul must be "strip" or "end"')
        self.max_line = max_line
        self.nul_ends = nul == "end"
        self.ascii7 = ascii7
        self._buf = bytearray()
        self._dropped = 0
        breaks = set(_BREAKS) | ({NUL} if self.nul_ends else set())
        # One translate pass clears the top bit, turns every break into LF and deletes
        # every other control character (XON, XOFF, BEL, ESC, stray NULs): the framer
        # stays far faster than any port.
        table = bytearray(range(256))
        delete = bytearray()
        for b in range(256):
            c = b & 0x7F if ascii7 else b
            if c in breaks:
                table[b] = LF
            elif (c < 0x20 and c != TAB) or c == 0x7F:
                delete.append(b)
            else:
                table[b] = c
        self._table = bytes(table)
        self._delete = bytes(delete)

    def feed(self, data: bytes) -> list[FramedLine]:
        """Add *data* from the port; return the lines it completed."""
        if not data:
            return []
        clean = bytes(data).translate(self._table, self._delete)
        out: list[FramedLine] = []
        pieces = clean.split(b"\n")
        for piece in pieces[:-1]:
            self._append(piece)
            line = self._take()
            if line is not None:
                out.append(line)
        self._append(pieces[-1])
        return out

    def flush(self) -> list[FramedLine]:
        """Return the unfinished line, if any (the port closed, or went quiet)."""
        line = self._take()
        return [] if line is None else [line]

    @property
    def pending(self) -> int:
        """Characters waiting for their line end."""
        return len(self._buf)

    def _append(self, piece: bytes) -> None:
        room = self.max_line - len(self._buf)
        if len(piece) <= room:
            self._buf += piece
        else:
            self._buf += piece[: max(room, 0)]
            self._dropped += len(piece) - max(room, 0)

    def _take(self) -> FramedLine | None:
        text = self._buf.decode("latin-1")
        dropped = self._dropped
        self._buf.clear()
        self._dropped = 0
        if not text.strip():
            return None
        return FramedLine(text, dropped)


def frame_bytes(data: bytes, **options) -> list[FramedLine]:
    """Frame a whole capture at once (``calls import``, tests): every line, the last one
    even without its line end."""
    framer = LineFramer(**options)
    return framer.feed(data) + framer.flush()
