"""Which alerts are open, and what to send: pure functions over snapshots and time.

:func:`conditions` turns the facts about each zone (the controller's published snapshot
plus the few things it does not carry) into the list of open :class:`Condition` objects.
:func:`track` compares them with the alerts already open and says what to send: one
``start`` when a condition appears, a ``reminder`` every *reminder_hours* while it lasts,
one ``resolved`` when it is gone. Nothing here reads a clock, a file or the network, so
the tests walk whole days of faults in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import overload

from appliance.outputs.alerts.events import EVENTS, event_of_fault
from appliance.timetext import when


@dataclass(frozen=True)
class Condition:
    """One open alert: *key* is unique and stable while it lasts (zone, event, detail)."""

    key: str
    zone: str
    event: str
    message: str
    since: datetime


@dataclass
class ZoneFacts:
    """What the rules need to know about one zone.

    :param dict snapshot: the controller's published status of the zone.
    :param key_since: when the key was seen turned to DAY or NIGHT (None: in AUTO).
    :param key_change_at: the schedule's first change after *key_since*.
    :param override_set_at: when an override "until cancelled" was set.
    :param list stale: :class:`~appliance.decision.staleness.StaleWarning` objects.
    """

    snapshot: dict
    key_since: datetime | None = None
    key_change_at: datetime | None = None
    override_set_at: datetime | None = None
    stale: list = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """A message to send: *phase* is ``start``, ``reminder`` or ``resolved``."""

    phase: str
    key: str
    zone: str
    event: str
    message: str
    since: datetime


@overload
def _parse(value: None) -> None: ...


@overload
def _parse(value: datetime | str) -> datetime: ...


def _parse(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{round(seconds / 60)} min"
    return f"{hours:.0f} h" if hours >= 10 or hours == int(hours) else f"{hours:.1f} h"


def conditions(facts: dict[str, ZoneFacts], now: datetime, settings) -> list[Condition]:
    """The open alert conditions at *now*.

    :param facts: ``{zone: ZoneFacts}``.
    :param settings: the :class:`~appliance.outputs.alerts.settings.AlertsConfig`.
    """
    out = []
    for zone, f in facts.items():
        snap = f.snapshot
        for fault in snap.get("faults") or ():
            event = event_of_fault(fault["kind"])
            if event is None:
                continue
            since = _parse(fault.get("since")) or now
            if event == "link_down" and now - since < timedelta(minutes=settings.link_down_minutes):
                continue  # a read-back that fails once is retried in seconds
            message = fault["message"]
            if event == "link_down":
                message = (
                    f"the PBX has not answered for {_hours((now - since).total_seconds())}"
                    f": {message}"
                )
            out.append(Condition(f"{zone}:{event}:{fault['kind']}", zone, event, message, since))
        key = snap.get("key")
        if key in ("day", "night") and f.key_change_at is not None:
            late = f.key_change_at + timedelta(minutes=settings.key_left_minutes)
            if now >= late:
                out.append(
                    Condition(
                        f"{zone}:key_left",
                        zone,
                        "key_left",
                        f"the key switch at reception has been in {key.upper()} since "
                        f"{_local(f.key_since, snap)}, past the schedule's change at "
                        f"{_local(f.key_change_at, snap)}: the phones stay in {key} until "
                        "someone turns it back to AUTO",
                        f.key_change_at,
                    )
                )
        override = snap.get("override")
        if override and override.get("until") is None and f.override_set_at is not None:
            if now - f.override_set_at >= timedelta(hours=settings.override_hours):
                out.append(
                    Condition(
                        f"{zone}:override_old",
                        zone,
                        "override_old",
                        f"{override.get('by', 'someone')} set {override['mode']} until cancelled "
                        f"on {_local(f.override_set_at, snap)}, "
                        f"{_hours((now - f.override_set_at).total_seconds())} ago; the schedule "
                        "is ignored until someone cancels it",
                        f.override_set_at,
                    )
                )
        for warning in f.stale:
            out.append(
                Condition(
                    f"{zone}:schedule_stale:{warning.field}",
                    zone,
                    "schedule_stale",
                    f"{warning.field}: {warning.message}",
                    now,
                )
            )
    return out


def _local(at: datetime | None, snap: dict) -> str:
    if at is None:
        return "?"
    snap_now: datetime | str | None = snap.get("now")
    tz = _parse(snap_now).tzinfo if snap_now else None
    return when(at, _parse(snap_now) if snap_now else None, tz)


def track(
    open_alerts: dict[str, dict],
    found: list[Condition],
    now: datetime,
    *,
    reminder_hours: float,
    may_resolve: bool = True,
):
    """What changes: ``(upserts, deletes, notices)``.

    :param open_alerts: ``{key: state}`` as the store keeps them (``since``,
        ``started_at``, ``last_notice_at`` as ISO text or datetimes).
    :param found: the conditions open now.
    :param reminder_hours: a reminder this often while a condition lasts (0: never).
    :param may_resolve: False right after a start, while the faults the controller only
        finds by trying (a link, a confirmation) are not known yet: an alert left open
        before the restart is then not resolved and started again.
    """
    upserts, deletes, notices = [], [], []
    seen = set()
    for cond in found:
        if cond.key in seen:
            continue
        seen.add(cond.key)
        state = open_alerts.get(cond.key)
        if state is None:
            notices.append(
                Notice("start", cond.key, cond.zone, cond.event, cond.message, cond.since)
            )
            upserts.append(
                dict(
                    key=cond.key,
                    zone=cond.zone,
                    event=cond.event,
                    message=cond.message,
                    since=cond.since,
                    started_at=now,
                    last_notice_at=now,
                )
            )
            continue
        last = _parse(state["last_notice_at"])
        if reminder_hours and now - last >= timedelta(hours=reminder_hours):
            notices.append(
                Notice(
                    "reminder",
                    cond.key,
                    cond.zone,
                    cond.event,
                    cond.message,
                    _parse(state["since"]),
                )
            )
            upserts.append(
                dict(
                    state,
                    message=cond.message,
                    since=_parse(state["since"]),
                    started_at=_parse(state["started_at"]),
                    last_notice_at=now,
                )
            )
        elif state["message"] != cond.message and cond.event != "link_down":
            # the newest words for the next reminder; no message of its own (never a flood)
            upserts.append(
                dict(
                    state,
                    message=cond.message,
                    since=_parse(state["since"]),
                    started_at=_parse(state["started_at"]),
                    last_notice_at=last,
                )
            )
    if may_resolve:
        for key, state in open_alerts.items():
            if key not in seen:
                deletes.append(key)
                notices.append(
                    Notice(
                        "resolved",
                        key,
                        state["zone"],
                        state["event"],
                        state["message"],
                        _parse(state["since"]),
                    )
                )
    return upserts, deletes, notices


def title(event: str) -> str:
    return EVENTS[event].title if event in EVENTS else event
