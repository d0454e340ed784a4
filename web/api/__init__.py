"""The HTTP API v1 (docs/API.md): JSON in, JSON out, under ``/api/v1``; one module per
kind of resource, every route on the one ``api`` blueprint.

Every zone-scoped endpoint exists twice: ``/api/v1/status`` acts on the first zone and
``/api/v1/zones/NAME/status`` on zone NAME. Errors are ``{"error": ...}`` (plus
``"errors"`` for validation) with 400, 401, 403, 404, 405, 409, 413 or 415; docs/API.md
lists every endpoint with a curl example.
"""

# Importing a resource module adds its routes to the blueprint.
from web.api import accounts, hardware, health, records, schedule, simulator, status  # noqa: F401
from web.api.accounts import create_token
from web.api.common import (
    bp,
    date_span,
    json_body,
    local_iso,
    local_midnight,
    now,
    only_keys,
    query_date,
    query_int,
    resolve_zone,
    site_tz,
    who,
    zone_route,
)
from web.api.health import health_report
from web.api.records import audit_query, calls_data, csv_response
from web.api.schedule import rollback
from web.api.simulator import move_clock, sim, sim_pbx, work_pbx

#: What the pages use of the API's helpers.
__all__ = [
    "audit_query",
    "bp",
    "calls_data",
    "create_token",
    "csv_response",
    "date_span",
    "health_report",
    "json_body",
    "local_iso",
    "local_midnight",
    "move_clock",
    "now",
    "only_keys",
    "query_date",
    "query_int",
    "resolve_zone",
    "rollback",
    "sim",
    "sim_pbx",
    "site_tz",
    "who",
    "work_pbx",
    "zone_route",
]
