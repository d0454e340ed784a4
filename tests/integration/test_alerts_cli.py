"""The alerts as an installer meets them on the command line: ``check`` refuses a bad
``[alerts]`` table naming the key and prints the stale-schedule warnings naming the
field; ``test alerts`` sends to real servers (aiosmtpd, an HTTP receiver); a target that
cannot be reached never stops the daemon."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from appliance.config import load_config_text
from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from appliance.store import Store
from tests.alerthelp import SmtpSink, WebhookSink, alerts_toml
from tests.appliance_helpers import (
    MONDAY_0759,
    SITE,
    contact_toml,
    free_port,
    nightswitch,
    panel_toml,
    wait_until,
)

BASE = SITE + panel_toml() + contact_toml(sense_pin=None)


def write(tmp_path, text: str):
    path = tmp_path / "nightswitch.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "table, key, words",
    [
        (
            '[[alerts.targets]]\nurl = "smtp://mail.example.com/?to=a@example.com"\n'
            'events = ["not_confirmed", "pbx_on_fire"]\n',
            "alerts.targets[0].events[1]",
            "'pbx_on_fire' is not an event; use not_confirmed",
        ),
        (
            '[[alerts.targets]]\nurl = "gopher://example.com/"\n',
            "alerts.targets[0].url",
            "'gopher' is not a scheme alerts can use",
        ),
        (
            '[[alerts.targets]]\nurl = "smtp://mail.example.com/"\n',
            "alerts.targets[0].url",
            "names no recipient; add ?to=",
        ),
        (
            '[[alerts.targets]]\nurl = "https://bob:secret@hooks.example.com/x"\n',
            "alerts.targets[0].url",
            "has a password in it",
        ),
        (
            '[[alerts.targets]]\nurl = "http:///nohost"\n',
            "alerts.targets[0].url",
            "has no valid host name",
        ),
        (
            "[alerts]\nreminder_hours = -1\n",
            "alerts.reminder_hours",
            "is not allowed; use a number 0 to 168",
        ),
        ('[alerts]\ncallback_time = "25:00"\n', "alerts.callback_time", "use the form 08:30"),
        ('[alerts]\nclosures_by = "13-01"\n', "alerts.closures_by", "use the form 11-01"),
        ("[alerts]\nremind = 4\n", "alerts.remind", "unknown key"),
    ],
)
def test_check_refuses_bad_alert_config_naming_the_key(tmp_path, table, key, words):
    result = nightswitch(
        "check", "--config", write(tmp_path, BASE + table), "--data", tmp_path / "none"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = [text for text in result.stderr.splitlines() if key in text]
    assert line and words in line[0], result.stderr


def test_check_accepts_good_alert_config(tmp_path):
    table = alerts_toml(
        (
            "facilities",
            "smtps://mail.example.com/?to=a@example.com,b@example.com&from=pbx@example.com",
            None,
        ),
        ("chat", "https://hooks.example.com/x", ["faults", "callback_list"]),
        reminder_hours=6,
        callback_time="07:45",
    )
    result = nightswitch(
        "check", "--config", write(tmp_path, BASE + table), "--data", tmp_path / "none"
    )
    assert result.returncode == 0, result.stderr


def test_check_prints_stale_schedule_warnings_naming_the_field(tmp_path):
    data = tmp_path / "data"
    long_ago = datetime(2020, 1, 6, 9, 0, tzinfo=timezone.utc)
    schedule = {
        "timezone": "Europe/Berlin",
        "default_mode": "night",
        "weekly": {"mon": [{"start": "08:00", "end": "18:00", "mode": "day"}]},
        "seasons": [
            {"name": "Summer hours", "from": "2020-07-01", "to": "2020-08-31", "weekly": {}}
        ],
        "exceptions": [
            {"name": "Office move", "from": "2020-03-02", "to": "2020-03-06", "ranges": []}
        ],
    }
    with Store(data) as store:
        store.save_schedule("main", schedule, by="anna", at=long_ago)
    result = nightswitch("check", "--config", write(tmp_path, BASE), "--data", data)
    assert result.returncode == 0, result.stderr
    warnings = [text for text in result.stdout.splitlines() if text.startswith("warning: ")]
    assert (
        "warning: schedule version 1: seasons[0]: the season 'Summer hours' ended on "
        "2020-08-31 and no season comes after it: add next year's dates, or remove it" in warnings
    )
    assert (
        "warning: schedule version 1: exceptions: every exception is in the past (the "
        "last ended on 2020-03-06): add the coming closures and special openings" in warnings
    )
    assert any(
        text.startswith(
            "warning: schedule version 1: schedule.reviewed: last confirmed by anna on 2020-01-06, "
        )
        for text in warnings
    ), warnings


def test_test_alerts_sends_to_real_servers(tmp_path):
    smtp, hook = SmtpSink().start(), WebhookSink().start()
    try:
        table = alerts_toml(("mail", smtp.url, None), ("hook", hook.url, None))
        result = nightswitch(
            "test",
            "alerts",
            "--yes",
            "--config",
            write(tmp_path, BASE + table),
            "--data",
            tmp_path / "data",
        )
        assert result.returncode == 0, result.stderr
        assert (
            "alerts target mail: sent by mail to facilities@example.com via 127.0.0.1:"
            in result.stdout
        )
        assert "test alerts: done" in result.stdout
        wait_until(lambda: smtp.subjects() == ["[Test office] Test: alerts reach this address"])
        assert hook.events() == ["test test"]
        assert smtp.envelopes == [("pbx@example.com", ["facilities@example.com"])]
    finally:
        smtp.stop()
        hook.stop()


def test_test_alerts_names_what_failed(tmp_path):
    closed = free_port()
    table = alerts_toml(
        ("mail", f"smtp://127.0.0.1:{closed}/?to=a@example.com", None),
        ("hook", "http://127.0.0.1:1/nothing-listens", None),
        timeout_s=5,
    )
    result = nightswitch(
        "test",
        "alerts",
        "--yes",
        "--config",
        write(tmp_path, BASE + table),
        "--data",
        tmp_path / "data",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"alerts target mail: FAILED: cannot reach the mail server 127.0.0.1:{closed}: "
        "Connection refused" in result.stdout
    )
    assert (
        "nightswitch: error: test alerts failed: not confirmed: alerts mail (cannot reach"
        in result.stderr
    )


def test_an_unreachable_target_never_stops_the_daemon(tmp_path, mock_factory):
    closed = free_port()
    cfg = load_config_text(
        BASE
        + alerts_toml(
            ("mail", f"smtp://127.0.0.1:{closed}/?to=a@example.com", None),
            ("nowhere", "https://no-such-host.invalid/hook", None),
            timeout_s=2,
        ),
        "test.toml",
    )
    clock = SimClock(MONDAY_0759)
    appliance = Appliance(cfg, tmp_path / "data", pin_factory=mock_factory, clock=clock, web=False)
    appliance.start()
    try:
        clock.set_synchronized(False)
        store = appliance.store
        wait_until(
            lambda: (
                {r["reason"].split(":")[0] for r in store.audit(source="alert")}
                >= {"alert clock (start) to mail", "alert clock (start) to nowhere"}
            ),
            timeout=30,
        )
        clock.set_synchronized(True)
        clock.advance(120)  # 08:01: day, switched meanwhile
        wait_until(lambda: appliance.controller.status()["mode"] == "day")
        appliance.controller.set_override(None, "night", "next", by="anna")
        assert appliance.controller.status()["mode"] == "night"
        assert appliance.alerts._threads and all(t.is_alive() for t in appliance.alerts._threads)
    finally:
        appliance.stop()
