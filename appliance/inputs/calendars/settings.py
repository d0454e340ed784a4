"""The ``[[calendars]]`` section of the installer's config: calendar subscriptions.

::

    [[calendars]]
    name = "Closures"                 # shown in reasons: "calendar Closures: Staff outing"
    zone = "main"                     # default: the first zone
    url = "https://calendar.example/private-KEY/basic.ics"   # an ICS URL (or webcal://)
    # caldav_url = "https://cloud.example/remote.php/dav/calendars/facilities/closures/"
    # username = "facilities"         # for CalDAV, or an ICS URL behind basic auth
    # password = "..."                # a secret: never logged, never shown
    categories = ["Closure"]          # count only these categories (default: every event)
    summary_contains = ["closed"]     # ...or a summary containing one of these
    mode = "night"                    # the mode of a closure (default night)
    category_modes = { Training = "lunch" }
    refresh_minutes = 15              # 1 to 1440 (default 15)
    timeout_s = 20                    # a fetch that takes longer fails (default 20)

:func:`check_calendars` validates the list and returns :class:`CalendarConfig` objects;
every error names its key (``calendars[1].url``) and says what is allowed.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from appliance.errors import FieldError
from appliance.inputs.calendars.expand import Rules
from appliance.validation import Problems

KEYS = (
    "name",
    "zone",
    "url",
    "caldav_url",
    "username",
    "password",
    "categories",
    "summary_contains",
    "mode",
    "category_modes",
    "refresh_minutes",
    "timeout_s",
)
NAME_MAX = 40
DEFAULT_REFRESH_MINUTES = 15
DEFAULT_TIMEOUT_S = 20


@dataclass(frozen=True)
class CalendarConfig:
    """One subscription, validated.

    :param str kind: ``ics`` (an ICS URL) or ``caldav``.
    """

    name: str
    zone: str
    kind: str
    url: str = field(repr=False)  # a secret address carries its key in the URL
    rules: Rules = field(default_factory=Rules)
    refresh_minutes: int = DEFAULT_REFRESH_MINUTES
    timeout_s: int = DEFAULT_TIMEOUT_S
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: never in a repr

    @property
    def key(self) -> str:
        """How the store names this calendar's last good copy."""
        return f"{self.zone}/{self.name}"

    @property
    def source(self) -> str:
        """Where it comes from, without secrets (for logs and the web page)."""
        from appliance.inputs.calendars.fetch import redact_url

        return f"{'CalDAV ' if self.kind == 'caldav' else ''}{redact_url(self.url)}"


def _strings(value, path: str, errors: list, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors.append(
            FieldError(path, f'must be a list of non-empty strings ({what}), such as ["Closure"]')
        )
        return ()
    return tuple(v.strip() for v in value)


def _mode(value, path: str, errors: list, allowed: set | None) -> str | None:
    problems = Problems()
    mode = problems.mode(value, path, allowed)
    errors.extend(problems.errors)
    return mode


def _url(value, path: str, errors: list, schemes: tuple[str, ...]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError(path, "must be a URL such as https://host/calendar.ics"))
        return None
    try:
        parts = urllib.parse.urlsplit(value.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes or not parts.hostname:
        errors.append(
            FieldError(
                path,
                f"is not a URL nightswitch can fetch; use "
                f"{' or '.join(s + '://' for s in schemes)} with a "
                "host name",
            )
        )
        return None
    return value.strip()


def check_calendars(value, zone_names: list[str], zone_modes) -> tuple[list, list]:
    """Validate ``[[calendars]]``.

    :param value: the TOML value (a list of tables), or None.
    :param list zone_names: the config's zones; the first is the default.
    :param zone_modes: ``zone_modes(zone) -> set | None``, the modes a zone can make.
    :returns: ``(calendars, errors)``: :class:`CalendarConfig` objects and
        :class:`~appliance.errors.FieldError` entries.
    """
    errors: list[FieldError] = []
    found: list[CalendarConfig] = []
    if value is None:
        return found, errors
    if not isinstance(value, list):
        return found, [FieldError("calendars", "must be a list of [[calendars]] tables")]
    seen = set()
    for index, item in enumerate(value):
        path = f"calendars[{index}]"
        if not isinstance(item, dict):
            errors.append(FieldError(path, "must be a table with name and url (or caldav_url)"))
            continue
        before = len(errors)
        for key in item:
            if key not in KEYS:
                errors.append(
                    FieldError(f"{path}.{key}", "unknown key; allowed keys are " + ", ".join(KEYS))
                )
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append(
                FieldError(
                    f"{path}.name",
                    'is required: a short name, shown in reasons ("calendar Closures: ...")',
                )
            )
            name = None
        elif len(name) > NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
            errors.append(
                FieldError(f"{path}.name", f"must be one line of at most {NAME_MAX} characters")
            )
            name = None
        else:
            name = name.strip()
        zone = item.get("zone", zone_names[0])
        if zone not in zone_names:
            errors.append(
                FieldError(
                    f"{path}.zone", f"unknown zone {zone!r}; zones are " + ", ".join(zone_names)
                )
            )
            zone = None
        if name and zone and (zone, name.casefold()) in seen:
            errors.append(
                FieldError(f"{path}.name", f"zone {zone!r} already has a calendar called {name!r}")
            )
        seen.add((zone, (name or "").casefold()))
        has_url, has_dav = "url" in item, "caldav_url" in item
        kind = url = None
        if has_url == has_dav:
            errors.append(
                FieldError(
                    f"{path}.url",
                    "give either url (an ICS address) or "
                    "caldav_url (a CalDAV calendar), "
                    "exactly one",
                )
            )
        elif has_url:
            kind, url = "ics", _url(item["url"], f"{path}.url", errors, ("https", "http", "webcal"))
        else:
            kind, url = (
                "caldav",
                _url(item["caldav_url"], f"{path}.caldav_url", errors, ("https", "http")),
            )
        username = item.get("username")
        password = item.get("password")
        for key, given in (("username", username), ("password", password)):
            if given is not None and (not isinstance(given, str) or not given):
                errors.append(FieldError(f"{path}.{key}", "must be a non-empty string"))
        if (username is None) != (password is None):
            errors.append(
                FieldError(
                    f"{path}.{'password' if password is None else 'username'}",
                    f"is required with {'username' if password is None else 'password'}",
                )
            )
        allowed = zone_modes(zone) if zone else None
        mode = "night"
        if "mode" in item:
            mode = _mode(item["mode"], f"{path}.mode", errors, allowed) or "night"
        elif allowed is not None and "night" not in allowed:
            errors.append(
                FieldError(
                    f"{path}.mode",
                    "is required here: 'night' cannot be produced by this zone's actuators",
                )
            )
        category_modes = {}
        raw_modes = item.get("category_modes", {})
        if not isinstance(raw_modes, dict):
            errors.append(
                FieldError(
                    f"{path}.category_modes",
                    'must be a table of category = mode, such as { Training = "lunch" }',
                )
            )
        else:
            for category, cat_mode in raw_modes.items():
                checked = _mode(cat_mode, f"{path}.category_modes.{category}", errors, allowed)
                if checked:
                    category_modes[category] = checked
        categories = _strings(
            item.get("categories"), f"{path}.categories", errors, "event categories to count"
        )
        summaries = _strings(
            item.get("summary_contains"),
            f"{path}.summary_contains",
            errors,
            "texts an event's summary contains",
        )
        refresh = _integer(item, "refresh_minutes", path, errors, DEFAULT_REFRESH_MINUTES, 1, 1440)
        timeout = _integer(item, "timeout_s", path, errors, DEFAULT_TIMEOUT_S, 1, 120)
        if len(errors) == before and name and zone and kind and url:
            found.append(
                CalendarConfig(
                    name=name,
                    zone=zone,
                    kind=kind,
                    url=url,
                    rules=Rules(categories, summaries, mode, category_modes),
                    refresh_minutes=refresh,
                    timeout_s=timeout,
                    username=username,
                    password=password,
                )
            )
    return found, errors


def _integer(item, key, path, errors, default, low, high) -> int:
    problems = Problems()
    value = problems.integer(item, key, path, default=default, lo=low, hi=high)
    errors.extend(problems.errors)
    return value
