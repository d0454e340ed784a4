"""Prometheus metrics, read from the controller's published state at scrape time.

Gauges (mode, confirmed, faults, clock, next change, schedule ahead, SMDR) are worked out
when Prometheus asks, from :meth:`Controller.status`, the SMDR intake's counters and the
schedule: nothing is cached that could disagree with ``/api/v1/status``. Two things
cannot be read back later and are counted as they happen, by a subscriber of the
controller's snapshots: switches by source and result, and the seconds from the
command (the snapshot that first shows the new mode) to its confirmation.

The names (``nightswitch_...``) are checked by ``promtool check metrics`` in the tests;
``docs/prometheus-rules.yml`` has example alert rules over them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger(__name__)

#: Fault kinds always exported (0 when absent), so a rule can say "== 1" and a graph
#: has a line from the start.
FAULT_KINDS = (
    "actuator",
    "fallback",
    "link",
    "clock",
    "wiring",
    "store",
    "internal",
    "config",
    "smdr",
)
CONFIRM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


def _timestamp(value) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value).timestamp()


class SwitchCounter:
    """Counts switches from the controller's snapshots, in a thread of its own.

    A switch starts when a zone's snapshot shows a mode other than the one before (the
    first snapshot counts: the mode asserted at start). It ends ``confirmed`` when a
    snapshot is verified and not switching, ``failed`` when an actuator fault shows,
    ``fallback`` when the fallback holds it, or ``superseded`` when another mode comes
    first. The time to confirmation is real time (``time.monotonic``) between the two
    snapshots as this thread receives them.
    """

    def __init__(self, controller, registry: CollectorRegistry):
        self.controller = controller
        self.switches = Counter(
            "nightswitch_switches",
            "Switches of mode by what asked for them and how they ended",
            ["zone", "source", "result"],
            registry=registry,
        )
        self.confirm = Histogram(
            "nightswitch_switch_confirm_seconds",
            "Seconds from a change of mode to its confirmation",
            ["zone"],
            buckets=CONFIRM_BUCKETS,
            registry=registry,
        )
        self._last_mode: dict[str, str] = {}
        self._open: dict[str, tuple] = {}
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._queue = self.controller.subscribe()
        for zone in self.controller.zone_names():
            self.observe(self.controller.status(zone))
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._queue is not None:
            self.controller.unsubscribe(self._queue)
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        snapshots = self._queue
        if snapshots is None:  # start() subscribes before it starts this thread
            return
        while not self._stop.is_set():
            try:
                snap = snapshots.get(timeout=1.0)
            except queue.Empty:
                continue
            if snap is None:
                break
            try:
                self.observe(snap)
            except Exception:  # noqa: BLE001 - metrics must never take anything down
                log.exception("metrics: cannot count a snapshot")

    def observe(self, snap: dict, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        zone, mode = snap.get("zone"), snap.get("mode")
        if zone is None or mode is None:
            return
        if self._last_mode.get(zone) != mode:
            self._end(zone, "superseded")
            self._last_mode[zone] = mode
            self._open[zone] = (snap.get("source") or "unknown", now)
        opened = self._open.get(zone)
        if opened is None:
            return
        kinds = {f.get("kind") for f in snap.get("faults") or ()}
        if snap.get("verified") and not snap.get("switching"):
            self.confirm.labels(zone).observe(max(0.0, now - opened[1]))
            self._end(zone, "confirmed")
        elif "fallback" in kinds:
            self._end(zone, "fallback")
        elif "actuator" in kinds and not snap.get("switching"):
            self._end(zone, "failed")

    def _end(self, zone: str, result: str) -> None:
        opened = self._open.pop(zone, None)
        if opened is not None:
            self.switches.labels(zone, opened[0], result).inc()


class StateCollector:
    """The scrape-time gauges (a ``prometheus_client`` custom collector)."""

    def __init__(self, controller, *, intake=None, engine=None):
        self.controller = controller
        self.intake = intake
        self.engine = engine
        self._calls_lock = threading.Lock()
        self._calls_cursor = None
        self._calls_outside: dict[str, int] = {}

    def collect(self):
        from appliance.decision.staleness import days_ahead
        from appliance.outputs.alerts.review import zone_warnings

        ctl = self.controller
        tz = ZoneInfo(ctl.config.timezone)
        mode = GaugeMetricFamily(
            "nightswitch_mode",
            "1 for the mode in force in the zone, 0 for its other modes",
            labels=["zone", "mode"],
        )
        verified = GaugeMetricFamily(
            "nightswitch_confirmed",
            "1 when the mode in force is applied and confirmed by the PBX",
            labels=["zone"],
        )
        switching = GaugeMetricFamily(
            "nightswitch_switching", "1 while a change is being applied", labels=["zone"]
        )
        faults = GaugeMetricFamily(
            "nightswitch_fault", "1 for each kind of fault present", labels=["zone", "kind"]
        )
        key = GaugeMetricFamily(
            "nightswitch_key_forced", "1 while the key switch is in DAY or NIGHT", labels=["zone"]
        )
        override = GaugeMetricFamily(
            "nightswitch_override_active", "1 while a manual override is in force", labels=["zone"]
        )
        next_change = GaugeMetricFamily(
            "nightswitch_next_change_timestamp_seconds",
            "When the mode changes next (Unix time)",
            labels=["zone", "mode"],
        )
        ahead = GaugeMetricFamily(
            "nightswitch_schedule_ahead_seconds",
            "Time to the end of the last dated exception, season or closure (whole days)",
            labels=["zone"],
        )
        stale = GaugeMetricFamily(
            "nightswitch_schedule_warnings", "Stale-schedule warnings open", labels=["zone"]
        )
        clock = GaugeMetricFamily(
            "nightswitch_clock_synchronized", "1 when the system clock is known to be synchronized"
        )
        synced = None
        today = ctl.clock.now().astimezone(tz).date()
        for zone in ctl.zone_names():
            st = ctl.status(zone)
            synced = st.get("clock_synchronized") if synced is None else synced
            modes = set(st.get("modes") or ()) | {"day", "night", st["mode"]}
            for m in sorted(modes):
                mode.add_metric([zone, m], 1.0 if m == st["mode"] else 0.0)
            verified.add_metric([zone], 1.0 if st.get("verified") else 0.0)
            switching.add_metric([zone], 1.0 if st.get("switching") else 0.0)
            present = {f["kind"] for f in st.get("faults") or ()}
            for kind in sorted(set(FAULT_KINDS) | present):
                faults.add_metric([zone, kind], 1.0 if kind in present else 0.0)
            key.add_metric([zone], 1.0 if st.get("key") in ("day", "night") else 0.0)
            override.add_metric([zone], 1.0 if st.get("override") else 0.0)
            change = st.get("next_change")
            if change:
                next_change.add_metric([zone, change["mode"]], _timestamp(change["at"]))
            schedule = ctl.resolve_zone(zone).schedule
            ahead.add_metric([zone], float(days_ahead(schedule, today) * 86400))
            try:
                stale.add_metric([zone], float(len(zone_warnings(ctl, zone))))
            except Exception:  # noqa: BLE001 - a failing store shows as a fault instead
                log.exception("metrics: stale warnings")
        clock.add_metric([], 1.0 if synced else 0.0)
        yield from (
            mode,
            verified,
            switching,
            faults,
            key,
            override,
            next_change,
            ahead,
            stale,
            clock,
        )
        yield from self._smdr()
        yield from self._calls()
        if self.engine is not None:
            open_alerts = GaugeMetricFamily(
                "nightswitch_alerts_open", "Alerts open", labels=["event"]
            )
            counts: dict[str, int] = {}
            for state in self.engine.open_alerts():
                counts[state["event"]] = counts.get(state["event"], 0) + 1
            for event, n in sorted(counts.items()):
                open_alerts.add_metric([event], float(n))
            yield open_alerts

    def _smdr(self):
        if self.intake is None:
            return
        stats = self.intake.stats()
        records = CounterMetricFamily(
            "nightswitch_smdr_records", "SMDR call records parsed since start"
        )
        records.add_metric([], float(stats["calls"]))
        unparsed = CounterMetricFamily(
            "nightswitch_smdr_unparsed_lines", "SMDR lines no format could parse, since start"
        )
        unparsed.add_metric([], float(stats["unparsed"]))
        connected = GaugeMetricFamily("nightswitch_smdr_connected", "1 while the SMDR port is open")
        connected.add_metric([], 1.0 if stats["connected"] else 0.0)
        yield from (records, unparsed, connected)
        if stats.get("last_call_at"):
            last = GaugeMetricFamily(
                "nightswitch_smdr_last_record_timestamp_seconds",
                "When the last SMDR call record arrived (Unix time)",
            )
            last.add_metric([], _timestamp(stats["last_call_at"]))
            yield last

    def _calls(self):
        """After-hours calls stored since the daemon started, per zone: the new rows
        (by id) are judged against their zone's mode history at each scrape."""
        from appliance.smdr import report

        store = self.controller.store
        with self._calls_lock:
            if self._calls_cursor is None:
                self._calls_cursor = store.last_call_id()
            rows = store.calls_after_id(self._calls_cursor, limit=5000)
            by_zone: dict[str, list] = {}
            for row in rows:
                by_zone.setdefault(row["zone"], []).append(row)
                self._calls_cursor = max(self._calls_cursor, row["id"])
            for zone, calls in by_zone.items():
                starts = [datetime.fromisoformat(c["started_at"]) for c in calls]
                history = store.mode_history(
                    zone, min(starts) - timedelta(days=31), max(starts) + timedelta(seconds=1)
                )
                self._calls_outside[zone] = self._calls_outside.get(zone, 0) + len(
                    report.after_hours_calls(calls, history)
                )
            family = CounterMetricFamily(
                "nightswitch_calls_outside_day",
                "Calls that started while the zone was not in day mode, since start",
                labels=["zone"],
            )
            for zone in self.controller.zone_names():
                family.add_metric([zone], float(self._calls_outside.get(zone, 0)))
        yield family


class Metrics:
    """The registry of one appliance: the switch counter and the scrape-time collector.

    ::

        metrics = Metrics(controller, intake=intake)
        metrics.start()
        text = metrics.scrape()      # bytes in Prometheus' text format
    """

    def __init__(self, controller, *, intake=None, engine=None):
        self.registry = CollectorRegistry(auto_describe=False)
        self.switches = SwitchCounter(controller, self.registry)
        self.state = StateCollector(controller, intake=intake, engine=engine)
        self.registry.register(self.state)
        # counted from here on: the calls already stored are not "since start"
        self.state._calls_cursor = controller.store.last_call_id()

    def start(self) -> None:
        self.switches.start()

    def stop(self) -> None:
        self.switches.stop()

    def scrape(self) -> bytes:
        return generate_latest(self.registry)
