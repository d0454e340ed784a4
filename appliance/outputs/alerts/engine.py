"""The alert engine: a subscriber of the controller's snapshots, and one sender per target.

::

    controller.subscribe() ──► AlertEngine thread ──► rules.conditions / rules.track
                                   │                        │
       SMDR intake stats ──────────┤                        ▼
       store (override, review) ───┘           store.alert_transition (state + outbox,
                                               one transaction)
                                                            │
                                  one Delivery thread per target ◄┘ ──► mail / webhook

Nothing here runs on the controller thread or waits for it, except
:meth:`Controller.set_external_fault` when the SMDR port's state changes (a call that
only sets a dict entry and publishes). A mail server that is down, slow or refusing
costs the sender thread its time-out and nothing else: the switch never waits for it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.decision.decide import next_schedule_change
from appliance.errors import DeliveryError
from appliance.outputs.alerts import messages as texts
from appliance.outputs.alerts.review import zone_warnings
from appliance.outputs.alerts.rules import ZoneFacts, conditions, track
from appliance.outputs.alerts.senders import sender_for
from appliance.outputs.alerts.settings import AlertsConfig
from appliance.smdr import callbacks as cb
from appliance.smdr.health import port_problem

log = logging.getLogger(__name__)

#: First retry after a failed delivery; it doubles up to BACKOFF_MAX_S.
BACKOFF_MIN_S = 30.0
BACKOFF_MAX_S = 30 * 60.0
#: A message not delivered after this long is given up (and the giving up audited).
GIVE_UP = timedelta(hours=72)
#: After a start, alerts left open are not resolved before this many seconds: the
#: controller finds some faults (a link, a confirmation) only by trying.
STARTUP_GRACE_S = 120.0


def backoff_s(attempts: int, low: float = BACKOFF_MIN_S, high: float = BACKOFF_MAX_S) -> float:
    """The wait after the *attempts*-th failure: *low*, doubling, at most *high*."""
    return min(high, low * 2 ** max(0, attempts - 1))


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class AlertEngine:
    """Watches the controller and the SMDR intake; queues and delivers alerts.

    :param controller: the running :class:`~appliance.control.controller.Controller`
        (its ``config.alerts``, ``store`` and ``clock`` are used).
    :param intake: the :class:`~appliance.smdr.intake.SmdrIntake`, or None.
    :param float tick_s: real seconds between evaluations when no snapshot arrives (the
        time-based rules: a link down N minutes, a reminder, the morning list).
    :param float startup_grace_s: see :data:`STARTUP_GRACE_S`.
    :param tuple backoff: first and longest wait between delivery attempts, in seconds.
    """

    def __init__(
        self,
        controller,
        *,
        intake=None,
        tick_s: float = 5.0,
        startup_grace_s: float = STARTUP_GRACE_S,
        backoff: tuple[float, float] = (BACKOFF_MIN_S, BACKOFF_MAX_S),
    ):
        self.controller = controller
        self.config = controller.config
        self.settings = getattr(self.config, "alerts", None) or AlertsConfig()
        self.store = controller.store
        self.clock = controller.clock
        self.tz = ZoneInfo(self.config.timezone)
        self.intake = intake
        self.tick_s = tick_s
        self.startup_grace_s = startup_grace_s
        self.backoff = backoff
        self.targets = {t.name: t for t in self.settings.targets}
        self.senders = {
            name: sender_for(t, timeout=self.settings.timeout_s) for name, t in self.targets.items()
        }
        self._states: dict[str, dict] = {}
        self._key_seen: dict[str, tuple] = {}
        self._override_seen: dict[str, tuple] = {}
        self._smdr_fault: str | None = None
        self._memory: dict[str, deque] = {name: deque() for name in self.targets}
        self._wakes = {name: threading.Event() for name in self.targets}
        self._force = dict.fromkeys(self.targets, False)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queue: queue.Queue | None = None
        self._started_mono: float | None = None
        self._started_at: datetime | None = None
        self._reports_done: dict[str, str] = {}
        self.evaluations = 0

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._started_mono = self.clock.monotonic()
        self._started_at = self.clock.now()
        try:
            self._states = self.store.alert_states()
        except Exception:  # a failing store must not stop the daemon; faults still show
            log.exception("alerts: cannot read the open alerts; starting with none")
        self._queue = self.controller.subscribe()
        self._spawn(self._run, "alerts")
        for name in self.targets:
            self._spawn(lambda n=name: self._deliver_loop(n), f"alerts-{name}")

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for wake in self._wakes.values():
            wake.set()
        if self._queue is not None:
            self.controller.unsubscribe(self._queue)
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def wake(self) -> None:
        """Evaluate now (a test, or the page after a review)."""
        if self._queue is not None:
            try:
                self._queue.put_nowait({"wake": True})
            except queue.Full:
                pass

    # -- evaluating -------------------------------------------------------------------------

    def _run(self) -> None:
        events = self._queue
        if events is None:  # start() subscribes before it starts this thread
            return
        while not self._stop.is_set():
            try:
                events.get(timeout=self.tick_s)
                while True:  # a burst of snapshots is one evaluation
                    events.get_nowait()
            except queue.Empty:
                pass
            if self._stop.is_set():
                break
            try:
                self.evaluate()
            except Exception:  # noqa: BLE001 - an alert bug must never end the thread
                log.exception("alerts: evaluation failed")

    def evaluate(self) -> None:
        """One pass: the SMDR port, the conditions, the messages, the morning reports."""
        now = self.clock.now()
        self.evaluations += 1
        self._check_smdr(now)
        facts = {}
        for zone in self.controller.zone_names():
            snap = self.controller.status(zone)
            key_since, key_change_at = self._key_facts(zone, snap)
            facts[zone] = ZoneFacts(
                snap,
                key_since=key_since,
                key_change_at=key_change_at,
                override_set_at=self._override_set_at(zone, snap),
                stale=self._stale(zone),
            )
        found = conditions(facts, now, self.settings)
        may_resolve = self.clock.monotonic() - self._started_mono >= self.startup_grace_s
        upserts, deletes, notices = track(
            self._states,
            found,
            now,
            reminder_hours=self.settings.reminder_hours,
            may_resolve=may_resolve,
        )
        if upserts or deletes:
            multi = len(self.controller.zone_names()) > 1
            out = [
                texts.notice_message(
                    n,
                    target=t.name,
                    site=self.config.site_name,
                    tz=self.tz,
                    now=now,
                    multi_zone=multi,
                )
                for n in notices
                for t in self.targets.values()
                if t.wants(n.event, n.zone)
            ]
            self._commit(upserts, deletes, out, now)
        self._reports(now)

    def _commit(self, upserts, deletes, out, now) -> None:
        try:
            self.store.alert_transition(upsert=upserts, delete=deletes, messages=out, at=now)
        except Exception as exc:  # noqa: BLE001 - the store failing is itself an alert
            log.error("alerts: cannot save to the outbox (%s); sending from memory", exc)
            for message in out:
                self._memory[message["target"]].append(
                    dict(message, _attempts=0, _next=now, created_at=now.isoformat())
                )
        for state in upserts:
            self._states[state["key"]] = {k: _iso(v) for k, v in state.items()}
        for key in deletes:
            self._states.pop(key, None)
        for name in {m["target"] for m in out}:
            self._force[name] = True
            self._wakes[name].set()

    def _stale(self, zone: str) -> list:
        try:
            return zone_warnings(self.controller, zone)
        except Exception:  # noqa: BLE001 - a store that fails is reported as such elsewhere
            log.exception("alerts: cannot work out the stale-schedule warnings")
            return []

    def _key_facts(self, zone: str, snap: dict):
        position = snap.get("key")
        if position not in ("day", "night"):
            self._key_seen.pop(zone, None)
            return None, None
        seen = self._key_seen.get(zone)
        if seen is None or seen[0] != position:
            since = self.clock.now()
            change = next_schedule_change(self.controller.resolve_zone(zone).schedule, since)
            seen = self._key_seen[zone] = (position, since, change.at if change else None)
        return seen[1], seen[2]

    def _override_set_at(self, zone: str, snap: dict):
        override = snap.get("override")
        if not override or override.get("until") is not None:
            self._override_seen.pop(zone, None)
            return None
        ident = (override.get("mode"), override.get("by"))
        seen = self._override_seen.get(zone)
        if seen is None or seen[0] != ident:
            stored = self.store.get_override(zone) or {}
            set_at = stored.get("set_at")
            seen = self._override_seen[zone] = (
                ident,
                datetime.fromisoformat(set_at) if set_at else self.clock.now(),
            )
        return seen[1]

    def _check_smdr(self, now) -> None:
        started_at = self._started_at
        if self.intake is None or started_at is None:  # no port, or not started yet
            return
        zone = self.intake.zone
        stats = self.intake.stats()

        def open_in_window() -> bool:
            start = now - timedelta(hours=self.settings.smdr_silent_hours)
            return any(h["mode"] == "day" for h in self.store.mode_history(zone, start, now))

        silent_for = now - (
            datetime.fromisoformat(stats["last_line_at"])
            if stats.get("last_line_at")
            else started_at
        )
        window = silent_for >= timedelta(hours=self.settings.smdr_silent_hours) and open_in_window()
        problem = port_problem(
            stats,
            now,
            started_at=started_at,
            silent_hours=self.settings.smdr_silent_hours,
            open_in_window=window,
        )
        if problem != self._smdr_fault:
            self.controller.set_external_fault(zone, "smdr", problem)
            self._smdr_fault = problem

    # -- the morning list and the weekly summary ------------------------------------------

    def _wanting(self, event: str, zone: str) -> list:
        return [t for t in self.targets.values() if t.wants(event, zone)]

    def _reports(self, now: datetime) -> None:
        local = now.astimezone(self.tz)
        hour, minute = (int(x) for x in self.settings.callback_time.split(":"))
        due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if local < due:
            return
        for zone in self.controller.zone_names():
            if self._reports_done.get(zone) == local.date().isoformat():
                continue
            out = []
            if self._wanting("callback_list", zone):
                out += self._callback_lists(zone, due, now)
            if (
                self._wanting("weekly_summary", zone)
                and local.strftime("%a").lower() == self.settings.summary_weekday
            ):
                out += self._weekly_summary(zone, local, now)
            if out:
                self._commit([], [], out, now)
            self._reports_done[zone] = local.date().isoformat()

    def _callback_lists(self, zone: str, due: datetime, now: datetime) -> list:
        key = f"alerts.callbacks.{zone}"
        last = self.store.get_setting(key)
        history = self.store.mode_history(zone, now - timedelta(days=40), now)
        out, newest = [], last
        for span in cb.nights(history, self.tz):
            label = span.began.astimezone(self.tz).date().isoformat()
            if span.ended is None or span.ended > due:
                continue
            if last is not None and label <= last:
                continue
            if last is None and span.ended < due - timedelta(days=1):
                continue  # the first run sends only the night that just ended
            calls = self.store.calls(zone, span.began, span.ended)
            night = span.began.astimezone(self.tz).date()
            data = cb.callback_list(
                calls, history, self.tz, night, self.store.callbacks(zone, label)
            )
            newest = max(newest or label, label)
            if not data["calls"]:
                continue
            subject = (
                f"{data['calls']} after-hours call{'s' if data['calls'] > 1 else ''} "
                f"to call back, night of {label}"
            )
            out += [
                texts.report_message(
                    target=t.name,
                    zone=zone,
                    event="callback_list",
                    site=self.config.site_name,
                    subject=subject,
                    body=cb.callback_text(data, self.tz),
                    data=data,
                    now=now,
                )
                for t in self._wanting("callback_list", zone)
            ]
        if newest != last:
            self.store.set_setting(key, newest)
        return out

    def _weekly_summary(self, zone: str, local: datetime, now: datetime) -> list:
        key = f"alerts.summary.{zone}"
        if self.store.get_setting(key) == local.date().isoformat():
            return []
        start, end = cb.week_window(local.date(), self.tz)
        calls = self.store.calls(zone, start, end)
        history = self.store.mode_history(zone, start - timedelta(days=31), end)
        data = cb.weekly_summary(calls, history, self.tz, start, end)
        self.store.set_setting(key, local.date().isoformat())
        subject = f"After-hours calls, week to {(end - timedelta(days=1)).date()}"
        return [
            texts.report_message(
                target=t.name,
                zone=zone,
                event="weekly_summary",
                site=self.config.site_name,
                subject=subject,
                body=cb.summary_text(data),
                data=data,
                now=now,
            )
            for t in self._wanting("weekly_summary", zone)
        ]

    # -- delivering ---------------------------------------------------------------------------

    def _deliver_loop(self, name: str) -> None:
        wake = self._wakes[name]
        while not self._stop.is_set():
            wake.clear()
            wait = self.tick_s
            try:
                wait = min(wait, self.deliver(name))
            except Exception:  # noqa: BLE001 - the store failing must not end the thread
                if self._stop.is_set():
                    break  # the store closed while a slow server was being tried
                log.exception("alerts: delivery to %s failed", name)
            if self._stop.is_set():
                break
            self.clock.wait(wake, max(wait, 0.01))

    def deliver(self, name: str) -> float:
        """Send what is due for target *name*, oldest first; returns the seconds until the
        next message falls due (for the wait). A message waits behind an older one that
        is backing off, so a "resolved" never arrives before its "start"."""
        sender = self.senders[name]
        force, self._force[name] = self._force[name], False
        memory = self._memory[name]
        while memory and not self._stop.is_set():
            message = memory[0]
            now = self.clock.now()
            if message["_next"] > now and not force:
                return (message["_next"] - now).total_seconds()
            try:
                sender.send(message)
            except DeliveryError as exc:
                message["_attempts"] += 1
                message["_next"] = now + timedelta(
                    seconds=backoff_s(message["_attempts"], *self.backoff)
                )
                self._audit(message, f"failed ({exc}); not saved (the database is failing)")
                return backoff_s(message["_attempts"], *self.backoff)
            memory.popleft()
            self._audit(
                message, f"sent by {sender.describe()} (from memory: the database was failing)"
            )
        while not self._stop.is_set():
            rows = self.store.outbox_pending(name, limit=20)
            if not rows:
                return self.tick_s
            for row in rows:
                now = self.clock.now()
                next_at = datetime.fromisoformat(row["next_attempt_at"])
                if next_at > now and not force:
                    return (next_at - now).total_seconds()
                force = False
                try:
                    sender.send(row)
                except DeliveryError as exc:
                    self._failed(row, str(exc), now)
                    return backoff_s(row["attempts"] + 1, *self.backoff)
                self.store.outbox_sent(row["id"], at=self.clock.now())
                self._audit(row, f"sent by {sender.describe()}")
        return self.tick_s

    def _failed(self, row: dict, error: str, now: datetime) -> None:
        attempts = row["attempts"] + 1
        created = datetime.fromisoformat(row["created_at"])
        wait = backoff_s(attempts, *self.backoff)
        retry_at = None if now - created >= GIVE_UP else now + timedelta(seconds=wait)
        self.store.outbox_failed(row["id"], error=error, retry_at=retry_at, at=now)
        if retry_at is None:
            what = f"given up after {attempts} attempts over {GIVE_UP.total_seconds() / 3600:.0f} h"
        else:
            what = f"attempt {attempts}; next try at {retry_at.astimezone(self.tz):%H:%M:%S}"
        self._audit(row, f"failed ({error}); {what}")
        log.warning("alerts: %s to %s failed: %s", row["event"], row["target"], error)

    def _audit(self, message: dict, what: str) -> None:
        try:
            self.store.add_audit(
                message["zone"],
                at=self.clock.now(),
                who="nightswitch",
                source="alert",
                old_mode=None,
                new_mode=None,
                reason=f"alert {message['event']} ({message['phase']}) to "
                f"{message['target']}: {what}"[:2000],
            )
        except Exception:  # noqa: BLE001 - the audit must never stop a delivery
            log.exception("alerts: cannot write the audit")

    # -- for the page and the CLI ---------------------------------------------------------------

    def open_alerts(self) -> list[dict]:
        return sorted(self._states.values(), key=lambda s: s["started_at"])


def send_test(config, *, by: str, now: datetime, store=None, only=None) -> list[dict]:
    """Send a test message to each target of *config* at once, in this thread (the
    Installer page's button and ``nightswitch test alerts``).

    :param store: audit each result there when given.
    :param only: a target name, or None for all.
    :returns: ``[{"target", "ok", "detail"}]``.
    """
    settings = getattr(config, "alerts", None) or AlertsConfig()
    tz = ZoneInfo(config.timezone)
    zone = config.zone_names[0]
    results = []
    for target in settings.targets:
        if only and target.name != only:
            continue
        sender = sender_for(target, timeout=settings.timeout_s)
        message = texts.test_message(
            target=target.name, zone=zone, site=config.site_name, by=by, now=now, tz=tz
        )
        try:
            sender.send(message)
            result = {"target": target.name, "ok": True, "detail": sender.describe()}
        except DeliveryError as exc:
            result = {"target": target.name, "ok": False, "detail": str(exc)}
        results.append(result)
        if store is not None:
            try:
                store.add_audit(
                    zone,
                    at=now,
                    who=by,
                    source="alert",
                    old_mode=None,
                    new_mode=None,
                    reason=f"alert test to {target.name}: "
                    + (
                        f"sent by {result['detail']}"
                        if result["ok"]
                        else f"failed ({result['detail']})"
                    ),
                )
            except Exception:  # noqa: BLE001
                log.exception("alerts: cannot audit the test")
    return results
