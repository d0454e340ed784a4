"""The web layer's pure parts: the schedule form, charts, time wording, secret masking."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from appliance import timetext as timefmt
from appliance.control.facade import mask_secrets
from appliance.decision.dayplan import day_plan
from appliance.decision.schedule import parse_schedule, schedule_to_json
from web import charts, schedule_form

BERLIN = ZoneInfo("Europe/Berlin")

SPEC_EXAMPLE = {
    "timezone": "Europe/Berlin",
    "default_mode": "night",
    "weekly": {
        "mon": [
            {"start": "08:00", "end": "12:00", "mode": "day"},
            {"start": "12:00", "end": "13:00", "mode": "lunch"},
            {"start": "13:00", "end": "18:00", "mode": "day"},
        ],
        "tue": [{"start": "08:00", "end": "18:00", "mode": "day"}],
        "sat": [],
        "sun": [],
    },
    "holidays": {
        "country": "DE",
        "subdivision": "BY",
        "mode": "night",
        "custom": [
            {"date": "2026-06-12", "name": "Company day"},
            {"month": 12, "day": 31, "name": "New Year's Eve"},
        ],
    },
    "seasons": [
        {
            "name": "Summer hours",
            "from": "2026-07-01",
            "to": "2026-08-31",
            "weekly": {"mon": [{"start": "07:00", "end": "15:00", "mode": "day"}]},
        }
    ],
    "exceptions": [
        {
            "name": "Christmas Eve",
            "from": "2026-12-24",
            "to": "2026-12-24",
            "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}],
        },
        {"name": "Office move", "from": "2027-01-04", "to": "2027-01-08", "ranges": []},
    ],
}


def test_field_labels_in_words():
    label = schedule_form.field_label
    assert label("weekly.tue[0].end") == "Tuesday, hours 1, until"
    assert label("seasons[1].weekly.mon[0].start") == "Season 2, Monday, hours 1, from"
    assert label("exceptions[2].ranges[1].mode") == "Exception 3, hours 2, mode"
    assert label("holidays.custom[1].month") == "Holidays, own holiday 2, date"
    assert label("timezone") == "Time zone"
    assert label("") == "schedule" and label("weird[") == "weird["


def test_paths():
    assert schedule_form.parse_path("weekly.mon[1].end") == ["weekly", "mon", 1, "end"]
    assert schedule_form.join_path(["seasons", 0, "weekly", "tue", 2]) == "seasons[0].weekly.tue[2]"
    assert schedule_form.dom_id("weekly.mon[1].end") == "f-weekly-mon-1-end"
    for bad in ("", ".a", "a.", "a..b", "a[1", "a[x]", "[0]", "a[0]b", "a[9999]", "a b"):
        with pytest.raises(schedule_form.FormError):
            schedule_form.parse_path(bad)


def test_spec_example_round_trips_through_the_form():
    model = schedule_form.model_from_json(SPEC_EXAMPLE)
    assert model["holidays"]["custom"][1] == {"name": "New Year's Eve", "date": "12-31"}
    doc, _ = schedule_form.model_to_json(model)
    assert schedule_to_json(parse_schedule(doc)) == schedule_to_json(parse_schedule(SPEC_EXAMPLE))


def test_form_fields_become_the_model():
    form = MultiDict(
        [
            ("csrf_token", "x"),
            ("action", "save"),
            ("timezone", "Europe/Berlin"),
            ("weekly.mon[1].start", "13:00"),
            ("weekly.mon[0].start", "08:00"),
            ("holidays.ignore", "Easter Monday"),
            ("holidays.ignore", "2026-06-04"),
            ("seasons[0].weekly.fri[0].mode", "day"),
        ]
    )
    model = schedule_form.form_to_model(form)
    assert [r["start"] for r in model["weekly"]["mon"]] == ["08:00", "13:00"]
    assert model["holidays"]["ignore"] == ["Easter Monday", "2026-06-04"]
    assert model["seasons"][0]["weekly"]["fri"][0]["mode"] == "day"
    assert model["weekly"]["sun"] == []


def test_errors_map_back_past_skipped_blank_rows():
    model = schedule_form.model_from_json(SPEC_EXAMPLE)
    model["weekly"]["mon"].insert(0, schedule_form.blank_range())
    model["exceptions"].insert(0, {"name": "", "from": "", "to": "", "ranges": []})
    doc, index = schedule_form.model_to_json(model)
    assert len(doc["weekly"]["mon"]) == 3 and len(doc["exceptions"]) == 2
    assert index.to_model("weekly.mon[0].end") == "weekly.mon[1].end"
    assert index.to_model("exceptions[0].ranges[0].start") == "exceptions[1].ranges[0].start"
    assert index.to_model("holidays.custom[1].month") == "holidays.custom[1].date"
    assert index.to_model("timezone") == "timezone"
    assert index.to_model("weird[") == "weird["


def test_ignore_left_over_from_another_country_is_dropped():
    model = schedule_form.model_from_json(SPEC_EXAMPLE)
    model["holidays"]["ignore"] = ["Corpus Christi", "Thanksgiving Day", "2026-06-04"]
    doc, _ = schedule_form.model_to_json(model, holiday_names={"corpus christi"})
    assert doc["holidays"]["ignore"] == ["Corpus Christi", "2026-06-04"]


def test_actions():
    model = schedule_form.model_from_json(SPEC_EXAMPLE)
    assert schedule_form.apply_action(model, "add:weekly.wed") == "weekly.wed[0].start"
    # Never an empty row (issue 16): an empty day starts with the first weekly hours.
    assert model["weekly"]["wed"] == [{"start": "08:00", "end": "12:00", "mode": "day"}]
    assert schedule_form.apply_action(model, "remove:weekly.mon[1]") == "weekly.mon"
    assert [r["mode"] for r in model["weekly"]["mon"]] == ["day", "day"]
    schedule_form.apply_action(model, "copy:weekly.tue")
    assert model["weekly"]["fri"] == model["weekly"]["tue"]
    assert schedule_form.apply_action(model, "add:seasons") == "seasons[1].name"
    assert (
        schedule_form.apply_action(model, "add:exceptions[1].ranges")
        == "exceptions[1].ranges[0].start"
    )
    for bad in (
        "add:timezone",
        "remove:weekly.mon",
        "remove:seasons[9]",
        "copy:weekly.sat",
        "drop:weekly.mon",
        "add:",
        "nothing",
    ):
        with pytest.raises(schedule_form.FormError):
            schedule_form.apply_action(model, bad)


times = st.integers(0, 95).map(lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}")


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
        st.lists(st.tuples(times, times, st.sampled_from(["day", "night", "lunch"])), max_size=3),
    )
)
def test_any_weekly_plan_survives_the_form(weekly):
    doc = {
        "timezone": "Europe/Berlin",
        "default_mode": "night",
        "weekly": {
            d: [{"start": a, "end": b, "mode": m} for a, b, m in rows] for d, rows in weekly.items()
        },
    }
    model = schedule_form.model_from_json(doc)
    form = MultiDict()
    for day, rows in model["weekly"].items():
        for i, row in enumerate(rows):
            for key, value in row.items():
                form[f"weekly.{day}[{i}].{key}"] = value
    form["timezone"] = "Europe/Berlin"
    back, _ = schedule_form.model_to_json(schedule_form.form_to_model(form))
    assert {d: r for d, r in back["weekly"].items() if r} == {
        d: r for d, r in doc["weekly"].items() if r
    }


def test_coming_year_warning():
    bare = parse_schedule({"timezone": "Europe/Berlin"})
    today = date(2026, 3, 2)
    from appliance.decision.dayplan import holiday_reason

    assert "no holidays and no exceptions" in schedule_form.coming_year_warning(
        bare, today, holiday_reason=holiday_reason
    )
    old = parse_schedule(
        {
            "timezone": "Europe/Berlin",
            "exceptions": [{"name": "Christmas Eve", "from": "2025-12-24", "ranges": []}],
        }
    )
    assert (
        "The last exception was Christmas Eve on 2025-12-24"
        in schedule_form.coming_year_warning(old, today, holiday_reason=holiday_reason)
    )
    with_country = parse_schedule({"timezone": "Europe/Berlin", "holidays": {"country": "DE"}})
    assert (
        schedule_form.coming_year_warning(with_country, today, holiday_reason=holiday_reason)
        is None
    )


def test_timeline_svg():
    schedule = parse_schedule(SPEC_EXAMPLE)
    rows = charts.day_rows(schedule, date(2026, 12, 21), 7, day_plan=day_plan)
    assert [s.mode for s in rows[0].segments] == ["night", "day", "lunch", "day", "night"]
    assert rows[3].special == "exception" and rows[4].special == "holiday"
    svg = str(charts.timeline_svg(rows, now_day=date(2026, 12, 21), now_minute=600))
    assert svg.count('<svg class="tl-bar"') == 7 and svg.count('<rect class="m-night"') >= 7
    assert 'x="33.333%"' in svg  # 08:00
    assert 'class="now"' in svg
    assert "Christmas Eve" in svg


def test_charts_escape_text():
    svg = str(
        charts.bar_chart_svg(["<b>"], [charts.Series("x&y", "c-answered", (3,))], title='"quoted"')
    )
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "x&amp;y" in svg
    empty = str(charts.bar_chart_svg([], [charts.Series("calls", "c-answered", ())], title="t"))
    assert empty.startswith("<svg")
    assert charts.mode_class("day") == "m-day"
    assert charts.mode_class("lunch") == charts.mode_class("lunch") in ("m-a", "m-b", "m-c", "m-d")


def test_time_wording():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # Monday 10:00 Berlin
    # one way everywhere (issue 16): never "today"/"tomorrow", the year when it differs
    assert timefmt.when("2026-03-02T18:00:00+01:00", now, BERLIN) == "Mon 2 Mar 18:00"
    assert timefmt.when(now + timedelta(hours=22), now, BERLIN) == "Tue 3 Mar 08:00"
    assert timefmt.when(now + timedelta(days=3), now, BERLIN) == "Thu 5 Mar 10:00"
    assert timefmt.when(now + timedelta(days=400), now, BERLIN) == "Tue 6 Apr 2027 11:00"
    assert timefmt.when(None, now, BERLIN) == "never"
    assert timefmt.duration(45 * 60) == "45 min"
    assert timefmt.duration(14 * 3600 + 20 * 60) == "14 h 20 min"
    assert timefmt.duration(3 * 86400 + 7200) == "3 days 2 h"


def test_secrets_are_masked_but_pins_are_not():
    config = {
        "actuators": [
            {
                "name": "pbx",
                "password": "hunter2",
                "pin": 17,
                "settings": {"snmp_community": "public"},
            }
        ],
        "smdr": {"password": ""},
        "front_panel": {"pins": {"key_day": 5}},
    }
    masked = mask_secrets(config)
    assert masked["actuators"][0]["password"] == "********"
    assert masked["actuators"][0]["pin"] == 17
    assert masked["actuators"][0]["settings"]["snmp_community"] == "********"
    assert masked["smdr"]["password"] == ""
    assert masked["front_panel"]["pins"]["key_day"] == 5
    assert config["actuators"][0]["password"] == "hunter2"


def test_the_request_gate_lets_two_requests_run_the_app_at_once():
    """web.serving.RequestGate: a third request waits, blocked, until a slot is free,
    and every request is answered in the end."""
    import threading

    from web.serving import REQUESTS_AT_ONCE, RequestGate

    inside, most, lock = [0], [0], threading.Lock()
    go = threading.Event()

    def app(environ, start_response):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        go.wait(10)
        with lock:
            inside[0] -= 1
        return [b"ok"]

    gate = RequestGate(app, REQUESTS_AT_ONCE)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(gate({}, None))) for _ in range(5)]
    for thread in threads:
        thread.start()
    pause = threading.Event()  # never set: a way to wait
    for _ in range(1000):
        if inside[0] >= REQUESTS_AT_ONCE:
            break
        pause.wait(0.01)
    pause.wait(0.1)  # a chance for a third to get in, if the gate let it
    assert inside[0] == REQUESTS_AT_ONCE == 2
    go.set()
    for thread in threads:
        thread.join(10)
    assert answers == [[b"ok"]] * 5
    assert most[0] == 2


def test_a_request_that_waits_gives_its_slot_back():
    """web.serving.waiting: two requests waiting on a slow hardware test hold no slot,
    so a third (someone loading the status page) runs at once; each takes its slot back
    when its wait ends."""
    import threading

    from web.serving import RequestGate, waiting

    release = threading.Event()
    served = threading.Event()

    def app(environ, start_response):
        if environ.get("slow"):
            return [waiting(release.wait, 10)]
        served.set()
        return [b"page"]

    gate = RequestGate(app, 2)
    slow = [threading.Thread(target=gate, args=({"slow": True}, None)) for _ in range(2)]
    for thread in slow:
        thread.start()
    answer = []
    third = threading.Thread(target=lambda: answer.append(gate({}, None)))
    third.start()
    assert served.wait(10), "the page waited behind two hardware tests"
    third.join(10)
    assert answer == [[b"page"]]
    release.set()
    for thread in slow:
        thread.join(10)
    # every slot is back: two more acquire without waiting
    assert gate.slots.acquire(timeout=1) and gate.slots.acquire(timeout=1)
