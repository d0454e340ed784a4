"""The HTML pages: status, schedule, log, calls, installer, users.

Every action is a plain HTML form (POST, then a redirect), so the page works without
JavaScript; ``static/nightswitch.js`` only adds live updates, confirmation dialogs and
the schedule preview that follows the form as it is typed.

On a multi-zone site a ``zone`` query or form field picks the zone; a single-zone site
never shows the word.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from appliance import timetext as timefmt
from appliance.control import commissioning
from appliance.control.facade import confirm_question
from appliance.decision.dayplan import day_plan, holiday_reason
from appliance.decision.decide import decide, next_schedule_change
from appliance.decision.schedule import WEEKDAY_NAMES, WEEKDAYS, parse_schedule
from appliance.errors import FieldError, NightswitchError, Refused, ValidationError
from appliance.smdr import report
from web import api, calendar_view, charts, holiday_choices, schedule_form
from web.auth import appliance, require, store
from web.errors import ApiError
from web.redirects import safe_local_path
from web.sessions import accounts, client_address

bp = Blueprint("pages", __name__)

#: Ask before an override that lasts longer than this (the FreePBX trap:
#: docs/design.md#overrides-and-their-ends).
#: The "for N hours" buttons.
FOR_HOURS = (1, 2)
PREVIEW_DAYS = 14
LOG_PAGE = 50

FAULT_TITLES = {
    "link": "PBX link failed",
    "actuator": "Switching failed",
    "clock": "Clock not synchronized",
    "config": "Configuration problem",
    "wiring": "Key switch wiring fault",
    "fallback": "Using the fallback switch",
    "calendar": "Calendar cannot be read",
    "company": "Company closures cannot be read",
    "smdr": "Call records (SMDR) not arriving",
}
NAV = (("pages.status", "Status", "viewer"), ("pages.schedule", "Schedule", "viewer"),
       ("pages.log", "Log", "viewer"), ("pages.calls", "Calls", "viewer"),
       ("pages.installer", "Installer", "admin"), ("pages.users", "Users", "admin"))


# -- shared page context ------------------------------------------------------------------

def page_zone() -> str:
    """The zone this page is about (404 for one the site does not have)."""
    return api.resolve_zone(request.values.get("zone") or None)


def _tz():
    return api.site_tz()


def zurl(endpoint: str, zone: str | None = None, **values) -> str:
    """``url_for`` that keeps the zone on a multi-zone site."""
    names = appliance().zone_names()
    if len(names) > 1:
        values["zone"] = zone or g.get("zone") or names[0]
    return url_for(endpoint, **values)


@bp.app_context_processor
def base_context() -> dict:
    """What every page's frame needs: the site, its zones, the navigation."""
    facade = current_app.extensions.get("nightswitch")
    if facade is None:
        return {"site_name": "Nightswitch", "zones": [], "multi_zone": False, "nav": [],
                "simulate": False, "zurl": url_for, "mode_class": charts.mode_class}
    names = facade.zone_names()
    labels = dict(facade.site.zones)
    zone = g.get("zone") or names[0]
    identity = g.get("identity")
    return dict(
        site_name=facade.site.name, zones=[(n, labels.get(n, n)) for n in names],
        multi_zone=len(names) > 1, zone=zone, zone_label=labels.get(zone, zone),
        simulate=current_app.extensions.get("nightswitch.virtual_panel") is not None,
        nav=[item for item in NAV if identity is not None and identity.may(item[2])],
        zurl=zurl, mode_class=charts.mode_class, dom_id=schedule_form.dom_id,
        field_label=schedule_form.field_label,
    )


def render(template: str, status: int = 200, **values):
    if values.get("zone"):
        g.zone = values["zone"]
    return render_template(template, **values), status


def _now():
    return appliance().now()


# -- status ------------------------------------------------------------------------------

@dataclass
class Choice:
    """One override button: what it sets and the concrete end it states."""

    until: str              # next | 1h | 2h | never
    title: str
    end_text: str
    confirm: str | None = None


@dataclass
class ModeChoices:
    mode: str
    buttons: list[Choice] = field(default_factory=list)


def _modes_of(st: dict, schedule) -> list[str]:
    modes = set(st.get("modes") or ()) or ({"day", "night"} | set(schedule.modes))
    return sorted(modes, key=lambda m: (m != "day", m != "night", m))


#: Faults of the switch itself, which an operator's "try again" addresses.
RETRY_FAULTS = ("actuator", "auth", "link", "fallback")


def status_view(zone: str) -> dict:
    facade = appliance()
    st = facade.status(zone)
    tz = _tz()
    now = _now()
    schedule = facade.schedule_in_force(zone)
    mode = st["mode"]
    reason = st["reason"]
    if reason.startswith(f"{mode}: "):
        reason = reason[len(mode) + 2:]
    change = st.get("next_change")
    next_text = (f"{change['mode']} at {timefmt.when(change['at'], now, tz)}" if change
                 else "no change scheduled")
    key = st.get("key", "none")
    key_forced = key in ("day", "night")
    if key_forced:
        next_text = "when the key at reception is turned back to AUTO"
    override = st.get("override")
    sched_change = next_schedule_change(schedule, now)
    sched_mode = decide(now, schedule).mode
    choices = []
    # The modes one can switch *to* come first: at 17:30 the likely wish is "night now".
    for m in sorted(_modes_of(st, schedule), key=lambda m: m == mode):
        group = ModeChoices(m)
        if m != sched_mode:
            end = sched_change.at if sched_change else None
            group.buttons.append(Choice(
                "next", f"{m.capitalize()} until the next change",
                f"until {timefmt.when(end, now, tz)}" if end else "until cancelled",
                confirm_question(m, end, now, tz, schedule)))
        for hours in FOR_HOURS:
            end = now + timedelta(hours=hours)
            group.buttons.append(Choice(f"{hours}h", f"{m.capitalize()} for {hours} hour"
                                        + ("s" if hours > 1 else ""),
                                        f"until {timefmt.short_when(end, now, tz)}",
                                        confirm_question(m, end, now, tz, schedule)))
        choices.append(group)
    faults = [{"title": FAULT_TITLES.get(f["kind"], f["kind"].capitalize()),
               "message": f["message"],
               "since": timefmt.when(f.get("since"), now, tz) if f.get("since") else "",
               # the switch itself failed: an operator may have it tried again now
               "retry": f["kind"] in RETRY_FAULTS}
              for f in st.get("faults", [])]
    # The primaries applied the mode in force (while a fallback holds it, nothing is
    # "confirmed" anyway); a spare fallback that cannot read back does not weaken that.
    primaries = [a for a in st.get("actuators", []) if a.get("role", "primary") == "primary"]
    unverified = [a["name"] for a in primaries
                  if a.get("unverified") or not a.get("can_read_back")]
    overview = []
    if len(facade.zone_names()) > 1:
        for name in facade.zone_names():
            other = facade.status(name)
            overview.append({"name": name, "label": other.get("label", name),
                             "mode": other["mode"], "reason": other["reason"],
                             "faults": len(other.get("faults", [])),
                             "verified": other.get("verified")})
    return dict(
        st=st, mode=mode, reason=reason, next_text=next_text, key=key, key_forced=key_forced,
        override=override and dict(override, until_text=(
            "until " + timefmt.when(override["until"], now, tz) if override.get("until")
            else "until cancelled")),
        verified=st.get("verified"), switching=st.get("switching"), faults=faults,
        all_unverified=bool(primaries) and len(unverified) == len(primaries),
        unverified_names=unverified,
        no_actuators=not st.get("actuators"),
        choices=choices, overview=overview, now_text=f"{now.astimezone(tz):%a %d %b %H:%M}",
        can_override=g.identity is not None and g.identity.may("operator"),
        live_url=zurl("pages.status_live", zone), events_url=url_for("sse.events"),
    )


@bp.route("/", methods=["GET"])
@require("viewer", public=True)
def status():
    zone = page_zone()
    g.zone = zone
    return render("status.html", zone=zone, panel=_panel_view(), **status_view(zone))


@bp.route("/status/live", methods=["GET"])
@require("viewer", public=True)
def status_live():
    """The live part of the status page, for the page's script to swap in."""
    zone = page_zone()
    g.zone = zone
    return render("_live.html", zone=zone, **status_view(zone))


def _form_until(until: str, at: str, now):
    """What the override form asks for, as an ``until`` the facade plans with: the
    buttons' ``next``, ``1h`` .. ``24h`` and ``never``, or ``at`` with a time of day."""
    if until in ("next", "never"):
        return until
    if until.endswith("h") and until[:-1].isascii() and until[:-1].isdigit() \
            and 1 <= int(until[:-1]) <= 24:
        return now + timedelta(hours=int(until[:-1]))
    if until == "at":
        if not at or len(at) > 16:
            raise ValidationError([FieldError("at", "give the end as a time of day, such as "
                                                    "19:30")])
        return at
    raise ValidationError([FieldError("until", "choose next, 1h, 2h, at (with a time) or "
                                               "never")])


@bp.route("/override", methods=["POST"])
@require("operator")
def override():
    zone = page_zone()
    g.zone = zone
    facade = appliance()
    tz, now = _tz(), _now()
    mode = request.form.get("mode", "")
    until = request.form.get("until", "next")
    at = request.form.get("at", "").strip()
    try:
        asked = _form_until(until, at, now)
        try:
            plan = facade.plan_override(zone, mode, asked)
        except ValidationError as exc:
            if until == "at":   # the error is about the time typed in the "at" field
                raise ValidationError([FieldError("at", e.message) for e in exc.errors]) \
                    from None
            raise
        end = plan.end
        if plan.question and request.form.get("confirm") != "1":
            return render("confirm.html", zone=zone, mode=mode, until=until, at=at,
                          question=plan.question,
                          end_text=timefmt.when(end, now, tz) if end else "until cancelled")
        facade.set_override(zone, mode, plan.until, by=g.identity.name, source="web")
    except Refused as exc:
        return _status_error(zone, str(exc), 409)
    except ValidationError as exc:
        return _status_error(zone, "; ".join(e.message if e.field in ("mode", "until", "at")
                                             else str(e) for e in exc.errors), 400)
    flash(f"{mode.capitalize()} " + (f"until {timefmt.when(end, now, tz)}." if end
                                     else "until you cancel it."))
    return redirect(zurl("pages.status", zone))


@bp.route("/override/cancel", methods=["POST"])
@require("operator")
def override_cancel():
    zone = page_zone()
    g.zone = zone
    try:
        st = appliance().cancel_override(zone, by=g.identity.name, source="web")
    except Refused as exc:
        return _status_error(zone, str(exc), 409)
    flash(f"Back to the schedule: {st['mode']}.")
    return redirect(zurl("pages.status", zone))


@bp.route("/retry", methods=["POST"])
@require("operator")
def retry():
    """An operator's retry after a switching fault: the zone's actuators are tried again
    now, a login the PBX refused included (it is not tried again by itself for a day)."""
    zone = page_zone()
    g.zone = zone
    appliance().retry(zone, by=g.identity.name, source="web")
    flash("Trying the PBX again now; the status below shows the outcome.")
    return redirect(zurl("pages.status", zone))


def _status_error(zone: str, message: str, status: int):
    return render("status.html", status=status, zone=zone, error=message, panel=_panel_view(),
                  **status_view(zone))


# -- schedule -------------------------------------------------------------------------------

class ErrorIndex:
    """Errors by the form field they belong to."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.all = errors
        self.by_path: dict[str, list[str]] = {}
        for path, message in errors:
            self.by_path.setdefault(path, []).append(message)

    def at(self, path: str) -> list[str]:
        return self.by_path.get(path, [])

    def __bool__(self) -> bool:
        return bool(self.all)


def _allowed_modes(zone: str):
    modes = appliance().status(zone).get("modes")
    return set(modes) if modes else None


def _mode_options(zone: str, model: dict) -> list[str]:
    allowed = _allowed_modes(zone)
    used = {r["mode"] for rows in model["weekly"].values() for r in rows if r["mode"]}
    for season in model["seasons"]:
        used |= {r["mode"] for rows in season["weekly"].values() for r in rows if r["mode"]}
    for exc in model["exceptions"]:
        used |= {r["mode"] for r in exc["ranges"] if r["mode"]}
    modes = (allowed or {"day", "night"}) | used | {model["default_mode"],
                                                     model["holidays"]["mode"]}
    return sorted((m for m in modes if m), key=lambda m: (m != "day", m != "night", m))


def _check(zone: str, model: dict, today):
    """Validate a model: (document, parsed schedule or None, ErrorIndex)."""
    hol = model["holidays"]
    names = None
    if hol["country"] and hol["country"] in dict(holiday_choices.countries()):
        try:
            names = holiday_choices.holiday_names(hol["country"], hol["subdivision"], today)
        except Exception:  # an unknown subdivision: parse_schedule names it below
            names = None
    doc, index = schedule_form.model_to_json(model, holiday_names=names)
    try:
        parsed = parse_schedule(doc, allowed_modes=_allowed_modes(zone))
        return doc, parsed, ErrorIndex([])
    except ValidationError as exc:
        return doc, None, ErrorIndex([(index.to_model(e.field), e.message) for e in exc.errors])


def preview_view(parsed, today, now, zone: str | None = None) -> dict:
    first, days, span_problem = calendar_view.preview_span(request.values, today)
    span = {"from": first, "to": first + timedelta(days=days - 1), "days": days,
            "problem": span_problem, "default": days == calendar_view.DEFAULT_DAYS
            and first == today}
    if parsed is None:
        return {"rows": None, "warning": None, "span": span}
    if zone is not None:
        # The calendars' closures as they are in force, on the saved or edited hours.
        parsed = parsed.with_layers(*calendar_view.layers(zone))
    tz = _tz()
    local = now.astimezone(tz)
    rows = charts.day_rows(parsed, first, days, day_plan=day_plan)
    modes = sorted({s.mode for r in rows for s in r.segments},
                   key=lambda m: (m != "day", m != "night", m))
    return {"rows": rows, "modes": modes,
            "svg": charts.timeline_svg(rows, now_day=local.date(),
                                       now_minute=local.hour * 60 + local.minute),
            "warning": schedule_form.coming_year_warning(parsed, today,
                                                         holiday_reason=holiday_reason),
            "season_warnings": schedule_form.season_warnings(parsed), "span": span}


def schedule_page(zone: str, model: dict, *, status: int = 200, unsaved: bool = False,
                  focus: str | None = None, errors: ErrorIndex | None = None):
    facade = appliance()
    now = _now()
    today = now.astimezone(_tz()).date()
    _, parsed, found = _check(zone, model, today)
    errors = errors if errors is not None else found
    hol = model["holidays"]
    country_ok = hol["country"] in dict(holiday_choices.countries())
    upcoming = []
    if country_ok:
        try:
            upcoming = holiday_choices.upcoming(hol["country"], hol["subdivision"], today)
        except Exception:   # a subdivision the library does not know: the error says so
            upcoming = holiday_choices.upcoming(hol["country"], None, today)
    ignored = {i.casefold() for i in hol["ignore"]}
    listed = {name.casefold() for _, name in upcoming}
    # Ignored holidays not in the coming year's list (dates, rarer holidays) stay as they are.
    ignore_hidden = [i for i in hol["ignore"] if i.casefold() not in listed]
    categories = ()
    if country_ok:
        try:
            categories = tuple(c for c in holiday_choices.categories(hol["country"])
                               if c != "public")
        except Exception:   # an unknown country: its own field error says so
            categories = ()
    return render(
        "schedule.html", status=status, zone=zone, model=model, errors=errors,
        weekdays=list(zip(WEEKDAYS, WEEKDAY_NAMES)), modes=_mode_options(zone, model),
        countries=holiday_choices.countries(),
        subdivisions=holiday_choices.subdivisions(hol["country"]) if country_ok else (),
        upcoming=upcoming, ignored=ignored, ignore_hidden=ignore_hidden, unsaved=unsaved, focus=focus,
        categories=categories,
        preview=preview_view(parsed if not errors else None, today, now, zone),
        history=store().schedule_history(zone, 10),
        calendars=calendar_view.calendars(zone, _tz()),
        repeats=schedule_form.REPEATS, when_choices=schedule_form.WHEN_CHOICES,
        can_edit=g.identity.may("admin"), now=now, tz=_tz(), timefmt=timefmt,
        site_tz=facade.site.timezone,
    )


@bp.route("/schedule", methods=["GET"])
@require("viewer")
def schedule():
    zone = page_zone()
    g.zone = zone
    model = schedule_form.model_from_json(appliance().get_schedule(zone))
    return schedule_page(zone, model)


def _form_model():
    try:
        return schedule_form.form_to_model(request.form)
    except schedule_form.FormError as exc:
        raise ApiError(400, str(exc)) from None


@bp.route("/schedule", methods=["POST"])
@require("admin")
def schedule_post():
    zone = page_zone()
    g.zone = zone
    model = _form_model()
    action = request.form.get("action", "save")
    if action in ("save", "preview"):
        if action == "preview":
            return schedule_page(zone, model, unsaved=True)
        today = _now().astimezone(_tz()).date()
        doc, parsed, errors = _check(zone, model, today)
        if errors:
            return schedule_page(zone, model, status=400, unsaved=True, errors=errors)
        try:
            result = appliance().put_schedule(zone, doc, by=g.identity.name)
        except ValidationError as exc:
            return schedule_page(zone, model, status=400, unsaved=True,
                                 errors=ErrorIndex([(e.field, e.message) for e in exc.errors]))
        flash(f"Schedule saved (version {result['version']}). "
              f"Now {result['status']['mode']}: {result['status']['reason']}.")
        return redirect(zurl("pages.schedule", zone))
    try:
        # A new range is "day": hours are added to open, closed is the default mode.
        focus = schedule_form.apply_action(model, action, default_mode="day")
    except schedule_form.FormError as exc:
        raise ApiError(400, str(exc)) from None
    return schedule_page(zone, model, unsaved=True, focus=focus)


@bp.route("/schedule/preview", methods=["POST"])
@require("viewer")
def schedule_preview():
    """The preview of an unsaved form (the page's script calls this as the form changes)."""
    zone = page_zone()
    g.zone = zone
    model = _form_model()
    now = _now()
    today = now.astimezone(_tz()).date()
    _, parsed, errors = _check(zone, model, today)
    return render("_preview.html", zone=zone, errors=errors,
                  preview=preview_view(parsed if not errors else None, today, now, zone),
                  unsaved=True)


@bp.route("/schedule/subdivisions", methods=["GET"])
@require("viewer")
def schedule_subdivisions():
    country = request.args.get("country", "")
    return jsonify({"country": country,
                    "subdivisions": [list(s) for s in holiday_choices.subdivisions(country)]})


@bp.route("/schedule/rollback", methods=["POST"])
@require("admin")
def schedule_rollback():
    zone = page_zone()
    g.zone = zone
    version = request.form.get("version", "")
    try:
        # isascii: "¹".isdigit() is True but int("¹") fails
        number = int(version) if version.isascii() and version.isdigit() and len(version) < 10 \
            else version
        result = api.rollback(zone, number, g.identity.name)
    except ValidationError as exc:
        flash("; ".join(e.message for e in exc.errors), "error")
        return redirect(zurl("pages.schedule", zone))
    flash(f"Version {version} is in force again (saved as version {result['version']}).")
    return redirect(zurl("pages.schedule", zone))


@bp.route("/schedule/import", methods=["POST"])
@require("admin")
def schedule_import():
    """A schedule from a JSON file (as the export gives, or as `nightswitch schedule
    export` writes) put in force; a file with any error changes nothing."""
    import json

    zone = page_zone()
    g.zone = zone
    upload = request.files.get("file")
    name = (upload.filename or "")[:80] if upload is not None else ""
    problem = None
    if not name:
        problem = "Choose a schedule file (.json, as \"Download the schedule as JSON\" gives)."
    else:
        try:
            data = json.loads(upload.read().decode("utf-8"))
            if not isinstance(data, dict):
                problem = f"{name} is not a schedule: it must be one JSON object {{...}}."
        except (UnicodeDecodeError, ValueError) as exc:
            problem = f"{name} is not JSON ({str(exc)[:120]}); nothing was imported."
        except RecursionError:
            problem = (f"{name} is nested too deeply to be a schedule; nothing was "
                       "imported.")
    if problem is None:
        try:
            result = appliance().put_schedule(zone, data, by=g.identity.name)
        except ValidationError as exc:
            problem = (f"{name} was not imported, nothing changed: "
                       + "; ".join(str(e) for e in exc.errors[:10])
                       + (f" (and {len(exc.errors) - 10} more)" if len(exc.errors) > 10 else ""))
        else:
            flash(f"Imported {name}: saved as version {result['version']}, now in force.")
    if problem:
        flash(problem, "error")
    return redirect(zurl("pages.schedule", zone))


@bp.route("/schedule/export", methods=["GET"])
@require("viewer")
def schedule_export():
    import json

    zone = page_zone()
    body = json.dumps(appliance().get_schedule(zone), indent=2, ensure_ascii=False)
    return current_app.response_class(
        body + "\n", mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="schedule-{zone}.json"'})


# -- log --------------------------------------------------------------------------------------

@bp.route("/log", methods=["GET"])
@require("viewer")
def log():
    zone = page_zone()
    g.zone = zone
    page = api.query_int("page", 1, 1, 10**6)
    who = request.args.get("who", "").strip()
    source = request.args.get("source", "").strip()
    filter_errors = []
    first = last = None
    try:
        first, last = api.query_date("from", None), api.query_date("to", None)
    except ValidationError as exc:
        filter_errors = [str(e) for e in exc.errors]
    rows, total = [], 0
    if not filter_errors:
        try:
            rows, total = api.audit_query(zone, limit=LOG_PAGE, offset=(page - 1) * LOG_PAGE,
                                          who_filter=who, source_filter=source, first=first,
                                          last=last)
        except ValidationError as exc:
            filter_errors = [str(e) for e in exc.errors]
    pages = max(1, math.ceil(total / LOG_PAGE))
    tz = _tz()
    for row in rows:
        row["when"] = timefmt.stamp(row["at"], tz)
    args = {k: v for k, v in (("who", who), ("source", source),
                              ("from", request.args.get("from", "")),
                              ("to", request.args.get("to", ""))) if v}
    return render("log.html", zone=zone, rows=rows, total=total, page=page, pages=pages,
                  who=who, source=source, first=request.args.get("from", ""),
                  last=request.args.get("to", ""), filter_errors=filter_errors, args=args,
                  sources=("key", "web", "api", "cli", "override", "schedule", "weekly",
                           "default", "holiday", "exception", "season", "hold", "drift",
                           "fault", "fallback", "test"))


# -- calls ------------------------------------------------------------------------------------

@bp.route("/calls", methods=["GET"])
@require("viewer")
def calls():
    zone = page_zone()
    g.zone = zone
    errors = []
    try:
        first, last = api.date_span(14)
    except ValidationError as exc:
        errors = [str(e) for e in exc.errors]
        today = _now().astimezone(_tz()).date()
        first, last = today - timedelta(days=13), today
    rows, history, start, end = api.calls_data(zone, first, last)
    summary = report.summary(rows, history, _tz(), start, end)
    nights = summary["per_night"]
    night_days = [datetime.fromisoformat(n["night"]) for n in nights]
    night_labels = [str(d.day) for d in night_days]
    series_for = (("answered", "c-answered"), ("unanswered", "c-unanswered"),
                  ("unknown", "c-unknown"))
    night_chart = charts.bar_chart_svg(
        night_labels, [charts.Series(name, css, tuple(n[name] for n in nights))
                       for name, css in series_for],
        title="After-hours calls per night", label_every=max(1, len(nights) // 31),
        titles=[f"night of {d:%a} {d.day} {d:%b}" for d in night_days])
    hour_chart = charts.bar_chart_svg(
        [f"{h:02d}" for h in range(24)],
        [charts.Series(name, css, tuple(h[name] for h in summary["per_hour"]))
         for name, css in series_for],
        title="After-hours calls per hour of the day", label_every=3)
    tz, now = _tz(), _now()
    for n in nights:
        began = timefmt.to_local(n["began"], tz)
        n["night_text"] = f"{began:%a} {began.day} {began:%b}"
        ended = timefmt.to_local(n["ended"], tz) if n["ended"] else None
        days = (ended.date() - began.date()).days if ended else None
        n["span_text"] = f"{began:%H:%M}–" + (
            "now" if ended is None else f"{ended:%H:%M}" if days in (0, 1)
            else f"{ended:%a} {ended:%H:%M}" if days < 7 else f"{ended.day} {ended:%b %H:%M}")
    return render("calls.html", zone=zone, first=first, last=last, summary=summary,
                  nights=nights, night_chart=night_chart, hour_chart=hour_chart, errors=errors,
                  smdr=appliance().site.smdr, now=now)


@bp.route("/calls.csv", methods=["GET"])
@require("viewer")
def calls_csv():
    zone = page_zone()
    first, last = api.date_span(14)
    rows, history, _, _ = api.calls_data(zone, first, last)
    return api.csv_response(report.to_csv(rows, history, _tz()), zone, first, last)


# -- installer ----------------------------------------------------------------------------------

@bp.route("/installer", methods=["GET"])
@require("admin")
def installer():
    zone = page_zone()
    g.zone = zone
    facade = appliance()
    info = facade.installer_info()
    statuses = {name: facade.status(name) for name in facade.zone_names()}
    actuators = []
    for spec in info["actuators"]:
        st = statuses.get(spec.get("zone"), {})
        live = next((a for a in st.get("actuators", []) if a["name"] == spec.get("name")), {})
        actuators.append({"spec": spec, "live": live,
                          "faults": [f for f in st.get("faults", [])
                                     if f["kind"] in ("link", "actuator", "fallback", "auth")]})
    intake = current_app.config.get("NIGHTSWITCH_INTAKE")
    stats = None
    if intake is not None:
        try:
            stats = intake.stats()
        except Exception as exc:  # the page must show, even if the intake misbehaves
            stats = {"error": str(exc)}
    db = store()
    try:
        key_test = facade.read_key()
    except (NightswitchError, TimeoutError) as exc:
        key_test = {"error": str(exc)}
    return render("installer.html", zone=zone, statuses=statuses, actuators=actuators,
                  events_url=url_for("sse.events"),
                  relays=facade.relay_states(), key_test=key_test, smdr=facade.site.smdr,
                  stats=stats, unparsed_count=db.unparsed_count(),
                  unparsed=db.unparsed(limit=10), config_text=info["config_text"],
                  config_source=info["config_source"], panel=_panel_view(),
                  verify=info["verify"],
                  quarantined=getattr(db, "quarantined", None), tz=_tz(), timefmt=timefmt,
                  now=_now(), report=facade.last_commissioning_report())


#: The commissioning report is self-contained (its styles inline) and has no script.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


@bp.route("/installer/report/<name>", methods=["GET"])
@require("admin")
def installer_report(name):
    """A commissioning report of ``nightswitch test all``, as written."""
    path = appliance().commissioning_report_file(name)
    if path is None:
        abort(404)
    try:
        body = path.read_bytes()        # a few dozen kB, written once
    except OSError:
        abort(404)
    response = current_app.response_class(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/installer/test", methods=["POST"])
@require("admin")
def installer_test():
    zone = page_zone()
    kind = request.form.get("kind", "")
    name = request.form.get("name") or None
    facade = appliance()
    seconds = float(current_app.config["NIGHTSWITCH_TEST_SECONDS"])
    try:
        if kind == "leds":
            result = facade.test_leds(seconds, by=g.identity.name)
        elif kind == "relay":
            if name is None:
                raise ValidationError([FieldError("name", "choose a relay")])
            result = facade.test_relay(name, seconds, by=g.identity.name)
        elif kind == "key":
            result = facade.read_key()
        else:
            raise ValidationError([FieldError("kind", f"{kind[:20]!r} is not a test; use "
                                                      "leds, relay or key")])
    except (ValidationError, Refused) as exc:
        errors = exc.errors if isinstance(exc, ValidationError) else [FieldError("kind", str(exc))]
        flash("; ".join(e.message for e in errors), "error")
        return redirect(zurl("pages.installer", zone))
    if kind == "leds":
        flash("LED test done: " + (", ".join(result.get("tested", [])) or "no LEDs are wired")
              + (" (ended early: the key was turned)." if result.get("interrupted") else "."))
    elif kind == "relay":
        flash(commissioning.describe_relay_test(result).capitalize()
              + f"; then the mode {result.get('reasserted')} was applied again.")
    else:
        flash("Key switch read: " + ", ".join(f"{z}: {v['position'].upper()}"
                                              for z, v in result.get("zones", {}).items()))
    return redirect(zurl("pages.installer", zone))


# -- the virtual front panel (simulate) -----------------------------------------------------------

def virtual_panel():
    """The virtual front panel of ``simulate``, or None."""
    return current_app.extensions.get("nightswitch.virtual_panel")


def _panel_view():
    sim = virtual_panel()
    if sim is None:
        return None
    snap = sim.snapshot()
    panel = getattr(sim, "panel", None)
    kind = getattr(panel, "kind", "none") if panel is not None else "none"
    positions = sim.positions()
    tz = _tz()
    now = timefmt.to_local(snap.get("now"), tz) if snap.get("now") else _now().astimezone(tz)
    status = appliance().status(getattr(panel, "zone", None) if panel is not None else None)
    return {"snap": snap, "kind": kind, "positions": positions, "mode": status["mode"],
            "verified": status["verified"],
            "now_text": f"{now:%a %d %b %Y %H:%M:%S}", "now_value": f"{now:%Y-%m-%dT%H:%M}",
            "api": url_for("api.sim_panel")}


@bp.route("/panel", methods=["GET"])
@require("viewer")
def panel():
    """The virtual front panel alone (simulate)."""
    if _panel_view() is None:
        abort(404)
    return render("panel.html", panel=_panel_view())


@bp.route("/panel/fragment", methods=["GET"])
@require("viewer")
def panel_fragment():
    if _panel_view() is None:
        abort(404)
    return render("_panel.html", panel=_panel_view())


def _back():
    return redirect(safe_local_path(request.form.get("next")) or url_for("pages.status"))


@bp.route("/sim/key", methods=["POST"])
@require("operator")
def sim_key():
    panel = api.sim()
    try:
        panel.set_key(request.form.get("position", ""))
    except ValidationError as exc:
        flash("; ".join(e.message for e in exc.errors), "error")
    return _back()


@bp.route("/sim/clock", methods=["POST"])
@require("operator")
def sim_clock():
    panel = api.sim()
    try:
        if request.form.get("advance_s"):
            text = request.form["advance_s"]
            seconds = float(text) if len(text) < 20 else math.nan
            if not math.isfinite(seconds):
                raise ValidationError([FieldError("advance_s", "must be a number of seconds")])
            api.move_clock(panel, {"advance_s": seconds})
        else:
            api.move_clock(panel, {"now": request.form.get("now", "")})
    except ValueError as exc:
        errors = exc.errors if isinstance(exc, ValidationError) else [
            FieldError("advance_s", "must be a number of seconds")]
        flash("; ".join(e.message for e in errors), "error")
    return _back()


# -- users and tokens -------------------------------------------------------------------------

def users_page(status: int = 200, *, new_token=None, errors=None, form=None):
    db = store()
    tz, now = _tz(), _now()
    tokens = [dict(t, created=timefmt.stamp(t.get("created_at"), tz),
                   expires=timefmt.stamp(t["expires_at"], tz) if t.get("expires_at") else "",
                   last_used=timefmt.stamp(t["last_used_at"], tz) if t.get("last_used_at")
                   else "")
              for t in accounts().tokens()]
    events = [dict(e, when=timefmt.stamp(e["at"], tz)) for e in db.security_log(limit=30)]
    return render("users.html", status=status, users=accounts().overview(), tokens=tokens,
                  new_token=new_token, errors=errors or {}, form=form or {}, events=events,
                  roles=("viewer", "operator", "admin"), now=now)


@bp.route("/users", methods=["GET"])
@require("admin")
def users():
    return users_page()


def _user_action(fn, done: str):
    try:
        fn()
    except ValidationError as exc:
        return users_page(400, errors={"user": "; ".join(e.message for e in exc.errors)},
                          form=request.form)
    flash(done)
    return redirect(url_for("pages.users"))


def _by() -> dict:
    return {"by": g.identity.name, "address": client_address()}


@bp.route("/users/add", methods=["POST"])
@require("admin")
def users_add():
    name = request.form.get("name", "").strip()
    return _user_action(lambda: accounts().add_user(name, request.form.get("role"),
                                                    request.form.get("password", ""),
                                                    must_change=True, **_by()),
                        f"User {name} added; they choose their own password at their first "
                        "login.")


@bp.route("/users/role", methods=["POST"])
@require("admin")
def users_role():
    name, role = request.form.get("name", ""), request.form.get("role", "")
    return _user_action(lambda: accounts().set_role(name, role, **_by()),
                        f"{name} is now {role}; their sessions were logged out.")


@bp.route("/users/password", methods=["POST"])
@require("admin")
def users_password():
    name = request.form.get("name", "")
    if name == g.identity.name:
        return users_page(400, errors={"user": "change your own password on the Account "
                                               "page, with your current one"})
    return _user_action(lambda: accounts().reset_password(name, request.form.get("password", ""),
                                                          **_by()),
                        f"Password of {name} set; they choose their own at their next login.")


@bp.route("/users/delete", methods=["POST"])
@require("admin")
def users_delete():
    name = request.form.get("name", "")
    if name == g.identity.name:
        return users_page(400, errors={"user": "you cannot delete yourself; ask another admin"})
    return _user_action(lambda: accounts().delete_user(name, **_by()),
                        f"User {name} deleted; their sessions and tokens ended.")


@bp.route("/tokens/create", methods=["POST"])
@require("admin")
def tokens_create():
    days = request.form.get("expires_days", "").strip()
    try:
        if days and not (days.isascii() and days.isdigit() and len(days) < 6):
            raise ValidationError([FieldError("expires_days", f"{days[:20]!r} is not a number "
                                                              "of days")])
        created = api.create_token(request.form.get("role"), request.form.get("label", ""),
                                   int(days) if days else None)
    except ValidationError as exc:
        return users_page(400, errors={"token": "; ".join(e.message for e in exc.errors)},
                          form=request.form)
    # Shown in this answer only (not flashed: the session cookie is readable).
    return users_page(201, new_token=created)


@bp.route("/tokens/revoke", methods=["POST"])
@require("admin")
def tokens_revoke():
    token_id = request.form.get("id", "")
    if not (token_id.isascii() and token_id.isdigit()) or len(token_id) > 18:
        return users_page(400, errors={"token": f"{token_id[:20]!r} is not a token id"})
    return _user_action(lambda: accounts().revoke_token(int(token_id), **_by()),
                        f"Token #{token_id} revoked.")


# -- health -----------------------------------------------------------------------------------

@bp.route("/health", methods=["GET"])
def health():
    body, code = api.health_report()
    return jsonify(body), code


__all__ = ["bp", "status_view"]
