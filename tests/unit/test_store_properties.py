"""Properties of the time-range queries: stored text must order exactly as the instants do.

Instants are stored as ISO-8601 UTC text and compared as text by SQLite. That is only
right if every stored string has the same offset and comparable precision; these
properties check it against plain Python on random instants, offsets and microseconds.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.store import Store

BASE = datetime(2026, 3, 29, 0, 0, tzinfo=timezone.utc)  # a DST weekend in Europe

offsets = st.sampled_from(
    [
        timedelta(0),
        timedelta(hours=1),
        timedelta(hours=2),
        timedelta(hours=-5),
        timedelta(hours=5, minutes=30),
    ]
)


@st.composite
def instants(draw):
    seconds = draw(st.integers(min_value=0, max_value=3 * 86400))
    micro = draw(st.sampled_from([0, 0, 1, 500000, 999999]))
    tz = timezone(draw(offsets))
    return (BASE + timedelta(seconds=seconds, microseconds=micro)).astimezone(tz)


def call_at(started_at):
    return SimpleNamespace(
        started_at=started_at,
        duration_s=1,
        extension="1",
        trunk=None,
        direction="in",
        answered=None,
        ring_s=None,
        number=None,
        fmt="test",
        raw=started_at.isoformat(),
    )


@settings(max_examples=20, deadline=None)
@given(st.lists(instants(), min_size=1, max_size=15), instants(), instants())
def test_calls_between_match_python(times, start, end):
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        for t in times:
            store.add_call("main", call_at(t))
        got = sorted(r["raw"] for r in store.calls("main", start, end))
    assert got == sorted(t.isoformat() for t in times if start <= t < end)


@settings(max_examples=20, deadline=None)
@given(
    st.lists(
        st.tuples(instants(), st.sampled_from(["day", "night", "lunch"])), min_size=1, max_size=12
    ),
    instants(),
    instants(),
)
def test_mode_history_matches_python(changes, start, end):
    changes.sort(key=lambda c: c[0])
    # What the store should record: only changes of mode, in order.
    applied, expected_rows = None, []
    for at, mode in changes:
        if mode != applied:
            expected_rows.append((at, mode))
            applied = mode
    in_force = [r for r in expected_rows if r[0] <= start][-1:]
    after = [r for r in expected_rows if start < r[0] < end]
    expected = [(at.astimezone(timezone.utc), mode) for at, mode in in_force + after]
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        for at, mode in changes:
            store.set_applied("main", mode, at=at)
        got = [
            (datetime.fromisoformat(r["at"]), r["mode"])
            for r in store.mode_history("main", start, end)
        ]
    assert got == expected
