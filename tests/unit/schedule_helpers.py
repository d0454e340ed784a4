"""Schedule tests in the words of the rule book (as python-holidays' ``assertHoliday``).

``assert_mode_at(schedule, "2026-12-24 12:30", "night")`` reads like the requirement it
checks; the helpers turn local wall-clock strings into instants, build schedules from
small JSON fragments, and count changes of mode the way Home Assistant's schedule tests
count state changes around midnight.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from appliance.decision.decide import Key, Override, decide, preview
from appliance.decision.schedule import Schedule, parse_schedule
from appliance.errors import ValidationError

OFFICE_HOURS = [{"start": "08:00", "end": "18:00", "mode": "day"}]


def weekdays(ranges) -> dict:
    """The same *ranges* Monday to Friday, nothing at the weekend."""
    return {day: copy.deepcopy(ranges) for day in ("mon", "tue", "wed", "thu", "fri")}


def schedule_json(**fields) -> dict:
    """A schedule document: Berlin, night by default, office hours Monday to Friday,
    with *fields* replacing the top-level keys."""
    doc = {"timezone": "Europe/Berlin", "default_mode": "night", "weekly": weekdays(OFFICE_HOURS)}
    doc.update(copy.deepcopy(fields))
    return doc


def make_schedule(**fields) -> Schedule:
    """:func:`schedule_json` parsed."""
    return parse_schedule(schedule_json(**fields))


def local(schedule: Schedule, text: str, fold: int = 0) -> datetime:
    """The instant (in UTC) at local wall-clock *text* (``"2026-12-24 12:30"``) in the
    schedule's zone; *fold* = 1 picks the second pass of an autumn overlap.

    UTC, because Python never finds a local time in an autumn overlap ``==`` to an
    instant in another zone (PEP 495), which would make equal instants look different.
    """
    naive = datetime.fromisoformat(text)
    return naive.replace(tzinfo=ZoneInfo(schedule.timezone), fold=fold).astimezone(timezone.utc)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def assert_mode_at(
    schedule: Schedule,
    when: str | datetime,
    mode: str,
    *,
    source: str | None = None,
    reason: str | None = None,
    fold: int = 0,
    override: Override | None = None,
    key: Key = Key.AUTO,
):
    """Assert the mode (and optionally source and reason) at a local wall-clock time."""
    now = when if isinstance(when, datetime) else local(schedule, when, fold)
    decision = decide(now, schedule, override, key)
    assert decision.mode == mode, f"at {when}: {decision}"
    if source is not None:
        assert decision.source == source, f"at {when}: {decision}"
    if reason is not None:
        assert decision.reason == reason, f"at {when}: {decision}"
    return decision


def assert_next_change(
    schedule: Schedule,
    when: str,
    at_local: str | None,
    mode: str | None = None,
    *,
    fold: int = 0,
    at_fold: int = 0,
):
    """Assert the next change after local *when*: at local *at_local* to *mode*
    (None: nothing changes within the search horizon)."""
    decision = decide(local(schedule, when, fold), schedule)
    if at_local is None:
        assert decision.next_change is None, decision
        return decision
    expected = local(schedule, at_local, at_fold)
    assert decision.next_change is not None, decision
    assert decision.next_change.at == expected, (
        f"next change {decision.next_change.at.astimezone(ZoneInfo(schedule.timezone))}, "
        f"expected {expected}"
    )
    if mode is not None:
        assert decision.next_change.mode == mode, decision
    return decision


def assert_errors(document, expected: dict[str, str], *, allowed_modes=None):
    """Assert that parsing *document* fails with (at least) these field errors, each
    message containing the given text."""
    with pytest.raises(ValidationError) as info:
        parse_schedule(document, allowed_modes=allowed_modes)
    found = {e.field: e.message for e in info.value.errors}
    for field, text in expected.items():
        assert field in found, f"no error for {field}; got {found}"
        assert text in found[field], f"{field}: {found[field]!r} lacks {text!r}"
    return info.value


def mode_changes(
    schedule: Schedule, start: datetime, end: datetime, step: timedelta = timedelta(minutes=1)
) -> list[tuple[datetime, str]]:
    """Sample :func:`decide` every *step* from *start* to *end* and list each change of
    mode, like Home Assistant counting ``state_changed`` events: a flicker at midnight
    shows up as two extra entries."""
    changes = []
    mode = decide(start, schedule).mode
    at = start
    while at < end:
        at += step
        now_mode = decide(at, schedule).mode
        if now_mode != mode:
            changes.append((at, now_mode))
            mode = now_mode
    return changes


def preview_table(schedule: Schedule, start: str, days: int) -> list[tuple[str, str]]:
    """A preview as ``[("2026-12-24 08:00 CET", "day"), ...]`` for compact asserts."""
    return [
        (f"{t.at.strftime('%Y-%m-%d %H:%M')} {t.at.tzname()}", t.mode)
        for t in preview(schedule, date.fromisoformat(start), days)
    ]
