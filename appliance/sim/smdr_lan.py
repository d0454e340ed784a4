"""Simulated PBXs that give their call records over the LAN, on real TCP sockets.

Two ways a PBX delivers SMDR on the network, each as unkind as the real thing:

:class:`TelnetSmdrPbx`
    a Panasonic KX-TDE/NCP/NS Telnet port: Telnet option negotiation at connect, the
    ``> `` prompt, the ``smdr`` command, ``Enter password:``, then records; a wrong
    password gives the prompt again without a word (as the emulator in
    docs/pbx-families.md#panasonic-kx-tda does); typed characters are echoed, the
    password too; an empty command line ends the session. Faults: a slow prompt, a silent
    server, garbage, a connection dropped in the middle of a record, connections refused.
:class:`IpOfficeSmdr`
    IP Office's SMDR link: a TCP *client* that connects to the collector, keeps up to
    3000 records while it cannot (docs/pbx-families.md#avaya-ip-office), and sends each
    as a CSV line. Faults: a record cut in half by a dropped connection, garbage, a
    connection left half-open while a new one is made (a PBX that rebooted), a source
    address of one's choosing (for the collector's allow list).

The records are rendered by the SMDR format, as the serial simulator renders them
(:meth:`appliance.smdr.formats.SmdrFormat.render`), so what the intake reads back can be
compared field by field with what was sent. Nothing here is a PBX fact beyond the
prompts and the buffer size quoted above; the rest makes the simulator a harder test.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections import deque
from datetime import timezone

from appliance.sim.call_maker import CallMaker

log = logging.getLogger(__name__)

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SGA, TTYPE, NAWS = 1, 3, 24, 31
#: What a Telnet server typically says first: it will echo and suppress go-ahead, and
#: asks for the terminal type and window size.
NEGOTIATION = bytes([IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, TTYPE, IAC, DO, NAWS])
#: IP Office keeps this many records while the collector is away
#: (docs/pbx-families.md#avaya-ip-office).
IP_OFFICE_BUFFER = 3000


class _Session:
    def __init__(self, sock: socket.socket, peer):
        self.sock = sock
        self.peer = peer
        self.logged_in = False
        self.lock = threading.Lock()
        self.closed = False

    def send(self, data: bytes) -> bool:
        with self.lock:
            if self.closed:
                return False
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                self.closed = True
                return False

    def close(self) -> None:
        with self.lock:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()


class TelnetSmdrPbx:
    """A PBX whose SMDR is behind a Telnet login, on ``host:port`` (a free port when 0).

    ::

        with TelnetSmdrPbx(load_format("panasonic-kx-tda"), password="1234") as pbx:
            ...  # connect to pbx.port
            pbx.call(direction="in")

    :param fmt: the SMDR format the records are printed in.
    :param str password: the SMDR password it accepts.
    :param bool login_prompt: ask ``login:`` first and want the user ``SMDR``.
    :param float prompt_char_s: a pause before each character of a prompt (a slow PBX).
    :param bool negotiate: start each connection with Telnet option negotiation.
    :param stored: records the PBX has kept while nobody was logged in; sent right after
        the password is accepted.
    """

    def __init__(
        self,
        fmt,
        *,
        password: str = "pccsmdr",
        host: str = "127.0.0.1",
        port: int = 0,
        login_prompt: bool = False,
        prompt_char_s: float = 0.0,
        negotiate: bool = True,
        tz=timezone.utc,
        now=None,
        seed=None,
        stored=(),
    ):
        self.maker = CallMaker(fmt, tz, now, seed)
        self._password = password
        self.host = host
        self.port = port
        self.login_prompt = login_prompt
        self.prompt_char_s = prompt_char_s
        self.negotiate = negotiate
        self.silent = False
        self.stored = list(stored)
        self.sessions: list[_Session] = []
        self.connections = 0
        self.login_attempts = 0
        self.logins = 0
        self.lines_sent: list[str] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> TelnetSmdrPbx:
        self.accept_connections()
        return self

    def accept_connections(self) -> None:
        """Listen (again) on the same port."""
        if self._listener is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(8)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._spawn(self._accept_loop, sock)

    def refuse_connections(self) -> None:
        """Stop listening: connects are refused (the PBX's LAN card rebooting)."""
        sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self.refuse_connections()
        for session in list(self.sessions):
            session.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="sim-telnet-smdr")
        thread.start()
        self._threads.append(thread)

    # -- what a test does ---------------------------------------------------------------

    @property
    def logged_in(self) -> list[_Session]:
        return [s for s in self.sessions if s.logged_in and not s.closed]

    def call(self, **fields):
        """Print one record to every logged-in session; returns the CallRecord."""
        record = self.maker.record(**fields)
        line = self.maker.line(record)
        self.lines_sent.append(line)
        for session in self.logged_in:
            session.send(line.encode("latin-1") + b"\r\n")
        return record

    def send_raw(self, data: bytes) -> None:
        """Send *data* as it is to every logged-in session (garbage, half records)."""
        for session in self.logged_in:
            session.send(data)

    def drop(self, *, mid_record: bool = False) -> None:
        """Close every session; with *mid_record*, after half a record."""
        if mid_record:
            line = self.maker.line(self.maker.record()).encode("latin-1")
            self.send_raw(line[: len(line) // 2])
            time.sleep(0.05)
        for session in list(self.sessions):
            session.close()

    # -- the server ---------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
            except (OSError, ValueError):
                return  # the listener was closed
            if not ready:
                continue
            try:
                sock, peer = listener.accept()
            except OSError:
                return
            session = _Session(sock, peer)
            with self._lock:
                self.sessions.append(session)
                self.connections += 1
            self._spawn(self._serve, session)

    def _serve(self, session: _Session) -> None:
        reader = _LineReader(session, self._stop)
        try:
            if self.silent:
                reader.wait_closed()
                return
            if self.negotiate:
                session.send(NEGOTIATION)
            if self.login_prompt:
                while True:
                    self._prompt(session, "login: ")
                    user = reader.line(echo=True)
                    if user is None:
                        return
                    if user == "SMDR":
                        break
                    session.send(b"\r\nLogin incorrect\r\n")
            while not self._stop.is_set():
                self._prompt(session, "\r\n> ")
                command = reader.line(echo=True)
                if command is None:
                    return
                session.send(b"\r\n")
                if command == "smdr":
                    self._prompt(session, "Enter password: ")
                    password = reader.line(echo=True)  # echoed: an unkind terminal
                    if password is None:
                        return
                    session.send(b"\r\n")
                    with self._lock:
                        self.login_attempts += 1
                    if password != self._password:
                        continue  # the prompt again, no message
                    with self._lock:
                        self.logins += 1
                    for record in self.stored:
                        line = self.maker.line(record)
                        self.lines_sent.append(line)
                        session.send(line.encode("latin-1") + b"\r\n")
                    self.stored = []
                    session.logged_in = True
                    reader.wait_closed()
                    return
                if command == "q":
                    session.send(b"Goodbye.\r\n")
                    return
                if command == "help":
                    session.send(b"q, smdr")
                elif command:
                    session.send(b"no such command.")
                else:
                    session.send(b"Goodbye\r\n")  # the emulator ends on an empty line
                    return
        finally:
            session.close()

    def _prompt(self, session: _Session, text: str) -> None:
        if not self.prompt_char_s:
            session.send(text.encode())
            return
        for ch in text:
            if self._stop.wait(self.prompt_char_s):
                return
            session.send(ch.encode())


class _LineReader:
    """Reads typed lines from a Telnet client: Telnet commands dropped, echo optional."""

    def __init__(self, session: _Session, stop: threading.Event):
        self.session = session
        self.stop = stop
        self.buffer = bytearray()
        self.iac = 0  # bytes of a Telnet command still to skip

    def _recv(self) -> bytes | None:
        while not self.stop.is_set() and not self.session.closed:
            try:
                ready, _, _ = select.select([self.session.sock], [], [], 0.1)
            except (OSError, ValueError):
                return None
            if not ready:
                continue
            try:
                data = self.session.sock.recv(1024)
            except OSError:
                return None
            return data or None
        return None

    def line(self, *, echo: bool) -> str | None:
        """The next line typed (without its end), or None when the client left."""
        while True:
            for sep in (b"\r\n", b"\r\x00", b"\r", b"\n"):
                index = self.buffer.find(sep)
                if index >= 0:
                    text = bytes(self.buffer[:index])
                    del self.buffer[: index + len(sep)]
                    return text.decode("latin-1")
            data = self._recv()
            if data is None:
                return None
            clean = bytearray()
            i = 0
            while i < len(data):
                byte = data[i]
                if self.iac:
                    self.iac -= 1
                elif byte == IAC:
                    nxt = data[i + 1] if i + 1 < len(data) else None
                    self.iac = 2 if nxt in (DO, DONT, WILL, WONT) else 1
                else:
                    clean.append(byte)
                i += 1
            self.buffer += clean
            if echo and clean:
                self.session.send(bytes(clean))

    def wait_closed(self) -> None:
        while self._recv() is not None:
            pass


class IpOfficeSmdr:
    """IP Office's SMDR link: connects to ``host:port`` and sends a CSV line per call.

    :param fmt: the SMDR format (``avaya-ip-office``).
    :param source_address: the local address to connect from (``127.0.0.2`` to test an
        allow list), or None.
    :param float retry_s: the pause between attempts to connect.
    """

    def __init__(
        self,
        fmt,
        host: str,
        port: int,
        *,
        source_address: str | None = None,
        retry_s: float = 0.1,
        tz=timezone.utc,
        now=None,
        seed=None,
    ):
        self.maker = CallMaker(fmt, tz, now, seed)
        self.host = host
        self.port = port
        self.source_address = source_address
        self.retry_s = retry_s
        self.buffer: deque[bytes] = deque(maxlen=IP_OFFICE_BUFFER)
        self.sent: list[str] = []
        self.connects = 0
        self.refused = 0
        self.abandoned: list[socket.socket] = []
        self._sock: socket.socket | None = None
        self._cut_next = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> IpOfficeSmdr:
        self._thread = threading.Thread(target=self._run, daemon=True, name="sim-ipo-smdr")
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in [self._sock, *self.abandoned]:
            if sock is not None:
                sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def call(self, **fields):
        """Queue one call record (sent at once when connected); returns the CallRecord."""
        record = self.maker.record(**fields)
        with self._lock:
            self.buffer.append(self.maker.line(record).encode("utf-8") + b"\r\n")
        self._wake.set()
        return record

    def send_raw(self, data: bytes) -> None:
        """Queue raw bytes (garbage) as if they were a record."""
        with self._lock:
            self.buffer.append(data)
        self._wake.set()

    def drop_mid_record(self) -> None:
        """Send only the first half of the next record, then close the connection."""
        self._cut_next = True
        self._wake.set()

    def abandon_connection(self) -> None:
        """Leave the current connection open and silent, and make a new one: what a PBX
        that rebooted leaves behind (the collector never gets a FIN)."""
        with self._lock:
            if self._sock is not None:
                self.abandoned.append(self._sock)
                self._sock = None
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sock is None and not self._connect():
                self._stop.wait(self.retry_s)
                continue
            with self._lock:
                item = self.buffer[0] if self.buffer else None
            if item is None:
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            cut = self._cut_next
            data = item[: len(item) // 2] if cut else item
            sock = self._sock
            if sock is None:
                continue  # abandon_connection() took it just now: connect
            try:
                sock.sendall(data)
            except OSError:
                self._close_current()
                continue  # the record stays in the buffer: sent again
            if cut:
                self._cut_next = False
                with self._lock:
                    self.buffer.popleft()  # what was cut is lost, as on a real cut
                self._close_current()
                continue
            with self._lock:
                self.buffer.popleft()
            self.sent.append(item.decode("utf-8", errors="replace").rstrip("\r\n"))

    def _connect(self) -> bool:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.source_address:
                sock.bind((self.source_address, 0))
            sock.settimeout(2.0)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            self.refused += 1
            return False
        self.connects += 1
        self._sock = sock
        return True

    def _close_current(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
