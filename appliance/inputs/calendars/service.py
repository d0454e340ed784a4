"""Keeping subscribed calendars fresh, on a thread of their own.

:class:`CalendarService` fetches each ``[[calendars]]`` entry every
``refresh_minutes``, expands it, keeps the body as the last good copy in the store,
and hands each zone's closures to *publish* (the daemon passes the controller's
``set_schedule_layer``). Fetching and expanding never happen on the controller
thread: the controller only receives the finished layer.

A fetch that fails (404, timeout, refused credentials, a file that is too large or is
not iCalendar) keeps the last good copy in force and raises the ``calendar`` fault at
once, naming the calendar and the reason; the next good fetch clears it. A calendar
that has never been fetched has no closures yet, and its fault says so: nothing is
ever reopened silently.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.decision.layers import ClosureLayer
from appliance.errors import FeedError
from appliance.inputs.calendars.expand import (
    CalendarEntry,
    Expansion,
    describe_entry,
    expand_feed,
    upcoming,
    window,
)
from appliance.inputs.calendars.settings import CalendarConfig

log = logging.getLogger(__name__)


@dataclass
class CalendarState:
    """What is known of one calendar (read by the web page through
    :meth:`CalendarService.status`)."""

    config: CalendarConfig
    entries: tuple[CalendarEntry, ...] = ()
    events: int = 0
    problems: list[str] = field(default_factory=list)
    fetched_at: str | None = None  # when the copy in force was fetched (ISO)
    attempted_at: str | None = None  # the last refresh, good or not (ISO)
    error: str | None = None
    due: float = 0.0  # monotonic seconds
    refresh_s: float | None = None  # how long the last refresh took
    layer: ClosureLayer | None = None  # built once per change of entries
    digest: str | None = None  # of the entries, as the worker computes it


def fetch_body(cal, *, now: datetime, tz: ZoneInfo) -> bytes:
    """Fetch calendar *cal* (a :class:`~.settings.CalendarConfig`) once."""
    from appliance.inputs.calendars.fetch import fetch_caldav, fetch_ics

    if cal.kind == "caldav":
        start, end = window(now, tz)
        return fetch_caldav(
            cal.url,
            username=cal.username,
            password=cal.password,
            start=start,
            end=end,
            timeout=cal.timeout_s,
        )
    return fetch_ics(cal.url, timeout=cal.timeout_s, username=cal.username, password=cal.password)


class CalendarService:
    """Refreshes the calendars and publishes their closures per zone.

    :param list calendars: :class:`~appliance.inputs.calendars.settings.CalendarConfig`.
    :param store: the :class:`~appliance.store.Store` (last good copies).
    :param clock: ``now()`` for the expansion window and the times shown.
    :param publish: ``publish(zone, layers, fault)`` with a tuple of
        :class:`~appliance.decision.layers.ClosureLayer` (one per calendar of the zone,
        in config order) and a fault message or None.
    :param str timezone: the site's time zone (floating times, the window).
    :param fetch: ``fetch(cal, now=, tz=) -> bytes``; tests may pass their own.
    :param bool worker: fetch and expand in a worker process
        (:mod:`~appliance.inputs.calendars.worker`), as the daemon does, so a big feed
        never shares the interpreter with the controller thread; without it (tests, the
        CLI) the work runs on the calling thread.
    """

    def __init__(
        self,
        calendars,
        store,
        clock,
        *,
        publish,
        timezone: str,
        fetch=fetch_body,
        worker: bool = False,
    ):
        from appliance.inputs.calendars.worker import Worker

        self._worker = Worker() if worker else None
        self.store = store
        self.clock = clock
        self.publish = publish
        self.tz = ZoneInfo(timezone)
        self.fetch = fetch
        self._states = [CalendarState(cal) for cal in calendars]
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------
    def prime(self) -> None:
        """Expand each calendar's last good copy from the store and publish it, without
        fetching anything: what is in force before the first refresh (and at boot,
        before the controller decides for the first time)."""
        now = self.clock.now()
        for state in self._states:
            copy = self.store.get_calendar_copy(state.config.key)
            if copy is None:
                state.error = "not fetched yet: no closures from this calendar so far"
                continue
            try:
                expansion = expand_feed(copy["body"], state.config.rules, now=now, tz=self.tz)
            except FeedError as exc:  # a copy this version cannot read any more
                state.error = f"the stored copy cannot be used: {exc}"
                continue
            with self._lock:
                state.entries, state.events = expansion.entries, expansion.events
                state.problems, state.fetched_at = expansion.problems, copy["fetched_at"]
                state.error = None
        for zone in self.zones():
            self._publish(zone)

    def start(self) -> None:
        """Start the refresh thread; its first pass fetches every calendar at once."""
        if self._thread is None and self._states:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="calendars", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop refreshing. A fetch under way is abandoned: its worker is killed, so a
        slow server never holds up the daemon's shutdown."""
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def refresh_soon(self) -> None:
        """Make every calendar due now (the page's "refresh now")."""
        with self._lock:
            for state in self._states:
                state.due = 0.0
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for state in list(self._states):
                if self._stop.is_set():
                    return
                if state.due <= now:
                    try:
                        self.refresh(state.config.key)
                    except Exception:  # a bug here must not end the refreshes
                        log.exception("calendar %s: refresh failed", state.config.key)
            next_due = min(s.due for s in self._states)
            self._wake.wait(max(0.05, next_due - time.monotonic()))
            self._wake.clear()

    # -- refreshing -----------------------------------------------------------------------
    def zones(self) -> list[str]:
        return list(dict.fromkeys(s.config.zone for s in self._states))

    def _state(self, key: str) -> CalendarState:
        for state in self._states:
            if state.config.key == key:
                return state
        raise KeyError(key)

    def refresh(self, key: str) -> CalendarState:
        """Fetch, expand and publish calendar *key* now, on the calling thread."""
        state = self._state(key)
        cal = state.config
        started = time.monotonic()
        now = self.clock.now()
        body: bytes | None = None
        found: str | None = None
        same = False
        # the expansion, or why there is none
        outcome: Expansion | str
        try:
            if self._worker is not None:
                expansion, body, found, problems, events = self._worker.run(
                    cal, now=now, tz_name=self.tz.key, known=state.digest
                )
                if expansion is None:
                    # The same closures as held: nothing to take in, store or compare.
                    same = True
                    expansion = Expansion(state.entries, problems, events)
            else:
                body = self.fetch(cal, now=now, tz=self.tz)
                expansion = expand_feed(body, cal.rules, now=now, tz=self.tz)
            outcome = expansion
        except FeedError as exc:
            outcome = str(exc)
        except Exception as exc:  # a library bug on odd input: still a fault, never a crash
            log.exception("calendar %s: unexpected error", cal.key)
            outcome = f"unexpected error while reading the calendar: {type(exc).__name__}: {exc}"
        if isinstance(outcome, Expansion) and not same:
            try:
                self.store.save_calendar_copy(cal.key, body, source=cal.source, at=now)
            except Exception as exc:
                log.exception("calendar %s: the copy was not saved", cal.key)
                outcome = f"fetched, but the copy could not be saved: {exc}"
        with self._lock:
            state.attempted_at = now.isoformat()
            state.refresh_s = time.monotonic() - started
            state.due = time.monotonic() + cal.refresh_minutes * 60
            if isinstance(outcome, Expansion):
                # With a digest held, the worker already said whether they changed; the
                # first time (or without the worker) they are compared here.
                if not same and (state.digest is not None or outcome.entries != state.entries):
                    state.entries = outcome.entries
                state.digest = found
                state.events = outcome.events
                state.problems, state.fetched_at = outcome.problems, now.isoformat()
                state.error = None
            else:
                if state.fetched_at is None:
                    outcome += "; no closures from this calendar yet"
                else:
                    outcome += (
                        f"; the copy fetched {_short_time(state.fetched_at, self.tz)} "
                        "stays in force"
                    )
                state.error = outcome
        if isinstance(outcome, Expansion):
            log.info(
                "calendar %s: %d closures from %d events",
                cal.key,
                len(outcome.entries),
                outcome.events,
            )
        else:
            log.warning("calendar %s: %s", cal.key, outcome)
        self._publish(cal.zone)
        return state

    def _layer(self, state: CalendarState) -> ClosureLayer:
        """The state's layer, made again only when its entries changed (the controller
        then sees the same object and has nothing to compare), with its per-date index
        built here, on this thread, so the controller thread never builds it."""
        layer = state.layer
        if layer is None or layer.entries is not state.entries:
            layer = ClosureLayer("calendar", state.config.name, state.entries)
            layer.segments_on(self.clock.now().astimezone(self.tz).date(), self.tz)
            state.layer = layer
        return layer

    def _publish(self, zone: str) -> None:
        with self._lock:
            states = [s for s in self._states if s.config.zone == zone]
            layers = tuple(self._layer(s) for s in states)
            failing = [f"{s.config.name}: {s.error}" for s in states if s.error]
        try:
            self.publish(zone, layers, "; ".join(failing) if failing else None)
        except Exception:
            log.exception("calendar: publishing zone %s failed", zone)

    # -- for the web page -----------------------------------------------------------------
    def layers(self, zone: str) -> tuple:
        """The closure layers of *zone* as they are in force (for the page's preview of
        an edited, unsaved schedule)."""
        with self._lock:
            return tuple(self._layer(s) for s in self._states if s.config.zone == zone)

    def status(self, zone: str | None = None, *, count: int = 5) -> list[dict]:
        """Each calendar (of *zone*, or all): source, last refresh, the next closures it
        contributes, problems and error."""
        now = self.clock.now()
        out = []
        with self._lock:
            for state in self._states:
                cal = state.config
                if zone is not None and cal.zone != zone:
                    continue
                out.append(
                    {
                        "name": cal.name,
                        "zone": cal.zone,
                        "kind": cal.kind,
                        "source": cal.source,
                        "refresh_minutes": cal.refresh_minutes,
                        "fetched_at": state.fetched_at,
                        "attempted_at": state.attempted_at,
                        "error": state.error,
                        "problems": list(state.problems),
                        "events": state.events,
                        "closures": len(state.entries),
                        "next": [
                            {
                                "when": describe_entry(e, self.tz),
                                "summary": e.summary,
                                "mode": e.mode,
                            }
                            for e in upcoming(state.entries, now, self.tz, count)
                        ],
                    }
                )
        return out


def _short_time(iso: str, tz: ZoneInfo) -> str:
    try:
        return f"{datetime.fromisoformat(iso).astimezone(tz):%a %Y-%m-%d %H:%M}"
    except ValueError:
        return iso


def layers_from_store(calendars, store, *, now: datetime, timezone: str) -> dict:
    """``{zone: (ClosureLayer, ...)}`` from the last good copies, fetching nothing:
    what ``nightswitch preview`` shows as in force when it reads the store."""
    tz = ZoneInfo(timezone)
    found: dict[str, list] = {}
    for cal in calendars:
        copy = store.get_calendar_copy(cal.key)
        entries: tuple[CalendarEntry, ...] = ()
        if copy is not None:
            try:
                entries = expand_feed(copy["body"], cal.rules, now=now, tz=tz).entries
            except FeedError:
                entries = ()
        found.setdefault(cal.zone, []).append(ClosureLayer("calendar", cal.name, entries))
    return {zone: tuple(layers) for zone, layers in found.items()}
