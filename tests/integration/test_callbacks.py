"""The morning callback list from a real SMDR feed: the PBX simulator prints call records
on its SMDR pty (Panasonic KX-TDA layout, with ring times), the real intake parses and
stores them, the controller keeps the mode history on a simulated clock, and the list
the Calls page shows must equal ``GET /api/v1/calls`` for that night. The same list goes
out by mail at the set time, to a real SMTP server."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from appliance.control.facade import ApplianceFacade
from appliance.outputs.alerts import AlertEngine
from appliance.pbx.profiles import load_profiles
from appliance.sim.pty_pbx import PbxSimulator
from appliance.smdr.formats import load_format
from appliance.smdr.intake import SmdrIntake
from tests.alerthelp import SmtpSink, alerts_toml
from tests.appliance_helpers import BERLIN, build_rig, config, contact_toml, panel_toml, wait_until
from web import create_app

MONDAY_1700 = datetime(2026, 3, 2, 17, 0, tzinfo=BERLIN)
NIGHT = date(2026, 3, 2)


@pytest.fixture
def feed(mock_factory, data_dir):
    smtp = SmtpSink().start()
    cfg = config(
        panel_toml(),
        contact_toml(sense_pin=None),
        alerts_toml(
            ("desk", smtp.url, ["callback_list", "weekly_summary"]),
            callback_time="08:30",
            summary_weekday="tue",
        ),
    )
    rig = build_rig(mock_factory, data_dir, cfg, start=MONDAY_1700)
    rig.start()
    profile = load_profiles("/nonexistent")["panasonic-kx-tda"]
    sim = PbxSimulator(profile, password="1234", tz=BERLIN, now=rig.clock.now, seed=7).start()
    intake = SmdrIntake(
        sim.smdr_path,
        load_format("panasonic-kx-tda", "/nonexistent"),
        rig.store,
        "main",
        BERLIN,
        rig.clock,
        read_timeout=0.05,
        backoff=(0.05, 0.2),
    )
    intake.start()
    engine = AlertEngine(rig.controller, intake=intake, tick_s=0.05, startup_grace_s=0)
    engine.start()
    wait_until(lambda: intake.stats()["connected"], timeout=10)
    yield rig, sim, intake, engine, smtp
    engine.stop()
    intake.stop()
    sim.close()
    rig.close()
    smtp.stop()


def call_at(rig, sim, intake, local: datetime, **fields) -> None:
    """Move the clock to *local* and let the PBX print a call that started then."""
    rig.clock.set(local)
    rig.settle()
    before = intake.stats()["calls"]
    sim.call(started_at=local, **fields)
    wait_until(lambda: intake.stats()["calls"] == before + 1, timeout=10)


def test_the_callback_list_equals_the_calls_api_for_that_night(feed):
    rig, sim, intake, engine, smtp = feed
    t = MONDAY_1700.replace
    call_at(
        rig,
        sim,
        intake,
        t(hour=17, minute=30),
        direction="in",
        number="0301111111",
        answered=True,
        ring_s=5,
        duration_s=60,
    )  # office hours
    rig.clock.set(t(hour=18, minute=1))  # closing time
    wait_until(lambda: rig.status()["mode"] == "night")
    rig.settle()
    call_at(
        rig,
        sim,
        intake,
        t(hour=19, minute=2),
        direction="in",
        number="0302222222",
        answered=False,
        ring_s=35,
        duration_s=0,
    )
    call_at(
        rig,
        sim,
        intake,
        t(hour=19, minute=40),
        direction="out",
        number="0309999999",
        answered=True,
        duration_s=120,
    )  # staff calling out
    call_at(
        rig,
        sim,
        intake,
        t(hour=21, minute=15),
        direction="in",
        number="0303333333",
        answered=False,
        ring_s=20,
        duration_s=0,
    )
    call_at(
        rig,
        sim,
        intake,
        t(hour=23, minute=55),
        direction="in",
        number="0302222222",
        answered=False,
        ring_s=40,
        duration_s=0,
    )
    call_at(
        rig,
        sim,
        intake,
        t(day=3, hour=6, minute=10),
        direction="in",
        number="0304444444",
        answered=True,
        ring_s=3,
        duration_s=30,
    )
    rig.clock.set(t(day=3, hour=8, minute=1))  # opening time
    wait_until(lambda: rig.status()["mode"] == "day")
    rig.settle()
    call_at(
        rig,
        sim,
        intake,
        t(day=3, hour=9, minute=5),
        direction="in",
        number="0305555555",
        answered=True,
        ring_s=4,
        duration_s=30,
    )  # next day
    app = create_app(
        ApplianceFacade(rig.controller, rig.config), store=rig.store, test_config={"TESTING": True}
    )
    client = app.test_client()
    token = rig.store.create_token("operator", label="t", by="test", at=rig.clock.now())
    auth = {"Authorization": f"Bearer {token}"}

    listed = client.get(f"/api/v1/calls/callbacks?night={NIGHT}", headers=auth).get_json()
    api = client.get(
        f"/api/v1/calls?from={NIGHT}&to={NIGHT + timedelta(days=1)}", headers=auth
    ).get_json()
    began, ended = (datetime.fromisoformat(listed[k]) for k in ("began", "ended"))
    assert (began.hour, ended.hour) == (18, 8)
    from_api: dict[str, list] = {}
    for c in api["calls"]:
        at = datetime.fromisoformat(c["started_at"])
        if c["after_hours"] and c["direction"] != "out" and began <= at < ended:
            from_api.setdefault(c["number"], []).append(
                (c["id"], c["started_at"], c["ring_s"], c["answered"])
            )
    from_list = {
        g["number"]: [(c["id"], c["started_at"], c["ring_s"], c["answered"]) for c in g["calls"]]
        for g in listed["numbers"]
    }
    assert from_list == from_api
    assert list(from_list) == ["0302222222", "0303333333", "0304444444"]  # by first call
    assert [c[2] for c in from_list["0302222222"]] == [35, 40]
    group = listed["numbers"][0]
    # this Panasonic layout gives the ring time but not whether anyone answered
    assert group["count"] == 2 and group["answered"] is None
    assert listed["calls"] == 4

    # the morning mail at 08:30 carries the same list
    rig.clock.set(t(day=3, hour=8, minute=31))
    rig.settle()
    wait_until(lambda: any("to call back" in s for s in smtp.subjects()), timeout=60)
    (mail,) = [m for m in smtp.messages if "to call back" in str(m["Subject"])]
    assert str(mail["Subject"]) == (
        "[Test office] 4 after-hours calls to call back, night of 2026-03-02"
    )
    body = mail.get_content().replace("\r\n", "\n")
    for number in from_list:
        assert number in body
    assert "0309999999" not in body and "0301111111" not in body
    assert (
        "0302222222: 2 calls, answer not known\n    Mon 19:02, rang 35 s\n    Mon 23:55, rang 40 s"
        in body
    )

    # an operator ticks a number: who and when in the audit, on the list and the page
    answer = client.post(
        "/api/v1/calls/callbacks", headers=auth, json={"night": str(NIGHT), "number": "0302222222"}
    )
    assert answer.status_code == 200 and answer.get_json()["changed"] is True
    ticked = answer.get_json()["list"]["numbers"][0]["called_back"]
    assert ticked["by"] == "t" or ticked["by"]
    entry = rig.store.audit(source="callback")[0]
    assert entry["reason"] == "called back 0302222222 (night of 2026-03-02)"
    bad = client.post(
        "/api/v1/calls/callbacks", headers=auth, json={"night": str(NIGHT), "number": "0309999999"}
    )
    assert bad.status_code == 400
    assert "is not on the callback list of the night of 2026-03-02" in bad.get_json()["error"]

    # the weekly summary goes out on Tuesday with the same figures
    wait_until(lambda: any("week to" in s for s in smtp.subjects()), timeout=60)
    (summary,) = [m for m in smtp.messages if "week to" in str(m["Subject"])]
    text = summary.get_content().replace("\r\n", "\n")
    assert "After-hours calls from 2026-02-24 to 2026-03-02: 4, answer rate not known." in text
    assert "2026-03-02: 4 calls" in text
    assert "Busiest hours: 19:00-20:00 (2), 21:00-22:00 (1), 23:00-00:00 (1)" in text
    assert "Busiest hours:" in text
