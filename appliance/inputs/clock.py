"""The only place that reads the time.

Everything else is given ``now`` or a :class:`Clock`. Two clocks exist:

* :class:`SystemClock` is the wall clock of the Pi, plus the question the daemon must
  ask before it switches anything on a schedule: *is this time true?* A Pi without an
  RTC boots with the time fake-hwclock saved at shutdown, minutes or hours stale, until
  systemd-timesyncd steps it (docs/raspberry-pi.md#clocks-without-an-rtc).
* :class:`SimClock` is a clock that tests and ``nightswitch simulate`` set and advance.
  Waiting on it sleeps in *simulated* time: advancing the clock wakes every waiter whose
  deadline has passed, so a test can cross a schedule boundary without sleeping.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

#: Touched by systemd-timesyncd each time it synchronizes (systemd-timesyncd(8)).
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")


class Clock(Protocol):
    """What the controller needs of a clock."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, for timeouts and backoff."""

    def is_synchronized(self) -> bool:
        """True when :meth:`now` can be trusted for switching on a schedule."""

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block until *event* is set or *timeout* seconds of this clock's time pass.

        Returns True if the event was set.
        """


def _kernel_clock_synchronized() -> bool | None:
    """Ask the kernel (adjtimex) whether NTP has disciplined the clock.

    Returns None where the call is unavailable (not Linux, or a sandbox forbids it).
    """
    try:
        import ctypes
        import ctypes.util

        class Timex(ctypes.Structure):
            # struct timex from <sys/timex.h>; only `status` is read, the rest is padding
            # large enough for every architecture's layout.
            _fields_ = [("modes", ctypes.c_uint), ("_pad", ctypes.c_char * 252)]

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = Timex()
        state = libc.adjtimex(ctypes.byref(buf))
        if state < 0:
            return None
        TIME_ERROR = 5  # the kernel's "clock not synchronized" state
        return state != TIME_ERROR
    except (OSError, AttributeError):
        return None


#: An RTC reading before this cannot be a kept time: the chip lost its battery.
RTC_FLOOR = datetime(2026, 1, 1, tzinfo=timezone.utc)
SYNC_POLICIES = ("timesyncd", "rtc", "always")


def _timedatectl_synchronized() -> bool | None:
    """Ask systemd-timedated (over D-Bus, through ``timedatectl``) whether NTP has
    synchronized the clock. It sees chrony and ntpd too, and works under the unit's
    ``ProtectClock=yes``, which forbids this process the adjtimex() call itself."""
    import shutil
    import subprocess

    if shutil.which("timedatectl") is None:
        return None
    try:
        out = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return {"yes": True, "no": False}.get(value)


def _rtc_time(sysfs: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(sysfs.read_text().strip()), timezone.utc)
    except (OSError, ValueError):
        return None


class SystemClock:
    """The real clock.

    :param str sync_policy:
        How to decide that the clock is synchronized (config ``[clock] sync``):

        * ``"timesyncd"`` (default): systemd-timesyncd's flag file (touched after each
          sync), or the kernel's NTP state as ``timedatectl`` reports it (chrony and
          ntpd set it too), or, where this process may read it, adjtimex() itself.
        * ``"rtc"``: as above, or a battery-backed RTC (a DS3231, a Pi 5 with its cell)
          whose time is plausible (after 2026-01-01) and within 10 minutes of the system
          clock. Choose it only with a battery fitted: a Pi 5 always has ``/dev/rtc0``,
          and without a cell its time after a power cut is wrong.
        * ``"always"``: trust the clock (a PC, or a site that sets the clock otherwise).
    :param flag_path:
        The timesyncd flag file; tests point it elsewhere.
    :param rtc_sysfs:
        The RTC's ``since_epoch`` file.
    :param float recheck_s:
        How long a "not synchronized" answer is cached, so a controller woken by key
        presses does not start ``timedatectl`` for each.
    """

    def __init__(
        self,
        sync_policy: str = "timesyncd",
        *,
        flag_path: Path = TIMESYNC_FLAG,
        rtc_sysfs: Path = Path("/sys/class/rtc/rtc0/since_epoch"),
        recheck_s: float = 10.0,
        ask_timedated=_timedatectl_synchronized,
    ):
        if sync_policy not in SYNC_POLICIES:
            raise ValueError(
                f"sync_policy must be one of {', '.join(SYNC_POLICIES)}, not {sync_policy!r}"
            )
        self.sync_policy = sync_policy
        self.flag_path = Path(flag_path)
        self.rtc_sysfs = Path(rtc_sysfs)
        self.recheck_s = recheck_s
        self._ask_timedated = ask_timedated
        self._synced_latch = False
        self._checked_at: float | None = None

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def _rtc_trusted(self) -> bool:
        rtc = _rtc_time(self.rtc_sysfs)
        return (
            rtc is not None and rtc >= RTC_FLOOR and abs((rtc - self.now()).total_seconds()) < 600
        )

    def is_synchronized(self) -> bool:
        if self.sync_policy == "always" or self._synced_latch:
            return True
        mono = time.monotonic()
        if self._checked_at is not None and mono - self._checked_at < self.recheck_s:
            return False
        self._checked_at = mono
        # Once the clock has been right since boot it stays right enough for switching at
        # minute resolution, even if a later NTP poll fails: latch it.
        synced = (
            self.flag_path.exists()
            or (self.sync_policy == "rtc" and self._rtc_trusted())
            or self._ask_timedated() is True
            or _kernel_clock_synchronized() is True
        )
        self._synced_latch = synced
        return synced

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return event.wait(timeout)

    def __repr__(self) -> str:
        return f"<SystemClock policy={self.sync_policy} synchronized={self._synced_latch}>"


#: How often a wait on a frozen :class:`SimClock` looks at the clock again (real seconds).
FROZEN_POLL_S = 0.005


class SimClock:
    """A clock that only moves when told to.

    :param datetime start:
        The first instant (aware). Defaults to now, rounded to the minute.
    :param bool synchronized:
        What :meth:`is_synchronized` answers until :meth:`set_synchronized` changes it.
    :param float rate:
        If above zero, the clock also runs on its own at *rate* simulated seconds per
        real second (``simulate`` uses 1.0 so the web page's clock moves). Tests keep the
        default 0 so nothing moves unless they advance it.
    """

    def __init__(
        self, start: datetime | None = None, *, synchronized: bool = True, rate: float = 0.0
    ):
        if start is None:
            start = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        if start.tzinfo is None:
            raise ValueError("SimClock needs a timezone-aware start")
        self._lock = threading.RLock()  # wait() reads monotonic() while holding it
        self._base = start.astimezone(timezone.utc)
        self._mono = 0.0
        self._rate = float(rate)
        self._real_anchor = time.monotonic()
        self._synchronized = synchronized
        self._listeners: list = []
        #: The timeouts of the latest waits, each recorded once its deadline is fixed, so
        #: a test can move the clock knowing which wait it moves (oldest first).
        self.started_waits: deque[float | None] = deque(maxlen=256)

    # -- reading ---------------------------------------------------------------------
    def _elapsed_real(self) -> float:
        return (time.monotonic() - self._real_anchor) * self._rate if self._rate else 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=self._elapsed_real())

    def monotonic(self) -> float:
        with self._lock:
            return self._mono + self._elapsed_real()

    def is_synchronized(self) -> bool:
        return self._synchronized

    # -- moving ----------------------------------------------------------------------
    def _fold_real(self) -> None:
        elapsed = self._elapsed_real()
        self._base += timedelta(seconds=elapsed)
        self._mono += elapsed
        self._real_anchor = time.monotonic()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by *seconds* (monotonic time moves too)."""
        if seconds < 0:
            raise ValueError("advance() moves forward only; use set() to jump back")
        with self._lock:
            self._fold_real()
            self._base += timedelta(seconds=seconds)
            self._mono += seconds
        self._notify()

    def set(self, now: datetime) -> None:
        """Jump the wall clock to *now* (forward or back). Monotonic time does not jump,
        just as on a real system whose clock is stepped."""
        if now.tzinfo is None:
            raise ValueError("SimClock.set needs a timezone-aware datetime")
        with self._lock:
            self._fold_real()
            self._base = now.astimezone(timezone.utc)
        self._notify()

    def set_synchronized(self, value: bool) -> None:
        self._synchronized = bool(value)
        self._notify()

    def on_change(self, callback) -> None:
        """Call *callback()* after every :meth:`advance`, :meth:`set` or sync change, so
        the controller re-decides at once (a jump may skip past its armed deadline)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Wait for *event* or *timeout* simulated seconds.

        The event is normally set by whoever posts work (or by :meth:`on_change`
        listeners).
        """
        with self._lock:
            deadline = None if timeout is None else self.monotonic() + timeout
            self.started_waits.append(timeout)
        while True:
            if event.is_set():
                return True
            remaining_sim = None if deadline is None else deadline - self.monotonic()
            if remaining_sim is not None and remaining_sim <= 0:
                return False
            if self._rate:
                # A running clock (simulate): its own passage is predictable and a jump
                # wakes the controller through on_change(), so sleep on the event itself
                # (at most 1 s, for waiters that have no listener) rather than polling.
                real = 1.0 if remaining_sim is None else min(1.0, remaining_sim / self._rate)
                if event.wait(max(real, 0.001)):
                    return True
                continue
            # A frozen clock (tests) moves only by advance()/set(). Sleep on the event
            # itself, so posted work is picked up at once, and look at the clock again
            # every FROZEN_POLL_S for waiters that no on_change() listener wakes.
            # (Waiting on the clock's condition instead would hide a set event for up
            # to the whole poll, which once put 50 ms into every key turn in a test.)
            if event.wait(FROZEN_POLL_S):
                return True

    def __repr__(self) -> str:
        return f"<SimClock now={self.now().isoformat()} synchronized={self._synchronized}>"


def system_clock_from_env(default: str = "timesyncd") -> SystemClock:
    """The clock for ``run``: ``NIGHTSWITCH_TRUST_CLOCK=1`` trusts it unconditionally
    (for a PC or a container where timesyncd does not run); otherwise *default*, the
    config's ``[clock] sync``."""
    policy = "always" if os.environ.get("NIGHTSWITCH_TRUST_CLOCK") == "1" else default
    return SystemClock(policy)
