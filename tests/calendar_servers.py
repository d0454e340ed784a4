"""Real servers for the calendar tests, on 127.0.0.1 and a free port.

- :class:`FeedServer`: Python's own HTTP server serving the fixture feeds, and the
  unkind answers a real one gives: a 404, an answer slower than any timeout, a web
  page where a calendar was expected, 50 MB of junk, a login that refuses, and a feed
  whose answer the test can switch (good, then failing, then good again).
- :class:`RadicaleServer`: Radicale (the CalDAV server from PyPI) in its own process,
  with or without authentication, holding the fixture calendars. A CalDAV server
  refuses a file that holds two different event UIDs, so :func:`split_by_uid` uploads
  each event (with its moved occurrences and time zones) as a file of its own.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.appliance_helpers import free_port

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "calendars"
USER, PASSWORD = "facilities", "s3cret-Password"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "TestFeeds/1"

    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        feeds: FeedServer = self.server.feeds
        feeds.hits.append(self.path)
        path = self.path.split("?")[0]
        if path == "/missing.ics":
            return self._send(404, b"Not Found", "text/plain")
        if path == "/slow.ics":
            time.sleep(feeds.slow_s)
            return self._send(200, (FIXTURES / "outlook.ics").read_bytes())
        if path == "/drip.ics":
            # Headers at once, then one byte at a time: each read is quick, the whole is not.
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            try:
                for byte in (FIXTURES / "outlook.ics").read_bytes()[:200]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if path == "/garbage.ics":
            return self._send(
                200, b"<!DOCTYPE html><html><body>Sign in to continue</body></html>", "text/html"
            )
        if path == "/huge.ics":
            return self._huge()
        if path == "/private.ics":
            wanted = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != wanted:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="calendar"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return self._send(200, (FIXTURES / "outlook.ics").read_bytes())
        if path == "/switchable.ics":
            status, body = feeds.switchable
            return self._send(status, body)
        name = path.lstrip("/")
        if name in feeds.extra:
            return self._send(200, feeds.extra[name])
        if name.endswith(".ics") and (FIXTURES / name).is_file():
            return self._send(200, (FIXTURES / name).read_bytes())
        return self._send(404, b"Not Found", "text/plain")

    def _send(self, status, body: bytes, ctype="text/calendar; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _huge(self):
        # 50 MB that claims to be a calendar, sent without a Content-Length (chunked
        # servers do not announce a size), so only the reader's own count can stop it.
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        line = b"BEGIN:VCALENDAR\r\n" + b"X-FILLER:" + b"x" * 1000 + b"\r\n"
        block = line * 1024
        try:
            for _ in range(50):
                self.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            pass


class FeedServer:
    """The fixture feeds over HTTP on 127.0.0.1 (a context manager)."""

    def __init__(self, *, slow_s: float = 5.0):
        self.slow_s = slow_s
        self.hits: list[str] = []
        self.extra: dict[str, bytes] = {}
        self.switchable = (200, (FIXTURES / "outlook.ics").read_bytes())
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.feeds = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- Radicale -----------------------------------------------------------------------------


def split_by_uid(text: str) -> dict[str, str]:
    """One iCalendar text per event UID (master and moved occurrences together), each
    with every ``VTIMEZONE`` of the original, as a CalDAV server wants them."""
    import icalendar

    calendar = icalendar.Calendar.from_ical(text)
    zones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    by_uid: dict[str, list] = {}
    for component in calendar.subcomponents:
        if component.name == "VEVENT":
            by_uid.setdefault(str(component["UID"]), []).append(component)
    out = {}
    for uid, events in by_uid.items():
        part = icalendar.Calendar()
        # X-WR-TIMEZONE too: Google's series stored in UTC mean local time by it.
        for key in ("PRODID", "VERSION", "CALSCALE", "X-WR-TIMEZONE"):
            if key in calendar:
                part[key] = calendar[key]
        part.setdefault("VERSION", "2.0")
        part.setdefault("PRODID", "-//nightswitch tests//EN")
        for component in zones + events:
            part.add_component(component)
        out[uid] = part.to_ical().decode()
    return out


class RadicaleServer:
    """Radicale in a process of its own on 127.0.0.1 (a context manager).

    :param Path root: a directory for its storage and config.
    :param bool auth: require HTTP basic authentication (htpasswd, plain) for
        :data:`USER` / :data:`PASSWORD`.
    """

    def __init__(self, root: Path, *, auth: bool):
        self.root = Path(root)
        self.auth = auth
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.user = USER

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calendar_url(self, name: str) -> str:
        return f"{self.base}/{self.user}/{name}/"

    def __enter__(self) -> RadicaleServer:
        storage = self.root / "collections"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.root / "radicale.conf"
        lines = [
            "[server]",
            f"hosts = 127.0.0.1:{self.port}",
            "[storage]",
            f"filesystem_folder = {storage}",
            "[logging]",
            "level = warning",
            "[web]",
            "type = none",
            "[auth]",
        ]
        if self.auth:
            users = self.root / "users"
            users.write_text(f"{USER}:{PASSWORD}\n")
            lines += [
                "type = htpasswd",
                f"htpasswd_filename = {users}",
                "htpasswd_encryption = plain",
                "[rights]",
                "type = owner_only",
            ]
        else:
            # No login at all: Radicale takes the user from nothing, so anyone may read
            # and write (as a careless home server is set up).
            lines += ["type = none", "[rights]", "type = authenticated"]
        config.write_text("\n".join(lines) + "\n")
        self.log = open(self.root / "radicale.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self._request("OPTIONS", "/")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "Radicale did not start: "
                        + (self.root / "radicale.log").read_text()[-2000:]
                    ) from None
                time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        self.log.close()

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = dict(headers or {})
            if self.auth:
                headers["Authorization"] = (
                    "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                )
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def add_calendar(self, name: str, ics_text: str) -> str:
        """Make calendar *name* and upload each event of *ics_text* into it; returns
        the calendar's URL."""
        path = f"/{self.user}/{name}/"
        # The user's own collection first (Radicale makes it at a login; a server
        # without logins has none).
        self._request("MKCOL", f"/{self.user}/")
        status, body = self._request("MKCALENDAR", path)
        if status not in (201, 405):
            raise RuntimeError(f"MKCALENDAR {path}: {status} {body[:300]!r}")
        for uid, text in split_by_uid(ics_text).items():
            safe = "".join(c if c.isalnum() else "-" for c in uid)[:80]
            status, body = self._request(
                "PUT",
                f"{path}{safe}.ics",
                text.encode(),
                {"Content-Type": "text/calendar; charset=utf-8"},
            )
            if status not in (201, 204):
                raise RuntimeError(f"PUT {uid}: {status} {body[:300]!r}")
        return self.calendar_url(name)

    def try_put_whole(self, name: str, ics_text: str) -> int:
        """PUT a whole multi-UID file as one object: what a real server refuses."""
        status, _ = self._request(
            "PUT",
            f"/{self.user}/{name}/whole.ics",
            ics_text.encode(),
            {"Content-Type": "text/calendar; charset=utf-8"},
        )
        return status
