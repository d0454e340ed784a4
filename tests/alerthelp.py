"""Real servers for the alert tests: an SMTP server (aiosmtpd, in this process) and an
HTTP server that takes webhooks, both on 127.0.0.1 on a free port.

Both are as unkind as the real thing when asked: the SMTP server can be stopped (the
port then refuses connections) and started again on the same port; the webhook server
can answer 500 or hang past the client's time-out.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller as SmtpController

from tests.appliance_helpers import free_port


class SmtpSink:
    """An aiosmtpd server collecting each message as an :class:`email.message.EmailMessage`."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list = []
        self.envelopes: list = []
        self._controller = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self._controller = SmtpController(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}/?to=facilities@example.com&from=pbx@example.com"

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.messages]

    def events(self) -> list[str]:
        """``X-Nightswitch-Event`` of each message: ``"clock start"``..."""
        with self._lock:
            return [str(m["X-Nightswitch-Event"]) for m in self.messages]


class WebhookSink:
    """An HTTP server that records each POSTed JSON body.

    :attr status: the answer to give (200; 500 to play a broken receiver).
    """

    def __init__(self):
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.status = 200
        self.delay_s = 0.0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if sink.delay_s:
                    time.sleep(sink.delay_s)
                if sink.status == 200:
                    sink.bodies.append(json.loads(body))
                    sink.headers.append(dict(self.headers))
                self.send_response(sink.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if sink.status == 200 else b"receiver broken")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> WebhookSink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[str]:
        return [f"{b['event']} {b['phase']}" for b in self.bodies]


def alerts_toml(*targets: tuple[str, str, list | None], **settings) -> str:
    """An ``[alerts]`` table with ``[[alerts.targets]]`` of ``(name, url, events)``."""
    lines = ["[alerts]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    for name, url, events in targets:
        lines += ["[[alerts.targets]]", f'name = "{name}"', f'url = "{url}"']
        if events is not None:
            lines.append(f"events = {json.dumps(events)}")
    return "\n".join(lines) + "\n"
