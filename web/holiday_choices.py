"""What the holiday picker offers: the ``holidays`` library's countries and subdivisions
with readable names, and the public holidays of the coming year (each can be ticked as
"we work on this day", which becomes ``holidays.ignore``).

Everything here is read from the library itself, so a library upgrade that adds a
country adds it to the picker too.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


@lru_cache(maxsize=1)
def countries() -> tuple[tuple[str, str], ...]:
    """``(code, name)`` for every country the library supports, sorted by name."""
    import holidays
    from holidays.registry import COUNTRIES

    supported = holidays.list_supported_countries()
    found = {}
    for key, entry in COUNTRIES.items():
        codes = [c for c in entry[1:] if isinstance(c, str) and len(c) == 2 and c.isupper()]
        if codes and codes[0] in supported:
            found[codes[0]] = key.replace("_", " ").title()
    return tuple(sorted(found.items(), key=lambda item: item[1]))


def country_name(code: str) -> str:
    return dict(countries()).get(code, code)


@lru_cache(maxsize=64)
def subdivisions(country: str) -> tuple[tuple[str, str], ...]:
    """``(code, name)`` for the subdivisions of *country* (empty if it has none or the
    code is unknown)."""
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        return ()
    names: dict[str, str] = {}
    try:
        aliases = getattr(holidays.country_holidays(country), "subdivisions_aliases", {}) or {}
    except Exception:  # a library quirk must not break the page; codes alone still work
        aliases = {}
    for name, code in aliases.items():
        names.setdefault(code, name)
    out = []
    for code in supported[country]:
        name = names.get(code)
        out.append((code, f"{code} – {name}" if name and name != code else code))
    return tuple(out)


def upcoming(country: str, subdivision: str | None, today: date,
             days: int = 365) -> list[tuple[date, str]]:
    """The library's public holidays from *today* for *days* days: ``(date, name)``."""
    from appliance.decision.dayplan import library_holidays

    if not country:
        return []
    last = today + timedelta(days=days)
    out = []
    for year in range(today.year, last.year + 1):
        for day, names in library_holidays(country, subdivision or None, year).items():
            if today <= day < last:
                out.extend((day, name) for name in names)
    return sorted(out)


def holiday_names(country: str, subdivision: str | None, today: date) -> set[str]:
    """Casefolded names of the holidays around *today* (last year to two years ahead),
    to tell an ``ignore`` entry of this country from one left over from another."""
    from appliance.decision.dayplan import library_holidays
    from appliance.decision.schedule import holiday_name_key

    names = set()
    for year in range(today.year - 1, today.year + 3):
        for day_names in library_holidays(country, subdivision or None, year).values():
            names.update(holiday_name_key(n) for n in day_names)
    return names


__all__ = ["countries", "country_name", "subdivisions", "upcoming", "holiday_names"]


@lru_cache(maxsize=64)
def categories(country: str) -> tuple[str, ...]:
    """The holiday categories the library has for *country* (``public``, ``catholic``,
    ``bank`` ...); a schedule's ``holidays.categories`` adds any beyond ``public``."""
    import holidays

    return tuple(sorted(holidays.country_holidays(country).supported_categories))
