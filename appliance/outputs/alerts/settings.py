"""The ``[alerts]`` table and its ``[[alerts.targets]]``: checked here, called from
:func:`appliance.config.validate_config`.

::

    [alerts]
    reminder_hours = 4            # a reminder every 4 h while a fault lasts (0: none)
    link_down_minutes = 10        # the PBX link down this long before anyone is told
    override_hours = 12           # an override "until cancelled" older than this
    key_left_minutes = 15         # the key still forced this long after the schedule's change
    smdr_silent_hours = 24        # no SMDR line this long, with day service in it
    callback_time = "08:30"       # the morning callback list goes out at this local time
    summary_weekday = "mon"       # ... and the weekly summary on this day, at the same time
    closures_by = "11-01"         # by 1 November the site's closures for next year are due
    review_months = 6             # the schedule confirmed "still right" at least this often

    [[alerts.targets]]
    name = "facilities"
    url = "smtp://mail.example.com:587/?to=facilities@example.com&from=pbx@example.com"
    username = "pbx@example.com"
    password = "..."
    events = ["not_confirmed", "fallback", "link_down", "callback_list"]

    [[alerts.targets]]
    url = "https://hooks.example.com/nightswitch"    # a JSON POST

A password never goes in the URL (the Installer page shows the config with ``password``
and ``token`` masked, but it cannot know what is secret inside a URL).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from appliance.errors import FieldError
from appliance.outputs.alerts.events import EVENTS, FAULT_EVENTS
from appliance.validation import Problems

SCHEMES = ("smtp", "smtps", "http", "https")
TLS_CHOICES = ("auto", "starttls", "off")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_ADDRESS_RE = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_MONTH_DAY_RE = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
_HOST_RE = re.compile(r"^[A-Za-z0-9.-]+$")


@dataclass(frozen=True)
class Target:
    """One place alerts go.

    :param str name: shown in the audit and on the Installer page.
    :param str url: ``smtp://``, ``smtps://``, ``http://`` or ``https://``.
    :param frozenset events: the event names it gets.
    :param tuple zones: the zones it hears about (empty: every zone).
    """

    name: str
    url: str
    events: frozenset
    zones: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        return "mail" if self.url.startswith("smtp") else "webhook"

    def wants(self, event: str, zone: str | None) -> bool:
        return event in self.events and (not self.zones or zone is None or zone in self.zones)


@dataclass(frozen=True)
class AlertsConfig:
    """The validated ``[alerts]`` table (defaults when the config has none)."""

    targets: tuple[Target, ...] = ()
    reminder_hours: float = 4
    link_down_minutes: int = 10
    override_hours: float = 12
    key_left_minutes: int = 15
    smdr_silent_hours: float = 24
    callback_time: str = "08:30"
    summary_weekday: str = "mon"
    closures_by: str = "11-01"
    review_months: int = 6
    timeout_s: float = 20.0


_KEYS = {
    "reminder_hours",
    "link_down_minutes",
    "override_hours",
    "key_left_minutes",
    "smdr_silent_hours",
    "callback_time",
    "summary_weekday",
    "closures_by",
    "review_months",
    "timeout_s",
    "targets",
}
_TARGET_KEYS = {"name", "url", "events", "zones", "username", "password", "token"}


def check_url(url, path: str) -> list[FieldError]:
    """What is wrong with a target *url*, naming *path*; empty when it is fine."""
    if not isinstance(url, str) or not url.strip():
        return [
            FieldError(
                path,
                "is required: smtp://HOST:PORT/?to=ADDRESS, smtps://..., http://... or https://...",
            )
        ]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return [FieldError(path, f"{url[:80]!r} is not a URL: {exc}")]
    if parts.scheme not in SCHEMES:
        return [
            FieldError(
                path,
                f"{parts.scheme or url[:40]!r} is not a scheme alerts can "
                "use; use smtp (mail, STARTTLS when offered), smtps (mail "
                "over TLS), http or https (a JSON POST)",
            )
        ]
    if not _valid_host(parts.hostname or ""):
        return [FieldError(path, f"{url[:80]!r} has no valid host name")]
    if parts.password is not None:
        return [
            FieldError(
                path,
                "has a password in it; put the password in the target's "
                "password (mail) or token (webhook) key instead, so the "
                "Installer page can hide it",
            )
        ]
    if port == 0:
        return [FieldError(path, "port 0 is not a port; use 1 to 65535")]
    errors = []
    if parts.scheme.startswith("smtp"):
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - {"to", "from", "tls"})
        if unknown:
            errors.append(
                FieldError(
                    path, f"unknown parameter {unknown[0]!r}; a mail URL takes to, from and tls"
                )
            )
        to = [a.strip() for v in query.get("to", []) for a in v.split(",") if a.strip()]
        if not to:
            errors.append(
                FieldError(
                    path,
                    "names no recipient; add ?to=someone@example.com (several separated by commas)",
                )
            )
        for address in to + [a.strip() for a in query.get("from", [])]:
            if not _ADDRESS_RE.match(address):
                errors.append(FieldError(path, f"{address[:80]!r} is not an e-mail address"))
        for tls in query.get("tls", []):
            if tls not in TLS_CHOICES or parts.scheme == "smtps":
                errors.append(
                    FieldError(
                        path,
                        f"tls={tls!r} is not allowed; use tls=auto "
                        "(STARTTLS when offered, the default), "
                        "tls=starttls (required) or tls=off, with "
                        "smtp:// only",
                    )
                )
    elif parts.fragment:
        errors.append(FieldError(path, "a webhook URL has no #fragment; remove it"))
    return errors


def _valid_host(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST_RE.match(host)) and not host.startswith(("-", "."))


def _number(raw: dict, key: str, default, lo, hi, errors, whole=False):
    """A number of the ``[alerts]`` table, read by the one toolkit."""
    problems = Problems()
    read = problems.integer if whole else problems.number
    value = read(raw, key, "alerts", default=default, lo=lo, hi=hi)
    errors.extend(problems.errors)
    return value


def _events(value, path: str, errors) -> frozenset:
    if value is None:
        return frozenset(FAULT_EVENTS)
    if not isinstance(value, list) or not value:
        errors.append(
            FieldError(
                path,
                'must be a list of event names, such as ["not_confirmed", "link_down"], or ["all"]',
            )
        )
        return frozenset()
    names = set()
    for i, name in enumerate(value):
        if name == "all":
            names |= set(EVENTS)
        elif name == "faults":
            names |= set(FAULT_EVENTS)
        elif not isinstance(name, str) or name not in EVENTS:
            errors.append(
                FieldError(
                    f"{path}[{i}]",
                    f"{name!r} is not an event; use " + ", ".join(EVENTS) + ", faults or all",
                )
            )
        else:
            names.add(name)
    return frozenset(names)


def check_alerts(raw, zone_names) -> tuple[AlertsConfig, list[FieldError]]:
    """Validate the ``alerts`` table of a parsed config.

    :param raw: the table, or None when the config has none.
    :param zone_names: the site's zones, for ``zones = [...]``.
    :returns: ``(config, errors)``; the errors name each key (``alerts.targets[1].url``).
    """
    if raw is None:
        return AlertsConfig(), []
    if not isinstance(raw, dict):
        return AlertsConfig(), [FieldError("alerts", "must be a table")]
    errors: list[FieldError] = []
    for key in raw:
        if key not in _KEYS:
            errors.append(
                FieldError(
                    f"alerts.{key}", "unknown key; allowed keys are " + ", ".join(sorted(_KEYS))
                )
            )
    values = dict(
        reminder_hours=_number(raw, "reminder_hours", 4, 0, 168, errors),
        link_down_minutes=_number(raw, "link_down_minutes", 10, 0, 1440, errors, True),
        override_hours=_number(raw, "override_hours", 12, 1, 24 * 60, errors),
        key_left_minutes=_number(raw, "key_left_minutes", 15, 0, 1440, errors, True),
        smdr_silent_hours=_number(raw, "smdr_silent_hours", 24, 1, 24 * 14, errors),
        review_months=_number(raw, "review_months", 6, 1, 36, errors, True),
        timeout_s=_number(raw, "timeout_s", 20.0, 1, 120, errors),
    )
    for key, pattern, example in (
        ("callback_time", _TIME_RE, "08:30"),
        ("closures_by", _MONTH_DAY_RE, "11-01 (1 November)"),
    ):
        value = raw.get(key, getattr(AlertsConfig, key))
        if not isinstance(value, str) or not pattern.match(value):
            errors.append(
                FieldError(f"alerts.{key}", f"{value!r} is not allowed; use the form {example}")
            )
        else:
            values[key] = value
    weekday = raw.get("summary_weekday", "mon")
    if weekday not in WEEKDAYS:
        errors.append(
            FieldError(
                "alerts.summary_weekday",
                f"{weekday!r} is not a weekday; use one of " + ", ".join(WEEKDAYS),
            )
        )
    else:
        values["summary_weekday"] = weekday
    targets = []
    raw_targets = raw.get("targets", [])
    if not isinstance(raw_targets, list):
        errors.append(FieldError("alerts.targets", "must be a list of [[alerts.targets]] tables"))
        raw_targets = []
    names = set()
    for i, item in enumerate(raw_targets):
        path = f"alerts.targets[{i}]"
        if not isinstance(item, dict):
            errors.append(FieldError(path, "must be a table with url and events"))
            continue
        for key in item:
            if key not in _TARGET_KEYS:
                errors.append(
                    FieldError(
                        f"{path}.{key}",
                        "unknown key; allowed keys are " + ", ".join(sorted(_TARGET_KEYS)),
                    )
                )
        name = item.get("name", f"target-{i + 1}")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            errors.append(
                FieldError(
                    f"{path}.name",
                    f"{name!r} is not allowed; use lower-case "
                    "letters, digits, '-' and '_' (up to 32)",
                )
            )
        elif name in names:
            errors.append(FieldError(f"{path}.name", f"target {name!r} is defined twice"))
        names.add(name)
        url_errors = check_url(item.get("url"), f"{path}.url")
        errors += url_errors
        events = _events(item.get("events"), f"{path}.events", errors)
        zones = item.get("zones", [])
        if not isinstance(zones, list) or any(z not in zone_names for z in zones):
            errors.append(
                FieldError(
                    f"{path}.zones",
                    f"{zones!r} is not allowed; use a list of the zones " + ", ".join(zone_names),
                )
            )
            zones = []
        secrets = {}
        for key in ("username", "password", "token"):
            value = item.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                errors.append(FieldError(f"{path}.{key}", "must be a non-empty string"))
            secrets[key] = value if isinstance(value, str) and value else None
        raw_url = item.get("url")
        url = raw_url if isinstance(raw_url, str) else ""
        if secrets["password"] and not url.startswith("smtp"):
            errors.append(
                FieldError(
                    f"{path}.password",
                    "is for a mail server; a webhook takes a token (sent as a bearer token)",
                )
            )
        if secrets["token"] and url.startswith("smtp"):
            errors.append(
                FieldError(
                    f"{path}.token", "is for a webhook; a mail server takes username and password"
                )
            )
        if not url_errors and isinstance(name, str):
            targets.append(Target(name, url, events, tuple(zones), **secrets))
    return AlertsConfig(targets=tuple(targets), **values), errors
