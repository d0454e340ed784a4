"""What the holiday picker offers: the ``holidays`` library's countries and subdivisions
with readable names, the public holidays of the coming year (each can be ticked as
"we work on this day", which becomes ``holidays.ignore``), and the extra categories a
site may observe as well, each named plainly with what it does to the office. All of it
comes from the one adapter to the library, :mod:`appliance.decision.holiday_source`.
"""

from __future__ import annotations

from datetime import date, timedelta

from appliance.decision.holiday_source import (
    category_holidays,
    countries,
    country_name,
    holiday_names,
    library_holidays,
    subdivisions,
    upcoming,
)
from appliance.decision.holiday_source import country_categories as categories

#: Each extra category's plain name and what ticking it does. A category the library
#: adds later is shown as "<Name> holidays" with the generic sentence.
CATEGORY_TEXT = {
    "school": (
        "School holidays",
        "the office is closed for the whole school break, weeks "
        "at a time: only for a school, or an office that closes "
        "with the schools",
    ),
    "catholic": ("Catholic holidays", "also closed on feast days kept only in Catholic areas"),
    "protestant": ("Protestant holidays", "also closed on days kept only in Protestant areas"),
    "bank": ("Bank holidays", "also closed on the days banks close"),
    "half_day": (
        "Half-day holidays",
        "closed the whole day on days that are holidays only "
        "for part of the day, such as Christmas Eve",
    ),
    "optional": ("Optional holidays", "also closed on days employers may give off"),
    "government": ("Government holidays", "also closed on days only public offices take off"),
    "unofficial": (
        "Unofficial holidays",
        "also closed on days widely kept that are not public holidays",
    ),
    "workday": (
        "Working-day observances",
        "closed on days of remembrance that are normal working days",
    ),
    "armed_forces": ("Armed forces holidays", "also closed on days kept by the armed forces"),
    "de_facto": (
        "De facto holidays",
        "also closed on days most businesses take off though the law does not say so",
    ),
}
#: A category whose breaks are this long is shown as a warning.
LONG_BREAK_DAYS = 4


def _spans(days: dict[date, tuple[str, ...]]) -> list[tuple[str, date, date]]:
    """Consecutive dates with the same name joined: ``(name, first, last)``."""
    spans: list[list] = []
    for day in sorted(days):
        for name in days[day]:
            open_span = next(
                (s for s in spans if s[0] == name and s[2] == day - timedelta(days=1)), None
            )
            if open_span is not None:
                open_span[2] = day
            else:
                spans.append([name, day, day])
    return sorted((tuple(s) for s in spans), key=lambda s: s[1])


def _span_text(name: str, first: date, last: date) -> str:
    if first == last:
        return f"{name} {first:%a} {first.day} {first:%b}"
    return f"{name} {first.day} {first:%b} – {last.day} {last:%b}"


def category_choices(
    country: str, subdivision: str | None, today: date, days: int = 365
) -> list[dict]:
    """The extra categories of *country* (beyond public holidays), each as ``{code,
    label, what, extra_days, spans, more, warn}``: its plain name, what ticking it does,
    how many days of the next *days* it would close the office on top of the public
    holidays, those days as named spans ("Summer Break 3 Aug – 14 Sep", at most four;
    *more* counts the rest), and whether it is to be shown as a warning (breaks of
    weeks).

    :raises Exception: what the library raises for a country or subdivision it does not
        know (the page then shows the field's own error).
    """
    last = today + timedelta(days=days)
    out = []
    for code in categories(country):
        if code == "public":
            continue
        kept: dict[date, tuple[str, ...]] = {}
        extra_days = 0
        for year in range(today.year, last.year + 1):
            public = library_holidays(country, subdivision or None, year)
            for day, names in category_holidays(country, subdivision or None, year, code).items():
                if today <= day < last:
                    kept[day] = names
                    extra_days += day not in public
        # A break is shown whole, public holidays inside it included.
        spans = _spans(kept)
        label, what = CATEGORY_TEXT.get(
            code,
            (
                f"{code.replace('_', ' ').capitalize()} holidays",
                "also closed on the holidays of this kind",
            ),
        )
        longest = max(((s[2] - s[1]).days + 1 for s in spans), default=0)
        out.append(
            {
                "code": code,
                "label": label,
                "what": what,
                "extra_days": extra_days,
                "spans": [_span_text(*s) for s in spans[:4]],
                "more": max(0, len(spans) - 4),
                "warn": code == "school" or longest >= LONG_BREAK_DAYS,
            }
        )
    return out


__all__ = [
    "CATEGORY_TEXT",
    "categories",
    "category_choices",
    "countries",
    "country_name",
    "holiday_names",
    "subdivisions",
    "upcoming",
]
