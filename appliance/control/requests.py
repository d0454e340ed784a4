"""What other threads may ask of the controller: the status, overrides, retries, the
schedule and its layers, external faults.

Every request that changes something runs on the controller thread (through
:meth:`~appliance.control.controller.Controller.call`) and returns once the decision is
stored and the zone's worker has the mode; the PBX's confirmation follows in the status.
Reading the status never waits: it is the last published snapshot.
"""

from __future__ import annotations

import logging
import queue
from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar

from appliance.control.zone import ZoneState
from appliance.decision.decide import Key, Override, decide, next_schedule_change, preview
from appliance.decision.schedule import parse_schedule, schedule_to_json
from appliance.decision.until import resolve_end
from appliance.errors import FieldError, Refused, ValidationError
from appliance.timetext import when
from appliance.vocabulary import MODE_RE, FaultKind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from appliance.control.parts import ControllerParts


class Requests:
    """The :class:`~appliance.control.controller.Controller`'s interface for the web
    page, the CLI, MQTT, calendars and alerts (a part of it, in a module of its own)."""

    def zone_names(self: ControllerParts) -> list[str]:
        return list(self.zones)

    def resolve_zone(self: ControllerParts, zone: str | None) -> ZoneState:
        if zone is None:
            return next(iter(self.zones.values()))
        if zone not in self.zones:
            raise ValidationError(
                [FieldError("zone", f"unknown zone {zone!r}; zones are " + ", ".join(self.zones))]
            )
        return self.zones[zone]

    def status(self: ControllerParts, zone: str | None = None) -> dict:
        """The last published status of *zone* (the first zone by default), without
        waiting for the controller thread."""
        name = self.resolve_zone(zone).name
        with self._snapshot_lock:
            snap = self._snapshots.get(name)
        if snap is None:
            return self.call(lambda: self._zone_status(self.zones[name]))
        return dict(snap)

    def schedule_in_force(self: ControllerParts, zone: str | None = None):
        """The parsed :class:`~appliance.decision.schedule.Schedule` in force (with its
        layers). It is immutable: other threads may compute with it (previews, the page's
        override choices) without asking the controller."""
        return self.resolve_zone(zone).schedule

    def subscribe(self: ControllerParts) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=100)
        with self._snapshot_lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self: ControllerParts, q) -> None:
        with self._snapshot_lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _check_mode(self: ControllerParts, zone: ZoneState, mode) -> None:
        allowed = zone.modes or ({"day", "night"} | _schedule_modes(zone.schedule_json))
        if not isinstance(mode, str) or not MODE_RE.match(mode) or mode not in allowed:
            # A single-zone site never sees the word "zone" (docs/design.md#zones).
            where = f" of zone {zone.name}" if len(self.zones) > 1 else ""
            raise ValidationError(
                [
                    FieldError(
                        "mode",
                        f"{mode!r} is not a mode{where}; use one of " + ", ".join(sorted(allowed)),
                    )
                ]
            )

    def _refuse_if_key_forced(self: ControllerParts, zone: ZoneState) -> None:
        if zone.key in (Key.DAY, Key.NIGHT):
            raise Refused(
                f"the key switch at reception is in {zone.key.value.upper()}; "
                "turn it to AUTO to change the mode from here"
            )

    def _set_override(self: ControllerParts, zone, mode, until, *, by) -> None:
        """Save the override first, then hold it in memory: a failing disk must not leave
        an override in force that no audit row and no restart knows about."""
        now = self.clock.now()
        self.store.set_override(zone.name, mode, until, by=by, at=now)
        zone.override = Override(mode=mode, until=until, by=by, set_at=now)

    def set_override(
        self: ControllerParts, zone: str | None, mode: str, until, *, by: str, source: str = "web"
    ) -> dict:
        """Force *mode* until ``"next"`` (the schedule's next change), an aware datetime,
        or None (until cancelled). Returns the zone's status as soon as the decision is
        stored and the worker has the mode (``switching`` true); the PBX's confirmation
        follows in the status and the live updates. Raises
        :exc:`~appliance.errors.Refused` while the key switch is in a forced position."""
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit_failure = None
            self._refuse_if_key_forced(state)
            self._check_mode(state, mode)
            now = self.clock.now()
            change = next_schedule_change(state.schedule, now) if until == "next" else None
            end = resolve_end(until, now, change.at if change else None)
            self._set_override(state, mode, end, by=by)
            self._reconcile(
                state,
                (
                    by,
                    source,
                    f"override to {mode} "
                    + (
                        f"until {when(end, self.clock.now(), self.tz)}"
                        if end
                        else "until cancelled"
                    ),
                ),
            )
            self._publish()
            self._audit_checked()
            return self._zone_status(state)

        return self.call(do)

    def cancel_override(
        self: ControllerParts, zone: str | None, *, by: str, source: str = "web"
    ) -> dict:
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit_failure = None
            self._refuse_if_key_forced(state)
            cause = None
            if state.override is not None:
                cause = (by, source, f"override to {state.override.mode} cancelled")
                self.store.clear_override(state.name)
                state.override = None
            self._reconcile(state, cause)
            self._publish()
            self._audit_checked()
            return self._zone_status(state)

        return self.call(do)

    def retry(self: ControllerParts, zone: str | None, *, by: str, source: str = "web") -> dict:
        """An operator's retry: try the zone's actuators again now, a refused login
        included (which the worker otherwise tries again only after a day)."""
        state = self.resolve_zone(zone)
        self._check_actor(by, source)

        def do():
            self._audit(
                state,
                who=by,
                source=source,
                old=state.applied_mode,
                new=state.wanted_mode,
                reason="retry requested: the actuators are tried again now",
            )
            state.worker.retry_now()
            if state.wanted_mode is not None:
                self._want(state, state.wanted_mode, force=True)
            self._publish()
            return self._zone_status(state)

        return self.call(do)

    def set_external_fault(
        self: ControllerParts, zone: str | None, kind: str, message: str | None
    ) -> None:
        """Show (or, with *message* None, clear) a fault that another part found, such as
        the SMDR port being dead: it is in the status, ``/health`` and the pages like the
        controller's own faults, but never on the fault LED when reception can do nothing
        about it (:attr:`~appliance.vocabulary.FaultKind.quiet`), and it never changes a
        decision."""
        state = self.resolve_zone(zone)

        def do():
            if message is None:
                self._clear_fault(state, kind)
            else:
                self._fault(state, kind, message)
            self._publish()

        self.call(do)

    def get_schedule(self: ControllerParts, zone: str | None = None) -> dict:
        return dict(self.resolve_zone(zone).schedule_json)

    def put_schedule(self: ControllerParts, zone: str | None, data, *, by: str) -> dict:
        """Validate and save a schedule; nothing is saved when it has errors, and no new
        version is made when it means the same as the one in force (``changed`` false:
        a history of identical versions would hide the real changes)."""
        state = self.resolve_zone(zone)
        parsed = parse_schedule(data, allowed_modes=state.modes)

        def do():
            if (
                state.schedule_version is not None
                and FaultKind.CONFIG not in state.faults
                and state.base_schedule is not None
                and schedule_to_json(parsed) == schedule_to_json(state.base_schedule)
            ):
                return {
                    "version": state.schedule_version,
                    "changed": False,
                    "status": self._zone_status(state),
                }
            version = self.store.save_schedule(state.name, data, by=by, at=self.clock.now())
            self._put_in_force(
                state, parsed, data, version, by, f"schedule saved (version {version})"
            )
            self._publish()
            return {"version": version, "changed": True, "status": self._zone_status(state)}

        return self.call(do)

    def rollback_schedule(self: ControllerParts, zone: str | None, version, *, by: str) -> dict:
        """Put an old *version* of the schedule in force again. History is never rewritten:
        the copy is saved as the newest version, marked as restored from *version*, so the
        history and the audit say "rolled back" rather than "saved"."""
        state = self.resolve_zone(zone)

        def do():
            old = {}

            def fits(data):
                # The modes may have changed in the config since that version was saved.
                old["parsed"], old["data"] = parse_schedule(data, allowed_modes=state.modes), data

            saved = self.store.rollback_schedule(
                state.name, version, by=by, at=self.clock.now(), fits=fits
            )
            self._put_in_force(
                state,
                old["parsed"],
                old["data"],
                saved,
                by,
                f"schedule rolled back to version {version} (saved as version {saved})",
            )
            self._publish()
            return {"version": saved, "restored_from": version, "status": self._zone_status(state)}

        return self.call(do)

    def _put_in_force(
        self: ControllerParts,
        state: ZoneState,
        parsed,
        data: dict,
        version: int,
        by: str,
        what: str,
    ) -> None:
        state.base_schedule, state.schedule_json = parsed, data
        state.schedule = self._layered(state, parsed)
        state.schedule_version = version
        self._clear_fault(state, FaultKind.CONFIG)
        self._reconcile(state, (by, "schedule", what))

    # -- closure layers (calendar subscriptions, company closures) -------------------------
    LAYER_KINDS: ClassVar[tuple[str, ...]] = ("calendar", "company")

    @staticmethod
    def _layered(zone: ZoneState, parsed, layers: dict | None = None):
        """*parsed* (the saved schedule) with the zone's closure layers (or *layers*,
        ``{kind: (ClosureLayer, ...)}``), calendar first."""
        held = zone.layers if layers is None else layers
        return parsed.with_layers(*held.get("calendar", ()), *held.get("company", ()))

    def _prepared(
        self: ControllerParts, state: ZoneState, kind: str, layers: tuple
    ) -> tuple | None:
        """On the caller's thread: the zone's schedule with *layers* in place, with its
        search for the next change done already (decide() keeps it on the schedule), so
        the controller thread does not walk months of day plans (0.1 s with a 5,000-event
        calendar) between two key turns. ``(base, layers, schedule)``; the controller
        uses it only if the base schedule and the layers are still the ones it was made
        from; None for a zone with no schedule yet."""
        base = state.base_schedule
        if base is None:
            return None
        held = {**state.layers, kind: layers}
        schedule = self._layered(state, base, held)
        decide(self.clock.now(), schedule)
        return base, held, schedule

    def set_schedule_layer(
        self: ControllerParts, zone: str | None, kind: str, layer=None, *, fault: str | None = None
    ) -> None:
        """Put closures from outside the saved schedule in force (level 3 of
        docs/design.md#modes-and-precedence).

        :param zone: a zone name, or None for every zone.
        :param str kind: ``calendar`` or ``company``.
        :param layer: a :class:`~appliance.decision.layers.ClosureLayer` of that kind, a
            tuple of them (several calendars of one zone; the first wins), or None to
            keep the layer last given (a source that failed keeps its last good copy).
        :param str fault: a message raises the fault *kind* on the zone; None clears it.

        Runs on the controller thread and decides again at once. A changed layer, a new
        fault and a cleared fault are audited. Before :meth:`start` the layer is only
        recorded, so nothing moves before the lamp test and the first decision.
        """
        from appliance.decision.layers import ClosureLayer

        if kind not in self.LAYER_KINDS:
            raise ValidationError(
                [
                    FieldError(
                        "kind",
                        f"{kind!r} is not a layer kind; use " + " or ".join(self.LAYER_KINDS),
                    )
                ]
            )
        layers = (
            None
            if layer is None
            else ((layer,) if isinstance(layer, ClosureLayer) else tuple(layer))
        )
        if layers is not None and any(
            not isinstance(item, ClosureLayer) or item.kind != kind for item in layers
        ):
            raise ValidationError([FieldError("layer", f"must be {kind} ClosureLayer objects")])
        states = list(self.zones.values()) if zone is None else [self.resolve_zone(zone)]

        prepared: dict[str, tuple] = {}

        def record(state) -> tuple | None:
            """Set the layer and fault; return the audit cause, if anything changed."""
            what = []
            if layers is not None and state.layers.get(kind, ()) != layers:
                made = prepared.get(state.name)
                state.layers[kind] = layers
                if (
                    made is not None
                    and made[0] is state.base_schedule
                    and made[1].keys() == state.layers.keys()
                    and all(state.layers[k] is v for k, v in made[1].items())
                ):
                    state.schedule = made[2]
                else:
                    state.schedule = self._layered(state, state.base_schedule)
                count = sum(len(item.entries) for item in layers)
                what.append(f"{kind} closures updated ({count} entr{'y' if count == 1 else 'ies'})")
            old = state.faults.get(kind, (None,))[0]
            if fault is not None and old != fault:
                self._fault(state, kind, fault)
                what.append(f"{kind} fault: {fault}; the last good copy stays in force")
            elif fault is None and old is not None:
                self._clear_fault(state, kind)
                what.append(f"{kind} fault cleared")
            return ("nightswitch", kind, "; ".join(what)) if what else None

        if self._thread is None:
            for state in states:
                record(state)
            return None
        if all(
            (
                layers is None
                or state.layers.get(kind, ()) is layers
                or state.layers.get(kind, ()) == layers
            )
            and state.faults.get(kind, (None,))[0] == fault
            for state in states
        ):
            # Nothing new (a refresh that found the same closures): the controller
            # thread is not woken at all. A stale read here only costs one call.
            return None

        for state in states:
            if layers is not None and state.layers.get(kind, ()) != layers:
                made = self._prepared(state, kind, layers)
                if made is not None:
                    prepared[state.name] = made

        def do():
            for state in states:
                cause = record(state)
                if cause is not None:
                    self._reconcile(state, cause)
            self._publish()

        return self.call(do)

    def preview(self: ControllerParts, zone: str | None, start: date, days: int) -> list[dict]:
        state = self.resolve_zone(zone)
        return [
            {"at": _iso(t.at, self.tz), "mode": t.mode, "reason": t.reason, "source": t.source}
            for t in preview(state.schedule, start, days)
        ]


def _schedule_modes(data: dict) -> set:
    modes = set()
    for ranges in (data.get("weekly") or {}).values():
        modes |= {r.get("mode") for r in ranges if isinstance(r, dict)}
    return {m for m in modes if isinstance(m, str)}


def _iso(at: datetime | None, tz) -> str | None:
    return at.astimezone(tz).isoformat(timespec="seconds") if at else None
