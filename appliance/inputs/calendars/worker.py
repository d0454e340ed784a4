"""Fetching and expanding in a process of its own.

Expanding a big feed builds hundreds of thousands of short-lived objects. In the
daemon's process that work would share the interpreter lock with the controller
thread, and its garbage collections would pause every thread for tens of
milliseconds: a key turn must never wait for a calendar (key to relay p99 < 5 ms,
docs/design.md#performance-targets). So the calendar thread hands the job to one worker
process (started by ``forkserver``, never by forking the multi-threaded daemon) and
waits; what comes back is compact (plain tuples), so taking it in costs the daemon almost
nothing.

The worker is replaced after :data:`JOBS_PER_WORKER` jobs (a feed library that leaks
cannot grow the daemon), and after a job that fails to come back in time (a worker
stuck in a pathological feed is killed, not waited for).
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from appliance.decision.layers import CalendarEntry
from appliance.errors import FeedError
from appliance.inputs.calendars.expand import Expansion, expand_feed

log = logging.getLogger(__name__)

JOBS_PER_WORKER = 50
#: Beyond the fetch's own timeout: the longest an expansion may take.
EXPAND_LIMIT_S = 60.0


def pack(entries) -> tuple:
    """Entries as plain tuples: ``(summary, mode, ordinal, ordinal)`` for all-day,
    ``(summary, mode, seconds, seconds)`` (POSIX, floats) for timed ones."""
    out = []
    for entry in entries:
        if entry.all_day:
            out.append(
                (entry.summary, entry.mode, entry.start.toordinal(), entry.end.toordinal(), True)
            )
        else:
            out.append(
                (entry.summary, entry.mode, entry.start.timestamp(), entry.end.timestamp(), False)
            )
    return tuple(out)


def unpack(packed) -> tuple:
    """The entries of :func:`pack`, timed ones in UTC."""
    out = []
    for summary, mode, start, end, all_day in packed:
        if all_day:
            out.append(CalendarEntry(summary, mode, date.fromordinal(start), date.fromordinal(end)))
        else:
            out.append(
                CalendarEntry(
                    summary,
                    mode,
                    datetime.fromtimestamp(start, timezone.utc),
                    datetime.fromtimestamp(end, timezone.utc),
                )
            )
    return tuple(out)


def digest(packed) -> str:
    """A fingerprint of packed entries: the same closures give the same text."""
    import hashlib

    return hashlib.sha256(repr(packed).encode()).hexdigest()


def job(
    cal, now_iso: str, tz_name: str, body: bytes | None = None, known: str | None = None
) -> dict:
    """Runs in the worker: fetch *cal* (unless *body* is given) and expand it.

    :param str known: the :func:`digest` of the closures the daemon holds; when the
        feed gives the same closures, neither they nor the body are sent back.
    :returns: ``{"body", "entries" (packed), "digest", "problems", "events"}``,
        ``{"same": True, ...}`` without body and entries, or ``{"error"}``.
    """
    from appliance.inputs.calendars.service import fetch_body

    tz = ZoneInfo(tz_name)
    now = datetime.fromisoformat(now_iso)
    try:
        if body is None:
            body = fetch_body(cal, now=now, tz=tz)
        # This process has one thread: it may fork a helper (calendars.helper).
        expansion = expand_feed(body, cal.rules, now=now, tz=tz, fork=True)
    except FeedError as exc:
        return {"error": str(exc)}
    packed = pack(expansion.entries)
    found = digest(packed)
    result = {"digest": found, "problems": expansion.problems, "events": expansion.events}
    if found == known:
        result["same"] = True
    else:
        result.update(body=body, entries=packed)
    return result


def _background() -> None:
    """The worker yields the CPU to the daemon (a Pi Zero has one core): a calendar can
    wait a few seconds, a key turn cannot."""
    import os

    try:
        os.nice(10)
    except OSError:  # not allowed here: the job still runs
        pass


class Worker:
    """One worker process, started on first use."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None
        self._stopped = False

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                max_tasks_per_child=JOBS_PER_WORKER,
                initializer=_background,
            )
        return self._pool

    def run(self, cal, *, now: datetime, tz_name: str, known: str | None = None):
        """Fetch and expand *cal* in the worker.

        :param str known: the digest of the closures held now.
        :returns: ``(Expansion or None, body or None, digest, problems, events)``: None
            and None when the closures are the same as *known* (nothing to take in).
        :raises FeedError: when the feed cannot be used, or the worker fails or hangs.
        """
        limit = cal.timeout_s + EXPAND_LIMIT_S
        if self._stopped:
            raise FeedError("not read: nightswitch is stopping")
        try:
            future = self._executor().submit(job, cal, now.isoformat(), tz_name, None, known)
            result = future.result(timeout=limit)
        except FutureTimeout:
            self.close(kill=True)
            raise FeedError(
                f"reading the calendar took more than {limit:g} s and was stopped"
            ) from None
        except BrokenProcessPool:
            self.close(kill=True)
            raise FeedError(
                "the calendar reader stopped unexpectedly (out of memory?); "
                "it is started again at the next refresh"
            ) from None
        if "error" in result:
            raise FeedError(result["error"])
        if result.get("same"):
            return None, None, result["digest"], result["problems"], result["events"]
        return (
            Expansion(unpack(result["entries"]), result["problems"], result["events"]),
            result["body"],
            result["digest"],
            result["problems"],
            result["events"],
        )

    def shutdown(self) -> None:
        """Kill a job under way and take no more (the daemon is stopping)."""
        self._stopped = True
        self.close(kill=True)

    def close(self, kill: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            for process in list(getattr(pool, "_processes", {}).values()):
                try:
                    process.kill()
                except Exception:  # already gone
                    pass
        pool.shutdown(wait=not kill, cancel_futures=True)
