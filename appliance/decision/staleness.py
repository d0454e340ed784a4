"""Stale-schedule warnings: a schedule that was right last year and quietly is not now.

Hours, holidays and closures change; a schedule nobody updated sends calls to the wrong
place (the night-service article the project follows). These pure functions look at a
parsed :class:`~appliance.decision.schedule.Schedule` and the date, and say what needs
attention, each warning naming the schedule field:

* ``holidays.custom`` / ``exceptions``: by a set date (default 1 November) the site's own
  closures for the coming year are not entered (no dated custom holiday and no exception
  in that year; a yearly custom holiday counts for every year);
* ``seasons[i]``: the last season has ended and nothing comes after it (next summer
  would run on the standard hours);
* ``exceptions``: every exception lies in the past (the list was kept once, then not);
* ``holidays.country``: the ``holidays`` library has no entries for next year (its data
  for a country can end, e.g. India's lunar dates stop at 2035);
* ``schedule.reviewed``: nobody confirmed the schedule for N months (default 6). A save
  of the schedule by a person counts as a review, as does the "reviewed, still right"
  button.

The page, ``nightswitch check``, ``/api/v1/status`` and the alert engine all call
:func:`stale_warnings`, so they always agree.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

_RANGE_RE = re.compile(r"available only from (\d{4}) to (\d{4})")


@dataclass(frozen=True)
class StaleWarning:
    """One thing to look at: the schedule *field* and what is wrong, in words."""

    field: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message}


def _closure_date(month_day: str, year: int) -> date:
    month, day = (int(x) for x in month_day.split("-"))
    try:
        return date(year, month, day)
    except ValueError:  # 02-29 in a common year, 04-31: the month's last day
        return date(year, month, 28)


@lru_cache(maxsize=64)
def library_has_year(country: str, subdivision: str | None, year: int) -> bool:
    """Whether the ``holidays`` library knows *country*'s holidays in *year*: it returns
    none, or warns that its data ends before *year*."""
    import holidays

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = holidays.country_holidays(country, subdiv=subdivision, years=year)
        except (NotImplementedError, KeyError, ValueError):
            return False
    for warning in caught:
        found = _RANGE_RE.search(str(warning.message))
        if found and not int(found.group(1)) <= year <= int(found.group(2)):
            return False
    return len(table) > 0


def months_between(earlier: date, later: date) -> int:
    """Whole months from *earlier* to *later* (0 if later is earlier)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    if later.day < earlier.day:
        months -= 1
    return max(0, months)


def stale_warnings(
    schedule,
    today: date,
    *,
    closures_by: str = "11-01",
    reviewed_at: datetime | None = None,
    reviewed_by: str | None = None,
    review_months: int = 6,
) -> list[StaleWarning]:
    """What in *schedule* needs attention on *today* (see the module notes).

    :param schedule: the zone's parsed :class:`~appliance.decision.schedule.Schedule`.
    :param date today: the site's local date.
    :param str closures_by: ``MM-DD``: from this day of the year on, the coming year's
        closures are expected.
    :param reviewed_at: when a person last confirmed or saved the schedule, or when it
        was set up if no person ever did (None: not known at all).
    :param reviewed_by: who that was (None: nobody, *reviewed_at* is the set-up).
    :param int review_months: the longest a schedule may go without a review.
    """
    out: list[StaleWarning] = []
    next_year = today.year + 1
    holidays = schedule.holidays
    custom = holidays.custom if holidays else ()
    if today >= _closure_date(closures_by, today.year):
        yearly = [c for c in custom if c.date is None]
        dated_next = [c for c in custom if c.date is not None and c.date.year == next_year]
        exceptions_next = [
            e for e in schedule.exceptions if e.first.year <= next_year <= e.last.year
        ]
        if not (yearly or dated_next or exceptions_next):
            out.append(
                StaleWarning(
                    "holidays.custom",
                    f"no closures of the site's own for {next_year} yet (no "
                    f"custom holiday or exception in {next_year}): enter the company days, the "
                    "Christmas closure and the bridge days, or the phones stay in day service "
                    "on them",
                )
            )
    if schedule.seasons:
        last = max(schedule.seasons, key=lambda s: s.last)
        index = schedule.seasons.index(last)
        if last.last < today:
            out.append(
                StaleWarning(
                    f"seasons[{index}]",
                    f"the season {last.name!r} ended on {last.last} and no "
                    "season comes after it: add next year's dates, or remove it",
                )
            )
    if schedule.exceptions and max(e.last for e in schedule.exceptions) < today:
        end = max(e.last for e in schedule.exceptions)
        out.append(
            StaleWarning(
                "exceptions",
                f"every exception is in the past (the last ended on {end}): add "
                "the coming closures and special openings",
            )
        )
    if (
        holidays
        and holidays.country
        and not library_has_year(holidays.country, holidays.subdivision, next_year)
    ):
        where = holidays.country + (f"-{holidays.subdivision}" if holidays.subdivision else "")
        out.append(
            StaleWarning(
                "holidays.country",
                f"the holidays library installed has no public holidays of "
                f"{where} for {next_year}: update nightswitch (or enter them as custom holidays)",
            )
        )
    if reviewed_at is None:
        out.append(
            StaleWarning(
                "schedule.reviewed",
                "nobody has confirmed this schedule yet: check the hours, "
                'holidays and closures, then press "Reviewed, still right"',
            )
        )
    else:
        months = months_between(reviewed_at.date(), today)
        if months >= review_months:
            what = (
                f"last confirmed by {reviewed_by} on {reviewed_at.date()}"
                if reviewed_by
                else f"set up on {reviewed_at.date()} and never confirmed since"
            )
            out.append(
                StaleWarning(
                    "schedule.reviewed",
                    f"{what}, {months} months ago: check the hours, holidays "
                    'and closures, then press "Reviewed, still right"',
                )
            )
    return out


def days_ahead(schedule, today: date) -> int:
    """How many days of dated planning the schedule has left: to the end of the last
    exception, season or dated custom holiday (0 when none lies ahead). A yearly custom
    holiday does not count: it says nothing about whether anyone planned next year."""
    ends = [e.last for e in schedule.exceptions] + [s.last for s in schedule.seasons]
    if schedule.holidays:
        ends += [c.date for c in schedule.holidays.custom if c.date is not None]
    future = [d for d in ends if d >= today]
    return (max(future) - today).days if future else 0
