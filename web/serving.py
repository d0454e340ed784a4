"""The two waitress servers of the daemon: the web port, and the command line's socket.

**The web port** (:func:`web_server`) is hardened against clients that open connections
and never finish a request, which once locked everyone out with about 110 connections
(issue 13, finding 1). Every limit is set on purpose:

* ``connection_limit`` (:data:`CONNECTION_LIMIT`): open connections in all. An idle
  connection costs waitress a file descriptor and a little memory, no thread (a thread
  is taken only once a whole request has arrived), so the limit is generous; poll() is
  used (``asyncore_use_poll``), since select() fails on descriptors above 1023;
* ``channel_timeout`` (:data:`IDLE_TIMEOUT_S`, 10 s) closes a connection idle that long,
  and ``cleanup_interval`` (:data:`CLEANUP_INTERVAL_S`, 2 s) is how often that is
  looked at, so an idle connection is gone within 12 s;
* **per client address** at most :data:`PER_ADDRESS` connections (an IPv6 /64 counts
  as one address). waitress has no such setting, so :class:`GuardedTcpServer`
  subclasses its TCP server and overrides ``handle_accept`` (the asyncore hook where a
  connection is accepted): the connection over the cap is answered ``503`` and closed
  at once, before waitress builds a channel for it. 127.0.0.1 and ::1 are exempt: the
  TLS front (nginx) connects from there on behalf of every client, and a process on the
  appliance itself could as well use the Unix socket;
* a request must arrive whole within :data:`REQUEST_DEADLINE_S`: a client that keeps a
  connection alive by sending a byte every few seconds (slow loris) is closed;
* ``max_request_body_size`` is :data:`web.MAX_BODY` (256 KB): waitress answers 413 as
  soon as it reads a larger ``Content-Length`` (or counts past it in a chunked body),
  before spooling it anywhere. Below ``inbuf_overflow`` (512 KB) a body stays in memory,
  so nothing is written to disk at all.

* at most :data:`REQUESTS_AT_ONCE` requests run the app at once (:class:`RequestGate`),
  whatever the thread count: the others wait, blocked, not queued for the interpreter.
  CPython hands its lock round every runnable thread in turn, so each web thread that
  runs Python at the moment of a key turn stretches the controller's and the worker's
  share of a millisecond by as much again; with 20 people browsing, 8 threads at once
  made the key's p99 7 ms (issue 11). Threads still matter for slow clients: a thread
  writing a reply to a slow network holds no slot.

**The command line's socket** (:func:`cli_server`) serves the same Flask app on a Unix
socket, mode 0660, owned by the service user and its group (``nightswitch``): root and
members of that group may open it, nobody else. It has its own connection map, threads
and loop, so it answers while the web port is flooded. Each request carries the peer's
user, read from the kernel (``SO_PEERCRED``), in the WSGI environ
(:data:`web.hosts.LOCAL_SOCKET`); the app treats it as the operator ``cli:<user>``.
No token is involved: the socket's permissions are the credential.
"""

from __future__ import annotations

import json
import logging
import os
import pwd
import socket
import struct
import threading
from pathlib import Path

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer, UnixWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask

from web import MAX_BODY
from web.hosts import LOCAL_SOCKET, TRUSTED_PROXIES, address_key

log = logging.getLogger(__name__)

CONNECTION_LIMIT = 400
PER_ADDRESS = 24
IDLE_TIMEOUT_S = 10
CLEANUP_INTERVAL_S = 2
REQUEST_DEADLINE_S = 30.0
WEB_THREADS = 8
REQUESTS_AT_ONCE = 2
CLI_THREADS = 2
SOCKET_MODE = 0o660
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: 68\r\n\r\n"
    b'{"error": "too many connections from your address; try again soon"}\n'
)
assert len(_REFUSED.split(b"\r\n\r\n", 1)[1]) == 68


def adjustments(**overrides) -> dict:
    """The waitress settings both servers share (see the module's text)."""
    settings = dict(
        ident="nightswitch",
        threads=WEB_THREADS,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=IDLE_TIMEOUT_S,
        cleanup_interval=CLEANUP_INTERVAL_S,
        max_request_body_size=MAX_BODY,
        asyncore_use_poll=True,
        # No X-Forwarded-* handling here: web.hosts trusts them from 127.0.0.1 only.
        clear_untrusted_proxy_headers=False,
        log_socket_errors=False,
    )
    settings.update(overrides)
    return settings


#: What waitress's own refusals say, as the API's other errors do ({"error": ...}).
_ERROR_TEXT = {
    400: "the request is malformed: {detail}",
    413: "the request body is too large; at most 256 KB is accepted",
    431: "the request's headers are too large",
}


class JsonErrorTask(ErrorTask):
    """waitress's answer to a request it refuses itself (a body over the limit, a
    malformed request line), in the API's JSON shape instead of waitress's plain text."""

    def execute(self):
        error = self.request.error
        text = _ERROR_TEXT.get(error.code, "the request was refused: {detail}")
        body = (json.dumps({"error": text.format(detail=str(error.body)[:200])}) + "\n").encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend(
            [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ]
        )
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class GuardedTcpServer(TcpWSGIServer):
    """waitress's TCP server with a cap per client address and a deadline per request."""

    channel_class = JsonErrorChannel
    per_address = PER_ADDRESS
    request_deadline = REQUEST_DEADLINE_S

    def __init__(self, *args, **kwargs):
        self.refused = 0
        self._partial: dict[int, tuple[int, float]] = {}
        super().__init__(*args, **kwargs)

    def handle_accept(self):
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn, addr = accepted
        if addr and addr[0] not in TRUSTED_PROXIES:
            key = address_key(addr[0])
            held = sum(
                1
                for ch in list(self.active_channels.values())
                if ch.addr and address_key(ch.addr[0]) == key
            )
            if held >= self.per_address:
                self.refused += 1
                if self.refused == 1 or self.refused % 1000 == 0:
                    log.warning(
                        "refused a connection from %s: it holds %d already (at most "
                        "%d per address); %d refused so far",
                        addr[0],
                        held,
                        self.per_address,
                        self.refused,
                    )
                _refuse(conn)
                return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            return
        self.channel_class(self, conn, addr, self.adj, map=self._map)

    def maintenance(self, now):
        super().maintenance(now)
        # A request still arriving after the deadline is a slow loris: close it. A
        # channel is tracked by the request object it is parsing, so a keep-alive
        # connection starts a new clock with each request.
        seen = {}
        for fd, channel in list(self.active_channels.items()):
            request = channel.request
            if request is None or channel.requests:
                continue
            ident, since = self._partial.get(fd, (id(request), now))
            if ident != id(request):
                since = now
            seen[fd] = (id(request), since)
            if now - since > self.request_deadline:
                channel.will_close = True
        self._partial = seen


def _refuse(conn: socket.socket) -> None:
    try:
        conn.setblocking(False)
        conn.send(_REFUSED)
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


_gate_of_this_request = threading.local()


class RequestGate:
    """WSGI middleware: at most *slots* calls of *app* at once (see the module's text).

    Only the call is gated: a Flask view has rendered its body by the time it returns,
    and what is left (waitress writing it, a live stream's generator) runs outside, so a
    live stream never holds a slot while it waits for its next event. A view that waits
    for something slow (a hardware test, a mail server) does so through :func:`waiting`,
    which gives the slot back meanwhile.
    """

    def __init__(self, app, slots: int):
        self.app = app
        self.slots = threading.BoundedSemaphore(slots)

    def __call__(self, environ, start_response):
        with self.slots:
            _gate_of_this_request.gate = self
            try:
                return self.app(environ, start_response)
            finally:
                _gate_of_this_request.gate = None


def waiting(function, *args, **kwargs):
    """``function(*args, **kwargs)`` with the request's :class:`RequestGate` slot given
    back while it runs: for a view that waits, not computes (an LED test of 30 s, a PBX
    dialogue test of a minute, a test alert to a slow mail server), so that nobody
    else's page waits with it. Outside a gated request it just calls."""
    gate = getattr(_gate_of_this_request, "gate", None)
    if gate is None:
        return function(*args, **kwargs)
    gate.slots.release()
    try:
        return function(*args, **kwargs)
    finally:
        gate.slots.acquire()


def web_server(app, listener: socket.socket, **overrides) -> GuardedTcpServer:
    """The web port's server on an already bound *listener* (see the module's text)."""
    app = RequestGate(app, REQUESTS_AT_ONCE)
    adj = Adjustments(**adjustments(sockets=[listener], **overrides))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    sockinfo = (listener.family, listener.type, listener.proto, listener.getsockname())
    return GuardedTcpServer(
        app,
        {},
        True,
        listener,
        dispatcher=dispatcher,
        adj=adj,
        bind_socket=False,
        sockinfo=sockinfo,
    )


# -- the command line's socket ------------------------------------------------------------


def peer_user(sock: socket.socket) -> dict:
    """``{uid, user}`` of the process at the other end of a Unix socket (SO_PEERCRED)."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
    except (OSError, AttributeError):
        return {"uid": None, "user": "unknown"}
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return {"uid": uid, "user": name}


class PeerTask(WSGITask):
    """A request from the socket, with who sent it in the environ."""

    def get_environment(self):
        environ = super().get_environment()
        environ[LOCAL_SOCKET] = self.channel.peer
        environ["REMOTE_ADDR"] = "127.0.0.1"
        return environ


class PeerChannel(JsonErrorChannel):
    task_class = PeerTask

    def __init__(self, server, sock, addr, adj, map=None):
        self.peer = peer_user(sock)
        super().__init__(server, sock, addr, adj, map)


class CliSocketServer(UnixWSGIServer):
    channel_class = PeerChannel


def cli_server(app, path: Path, *, group_of: Path | None = None) -> CliSocketServer:
    """The command line's server on a Unix socket at *path* (replacing a stale one).

    :param group_of: a directory whose group the socket takes (the data directory,
        owned by the service user and its group), so root and that group may connect.
    """
    path = Path(path)
    if path.is_socket():
        path.unlink()
    adj = Adjustments(
        **adjustments(
            unix_socket=str(path), unix_socket_perms="660", threads=CLI_THREADS, connection_limit=64
        )
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    old_umask = os.umask(0o117)  # never world-accessible, not even for a moment
    try:
        server = CliSocketServer(app, {}, True, None, dispatcher=dispatcher, adj=adj)
    finally:
        os.umask(old_umask)
    os.chmod(path, SOCKET_MODE)
    if group_of is not None and hasattr(os, "geteuid") and os.geteuid() == 0:
        try:
            st = os.stat(group_of)
            os.chown(path, st.st_uid, st.st_gid)
        except OSError as exc:
            log.warning("cannot give %s to the service's group: %s", path, exc)
    return server


def default_socket_path(data_dir: Path) -> Path:
    """Where the daemon puts the CLI's socket: systemd's runtime directory
    (``/run/nightswitch``) when it has one, else the data directory; a path too long for
    a Unix socket (107 bytes) falls back to a private directory under /tmp."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    base = Path(runtime) if runtime else Path(data_dir)
    path = base / "cli.sock"
    if len(os.fsencode(str(path))) <= 100:
        return path
    import tempfile

    return Path(tempfile.mkdtemp(prefix="nightswitch-")) / "cli.sock"


def wait_closed(server, seconds: float = 1.0) -> None:
    """Let request threads finish, then close *server* (see Appliance.stop)."""
    server.task_dispatcher.shutdown(timeout=seconds)
    server.close()


__all__ = [
    "CONNECTION_LIMIT",
    "PER_ADDRESS",
    "IDLE_TIMEOUT_S",
    "CLEANUP_INTERVAL_S",
    "GuardedTcpServer",
    "CliSocketServer",
    "cli_server",
    "web_server",
    "default_socket_path",
    "peer_user",
    "address_key",
]
