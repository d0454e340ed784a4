"""The clocks: the simulated one tests and ``simulate`` move, and the system clock's
question *is this time true?* (docs/raspberry-pi.md#clocks-without-an-rtc)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from appliance.inputs import clock as clock_module
from appliance.inputs.clock import SimClock, SystemClock, system_clock_from_env
from tests.appliance_helpers import BERLIN

START = datetime(2026, 3, 2, 7, 59, tzinfo=BERLIN)


# -- SimClock ---------------------------------------------------------------------------------


def test_simclock_reads_aware_utc_and_does_not_move_by_itself():
    clock = SimClock(START)
    first = clock.now()
    time.sleep(0.02)
    assert first == clock.now() == START
    assert first.utcoffset() == timedelta(0)
    assert clock.monotonic() == 0.0


def test_simclock_refuses_a_naive_start():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2026, 3, 2, 8, 0))


def test_simclock_default_start_is_now_rounded_to_the_minute():
    before = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    clock = SimClock()
    assert clock.now().second == 0 and clock.now().microsecond == 0
    assert before <= clock.now() <= before + timedelta(minutes=1)


def test_advance_moves_wall_and_monotonic_time_together():
    clock = SimClock(START)
    clock.advance(90.5)
    assert clock.now() == START + timedelta(seconds=90.5)
    assert clock.monotonic() == pytest.approx(90.5)


def test_advance_refuses_to_go_back():
    clock = SimClock(START)
    with pytest.raises(ValueError, match="forward only"):
        clock.advance(-1)


def test_set_steps_the_wall_clock_but_not_monotonic_time():
    clock = SimClock(START)
    clock.advance(10)
    clock.set(START - timedelta(hours=3))  # a stale clock stepped back
    assert clock.now() == START - timedelta(hours=3)
    assert clock.monotonic() == pytest.approx(10)
    clock.set(datetime(2026, 12, 24, 12, 0, tzinfo=BERLIN))
    assert clock.now().isoformat() == "2026-12-24T11:00:00+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 12, 24, 12, 0))


def test_synchronized_flag_and_change_listeners():
    clock = SimClock(START, synchronized=False)
    calls = []
    clock.on_change(lambda: calls.append(clock.now()))
    assert clock.is_synchronized() is False
    clock.set_synchronized(True)
    assert clock.is_synchronized() is True
    clock.advance(5)
    clock.set(START)
    assert calls == [START, START + timedelta(seconds=5), START]
    assert "synchronized=True" in repr(clock)


def test_wait_returns_true_when_the_event_is_set_from_another_thread():
    clock = SimClock(START)
    event = threading.Event()
    threading.Timer(0.05, event.set).start()
    t0 = time.monotonic()
    assert clock.wait(event, None) is True
    assert time.monotonic() - t0 < 2


class RecordingEvent(threading.Event):
    """An event that records the timeout of every wait on it."""

    def __init__(self):
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return super().wait(timeout)


def test_a_frozen_wait_sleeps_on_the_event_itself():
    # Posted work must wake the waiter at once: the frozen clock's wait sleeps on the
    # event, in slices of FROZEN_POLL_S, never on the clock's own lock (which once hid a
    # set event for 50 ms and put that into every key turn in the tests).
    clock = SimClock(START)
    event = RecordingEvent()
    threading.Timer(0.05, event.set).start()
    assert clock.wait(event, None) is True
    assert event.waits, "the wait never slept on the event"
    assert set(event.waits) == {clock_module.FROZEN_POLL_S}
    assert clock_module.FROZEN_POLL_S <= 0.005


def test_a_wait_is_recorded_once_its_deadline_is_fixed():
    clock = SimClock(START)
    event = threading.Event()
    waiter = threading.Thread(target=lambda: clock.wait(event, 7))
    waiter.start()
    deadline = time.monotonic() + 5
    while list(clock.started_waits) != [7] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(clock.started_waits) == [7]
    clock.advance(7)  # moved after the deadline was fixed: this ends the wait
    waiter.join(5)
    assert not waiter.is_alive()


def test_wait_times_out_in_simulated_time_only():
    clock = SimClock(START)
    event = threading.Event()
    result = []
    waiter = threading.Thread(target=lambda: result.append(clock.wait(event, 30)))
    waiter.start()
    time.sleep(0.15)  # real time passes, simulated time does not
    assert waiter.is_alive()
    clock.advance(29.9)
    time.sleep(0.15)
    assert waiter.is_alive()
    clock.advance(0.1)
    waiter.join(2)
    assert result == [False]


def test_wait_with_zero_timeout_returns_at_once():
    clock = SimClock(START)
    event = threading.Event()
    assert clock.wait(event, 0) is False
    event.set()
    assert clock.wait(event, 0) is True


def test_a_running_simclock_moves_at_its_rate():
    t0 = time.monotonic()
    clock = SimClock(START, rate=100.0)
    time.sleep(0.1)
    r0 = time.monotonic()
    elapsed = (clock.now() - START).total_seconds()
    sim_monotonic = clock.monotonic()
    r1 = time.monotonic()
    # bounded by real readings around it, so a slow machine moves the bounds, not the test
    assert 0.1 * 100 * 0.9 <= elapsed <= (r1 - t0) * 100 + 0.5, elapsed
    assert elapsed <= sim_monotonic <= elapsed + (r1 - r0) * 100 + 0.5
    # advancing a running clock adds to what has run on its own
    before = clock.now()
    clock.advance(3600)
    assert clock.now() - before >= timedelta(seconds=3600)


def test_a_running_simclock_times_out_a_wait_in_real_time_scaled_by_rate():
    clock = SimClock(START, rate=100.0)
    event = threading.Event()
    t0 = time.monotonic()
    assert clock.wait(event, 20) is False  # 20 simulated s = 0.2 real s
    assert 0.15 <= time.monotonic() - t0 < 2


# -- SystemClock ------------------------------------------------------------------------------


def test_systemclock_reads_the_real_time():
    clock = SystemClock("always")
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((now - datetime.now(timezone.utc)).total_seconds()) < 1
    m = clock.monotonic()
    assert clock.monotonic() >= m


def test_systemclock_refuses_an_unknown_policy():
    with pytest.raises(ValueError, match="timesyncd"):
        SystemClock("ntp")
    for policy in clock_module.SYNC_POLICIES:
        assert SystemClock(policy).sync_policy == policy


def _clock(tmp_path, policy="timesyncd", timedated=lambda: None, **kw):
    return SystemClock(
        policy,
        flag_path=tmp_path / "synchronized",
        rtc_sysfs=tmp_path / "since_epoch",
        recheck_s=0,
        ask_timedated=timedated,
        **kw,
    )


def test_policy_always_trusts_the_clock(tmp_path):
    clock = _clock(tmp_path, "always")
    assert clock.is_synchronized() is True
    assert "policy=always" in repr(clock)


def test_timesyncd_flag_makes_the_clock_trusted_and_it_stays_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(clock_module, "_kernel_clock_synchronized", lambda: False)
    clock = _clock(tmp_path)
    assert clock.is_synchronized() is False  # booted with a stale clock
    (tmp_path / "synchronized").touch()  # timesyncd synchronized
    assert clock.is_synchronized() is True
    (tmp_path / "synchronized").unlink()  # a later NTP poll failed: still right
    assert clock.is_synchronized() is True


def test_a_not_synchronized_answer_is_cached_for_recheck_s(tmp_path, monkeypatch):
    monkeypatch.setattr(clock_module, "_kernel_clock_synchronized", lambda: None)
    asked = []
    clock = SystemClock(
        "timesyncd",
        flag_path=tmp_path / "synchronized",
        rtc_sysfs=tmp_path / "since_epoch",
        recheck_s=60,
        ask_timedated=lambda: asked.append(1),
    )
    assert clock.is_synchronized() is False
    assert clock.is_synchronized() is False
    assert len(asked) == 1  # timedatectl is not run per key press


def test_an_rtc_counts_only_with_policy_rtc_and_a_plausible_time(tmp_path, monkeypatch):
    monkeypatch.setattr(clock_module, "_kernel_clock_synchronized", lambda: None)
    rtc = tmp_path / "since_epoch"
    rtc.write_text(f"{int(time.time())}\n")
    # A Pi 5 always has an RTC; without a cell it is wrong after a power cut, so its mere
    # presence must not count under the default policy.
    assert _clock(tmp_path).is_synchronized() is False
    assert _clock(tmp_path, "rtc").is_synchronized() is True
    rtc.write_text("86400\n")  # 1970: the cell is flat
    assert _clock(tmp_path, "rtc").is_synchronized() is False
    rtc.write_text(f"{int(time.time()) - 3600}\n")  # an hour off the system clock
    assert _clock(tmp_path, "rtc").is_synchronized() is False


def test_timedated_and_the_kernel_ntp_state_count(tmp_path, monkeypatch):
    monkeypatch.setattr(clock_module, "_kernel_clock_synchronized", lambda: None)
    assert _clock(tmp_path, timedated=lambda: True).is_synchronized() is True
    assert _clock(tmp_path, timedated=lambda: False).is_synchronized() is False
    monkeypatch.setattr(clock_module, "_kernel_clock_synchronized", lambda: True)
    assert _clock(tmp_path).is_synchronized() is True


def test_the_kernel_is_asked_without_crashing():
    # On Linux adjtimex answers; elsewhere or in a sandbox the answer is None.
    assert clock_module._kernel_clock_synchronized() in (True, False, None)


def test_systemclock_wait_is_an_event_wait():
    clock = SystemClock("always")
    event = threading.Event()
    t0 = time.monotonic()
    assert clock.wait(event, 0.05) is False
    assert time.monotonic() - t0 >= 0.04
    event.set()
    assert clock.wait(event, 5) is True


def test_trust_clock_environment_variable(monkeypatch):
    monkeypatch.setenv("NIGHTSWITCH_TRUST_CLOCK", "1")
    assert system_clock_from_env().sync_policy == "always"
    monkeypatch.setenv("NIGHTSWITCH_TRUST_CLOCK", "0")
    assert system_clock_from_env().sync_policy == "timesyncd"
    assert system_clock_from_env("always").sync_policy == "always"  # the config's choice
    monkeypatch.delenv("NIGHTSWITCH_TRUST_CLOCK")
    assert system_clock_from_env().sync_policy == "timesyncd"
    assert system_clock_from_env("always").sync_policy == "always"
