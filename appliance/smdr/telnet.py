"""A TCP connection that looks like a pyserial port, with the Telnet protocol handled.

PBXs that give their call records over the LAN do it on a plain TCP socket (IP Office,
OfficeServ) or on a Telnet server after a login (Panasonic KX-TDE/NCP/NS). Both the
dialogue engine (:class:`appliance.pbx.dialogue.Dialogue`) and the intake read "a port":
``read(n)`` waiting up to ``timeout``, ``in_waiting``, ``write``, ``flush``, ``close``.
:class:`NetPort` gives them that over a socket, so the same code reads a serial cable and
the network.

With ``telnet=True`` it speaks just enough Telnet (RFC 854) to stay out of the way: every
option the server offers or asks for is refused (``DONT``/``WONT``), subnegotiations are
skipped, an escaped ``IAC IAC`` is a data byte 0xFF, and ``IAC`` in what we send is
escaped. The option bytes never reach the framer, so they cannot turn into junk lines.
A state machine carries an ``IAC`` sequence cut in half by a read over to the next read.

A connection is also watched for death: TCP keepalive is switched on with short
intervals, so a PBX that lost power (no FIN, no RST) is noticed in about two minutes
instead of never; the end of the stream raises :class:`ConnectionClosed`, which the
intake treats as a port failure and reconnects.
"""

from __future__ import annotations

import select
import socket

import serial

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
#: Keepalive: first probe after this many idle seconds, then every interval, give up after
#: this many unanswered probes.
KEEPALIVE = (60, 10, 5)


class ConnectionClosed(serial.SerialException):
    """The other end closed the connection (or it broke)."""


def keepalive(
    sock: socket.socket,
    idle: int = KEEPALIVE[0],
    interval: int = KEEPALIVE[1],
    count: int = KEEPALIVE[2],
) -> None:
    """Switch TCP keepalive on for *sock*, where the platform allows it."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass


class NetPort:
    """An open TCP connection with pyserial's reading interface.

    :param sock: a connected socket (it is made non-blocking; this object owns it).
    :param float timeout: how long :meth:`read` waits for the first byte.
    :param bool telnet: handle Telnet commands (see the module docstring).
    :param str name: what to call the connection in messages (``telnet://host:port``).
    :param interrupt: a socket or file descriptor that, when readable, makes :meth:`read`
        raise :class:`Interrupted` (the listening socket of a collector, so that a new
        connection from the PBX replaces a dead one).
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        timeout: float = 0.5,
        telnet: bool = False,
        name: str = "tcp",
        interrupt=None,
    ):
        self.sock = sock
        self.sock.setblocking(False)
        self.timeout = timeout
        self.telnet = telnet
        self.name = name
        self.interrupt = interrupt
        self._data = bytearray()  # decoded data not yet read
        self._state = "data"  # telnet parser: data, iac, option, sb, sb_iac
        self._verb = 0
        self._closed = False
        self.bytes_in = 0

    # -- what pyserial ports offer -------------------------------------------------------

    @property
    def in_waiting(self) -> int:
        self._pump(0)
        return len(self._data)

    def read(self, size: int = 1) -> bytes:
        """Up to *size* bytes; waits up to ``timeout`` for the first one.

        :raises ConnectionClosed: the other end closed or the connection broke.
        :raises Interrupted: the interrupt socket became readable.
        """
        if not self._data:
            self._pump(self.timeout)
        out = bytes(self._data[:size])
        del self._data[:size]
        return out

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ConnectionClosed(f"{self.name}: the connection is closed")
        if self.telnet:
            data = bytes(data).replace(bytes([IAC]), bytes([IAC, IAC]))
        self._send(data)
        return len(data)

    def flush(self) -> None:
        """Writes go straight to the socket; nothing to flush."""

    def cancel_read(self) -> None:
        """Make a waiting :meth:`read` return (stop() of the intake)."""
        self.timeout = 0

    def unread(self, data: bytes) -> None:
        """Put *data* back in front of what :meth:`read` returns next (the records a login
        read past its last prompt)."""
        self._data[:0] = data

    def reset_input_buffer(self) -> None:
        self._pump(0)
        self._data.clear()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    @property
    def is_open(self) -> bool:
        return not self._closed

    def __repr__(self) -> str:
        return f"<NetPort {self.name} {'closed' if self._closed else 'open'}>"

    # -- the socket ----------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                select.select([], [self.sock], [], 1.0)
                continue
            except OSError as exc:
                self.close()
                raise ConnectionClosed(f"{self.name}: cannot send: {exc}") from None
            view = view[sent:]

    def _pump(self, timeout: float) -> None:
        """Receive what is there (waiting up to *timeout* for something) and decode it."""
        if self._closed:
            raise ConnectionClosed(f"{self.name}: the connection is closed")
        watch = [self.sock] + ([self.interrupt] if self.interrupt is not None else [])
        try:
            ready, _, _ = select.select(watch, [], [], max(timeout, 0))
        except (OSError, ValueError) as exc:
            self.close()
            raise ConnectionClosed(f"{self.name}: {exc}") from None
        if self.sock not in ready:
            # The old connection had nothing more to say: only now may a waiting new one
            # replace it, so that no byte already sent on it is lost.
            if self.interrupt is not None and self.interrupt in ready and not self._data:
                raise Interrupted(f"{self.name}: another connection is waiting")
            return
        try:
            chunk = self.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self.close()
            raise ConnectionClosed(f"{self.name}: the connection broke: {exc}") from None
        if not chunk:
            self.close()
            raise ConnectionClosed(f"{self.name}: the other end closed the connection")
        self.bytes_in += len(chunk)
        self._data += self._decode(chunk) if self.telnet else chunk

    def _decode(self, chunk: bytes) -> bytes:
        """Data bytes of *chunk*, with Telnet commands answered and removed."""
        out = bytearray()
        replies = bytearray()
        for byte in chunk:
            state = self._state
            if state == "data":
                if byte == IAC:
                    self._state = "iac"
                else:
                    out.append(byte)
            elif state == "iac":
                if byte == IAC:
                    out.append(IAC)
                    self._state = "data"
                elif byte in (DO, DONT, WILL, WONT):
                    self._verb = byte
                    self._state = "option"
                elif byte == SB:
                    self._state = "sb"
                else:  # NOP, GA, AYT ...: a command without option
                    self._state = "data"
            elif state == "option":
                if self._verb == DO:
                    replies += bytes([IAC, WONT, byte])
                elif self._verb == WILL:
                    replies += bytes([IAC, DONT, byte])
                self._state = "data"
            elif state == "sb":
                if byte == IAC:
                    self._state = "sb_iac"
            elif state == "sb_iac":
                self._state = "data" if byte == SE else "sb"
        if replies:
            self._send(bytes(replies))
        return bytes(out)


class Interrupted(serial.SerialException):
    """A waiting read was interrupted: another connection wants to replace this one."""
