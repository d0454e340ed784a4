"""The alert rules and the stale-schedule rules as pure functions: whole days of faults
walked in microseconds, in the words of the issue."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from appliance.decision.schedule import parse_schedule
from appliance.decision.staleness import days_ahead, library_has_year, stale_warnings
from appliance.outputs.alerts.rules import ZoneFacts, conditions, track
from appliance.outputs.alerts.settings import AlertsConfig, check_alerts
from appliance.smdr.health import port_problem

T0 = datetime(2026, 3, 2, 22, 0, tzinfo=timezone.utc)
SETTINGS = AlertsConfig(reminder_hours=4, link_down_minutes=10, override_hours=12)


def snap(*faults, key="auto", override=None) -> dict:
    return {
        "zone": "main",
        "mode": "night",
        "key": key,
        "override": override,
        "now": T0.isoformat(),
        "faults": [{"kind": k, "message": f"{k} broke", "since": s.isoformat()} for k, s in faults],
    }


def run(timeline, settings=SETTINGS):
    """Walk (minutes, ZoneFacts) steps through conditions and track; the notices sent."""
    state, sent = {}, []
    for minutes, facts in timeline:
        now = T0 + timedelta(minutes=minutes)
        found = conditions({"main": facts}, now, settings)
        upserts, deletes, notices = track(state, found, now, reminder_hours=settings.reminder_hours)
        for u in upserts:
            state[u["key"]] = {
                k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in u.items()
            }
        for d in deletes:
            state.pop(d)
        sent += [(minutes, n.phase, n.event) for n in notices]
    return sent


def test_one_start_reminders_every_n_hours_one_resolved():
    faulty = ZoneFacts(snap(("actuator", T0)))
    steps = [(m, faulty) for m in range(0, 9 * 60 + 1, 1)] + [(9 * 60 + 1, ZoneFacts(snap()))]
    assert run(steps) == [
        (0, "start", "not_confirmed"),
        (240, "reminder", "not_confirmed"),
        (480, "reminder", "not_confirmed"),
        (541, "resolved", "not_confirmed"),
    ]


def test_no_reminder_when_reminder_hours_is_0():
    faulty = ZoneFacts(snap(("clock", T0)))
    steps = [(m, faulty) for m in range(0, 24 * 60, 30)] + [(24 * 60, ZoneFacts(snap()))]
    assert run(steps, AlertsConfig(reminder_hours=0)) == [
        (0, "start", "clock"),
        (1440, "resolved", "clock"),
    ]


def test_a_link_down_only_after_n_minutes_and_one_that_recovers_sooner_is_silent():
    down = ZoneFacts(snap(("link", T0)))
    assert run([(m, down) for m in range(0, 9)] + [(9, ZoneFacts(snap()))]) == []
    assert run([(m, down) for m in range(0, 12)])[0] == (10, "start", "link_down")


def test_each_fault_kind_has_its_event():
    kinds = {
        "actuator": "not_confirmed",
        "fallback": "fallback",
        "clock": "clock",
        "wiring": "wiring",
        "store": "store",
        "internal": "store",
        "config": "config",
        "smdr": "smdr",
    }
    for kind, event in kinds.items():
        assert run([(0, ZoneFacts(snap((kind, T0))))]) == [(0, "start", event)]


def test_the_key_left_past_the_scheduled_change():
    turned, change = T0 - timedelta(hours=4), T0
    facts = ZoneFacts(snap(key="day"), key_since=turned, key_change_at=change)
    assert run([(0, facts), (14, facts)]) == []
    assert run([(15, facts)]) == [(15, "start", "key_left")]
    found = conditions({"main": facts}, T0 + timedelta(minutes=20), SETTINGS)
    assert "has been in DAY since" in found[0].message and "AUTO" in found[0].message


def test_an_override_until_cancelled_older_than_n_hours():
    override = {"mode": "day", "by": "anna", "until": None}
    facts = ZoneFacts(snap(override=override), override_set_at=T0)
    assert run([(11 * 60, facts)]) == []
    assert run([(12 * 60, facts)]) == [(720, "start", "override_old")]
    timed = ZoneFacts(
        snap(override=dict(override, until="2026-03-03T18:00:00+01:00")), override_set_at=T0
    )
    assert run([(24 * 60, timed)]) == []


def test_a_restart_does_not_resolve_what_it_has_not_seen_yet():
    state = {
        "main:clock:clock": {
            "key": "main:clock:clock",
            "zone": "main",
            "event": "clock",
            "message": "x",
            "since": T0.isoformat(),
            "started_at": T0.isoformat(),
            "last_notice_at": T0.isoformat(),
        }
    }
    assert track(state, [], T0, reminder_hours=4, may_resolve=False) == ([], [], [])
    _, deletes, notices = track(state, [], T0, reminder_hours=4)
    assert deletes == ["main:clock:clock"] and notices[0].phase == "resolved"


# -- the SMDR port -----------------------------------------------------------------------------

STATS = {
    "port": "/dev/ttyUSB1",
    "connected": False,
    "last_error": "cannot open the SMDR port: [Errno 2] No such file or directory",
    "last_line_at": None,
}


def test_a_port_that_will_not_open_is_dead_after_two_minutes():
    args = dict(started_at=T0, silent_hours=24, open_in_window=True)
    assert port_problem(STATS, T0 + timedelta(seconds=90), **args) is None
    assert "cannot be used" in port_problem(STATS, T0 + timedelta(minutes=2), **args)


def test_a_silent_port_counts_only_with_day_service_in_the_window():
    stats = dict(STATS, connected=True, last_line_at=T0.isoformat())
    later = T0 + timedelta(hours=25)
    assert (
        port_problem(stats, later, started_at=T0, silent_hours=24, open_in_window=False) is None
    )  # a weekend
    assert "for 25 h although the office was open" in port_problem(
        stats, later, started_at=T0, silent_hours=24, open_in_window=True
    )


# -- stale schedules ---------------------------------------------------------------------------


def schedule(**extra):
    data = {
        "timezone": "Europe/Berlin",
        "default_mode": "night",
        "weekly": {"mon": [{"start": "08:00", "end": "18:00", "mode": "day"}]},
    }
    data.update(extra)
    return parse_schedule(data)


RECENT = datetime(2026, 9, 1, 9, 0, tzinfo=timezone.utc)


def fields(found) -> list[str]:
    return [w.field for w in found]


def test_no_closures_for_next_year_by_the_first_of_november():
    plain = schedule(holidays={"country": "DE", "subdivision": "BY"})
    assert fields(stale_warnings(plain, date(2026, 10, 31), reviewed_at=RECENT)) == []
    found = stale_warnings(plain, date(2026, 11, 1), reviewed_at=RECENT)
    assert fields(found) == ["holidays.custom"]
    assert "no closures of the site's own for 2027" in found[0].message
    ok = schedule(
        holidays={"country": "DE", "custom": [{"date": "2027-12-24", "name": "Christmas closure"}]}
    )
    assert stale_warnings(ok, date(2026, 11, 1), reviewed_at=RECENT) == []
    yearly = schedule(holidays={"custom": [{"month": 12, "day": 24, "name": "Christmas"}]})
    assert stale_warnings(yearly, date(2026, 11, 1), reviewed_at=RECENT) == []
    exception = schedule(
        exceptions=[{"name": "Move", "from": "2027-01-04", "to": "2027-01-08", "ranges": []}]
    )
    assert stale_warnings(exception, date(2026, 11, 1), reviewed_at=RECENT) == []
    # the date is the installer's
    assert fields(
        stale_warnings(plain, date(2026, 10, 1), closures_by="10-01", reviewed_at=RECENT)
    ) == ["holidays.custom"]


def test_a_season_that_ended_with_nothing_after_it():
    summer = {"name": "Summer hours", "from": "2026-07-01", "to": "2026-08-31", "weekly": {}}
    found = stale_warnings(schedule(seasons=[summer]), date(2026, 9, 1), reviewed_at=RECENT)
    assert fields(found) == ["seasons[0]"]
    assert "'Summer hours' ended on 2026-08-31" in found[0].message
    assert stale_warnings(schedule(seasons=[summer]), date(2026, 8, 31), reviewed_at=RECENT) == []
    nxt = dict(summer, name="Summer 2027", **{"from": "2027-07-01", "to": "2027-08-31"})
    assert (
        stale_warnings(schedule(seasons=[summer, nxt]), date(2026, 9, 1), reviewed_at=RECENT) == []
    )


def test_an_exception_list_that_ends_in_the_past():
    move = {"name": "Move", "from": "2026-03-02", "to": "2026-03-06", "ranges": []}
    found = stale_warnings(schedule(exceptions=[move]), date(2026, 3, 7), reviewed_at=RECENT)
    assert fields(found) == ["exceptions"] and "2026-03-06" in found[0].message
    assert stale_warnings(schedule(exceptions=[move]), date(2026, 3, 6), reviewed_at=RECENT) == []


def test_the_holiday_library_without_next_year():
    # India's lunar holidays in the library end with 2035 (it warns beyond that)
    assert library_has_year("IN", None, 2035) and not library_has_year("IN", None, 2036)
    india = schedule(holidays={"country": "IN"})
    found = stale_warnings(
        india, date(2035, 6, 1), reviewed_at=datetime(2035, 5, 1, tzinfo=timezone.utc)
    )
    assert fields(found) == ["holidays.country"]
    assert "no public holidays of IN for 2036" in found[0].message
    assert (
        stale_warnings(
            india, date(2034, 6, 1), reviewed_at=datetime(2034, 5, 1, tzinfo=timezone.utc)
        )
        == []
    )


def test_nobody_confirmed_the_schedule_for_six_months():
    plain = schedule()
    at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    assert stale_warnings(plain, date(2026, 9, 1), reviewed_at=at, reviewed_by="anna") == []
    found = stale_warnings(plain, date(2026, 9, 2), reviewed_at=at, reviewed_by="anna")
    assert fields(found) == ["schedule.reviewed"]
    assert found[0].message.startswith("last confirmed by anna on 2026-03-02, 6 months ago")
    found = stale_warnings(plain, date(2026, 9, 2), reviewed_at=at)
    assert found[0].message.startswith("set up on 2026-03-02 and never confirmed since")
    assert stale_warnings(plain, date(2026, 6, 2), reviewed_at=at, review_months=3)


def test_days_ahead():
    move = {"name": "Move", "from": "2026-03-02", "to": "2026-03-06", "ranges": []}
    assert days_ahead(schedule(exceptions=[move]), date(2026, 3, 1)) == 5
    assert days_ahead(schedule(exceptions=[move]), date(2026, 3, 7)) == 0


# -- the config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, field, words",
    [
        (
            {"targets": [{"url": "smtp://m.example.com/?to=a@example.com", "events": ["nope"]}]},
            "alerts.targets[0].events[0]",
            "'nope' is not an event",
        ),
        (
            {"targets": [{"url": "smtp://m.example.com/?to=a@example.com&cc=b@example.com"}]},
            "alerts.targets[0].url",
            "unknown parameter 'cc'",
        ),
        (
            {"targets": [{"url": "smtp://m.example.com/?to=a@example.com&tls=maybe"}]},
            "alerts.targets[0].url",
            "tls='maybe' is not allowed",
        ),
        (
            {"targets": [{"url": "https://h.example.com/x", "password": "s"}]},
            "alerts.targets[0].password",
            "a webhook takes a token",
        ),
        (
            {"targets": [{"url": "https://h.example.com/x", "zones": ["sales"]}]},
            "alerts.targets[0].zones",
            "use a list of the zones main",
        ),
        (
            {
                "targets": [
                    {"name": "a", "url": "https://h.example.com/x"},
                    {"name": "a", "url": "https://h.example.com/y"},
                ]
            },
            "alerts.targets[1].name",
            "defined twice",
        ),
        ({"summary_weekday": "monday"}, "alerts.summary_weekday", "is not a weekday"),
    ],
)
def test_bad_alert_config_names_the_key(raw, field, words):
    _, errors = check_alerts(raw, ["main"])
    assert [e.field for e in errors] == [field]
    assert words in errors[0].message


def test_good_alert_config():
    cfg, errors = check_alerts(
        {
            "reminder_hours": 2,
            "targets": [
                {
                    "name": "desk",
                    "url": "smtp://m.example.com:587/?to=a@example.com,b@example.com",
                    "username": "pbx",
                    "password": "secret",
                    "events": ["faults", "callback_list"],
                },
                {"url": "https://[2001:db8::1]:8443/hook", "token": "t", "events": ["all"]},
            ],
        },
        ["main"],
    )
    assert errors == []
    desk, hook = cfg.targets
    assert desk.wants("callback_list", "main") and not desk.wants("weekly_summary", "main")
    assert (
        hook.name == "target-2" and hook.kind == "webhook" and hook.wants("weekly_summary", "main")
    )
    assert "secret" not in repr(desk)
