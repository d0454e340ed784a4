"""The clock of ``simulate`` and ``test all --simulate``: real time, or
``NIGHTSWITCH_SIM_START`` so a rehearsal does not depend on the hour it is run at."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from appliance.daemon import simulated_clock
from appliance.errors import NightswitchError


def test_it_starts_at_the_real_time_by_default(monkeypatch):
    monkeypatch.delenv("NIGHTSWITCH_SIM_START", raising=False)
    clock = simulated_clock()
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(minutes=2)


def test_it_starts_at_the_time_given(monkeypatch):
    monkeypatch.setenv("NIGHTSWITCH_SIM_START", "2026-03-02T10:30:00+01:00")
    clock = simulated_clock()
    start = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
    assert start <= clock.now() < start + timedelta(minutes=5)  # it runs at real speed


@pytest.mark.parametrize("text", ["tomorrow", "2026-03-02T10:30:00", "2026-13-02T10:30+01:00"])
def test_a_time_it_cannot_use_is_a_clear_error(monkeypatch, text):
    monkeypatch.setenv("NIGHTSWITCH_SIM_START", text)
    with pytest.raises(NightswitchError) as caught:
        simulated_clock()
    message = str(caught.value)
    assert "NIGHTSWITCH_SIM_START" in message and "2026-03-02T10:30:00+01:00" in message
