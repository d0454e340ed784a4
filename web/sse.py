"""Live status for the page: server-sent events at ``/api/v1/events``.

The controller pushes a zone's status into every subscriber's queue whenever it changes
(a key turn, a switch, a verification); this stream forwards each one as an
``event: status`` whose data is the status JSON (the shape of ``GET /status``,
docs/API.md#get-status, with ``zone``). On connect it first sends every zone's current
status, so a page is in step without a second request.

Each open stream holds one of waitress's worker threads, so streams are bounded
(``NIGHTSWITCH_MAX_STREAMS``, 4 by default; beyond that 503 and the page falls back to
polling), a comment line every few seconds finds closed connections, and a stream ends
after ``NIGHTSWITCH_STREAM_SECONDS``; the browser's EventSource reconnects by itself.
"""

from __future__ import annotations

import json
import queue
import threading
import time

from flask import Blueprint, Response, current_app

from web.auth import appliance, require
from web.errors import ApiError

bp = Blueprint("sse", __name__, url_prefix="/api/v1")


class _Streams:
    """Counts open streams, under a lock."""

    def __init__(self, limit: int):
        self.limit = limit
        self.open = 0
        self.closing = False
        self.bodies: set[StatusStream] = set()
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.closing or self.open >= self.limit:
                return False
            self.open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open -= 1

    def add(self, body: StatusStream) -> None:
        with self._lock:
            self.bodies.add(body)

    def discard(self, body: StatusStream) -> None:
        with self._lock:
            self.bodies.discard(body)

    def end_all(self) -> None:
        """End every open stream at once and refuse new ones: the appliance is stopping,
        and a stream left waiting for its next event would outlive the server's
        wake-up pipe (waitress then logs a traceback for each)."""
        with self._lock:
            self.closing = True
            bodies = list(self.bodies)
        for body in bodies:
            body.wake()


def end_streams(app) -> None:
    """End the live event streams of *app* (the daemon's stop, before waitress's)."""
    streams = app.extensions.get("nightswitch.streams")
    if streams is not None:
        streams.end_all()


def _streams() -> _Streams:
    app = current_app
    streams = app.extensions.get("nightswitch.streams")
    if streams is None:
        streams = app.extensions.setdefault(
            "nightswitch.streams", _Streams(int(app.config["NIGHTSWITCH_MAX_STREAMS"]))
        )
    return streams


#: Put into a stream's queue to end it.
_END = object()


def format_event(status: dict) -> str:
    """One server-sent event carrying *status*."""
    return "event: status\ndata: " + json.dumps(status, separators=(",", ":")) + "\n\n"


class StatusStream:
    """The body of one event stream: an iterable that always gives its slot back.

    Waitress calls :meth:`close` when the client goes or the stream ends, even if the
    body was never iterated (a generator's ``finally`` would not run then).
    """

    def __init__(self, ctl, streams: _Streams, *, seconds: float, heartbeat: float):
        self.ctl = ctl
        self.streams = streams
        self.seconds = seconds
        self.heartbeat = heartbeat
        self.queue = ctl.subscribe()
        self._closed = False
        streams.add(self)

    def __iter__(self):
        yield "retry: 2000\n\n"
        for name in self.ctl.zone_names():
            yield format_event(self.ctl.status(name))
        deadline = time.monotonic() + self.seconds
        while not self._closed and not self.streams.closing:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                snap = self.queue.get(timeout=min(self.heartbeat, left))
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            if snap is _END:
                return
            yield format_event(snap)

    def wake(self) -> None:
        """Make the stream look at :attr:`_Streams.closing` now, not at its next event."""
        try:
            self.queue.put_nowait(_END)
        except queue.Full:
            pass  # it has events waiting: it looks at the flag after the next one

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.ctl.unsubscribe(self.queue)
            self.streams.discard(self)
            self.streams.release()


@bp.route("/events", methods=["GET"])
@require("viewer", public=True)
def events():
    ctl = appliance()
    streams = _streams()
    if not streams.acquire():
        raise ApiError(
            503,
            f"too many live connections (at most {streams.limit}); poll "
            "/api/v1/status instead or close another page",
            headers={"Retry-After": "10"},
        )
    try:
        body = StatusStream(
            ctl,
            streams,
            seconds=float(current_app.config["NIGHTSWITCH_STREAM_SECONDS"]),
            heartbeat=float(current_app.config["NIGHTSWITCH_HEARTBEAT_SECONDS"]),
        )
    except BaseException:
        streams.release()
        raise
    response = Response(body, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


__all__ = ["bp", "end_streams", "format_event", "StatusStream"]
