"""What went over the wire in a PBX dialogue, as an installer reads it.

:class:`Transcript` hands a :class:`~appliance.pbx.link.PbxLink` (or
:func:`~appliance.pbx.commission.test_dialogue`) a port factory whose ports record every
byte written and read. :meth:`Transcript.lines` turns them into the conversation, one
line each, ``("sent", "CP SERVICE DISPLAY")`` or ``("received", "SERVICE: DAY")``, with
every secret replaced by ``***``: the Installer page shows it beside the test's steps.
Secrets are hidden after the bytes of one direction are joined, since a paced send
writes a password one character at a time.
"""

from __future__ import annotations

import threading

from appliance.pbx.dialogue import MASK

#: The most lines a transcript keeps for people (a runaway PBX must not fill the page).
MAX_LINES = 400


class Transcript:
    """Records the bytes of the ports it opens.

    :param secrets: texts never shown (the maintenance password).
    :param open_port: the real port factory (:func:`serial.serial_for_url` by default).
    """

    def __init__(self, secrets=(), open_port=None):
        if open_port is None:
            import serial

            open_port = serial.serial_for_url
        self._open = open_port
        self._secrets = [s for s in secrets if s]
        self._chunks: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def open_port(self, url, **kwargs):
        """A port like the real factory's, whose reads and writes are recorded."""
        return _Recording(self._open(url, **kwargs), self)

    def record(self, direction: str, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            if self._chunks and self._chunks[-1][0] == direction:
                self._chunks[-1] = (direction, self._chunks[-1][1] + bytes(data))
            else:
                self._chunks.append((direction, bytes(data)))

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def lines(self) -> list[tuple[str, str]]:
        """``[(direction, text), ...]``: ``sent`` or ``received``, each line of text
        without its line ending, blank lines left out, secrets hidden."""
        with self._lock:
            chunks = list(self._chunks)
        out = []
        for direction, data in chunks:
            text = self.mask(data.decode("latin-1"))
            for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                line = "".join(ch if ch.isprintable() else " " for ch in line).rstrip()
                if line.strip():
                    out.append((direction, line))
        if len(out) > MAX_LINES:
            out = out[:MAX_LINES] + [("note", f"... {len(out) - MAX_LINES} more lines")]
        return out


class _Recording:
    """A pyserial port that tells its :class:`Transcript` what it wrote and read."""

    def __init__(self, port, transcript: Transcript):
        self._port = port
        self._transcript = transcript

    def write(self, data):
        written = self._port.write(data)
        self._transcript.record("sent", bytes(data))
        return written

    def read(self, size=1):
        data = self._port.read(size)
        self._transcript.record("received", data)
        return data

    def __getattr__(self, name):
        return getattr(self._port, name)


__all__ = ["MAX_LINES", "Transcript"]
