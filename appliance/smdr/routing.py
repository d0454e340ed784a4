"""Which zone a call belongs to, from its extension or trunk (a call is judged by its
zone's mode history: docs/design.md#after-hours-calls-smdr).

A site with one zone needs nothing here. A site whose zones are departments or tenants of
one PBX lists, in ``[smdr]``, which extensions and trunks belong to which zone; the first
route that matches wins, and a call no route claims belongs to ``smdr.zone``::

    [smdr]
    port = "/dev/ttyUSB0"
    format = "nec-sl1100"
    zone = "main"                       # calls no route claims

    [[smdr.routes]]
    zone = "sales"
    extensions = ["2*"]                 # 200-299, 2000-2999 ...
    trunks = ["05", "06"]               # the sales DDI lines

Patterns are shell-style: ``*`` any run of characters, ``?`` one character, ``[0-4]`` one
of a set; everything else is literal and the whole field must match.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from appliance.errors import FieldError

PATTERN_RE = re.compile(r"^[0-9A-Za-z*?\[\]#+\-]{1,32}$")
MAX_PATTERNS = 200


@dataclass(frozen=True)
class Route:
    """Calls whose extension or trunk matches go to *zone*."""

    zone: str
    extensions: tuple[str, ...] = ()
    trunks: tuple[str, ...] = ()

    def matches(self, record) -> bool:
        return _any(record.extension, self.extensions) or _any(record.trunk, self.trunks)


def _any(value, patterns) -> bool:
    if not value:
        return False
    text = str(value).strip()
    return any(fnmatch.fnmatchcase(text, p) for p in patterns)


class CallRouter:
    """The zone of each call: the first matching :class:`Route`, else *default*."""

    def __init__(self, default: str, routes=()):
        self.default = default
        self.routes = tuple(routes)

    def zone_of(self, record) -> str:
        for route in self.routes:
            if route.matches(record):
                return route.zone
        return self.default

    @property
    def zones(self) -> list[str]:
        """Every zone a call can go to, the default first."""
        out = [self.default]
        for route in self.routes:
            if route.zone not in out:
                out.append(route.zone)
        return out


def check_routes(raw, zone_names, path: str = "smdr.routes") -> tuple[list[Route], list]:
    """Validate ``[[smdr.routes]]``; returns ``(routes, errors)``, every error naming its
    field and what is allowed."""
    errors: list[FieldError] = []
    routes: list[Route] = []
    if raw is None:
        return routes, errors
    if not isinstance(raw, list):
        return routes, [FieldError(path, "must be a list of [[smdr.routes]] tables")]
    for i, table in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(table, dict):
            errors.append(FieldError(where, "must be a table with zone, extensions, trunks"))
            continue
        zone = table.get("zone")
        if not isinstance(zone, str) or zone not in zone_names:
            errors.append(
                FieldError(
                    f"{where}.zone", f"{zone!r} is not a zone; zones are " + ", ".join(zone_names)
                )
            )
        lists, bad_key = {}, False
        for key in sorted(set(table) - {"zone", "extensions", "trunks"}):
            errors.append(
                FieldError(f"{where}.{key}", "is not a known key; use zone, extensions, trunks")
            )
            bad_key = True
        for key in ("extensions", "trunks"):
            value = table.get(key, [])
            if (
                not isinstance(value, list)
                or len(value) > MAX_PATTERNS
                or not all(isinstance(p, str) and PATTERN_RE.match(p) for p in value)
            ):
                errors.append(
                    FieldError(
                        f"{where}.{key}",
                        f"must be a list of up to {MAX_PATTERNS} patterns such "
                        'as "2*", "3?" or "401" (digits, letters, * ? [ ] '
                        "# + -, up to 32 characters each)",
                    )
                )
                value, bad_key = [], True
            lists[key] = tuple(value)
        if not bad_key and not lists["extensions"] and not lists["trunks"]:
            errors.append(FieldError(where, "needs extensions or trunks (or both) to match"))
        if isinstance(zone, str):
            routes.append(Route(zone, lists["extensions"], lists["trunks"]))
    return routes, errors
