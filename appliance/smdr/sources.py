"""Where call records come from: a serial port, a Telnet login, or a PBX that connects.

``[smdr] port`` says which, as a URL:

``/dev/ttyUSB0``, ``socket://HOST:PORT``, ``rfc2217://...``
    a serial port or any pyserial URL (:class:`SerialSource`), as before;
``telnet://HOST[:PORT]``
    the appliance connects, logs in with a login dialogue (:mod:`appliance.smdr.login`;
    ``login``, ``username``, ``password`` in ``[smdr]``) and reads the records that
    follow: Panasonic KX-TDE/NCP/NS (:class:`TelnetSource`);
``listen://[ADDRESS]:PORT``
    the appliance listens and the PBX connects to it: Avaya IP Office, which is the TCP
    client of its SMDR link (:class:`ListenSource`); ``allow`` lists the addresses
    accepted.

Each source has one job: ``open(stop)`` returns an open port (pyserial's reading
interface) or raises. The intake (:mod:`appliance.smdr.intake`) does the rest the same
way for all three: framing, parsing, storing, reconnecting with backoff, counting junk.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time

import serial

from appliance.errors import DialogueError, FieldError, LoginRefused, SourceError, ValidationError
from appliance.pbx.port_settings import SerialSettings
from appliance.smdr.login import Login, LoginFailed, load_login, run_login
from appliance.smdr.telnet import NetPort, keepalive

log = logging.getLogger(__name__)

#: The login used for ``telnet://`` when the config names none.
DEFAULT_LOGIN = "panasonic-telnet"
NETWORK_KEYS = ("login", "username", "password", "allow")
#: How long a TCP connect may take.
CONNECT_TIMEOUT_S = 10.0
_URL = re.compile(
    r"^(?P<scheme>telnet|listen)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]*)"
    r"(?::(?P<port>\d{1,5}))?/?$"
)


def parse_url(text: str) -> tuple[str, str, int | None]:
    """``(kind, host, port)`` of a ``[smdr] port`` value: kind is ``serial``, ``telnet``
    or ``listen``; host and port only for the network kinds.

    :raises ValueError: a telnet:// or listen:// URL that is malformed.
    """
    if not text.startswith(("telnet://", "listen://")):
        return "serial", "", None
    m = _URL.match(text)
    if m is None:
        raise ValueError(
            "must be telnet://HOST:PORT or listen://ADDRESS:PORT "
            "(listen://:PORT listens on every address)"
        )
    host = m.group("host").strip("[]")
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not allowed; use 1 to 65535")
    return m.group("scheme"), host, port


def check(spec: dict, path: str = "smdr", *, site_dir=None) -> list[FieldError]:
    """The problems of the network keys of an ``[smdr]`` table (empty when fine): the
    port URL, ``login``, ``username``, ``password`` and ``allow``, each only where it
    applies, each error naming its key and what is allowed."""
    errors: list[FieldError] = []
    port = spec.get("port")
    if not isinstance(port, str):
        return errors  # config.py reports a missing/bad port
    try:
        kind, host, number = parse_url(port)
    except ValueError as exc:
        return [FieldError(f"{path}.port", f"{port!r} {exc}")]
    given = [k for k in NETWORK_KEYS if k in spec]
    allowed = {"serial": (), "telnet": ("login", "username", "password"), "listen": ("allow",)}[
        kind
    ]
    for key in given:
        if key not in allowed:
            where = {
                "login": "telnet://",
                "username": "telnet://",
                "password": "telnet://",
                "allow": "listen://",
            }[key]
            errors.append(
                FieldError(
                    f"{path}.{key}", f'only goes with port = "{where}..."; this port is {kind}'
                )
            )
    if kind != "serial" and spec.get("settings"):
        errors.append(
            FieldError(
                f"{path}.settings",
                f"serial settings do not apply to a network port ({port}); remove them",
            )
        )
    if kind == "telnet":
        if not host:
            errors.append(
                FieldError(
                    f"{path}.port",
                    "telnet:// needs the PBX's address, such as telnet://192.0.2.10:2300",
                )
            )
        errors += _check_login(spec, path, site_dir, number)
    if kind == "listen":
        if number is None:
            errors.append(
                FieldError(
                    f"{path}.port",
                    "listen:// needs a port, such as "
                    "listen://:33333 (the port set in the "
                    "PBX's SMDR settings)",
                )
            )
        if host:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                errors.append(
                    FieldError(
                        f"{path}.port",
                        f"{host!r} is not an IP address of "
                        "this appliance; give one, or none "
                        "(listen://:PORT) for all",
                    )
                )
        errors += _check_allow(spec.get("allow"), f"{path}.allow")
    return errors


def _check_login(spec: dict, path: str, site_dir, number) -> list[FieldError]:
    errors = []
    name = spec.get("login", DEFAULT_LOGIN)
    login = None
    if not isinstance(name, str) or not name:
        errors.append(
            FieldError(
                f"{path}.login", f"must be the name of an SMDR login (such as {DEFAULT_LOGIN!r})"
            )
        )
    else:
        try:
            login = load_login(name, _logins_dir(site_dir))
        except ValidationError as exc:
            errors += [
                FieldError(f"{path}.login", e.message if not e.field else f"{e.field}: {e.message}")
                for e in exc.errors
            ]
    if login is not None and number is None and login.port is None:
        errors.append(
            FieldError(
                f"{path}.port",
                f"the login {login.name!r} has no usual port: give one, telnet://HOST:PORT",
            )
        )
    for key in ("username", "password"):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 64 or re.search(r"[\x00-\x1f\x7f]", value):
            errors.append(
                FieldError(
                    f"{path}.{key}",
                    "must be a string of at most 64 characters without control characters",
                )
            )
    if login is not None and login.needs_password and not spec.get("password"):
        errors.append(
            FieldError(
                f"{path}.password",
                f"is required: the login {login.name!r} types a password (the PBX's SMDR password)",
            )
        )
    return errors


def _check_allow(value, path: str) -> list[FieldError]:
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        return [FieldError(path, 'must be a list of IP addresses, such as ["192.0.2.20"]')]
    errors = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError
            ipaddress.ip_address(item)
        except ValueError:
            errors.append(
                FieldError(
                    path,
                    f"{item!r} is not an IP address; list the PBX's "
                    'addresses, such as "192.0.2.20"',
                )
            )
    return errors


def _logins_dir(site_dir):
    from pathlib import Path

    return Path(site_dir) / "logins" if site_dir is not None else None


def build_source(spec: dict, settings: SerialSettings, *, read_timeout: float = 0.5, site_dir=None):
    """The source for a validated ``[smdr]`` table."""
    kind, host, number = parse_url(spec["port"])
    if kind == "telnet":
        login = load_login(spec.get("login", DEFAULT_LOGIN), _logins_dir(site_dir))
        port = number or login.port
        if port is None:  # check() refuses this table
            raise ValueError(f"{spec['port']}: no port, and the login has no usual port")
        return TelnetSource(
            host,
            port,
            login,
            username=spec.get("username", ""),
            password=spec.get("password", ""),
            read_timeout=read_timeout,
        )
    if kind == "listen":
        if number is None:  # check() refuses this table
            raise ValueError(f"{spec['port']}: listen:// needs a port")
        return ListenSource(host, number, allow=spec.get("allow"), read_timeout=read_timeout)
    return SerialSource(spec["port"], settings, read_timeout=read_timeout)


class SerialSource:
    """A serial port or pyserial URL, opened with :func:`serial.serial_for_url`."""

    kind = "serial"
    backoff = None

    def __init__(self, url: str, settings: SerialSettings, *, read_timeout: float = 0.5):
        self.url = str(url)
        self.settings = settings
        self.read_timeout = read_timeout

    def open(self, stop: threading.Event):
        return serial.serial_for_url(
            self.url, timeout=self.read_timeout, **self.settings.pyserial_kwargs()
        )

    def describe(self) -> str:
        return self.settings.describe().split(",")[0]

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        """Nothing is held between opens."""


class TelnetSource:
    """Connects to the PBX's Telnet port, logs in, and hands over the connection.

    :param login: the :class:`~appliance.smdr.login.Login` dialogue.
    :param str password: never logged; masked out of anything stored.
    """

    kind = "telnet"
    backoff = None

    def __init__(
        self,
        host: str,
        port: int,
        login: Login,
        *,
        username: str = "",
        password: str = "",
        read_timeout: float = 0.5,
    ):
        self.host = host
        self.port = port
        self.login = login
        self.username = username
        self._password = password
        self.read_timeout = read_timeout
        self.logins = 0

    @property
    def url(self) -> str:
        return f"telnet://{self.host}:{self.port}"

    def open(self, stop: threading.Event) -> NetPort:
        """Connect and log in.

        :raises SourceError: the connection failed or the login did not complete.
        :raises LoginRefused: the PBX refused the password.
        """
        try:
            sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise SourceError(f"cannot connect to {self.url}: {exc.strerror or exc}") from None
        keepalive(sock)
        port = NetPort(sock, timeout=0.05, telnet=True, name=self.url)
        try:
            self.logins += 1
            leftover = run_login(
                port, self.login, username=self.username, password=self._password, label=self.url
            )
        except LoginRefused:
            port.close()
            raise
        except (LoginFailed, DialogueError) as exc:
            port.close()
            raise SourceError(str(exc)) from None
        except BaseException:
            port.close()
            raise
        port.timeout = self.read_timeout
        port.unread(leftover)
        log.info("SMDR: logged in to %s (login %s)", self.url, self.login.name)
        return port

    def describe(self) -> str:
        return f"{self.url}, login {self.login.name}"

    def stats(self) -> dict:
        return {"logins": self.logins}

    def close(self) -> None:
        """Nothing is held between opens."""

    def __repr__(self) -> str:
        # The password is a secret: never in a repr.
        return f"<TelnetSource {self.url} login={self.login.name}>"


class ListenSource:
    """Listens on a TCP port; the PBX connects (IP Office is its SMDR link's client).

    The listening socket stays open for the intake's life, so the PBX can reconnect at
    any time. A connection from an address not in *allow* is closed at once (and
    counted). A new connection from the PBX replaces the current one, because a PBX that
    rebooted or lost its network leaves its old connection half-open, silent forever.

    :param str host: the local address to listen on ("" = every address).
    :param allow: the addresses accepted, or None for any.
    """

    kind = "listen"
    #: Reopening is waiting for the PBX to connect, so do not wait before it.
    backoff = (0.05, 0.5)

    def __init__(self, host: str, port: int, *, allow=None, read_timeout: float = 0.5):
        self.host = host
        self.port = port
        self.allow = {ipaddress.ip_address(a) for a in allow} if allow else None
        self.read_timeout = read_timeout
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.accepted = 0
        self.refused = 0
        self.peer: str | None = None
        self._last_refused_log = 0.0

    @property
    def url(self) -> str:
        return f"listen://{self.host or ''}:{self.port}"

    @property
    def address(self) -> tuple[str, int] | None:
        """The bound address (the real port when ``port`` was 0), once listening."""
        if self._listener is None:
            return None
        return self._listener.getsockname()[:2]

    def listen(self) -> socket.socket:
        """Bind and listen (once); raises SourceError if the port is taken."""
        with self._lock:
            if self._listener is None:
                family = socket.AF_INET6 if ":" in (self.host or "") else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host or ("::" if family == socket.AF_INET6 else ""), self.port))
                    sock.listen(4)
                except OSError as exc:
                    sock.close()
                    raise SourceError(
                        f"cannot listen on {self.url}: {exc.strerror or exc}"
                    ) from None
                sock.setblocking(False)
                self._listener = sock
            return self._listener

    def open(self, stop: threading.Event) -> NetPort | None:
        """Wait for the PBX to connect (returns None when *stop* is set)."""
        import select

        listener = self.listen()
        while not stop.is_set():
            ready, _, _ = select.select([listener], [], [], min(self.read_timeout, 0.5))
            if not ready:
                continue
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise SourceError(f"{self.url}: accept failed: {exc}") from None
            if not self._allowed(peer[0]):
                self.refused += 1
                sock.close()
                now = time.monotonic()
                if now - self._last_refused_log > 60:
                    self._last_refused_log = now
                    log.warning("SMDR: refused a connection from %s: not in smdr.allow", peer[0])
                continue
            keepalive(sock)
            self.accepted += 1
            self.peer = f"{peer[0]}:{peer[1]}"
            log.info("SMDR: %s connected to %s", self.peer, self.url)
            return NetPort(
                sock,
                timeout=self.read_timeout,
                name=f"{self.url} from {self.peer}",
                interrupt=listener,
            )
        return None

    def _allowed(self, address: str) -> bool:
        if self.allow is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        return ip in self.allow or (mapped is not None and mapped in self.allow)

    def describe(self) -> str:
        return self.url

    def stats(self) -> dict:
        return {"accepted": self.accepted, "refused_connections": self.refused, "peer": self.peer}

    def close(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
