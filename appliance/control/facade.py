"""What the web page, the API and the local CLI may ask of the running appliance.

The web layer talks to the appliance through one object, :class:`ApplianceFacade`, and
never reaches into the controller, its zones, the clock or the config: the operations
below are the whole interface. Data that is the store's own business (users, tokens,
the audit log, call records) the web reads from the :class:`~appliance.store.Store`,
which :func:`web.create_app` is given explicitly, like the virtual panel of
``simulate``. A test of the web may hand ``create_app`` any object with these methods
(:class:`ApplianceInterface` lists them).

Nothing here touches a pin or a port. Hardware tests are handed to the controller and
the zones' workers, and only the web request's own thread waits for their result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import tomli_w

from appliance.control.commissioning import MAX_TEST_SECONDS
from appliance.decision.decide import decide, next_schedule_change
from appliance.decision.until import parse_until, resolve_end
from appliance.errors import FieldError, ValidationError

#: An override that would last longer than this asks "are you sure?" first
#: (docs/design.md#overrides-and-their-ends).
CONFIRM_AFTER = timedelta(hours=4)
#: The longest the page waits for a PBX dialogue test (login, each mode, back, logout).
PBX_TEST_TIMEOUT_S = 120.0
#: Words in a config key that mark a secret: its value is never shown.
SECRET_WORDS = ("pass", "secret", "token", "credential", "community")


@dataclass(frozen=True)
class SiteInfo:
    """The site as the pages show it.

    :param str name: the site's name.
    :param str timezone: its IANA time zone.
    :param tuple zones: ``(name, label)`` of each zone, the first first.
    :param bool public_status: the status page may be read without logging in.
    :param dict smdr: the ``[smdr]`` table (secrets masked), or None.
    :param tuple allowed_hosts: the names the page may be reached by, beyond the Pi's
        own (``[web] allowed_hosts``).
    """

    name: str
    timezone: str
    zones: tuple[tuple[str, str], ...]
    public_status: bool
    smdr: dict | None
    allowed_hosts: tuple = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class OverridePlan:
    """An override as a form or a request asks for it, worked out before it is set.

    :param str mode: the mode asked for.
    :param until: what to hand :meth:`ApplianceFacade.set_override` (``"next"``, an aware
        datetime, or None for until cancelled).
    :param end: the concrete end, or None (until cancelled, or a schedule that never
        changes).
    :param str question: the question to ask before setting it (the end is more than
        four hours away), or None.
    """

    mode: str
    until: object
    end: datetime | None
    question: str | None


class ApplianceInterface(Protocol):
    """The operations of :class:`ApplianceFacade`, for fakes in web tests."""

    site: SiteInfo

    def now(self) -> datetime: ...
    def zone_names(self) -> list[str]: ...
    def status(self, zone: str | None = None) -> dict: ...
    def subscribe(self): ...
    def unsubscribe(self, q) -> None: ...
    def schedule_in_force(self, zone: str | None = None): ...
    def plan_override(self, zone: str | None, mode: str, until) -> OverridePlan: ...
    def set_override(
        self, zone: str | None, mode: str, until, *, by: str, source: str = "web"
    ) -> dict: ...
    def cancel_override(self, zone: str | None, *, by: str, source: str = "web") -> dict: ...
    def retry(self, zone: str | None, *, by: str, source: str = "web") -> dict: ...
    def get_schedule(self, zone: str | None = None) -> dict: ...
    def put_schedule(self, zone: str | None, data, *, by: str) -> dict: ...
    def rollback_schedule(self, zone: str | None, version, *, by: str) -> dict: ...
    def preview(self, zone: str | None, start: date, days: int) -> list[dict]: ...
    def test_leds(self, seconds: float, *, by: str) -> dict: ...
    def test_relay(self, name: str, seconds: float, *, by: str) -> dict: ...
    def test_pbx(self, name: str, *, by: str) -> dict: ...
    def last_pbx_test(self) -> dict | None: ...
    def read_key(self) -> dict: ...
    def relay_names(self) -> list[str]: ...
    def relay_states(self) -> dict[str, str]: ...
    def installer_info(self) -> dict: ...
    def last_commissioning_report(self) -> dict | None: ...
    def commissioning_report_file(self, name: str): ...


class ApplianceFacade:
    """The running appliance as the web sees it.

    :param controller: the running :class:`~appliance.control.controller.Controller`.
    :param config: the validated :class:`~appliance.config.Config`.
    :param metrics: the daemon's :class:`~appliance.outputs.metrics.Metrics`, or None.
    """

    def __init__(self, controller, config, *, metrics=None):
        self._controller = controller
        self._config = config
        self._metrics = metrics
        self._last_pbx_test = None
        self.site = SiteInfo(
            name=config.site_name,
            timezone=config.timezone,
            zones=tuple((z.name, z.label) for z in config.zones),
            public_status=bool(getattr(config, "public_status", False)),
            smdr=mask_secrets(config.smdr) if config.smdr else None,
            allowed_hosts=tuple(getattr(config, "allowed_hosts", ()) or ()),
        )

    # -- time and zones ----------------------------------------------------------------
    def now(self) -> datetime:
        """The appliance's clock (simulated in ``simulate``)."""
        return self._controller.clock.now()

    def zone_names(self) -> list[str]:
        return self._controller.zone_names()

    # -- status ------------------------------------------------------------------------
    def status(self, zone: str | None = None) -> dict:
        return self._controller.status(zone)

    def subscribe(self):
        return self._controller.subscribe()

    def unsubscribe(self, q) -> None:
        self._controller.unsubscribe(q)

    def schedule_in_force(self, zone: str | None = None):
        """The immutable parsed schedule in force, for pure computations on the request's
        own thread (the override choices, their ends and questions)."""
        return self._controller.schedule_in_force(zone)

    # -- overrides ---------------------------------------------------------------------
    def plan_override(self, zone: str | None, mode: str, until) -> OverridePlan:
        """Work out an override's end and the question to ask before it, from a person's
        ``until`` (anything :func:`~appliance.decision.until.parse_until` reads, or an
        aware datetime)."""
        now = self.now()
        schedule = self.schedule_in_force(zone)
        value = until if isinstance(until, datetime) else parse_until(until, self.site.tz, now)
        change = next_schedule_change(schedule, now) if value == "next" else None
        end = resolve_end(value, now, change.at if change else None)
        return OverridePlan(
            mode, value, end, confirm_question(mode, end, now, self.site.tz, schedule)
        )

    def set_override(self, zone, mode, until, *, by, source="web") -> dict:
        return self._controller.set_override(zone, mode, until, by=by, source=source)

    def cancel_override(self, zone, *, by, source="web") -> dict:
        return self._controller.cancel_override(zone, by=by, source=source)

    def retry(self, zone, *, by, source="web") -> dict:
        return self._controller.retry(zone, by=by, source=source)

    # -- the schedule ------------------------------------------------------------------
    def get_schedule(self, zone=None) -> dict:
        return self._controller.get_schedule(zone)

    def put_schedule(self, zone, data, *, by) -> dict:
        return self._controller.put_schedule(zone, data, by=by)

    def rollback_schedule(self, zone, version, *, by) -> dict:
        return self._controller.rollback_schedule(zone, version, by=by)

    def preview(self, zone, start: date, days: int) -> list[dict]:
        return self._controller.preview(zone, start, days)

    # -- hardware tests ------------------------------------------------------------------
    def test_leds(self, seconds: float, *, by: str) -> dict:
        """Light each LED in turn; waits here (on the request's thread) for the end."""
        future = self._controller.test_leds(_test_seconds(seconds), by=by)
        return future.result(timeout=len(self._controller.panels) * 3 * MAX_TEST_SECONDS + 30)

    def test_relay(self, name: str, seconds: float, *, by: str) -> dict:
        """Show relay *name* in its other state, then re-apply the mode; waits here."""
        future = self._controller.test_relay(name, _test_seconds(seconds), by=by)
        return future.result(timeout=MAX_TEST_SECONDS + 120)

    def test_pbx(self, name: str, *, by: str) -> dict:
        """The PBX dialogue test of serial actuator *name* on its zone's worker; waits
        here (a minute at most) and keeps the result for :meth:`last_pbx_test`.

        :returns: ``{"actuator", "port", "ok", "steps", "transcript", "reasserted",
            "by", "at"}``, the password hidden.
        """
        future = self._controller.test_pbx(name, by=by)
        result = dict(future.result(timeout=PBX_TEST_TIMEOUT_S), by=by, at=self.now())
        self._last_pbx_test = result
        return result

    def last_pbx_test(self) -> dict | None:
        """The last PBX dialogue test since the start (:meth:`test_pbx`), or None."""
        return self._last_pbx_test

    def read_key(self) -> dict:
        return self._controller.read_key()

    def relay_names(self) -> list[str]:
        return self._controller.relay_names()

    def relay_states(self) -> dict[str, str]:
        return self._controller.relay_states()

    # -- follow-up: stale schedules, alerts, metrics ----------------------------------------
    def stale_warnings(self, zone: str) -> list:
        """The zone's stale-schedule warnings
        (:class:`~appliance.decision.staleness.StaleWarning`)."""
        from appliance.outputs.alerts.review import zone_warnings

        return zone_warnings(self._controller, zone)

    def record_review(self, zone: str, *, by: str) -> None:
        """*by* confirms the zone's schedule is still right (audited)."""
        from appliance.outputs.alerts.review import record_review

        record_review(self._controller.store, zone, by=by, at=self.now())

    def alert_targets(self) -> list:
        """The configured ``[[alerts.targets]]`` (URLs with secrets masked in their
        ``describe()``)."""
        from appliance.outputs.alerts.settings import AlertsConfig

        return list((getattr(self._config, "alerts", None) or AlertsConfig()).targets)

    def send_test_alert(self, *, by: str, only: str | None = None) -> list[dict]:
        """Send a test message to every target (or *only* one), now, from the request's
        thread; ``[{"target", "ok", "detail"}]``."""
        from appliance.outputs.alerts import send_test

        return send_test(
            self._config, by=by, now=self.now(), store=self._controller.store, only=only
        )

    def metrics(self, *, intake=None, engine=None):
        """The :class:`~appliance.outputs.metrics.Metrics` of this appliance (made on
        first use where the daemon gave none)."""
        if self._metrics is None:
            from appliance.outputs.metrics import Metrics

            self._metrics = Metrics(self._controller, intake=intake, engine=engine)
            self._metrics.start()
        return self._metrics

    # -- the installer's view --------------------------------------------------------------
    def installer_info(self) -> dict:
        """What the Installer page shows of the config, secrets masked: the actuators'
        tables, the config as TOML, where it was read from, the read-back settings."""
        config = self._config
        # The port really used, beside the one the config names (they differ in
        # simulate, where a serial actuator talks to the PBX simulator's pty).
        used = self._controller.actuator_ports()
        actuators = []
        for spec in config.actuators:
            shown = mask_secrets({k: v for k, v in spec.items() if not k.startswith("_")})
            if spec.get("name") in used:
                shown["port_configured"] = shown.get("port")
                shown["port"] = used[spec["name"]]
            actuators.append(shown)
        return {
            "actuators": actuators,
            "config_text": config_text(config),
            "config_source": config.source,
            "verify": {"check_minutes": config.check_minutes, "drift": config.drift},
        }

    def last_commissioning_report(self) -> dict | None:
        """The newest report of ``nightswitch test all`` in the data directory:
        ``{"name", "finished", "installer", "overall", "site", "simulated", "path"}``, or
        None when the site was never commissioned with it."""
        from appliance.outputs import commissioning_report

        return commissioning_report.latest(self._controller.store.data_dir)

    def commissioning_report_file(self, name: str):
        """The path of commissioning report *name*, or None when there is no such report
        (a name that is not a report's is never looked up)."""
        from appliance.outputs import commissioning_report

        return commissioning_report.report_file(self._controller.store.data_dir, name)


def _test_seconds(seconds) -> float:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0.05 <= seconds <= MAX_TEST_SECONDS
    ):
        raise ValidationError(
            [
                FieldError(
                    "seconds", f"must be a number of seconds from 0.05 to {MAX_TEST_SECONDS:g}"
                )
            ]
        )
    return float(seconds)


def first_other_change(schedule, now, mode: str):
    """The schedule's first change, after *now*, to a mode other than *mode*: the one an
    override to *mode* would hide."""
    at = now
    for _ in range(4):
        change = next_schedule_change(schedule, at)
        if change is None or change.mode != mode:
            return change
        at = change.at
    return None


def confirm_question(mode: str, end, now, tz, schedule) -> str | None:
    """The question to ask before an override that lasts more than four hours
    (docs/design.md#overrides-and-their-ends),
    or None. It names the scheduled change the override would run past: the FreePBX trap
    of a "temporary" day set after closing that keeps the lines open all night."""
    from appliance.timetext import duration, when

    if end is not None and end - now <= CONFIRM_AFTER:
        return None  # first: the schedule walk below is most of the cost
    change = first_other_change(schedule, now, mode)
    scheduled = decide(now, schedule).mode
    past = f" The schedule has them in {scheduled.upper()} now." if scheduled != mode else ""
    if change is not None and (end is None or end > change.at):
        past += (
            f" It overrules the schedule's change to {change.mode} at {when(change.at, now, tz)}."
        )
    if end is None:
        return (
            f"Keep the phones in {mode.upper()} until someone cancels it? It will not "
            "end by itself." + past
        )
    return (
        f"Keep the phones in {mode.upper()} until {when(end, now, tz)}? That is "
        f"{duration((end - now).total_seconds())} from now." + past
    )


def mask_secrets(value):
    """A copy of a config table with passwords and other secrets replaced."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if (
                isinstance(key, str)
                and any(w in key.lower() for w in SECRET_WORDS)
                and not isinstance(item, (dict, list))
            ):
                out[key] = "********" if item not in (None, "") else item
            else:
                out[key] = mask_secrets(item)
        return out
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def config_text(config) -> str:
    """The config as TOML, secrets masked, for the Installer page."""
    raw = {k: v for k, v in (config.raw or {}).items() if not str(k).startswith("_")}
    if isinstance(raw.get("calendars"), list):
        # A calendar's secret address carries its key in the URL itself.
        from appliance.inputs.calendars.fetch import redact_url

        raw["calendars"] = [
            {
                k: redact_url(v) if k in ("url", "caldav_url") and isinstance(v, str) else v
                for k, v in item.items()
            }
            if isinstance(item, dict)
            else item
            for item in raw["calendars"]
        ]
    try:
        text = tomli_w.dumps(mask_secrets(raw))
    except (TypeError, ValueError) as exc:
        return f"# the config cannot be shown as TOML: {exc}"
    # tomli_w puts every array item on a line of its own; a pin list reads better on one.
    return re.sub(
        r"\[\n((?:[ \t]+[^\n\[\]{}]+,\n)+)\]",
        lambda m: (
            "[" + ", ".join(item.strip().rstrip(",") for item in m.group(1).splitlines()) + "]"
        ),
        text,
    )


__all__ = [
    "ApplianceFacade",
    "ApplianceInterface",
    "CONFIRM_AFTER",
    "OverridePlan",
    "SiteInfo",
    "config_text",
    "confirm_question",
    "first_other_change",
    "mask_secrets",
]
