"""The one adapter to the ``holidays`` library: every question the appliance asks it.

The schedule's checks (which countries, subdivisions and categories exist, which holiday
names ``holidays.ignore`` may name), a date's plan (the public holidays of one year), and
the Schedule page's picker (countries and subdivisions with readable names, the coming
year's holidays) all come through here, so the library is read one way, cached one
way, and a library upgrade changes nothing else.

Everything is read from the library itself: an upgrade that adds a country adds it
everywhere. The tables are cached per (country, subdivision, year, categories): the
answer never changes within one installed library version.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """The ISO codes (alpha-2 and alpha-3) the holidays library has a calendar for.

    Read from its registry rather than ``list_supported_countries()``, which imports
    every one of its 250 country modules (0.1 s on a PC, seconds on a Pi).
    """
    from holidays import registry

    return frozenset(code for names in registry.COUNTRIES.values() for code in names[1:3])


@lru_cache(maxsize=64)
def subdivision_codes(country: str) -> tuple[str, ...]:
    import holidays

    return tuple(holidays.country_holidays(country).subdivisions)


@lru_cache(maxsize=64)
def country_categories(country: str) -> tuple[str, ...]:
    """The holiday categories the library has for *country* (``public``, ``catholic``,
    ``bank`` ...); a schedule's ``holidays.categories`` adds any beyond ``public``."""
    import holidays

    return tuple(sorted(holidays.country_holidays(country).supported_categories))


@lru_cache(maxsize=64)
def subdivision_aliases(country: str) -> dict[str, str]:
    import holidays

    return dict(getattr(holidays.country_holidays(country), "subdivisions_aliases", {}))


@lru_cache(maxsize=64)
def holiday_language(country: str) -> str | None:
    """The language for holiday names: English where the library has it, since reasons
    are in English ("public holiday Christmas Day"); else the country's own."""
    import holidays

    probe = holidays.country_holidays(country)
    default = probe.default_language
    if default and default.startswith("en"):
        return default
    if "en_US" in (probe.supported_languages or ()):
        return "en_US"
    return default


def holiday_name_key(name: str) -> str:
    """How ``holidays.ignore`` names are compared: case-insensitive, and a holiday's
    "(observed)" day counts as the holiday itself."""
    key = name.strip().casefold()
    if key.endswith("(observed)"):
        key = key[: -len("(observed)")].strip()
    return key


#: The years over which ``holidays.ignore`` names are looked up. Wide enough for any
#: appliance in service, and cheap (the whole span takes milliseconds once per country).
_NAME_YEARS = range(2000, 2061)


def library_categories(extra: tuple[str, ...]) -> tuple[str, ...]:
    """The categories to ask the library for: public holidays plus *extra*."""
    return ("public",) + tuple(c for c in extra if c != "public")


@lru_cache(maxsize=64)
def known_holiday_names(
    country: str, subdivision: str | None, categories: tuple[str, ...] = ()
) -> dict[str, str]:
    import holidays

    table = holidays.country_holidays(
        country,
        subdiv=subdivision,
        years=_NAME_YEARS,
        language=holiday_language(country),
        categories=library_categories(categories),
    )
    names: dict[str, str] = {}
    for day in table:
        for name in table.get_list(day):
            names.setdefault(holiday_name_key(name), name)
    return names


@lru_cache(maxsize=256)
def library_holidays(
    country: str, subdivision: str | None, year: int, categories: tuple[str, ...] = ()
) -> dict[date, tuple[str, ...]]:
    """The ``holidays`` library's public holidays of one year, as ``{date: names}``.

    Cached per (country, subdivision, year, extra categories): the appliance asks about
    the same year thousands of times (every preview, every decision), and the answer
    never changes within one installed library version.

    :param tuple categories:
        Extra categories on top of the public holidays, such as ``("catholic",)``.
    """
    import holidays

    table = holidays.country_holidays(
        country,
        subdiv=subdivision,
        years=year,
        language=holiday_language(country),
        categories=library_categories(categories),
    )
    return {day: tuple(table.get_list(day)) for day in sorted(table)}


@lru_cache(maxsize=512)
def category_holidays(
    country: str, subdivision: str | None, year: int, category: str
) -> dict[date, tuple[str, ...]]:
    """The holidays of one library *category* alone (``"school"``, ``"catholic"``) in
    one year, as ``{date: names}``: a reason names the category a holiday comes from."""
    import holidays

    table = holidays.country_holidays(
        country,
        subdiv=subdivision,
        years=year,
        language=holiday_language(country),
        categories=(category,),
    )
    return {day: tuple(table.get_list(day)) for day in sorted(table)}


#: How a reason names a holiday of each library category ("school holidays: Summer
#: Break"); one the library adds later reads "<category> holiday".
CATEGORY_WORDS = {
    "public": "public holiday",
    "school": "school holidays",
    "catholic": "Catholic holiday",
    "protestant": "Protestant holiday",
    "orthodox": "Orthodox holiday",
    "bank": "bank holiday",
    "half_day": "half-day holiday",
    "optional": "optional holiday",
    "government": "government holiday",
    "unofficial": "unofficial holiday",
    "workday": "working-day observance",
    "armed_forces": "armed forces holiday",
    "de_facto": "de facto holiday",
}


def category_word(category: str) -> str:
    """The words a reason uses for a holiday of *category*: ``"school holidays"``."""
    return CATEGORY_WORDS.get(category) or f"{category.replace('_', ' ')} holiday"


def holiday_categories_on(
    country: str, subdivision: str | None, day: date, extra: tuple[str, ...]
) -> dict[str, str]:
    """``{name: category}`` of the holidays on *day*: ``public`` for a public holiday,
    else the first of *extra* that has it."""
    found = dict.fromkeys(library_holidays(country, subdivision, day.year).get(day, ()), "public")
    for category in extra:
        if category == "public":
            continue
        for name in category_holidays(country, subdivision, day.year, category).get(day, ()):
            found.setdefault(name, category)
    return found


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


def upcoming(
    country: str, subdivision: str | None, today: date, days: int = 365
) -> list[tuple[date, str]]:
    """The library's public holidays from *today* for *days* days: ``(date, name)``."""
    if not country:
        return []
    last = today + timedelta(days=days)
    out: list[tuple[date, str]] = []
    for year in range(today.year, last.year + 1):
        for day, names in library_holidays(country, subdivision or None, year).items():
            if today <= day < last:
                out.extend((day, name) for name in names)
    return sorted(out)


def holiday_names(country: str, subdivision: str | None, today: date) -> set[str]:
    """Casefolded names of the holidays around *today* (last year to two years ahead),
    to tell an ``ignore`` entry of this country from one left over from another."""
    names: set[str] = set()
    for year in range(today.year - 1, today.year + 3):
        for day_names in library_holidays(country, subdivision or None, year).values():
            names.update(holiday_name_key(n) for n in day_names)
    return names


__all__ = [
    "CATEGORY_WORDS",
    "category_holidays",
    "category_word",
    "holiday_categories_on",
    "country_categories",
    "country_codes",
    "known_holiday_names",
    "subdivision_aliases",
    "subdivision_codes",
    "country_name",
    "countries",
    "holiday_language",
    "holiday_name_key",
    "holiday_names",
    "library_categories",
    "library_holidays",
    "subdivisions",
    "upcoming",
]
