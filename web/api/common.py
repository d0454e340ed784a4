"""The API's blueprint and what its endpoints (and the pages) share: the zone, the
site's time, JSON bodies, query arguments and who is asking."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, g, request

from appliance.errors import FieldError, ValidationError
from web.auth import appliance
from web.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: The longest span of call records one request may ask for.
MAX_CALL_DAYS = 400


def site_tz() -> ZoneInfo:
    return appliance().site.tz


def now():
    return appliance().now()


def resolve_zone(zone: str | None) -> str:
    """The zone's name; 404 for a zone the site does not have."""
    names = appliance().zone_names()
    if zone is None:
        return names[0]
    if zone not in names:
        raise ApiError(404, f"there is no zone {zone!r}; zones are " + ", ".join(names))
    return zone


def json_body(*, required: bool = True) -> dict:
    """The request's JSON object.

    An empty body is ``{}`` when *required* is False. A body that is not JSON gets 415,
    JSON that is not an object 400.
    """
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise ApiError(400, "the request needs a JSON object as its body")
        return {}
    if not request.is_json:
        raise ApiError(415, "send the body as JSON with 'Content-Type: application/json'")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text; send JSON in UTF-8") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "the body is nested too deeply to be a nightswitch document") from None
    if not isinstance(data, dict):
        raise ApiError(400, 'the body must be a JSON object, such as {"mode": "day"}')
    return data


def only_keys(data: dict, allowed: tuple[str, ...]) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise ValidationError(
            [
                FieldError(str(k), "unknown key; allowed keys are " + ", ".join(allowed))
                for k in unknown
            ]
        )


def query_date(name: str, default: date | None) -> date | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            [FieldError(name, f"{value[:40]!r} is not a date; use YYYY-MM-DD")]
        ) from None
    if not 1970 <= day.year <= 2199:
        # Far dates overflow when they become instants; nothing is stored out there.
        raise ValidationError(
            [FieldError(name, f"{day} is out of range; use a date in the years 1970 to 2199")]
        )
    return day


def query_int(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value, 10)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ValidationError(
            [
                FieldError(
                    name, f"{value[:40]!r} is not allowed; use a whole number from {low} to {high}"
                )
            ]
        )
    return number


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def check_order(first: date | None, last: date | None) -> None:
    """Refuse a ``to`` before ``from`` (an empty answer would look like "nothing
    happened")."""
    if first is not None and last is not None and last < first:
        raise ValidationError(
            [FieldError("to", f"{last} is before from {first}; to must be on or after from")]
        )


def date_span(default_days: int) -> tuple[date, date]:
    """``from`` and ``to`` (local dates, inclusive) from the query, checked."""
    today = now().astimezone(site_tz()).date()
    last = query_date("to", today) or today
    first = query_date("from", last - timedelta(days=default_days - 1)) or last
    check_order(first, last)
    errors = []
    if (last - first).days >= MAX_CALL_DAYS:
        errors.append(
            FieldError(
                "from",
                f"the span is {(last - first).days + 1} days; at most {MAX_CALL_DAYS} are allowed",
            )
        )
    if errors:
        raise ValidationError(errors)
    return first, last


def who() -> str:
    return g.identity.name


def source() -> str:
    return {"token": "api", "local": "cli"}.get(g.identity.via, "web")


def zone_route(rule: str, **options):
    """Register a view at ``/api/v1RULE`` (first zone) and ``/api/v1/zones/NAME RULE``."""

    def decorator(view):
        bp.add_url_rule(rule, view_func=view, defaults={"zone": None}, **options)
        bp.add_url_rule(f"/zones/<zone>{rule}", view_func=view, **options)
        return view

    return decorator


def local_iso(value) -> str | None:
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return when.astimezone(site_tz()).isoformat(timespec="seconds")
