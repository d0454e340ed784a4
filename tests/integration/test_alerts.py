"""Alerts end to end: a real controller on mock pins and a simulated clock, the alert
engine subscribed to it, SQLite on disk, and real servers receiving the messages (an
aiosmtpd SMTP server and an HTTP webhook receiver on 127.0.0.1).

For each event: exactly one message per target when the fault starts (within 60 s of
simulated time), one reminder after the interval, one "resolved" when it clears.
"""

from __future__ import annotations

import json
import os
import pty
import tty
from datetime import datetime, timedelta

import pytest

from appliance.errors import ActuatorError
from appliance.outputs.alerts import AlertEngine
from appliance.smdr.formats import load_format
from appliance.smdr.intake import SmdrIntake
from tests.alerthelp import SmtpSink, WebhookSink, alerts_toml
from tests.appliance_helpers import (
    BERLIN,
    MONDAY_0759,
    build_rig,
    close_contact,
    config,
    contact_toml,
    open_contact,
    panel_toml,
    wait_until,
)

REMINDER_H = 4


@pytest.fixture
def sinks():
    smtp = SmtpSink().start()
    hook = WebhookSink().start()
    yield smtp, hook
    smtp.stop()
    hook.stop()


class AlertRig:
    def __init__(self, rig, engine, sinks):
        self.rig, self.engine = rig, engine
        self.smtp, self.hook = sinks

    def received(self, event: str, phase: str) -> tuple[int, int]:
        name = f"{event} {phase}"
        return self.smtp.events().count(name), self.hook.events().count(name)

    def expect(self, event: str, phase: str, n: int = 1) -> None:
        """Wait until each target got *n* messages of *event* *phase*; then let the
        engine evaluate a few more times and check that no more came (never a flood)."""
        wait_until(
            lambda: self.received(event, phase) == (n, n),
            timeout=30,
            message=f"expected {n} x '{event} {phase}' per target; mail got "
            f"{self.smtp.events()}, webhook got {self.hook.events()}",
        )
        self.settle()
        assert self.received(event, phase) == (n, n)

    def settle(self, passes: int = 3) -> None:
        seen = self.engine.evaluations
        wait_until(lambda: self.engine.evaluations >= seen + passes, timeout=30)

    def advance(self, seconds: float) -> None:
        self.rig.clock.advance(seconds)
        self.rig.settle()
        self.settle()

    def payloads(self, event: str, phase: str) -> list[dict]:
        return [b for b in self.hook.bodies if b["event"] == event and b["phase"] == phase]

    def close(self) -> None:
        self.engine.stop()
        self.rig.close()


def make(
    mock_factory,
    data_dir,
    sinks,
    *fragments,
    start=MONDAY_0759,
    wires=None,
    intake=None,
    prepare=None,
    **settings,
):
    smtp, hook = sinks
    settings.setdefault("reminder_hours", REMINDER_H)
    cfg = config(
        *fragments,
        alerts_toml(("mail", smtp.url, ["faults"]), ("hook", hook.url, ["faults"]), **settings),
    )
    rig = build_rig(mock_factory, data_dir, cfg, start=start, wires=wires)
    if prepare:
        prepare(rig)
    rig.start()
    engine = AlertEngine(
        rig.controller, intake=intake(rig) if intake else None, tick_s=0.05, startup_grace_s=0
    )
    engine.start()
    return AlertRig(rig, engine, sinks)


def within_a_minute(payload: dict, after: timedelta = timedelta(0)) -> None:
    """The message was queued at most 60 s (simulated) after the fault (+ *after*)."""
    since, at = datetime.fromisoformat(payload["since"]), datetime.fromisoformat(payload["at"])
    assert timedelta(0) <= at - (since + after) <= timedelta(seconds=60), payload


def lifecycle(a: AlertRig, event: str, resolve, *, after=timedelta(0)) -> None:
    """The rest of every event's story, once its fault has started."""
    a.expect(event, "start")
    for body in a.payloads(event, "start"):
        within_a_minute(body, after)
    starts = [m for m in a.smtp.messages if m["X-Nightswitch-Event"] == f"{event} start"]
    assert starts[0]["Subject"].startswith("[Test office] Alert: ")
    a.advance(REMINDER_H * 3600 - 120)
    assert a.received(event, "reminder") == (0, 0)
    a.advance(180)
    a.expect(event, "reminder")
    resolve()
    a.expect(event, "resolved")
    a.expect(event, "start")  # no second start after all that
    a.expect(event, "reminder")


# -- one test per event ---------------------------------------------------------------------------


def test_clock_unsynchronized(mock_factory, data_dir, sinks):
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        a.rig.clock.set_synchronized(False)
        lifecycle(a, "clock", lambda: a.rig.clock.set_synchronized(True))
        mail = [m for m in a.smtp.messages if "start" in m["X-Nightswitch-Event"]][0]
        assert mail["Subject"] == "[Test office] Alert: The clock is not synchronized"
        assert "not synchronized" in mail.get_content()
        assert mail["To"] == "facilities@example.com"
    finally:
        a.close()


def test_pbx_did_not_confirm(mock_factory, data_dir, sinks):
    a = make(
        mock_factory,
        data_dir,
        sinks,
        panel_toml(),
        contact_toml(sense_pin=24),
        prepare=lambda rig: rig.pin(24).drive_high(),
    )  # the night lamp is lit
    try:
        sense = a.rig.pin(24)
        assert a.rig.status()["faults"] == []
        a.advance(60)  # 08:00: day; the lamp stays lit
        wait_until(lambda: a.rig.status()["faults"], timeout=10)
        lifecycle(a, "not_confirmed", lambda: (sense.drive_low(), a.advance(300)))
    finally:
        a.close()


def test_primary_failed_and_fallback_holds(mock_factory, data_dir, sinks):
    a = make(
        mock_factory,
        data_dir,
        sinks,
        panel_toml(),
        contact_toml(name="night-input", pin=17, sense_pin=24),
        contact_toml(name="console-key", pin=27, sense_pin=25, role="fallback"),
        wires={27: 25},
        start=MONDAY_0759 + timedelta(hours=13),
    )  # 20:59: night
    try:
        wait_until(lambda: [f["kind"] for f in a.rig.status()["faults"]] == ["fallback"])
        # the primary's lamp comes on: its retry (with backoff) takes over again
        lifecycle(a, "fallback", lambda: (a.rig.pin(24).drive_high(), a.advance(600)))
    finally:
        a.close()


def test_pbx_link_down_for_n_minutes(mock_factory, data_dir, sinks):
    a = make(
        mock_factory,
        data_dir,
        sinks,
        panel_toml(),
        contact_toml(sense_pin=24),
        wires={17: 24},
        # mid-morning: no schedule change falls in the 36 minutes the link is down, so the
        # only thing that meets the failing read-back is the periodic check (a switch at
        # 08:00 would meet it first, as "not confirmed", depending on thread timing)
        start=MONDAY_0759.replace(hour=10, minute=0),
        link_down_minutes=10,
    )
    try:
        actuator = a.rig.actuators[0]
        real, broken = actuator.read_back, {"on": True}

        def read_back():
            if broken["on"]:
                raise ActuatorError("night-service: no answer from the PBX")
            return real()

        actuator.read_back = read_back
        a.advance(15 * 60)  # the periodic read-back fails
        wait_until(lambda: a.rig.status()["faults"])
        assert a.received("link_down", "start") == (0, 0)  # not yet: retried in seconds
        for _ in range(11):
            a.advance(60)
        lifecycle(
            a,
            "link_down",
            lambda: (broken.update(on=False), a.advance(600)),
            after=timedelta(minutes=10),
        )
    finally:
        a.close()


def test_key_switch_wiring_fault(mock_factory, data_dir, sinks):
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        inputs = a.rig.panel.inputs
        close_contact(inputs["key_day"])
        close_contact(inputs["key_night"])
        a.advance(0.2)
        wait_until(lambda: a.rig.status()["faults"])

        def fix():
            open_contact(inputs["key_day"])
            open_contact(inputs["key_night"])
            a.advance(0.2)

        lifecycle(a, "wiring", fix)
    finally:
        a.close()


def test_key_left_in_day_past_the_scheduled_change(mock_factory, data_dir, sinks):
    friday_1750 = datetime(2026, 3, 6, 17, 50, tzinfo=BERLIN)
    a = make(
        mock_factory,
        data_dir,
        sinks,
        panel_toml(),
        contact_toml(sense_pin=None),
        start=friday_1750,
        key_left_minutes=15,
    )
    try:
        a.rig.turn_key("day")
        a.advance(0.2)
        wait_until(lambda: a.rig.status()["key"] == "day")
        a.settle()
        a.advance(20 * 60)  # 18:10: past 18:00, within grace
        assert a.received("key_left", "start") == (0, 0)
        a.advance(5 * 60 + 10)  # 18:15:10
        lifecycle(
            a,
            "key_left",
            lambda: (a.rig.turn_key("auto"), a.advance(0.2)),
            after=timedelta(minutes=15),
        )
        body = a.payloads("key_left", "start")[0]
        assert "DAY" in body["message"] and "18:00" in body["message"]
    finally:
        a.close()


def test_override_until_cancelled_older_than_n_hours(mock_factory, data_dir, sinks):
    a = make(
        mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None), override_hours=12
    )
    try:
        a.rig.controller.set_override(None, "night", None, by="anna")
        a.advance(11 * 3600)
        assert a.received("override_old", "start") == (0, 0)
        a.advance(3600)
        lifecycle(
            a,
            "override_old",
            lambda: (a.rig.controller.cancel_override(None, by="anna"), a.settle()),
            after=timedelta(hours=12),
        )
        assert "anna set night until cancelled" in a.payloads("override_old", "start")[0]["message"]
    finally:
        a.close()


def test_schedule_stale_no_closures_for_next_year(mock_factory, data_dir, sinks):
    november = datetime(2026, 11, 2, 10, 0, tzinfo=BERLIN)
    a = make(
        mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None), start=november
    )
    try:

        def add_closure():
            data = a.rig.controller.get_schedule(None)
            holidays = dict(data.get("holidays") or {"country": "DE", "subdivision": "BY"})
            holidays["custom"] = [{"date": "2027-12-24", "name": "Christmas closure"}]
            a.rig.controller.put_schedule(None, dict(data, holidays=holidays), by="anna")
            a.settle()

        lifecycle(a, "schedule_stale", add_closure)
        assert a.payloads("schedule_stale", "start")[0]["message"].startswith(
            "holidays.custom: no closures of the site's own for 2027"
        )
    finally:
        a.close()


def test_smdr_port_dead_then_back(mock_factory, data_dir, sinks, tmp_path):
    link = tmp_path / "smdr-port"  # /dev/serial/by-id/... that is not there yet
    fmt = load_format("samsung-dcs", "/nonexistent")

    def intake(rig):
        i = SmdrIntake(
            str(link),
            fmt,
            rig.store,
            "main",
            BERLIN,
            rig.clock,
            read_timeout=0.05,
            backoff=(1.0, 5.0),
        )
        i.start()
        a_intake.append(i)
        return i

    a_intake = []
    a = make(
        mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None), intake=intake
    )
    master = slave = None
    try:
        a.advance(3 * 60)  # past the two minutes' grace
        wait_until(lambda: any(f["kind"] == "smdr" for f in a.rig.status()["faults"]))
        fault = [f for f in a.rig.status()["faults"] if f["kind"] == "smdr"][0]
        assert "cannot be used" in fault["message"] and str(link) in fault["message"]
        assert a.rig.panel.leds.patterns["fault"] == "off"  # reception can do nothing

        def plug_in():
            nonlocal master, slave
            master, slave = pty.openpty()
            tty.setraw(slave)
            os.symlink(os.ttyname(slave), link)
            for _ in range(20):
                a.advance(5)
                if a_intake[0].stats()["connected"]:
                    break
            a.settle()

        lifecycle(a, "smdr", plug_in)
    finally:
        a.close()
        for i in a_intake:
            i.stop()
        for fd in (master, slave):
            if fd is not None:
                os.close(fd)


def test_store_failing_is_sent_from_memory(mock_factory, data_dir, sinks):
    """The disk fails (the store is closed under the running controller): the alert
    still goes out, from memory, since the outbox cannot be written."""
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        a.rig.store.close()
        a.advance(3600)  # 09:00 comes: a switch, which cannot be saved
        wait_until(lambda: any(f["kind"] == "store" for f in a.rig.status()["faults"]))
        a.expect("store", "start")
        a.advance(REMINDER_H * 3600 + 60)
        a.expect("store", "reminder")
    finally:
        a.engine.stop()
        a.rig.controller.close()


# -- the server away --------------------------------------------------------------------------


def test_mail_is_retried_while_the_server_is_down_and_lands_when_it_is_back(
    mock_factory, data_dir, sinks
):
    smtp, hook = sinks
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        smtp.stop()
        a.rig.clock.set_synchronized(False)
        wait_until(lambda: hook.events().count("clock start") == 1)
        store = a.rig.store
        wait_until(
            lambda: any(
                "alert clock (start) to mail: failed" in r["reason"]
                for r in store.audit(source="alert")
            )
        )
        (row,) = [r for r in store.outbox(limit=10) if r["target"] == "mail"]
        assert row["status"] == "pending" and row["attempts"] == 1
        assert "cannot reach the mail server 127.0.0.1" in row["last_error"]
        for _ in range(3):  # 30 s, 60 s, 120 s: each try fails, audited
            a.advance(300)
        failures = [
            r for r in store.audit(source="alert", limit=100) if "to mail: failed" in r["reason"]
        ]
        assert len(failures) >= 3
        assert "next try at" in failures[0]["reason"]
        smtp.start()  # the server is back, on the same port
        a.advance(1800)
        wait_until(lambda: smtp.events() == ["clock start"], timeout=30)
        wait_until(
            lambda: (
                [r["status"] for r in store.outbox(limit=10) if r["target"] == "mail"] == ["sent"]
            )
        )
        assert any(
            "alert clock (start) to mail: sent by mail to facilities@example.com" in r["reason"]
            for r in store.audit(source="alert", limit=100)
        )
        # what came while it was down waits in order: start before resolved
        a.rig.clock.set_synchronized(True)
        a.settle()
        wait_until(lambda: smtp.events() == ["clock start", "clock resolved"], timeout=30)
    finally:
        a.close()


def test_a_broken_webhook_is_retried_and_never_stops_the_switching(mock_factory, data_dir, sinks):
    smtp, hook = sinks
    hook.status = 500
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        a.rig.clock.set_synchronized(False)
        wait_until(lambda: smtp.events() == ["clock start"])
        wait_until(
            lambda: any(
                "to hook: failed (the webhook" in r["reason"] and "500" in r["reason"]
                for r in a.rig.store.audit(source="alert")
            ),
            timeout=60,
        )
        a.rig.clock.set_synchronized(True)
        a.rig.turn_key("day")  # reception switches meanwhile
        a.advance(0.2)
        wait_until(lambda: a.rig.status()["mode"] == "day")
        hook.status = 200
        a.advance(600)
        wait_until(lambda: hook.events() == ["clock start", "clock resolved"], timeout=30)
    finally:
        a.close()


def test_open_alerts_survive_a_restart(mock_factory, data_dir, sinks):
    """After a reboot an alert still open is not started again, and one that cleared
    while the appliance was off is resolved."""
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        a.rig.clock.set_synchronized(False)
        a.expect("clock", "start")
    finally:
        a.close()
    states = None
    from appliance.store import Store

    with Store(data_dir) as store:
        states = store.alert_states()
    assert [s["event"] for s in states.values()] == ["clock"]
    # the same fault after the restart: no new start
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        a.rig.clock.set_synchronized(False)
        a.settle(10)
        assert a.received("clock", "start") == (1, 1)
        a.rig.clock.set_synchronized(True)
        a.expect("clock", "resolved")
    finally:
        a.close()


def test_the_webhook_payload(mock_factory, data_dir, sinks):
    a = make(mock_factory, data_dir, sinks, panel_toml(), contact_toml(sense_pin=None))
    try:
        a.rig.clock.set_synchronized(False)
        a.expect("clock", "start")
        (body,) = a.payloads("clock", "start")
        assert set(body) == {
            "text",
            "site",
            "zone",
            "event",
            "phase",
            "title",
            "message",
            "since",
            "at",
        }
        assert body["text"].startswith("[Test office] Alert: The clock is not synchronized: ")
        assert body["site"] == "Test office" and body["zone"] == "main"
        assert a.hook.headers[0]["Content-Type"] == "application/json; charset=utf-8"
        json.dumps(body)
    finally:
        a.close()
