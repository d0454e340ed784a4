"""The schedule page: the editor, its preview, versions, import and export."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    request,
)

from appliance import timetext as timefmt
from appliance.decision.dayplan import day_plan, holiday_reason
from appliance.decision.schedule import WEEKDAY_NAMES, WEEKDAYS, parse_schedule
from appliance.errors import ValidationError
from web import api, calendar_view, charts, holiday_choices, schedule_form
from web.auth import appliance, require, store
from web.errors import ApiError
from web.pages.frame import bp, page_zone, render, site_now, site_tz, zurl


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
    modes = (
        (allowed or {"day", "night"}) | used | {model["default_mode"], model["holidays"]["mode"]}
    )
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
    span = {
        "from": first,
        "to": first + timedelta(days=days - 1),
        "days": days,
        "problem": span_problem,
        "default": days == calendar_view.DEFAULT_DAYS and first == today,
    }
    if parsed is None:
        return {"rows": None, "warning": None, "span": span}
    if zone is not None:
        # The calendars' closures as they are in force, on the saved or edited hours.
        parsed = parsed.with_layers(*calendar_view.layers(zone))
    tz = site_tz()
    local = now.astimezone(tz)
    rows = charts.day_rows(parsed, first, days, day_plan=day_plan)
    modes = sorted(
        {s.mode for r in rows for s in r.segments}, key=lambda m: (m != "day", m != "night", m)
    )
    return {
        "rows": rows,
        "modes": modes,
        "svg": charts.timeline_svg(
            rows, now_day=local.date(), now_minute=local.hour * 60 + local.minute
        ),
        "warning": schedule_form.coming_year_warning(parsed, today, holiday_reason=holiday_reason),
        "season_warnings": schedule_form.season_warnings(parsed),
        "span": span,
    }


def schedule_page(
    zone: str,
    model: dict,
    *,
    status: int = 200,
    unsaved: bool = False,
    focus: str | None = None,
    errors: ErrorIndex | None = None,
    notice: str | None = None,
):
    facade = appliance()
    now = site_now()
    today = now.astimezone(site_tz()).date()
    _, parsed, found = _check(zone, model, today)
    errors = errors if errors is not None else found
    hol = model["holidays"]
    country_ok = hol["country"] in dict(holiday_choices.countries())
    return render(
        "schedule.html",
        status=status,
        zone=zone,
        model=model,
        errors=errors,
        weekdays=list(zip(WEEKDAYS, WEEKDAY_NAMES)),
        modes=_mode_options(zone, model),
        countries=holiday_choices.countries(),
        subdivisions=holiday_choices.subdivisions(hol["country"]) if country_ok else (),
        unsaved=unsaved,
        focus=focus,
        notice=notice,
        preview=preview_view(parsed if not errors else None, today, now, zone),
        history=store().schedule_history(zone, 10),
        calendars=calendar_view.calendars(zone, site_tz()),
        repeats=schedule_form.REPEATS,
        when_choices=schedule_form.WHEN_CHOICES,
        can_edit=g.identity.may("admin"),
        now=now,
        tz=site_tz(),
        timefmt=timefmt,
        site_tz=facade.site.timezone,
        **holiday_view(model, today),
    )


def holiday_view(model: dict, today) -> dict:
    """What the holiday picker shows for the model's country and region: the coming
    year's public holidays (to tick the ones worked anyway) and the extra categories, each
    with what it does. A region the country does not have is left out here (the field's
    own error says so), so a change of country shows the new country's holidays at once."""
    hol = model["holidays"]
    country = hol["country"] if hol["country"] in dict(holiday_choices.countries()) else ""
    subdivision = (
        hol["subdivision"]
        if country and hol["subdivision"] in dict(holiday_choices.subdivisions(country))
        else None
    )
    upcoming, categories = [], []
    if country:
        try:
            upcoming = holiday_choices.upcoming(country, subdivision, today)
            categories = holiday_choices.category_choices(country, subdivision, today)
        except Exception:  # a library quirk: the picker shows less, the form still works
            upcoming, categories = [], []
    listed = {name.casefold() for _, name in upcoming}
    offered = {c["code"] for c in categories}
    return {
        "upcoming": upcoming,
        "categories": categories,
        "subdivisions_exist": bool(country and holiday_choices.subdivisions(country)),
        "ignored": {i.casefold() for i in hol["ignore"]},
        # Ignored holidays not in the coming year's list (dates, rarer holidays) and
        # categories not offered here stay as they are.
        "ignore_hidden": [i for i in hol["ignore"] if i.casefold() not in listed],
        "categories_hidden": [c for c in hol["categories"] if c not in offered],
    }


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
        today = site_now().astimezone(site_tz()).date()
        doc, parsed, errors = _check(zone, model, today)
        if errors:
            return schedule_page(zone, model, status=400, unsaved=True, errors=errors)
        try:
            result = appliance().put_schedule(zone, doc, by=g.identity.name)
        except ValidationError as exc:
            return schedule_page(
                zone,
                model,
                status=400,
                unsaved=True,
                errors=ErrorIndex([(e.field, e.message) for e in exc.errors]),
            )
        if not result.get("changed", True):
            flash(f"No changes to save: version {result['version']} stays in force as it is.")
        else:
            flash(
                f"Schedule saved (version {result['version']}). "
                f"Now {mode_and_reason(result['status'])}."
            )
        return redirect(zurl("pages.schedule", zone))
    try:
        # A new range is "day": hours are added to open, closed is the default mode.
        focus = schedule_form.apply_action(model, action, default_mode="day")
    except schedule_form.DayFull as exc:
        return schedule_page(zone, model, unsaved=True, notice=str(exc))
    except schedule_form.FormError as exc:
        raise ApiError(400, str(exc)) from None
    return schedule_page(zone, model, unsaved=True, focus=focus)


def mode_and_reason(status: dict) -> str:
    """``"day: weekly hours Monday 08:00-18:00"``: the mode said once (a reason already
    starts with its mode)."""
    mode, reason = status["mode"], status["reason"]
    return reason if reason.startswith(f"{mode}:") else f"{mode}: {reason}"


@bp.route("/schedule/preview", methods=["POST"])
@require("viewer")
def schedule_preview():
    """The preview of an unsaved form (the page's script calls this as the form changes)."""
    zone = page_zone()
    g.zone = zone
    model = _form_model()
    now = site_now()
    today = now.astimezone(site_tz()).date()
    _, parsed, errors = _check(zone, model, today)
    return render(
        "_preview.html",
        zone=zone,
        errors=errors,
        preview=preview_view(parsed if not errors else None, today, now, zone),
        unsaved=True,
    )


@bp.route("/schedule/holidays", methods=["POST"])
@require("viewer")
def schedule_holidays():
    """The holiday picker for the form's country and region (the page's script calls
    this as either changes; without the script the "Show" button redraws the page)."""
    zone = page_zone()
    g.zone = zone
    model = _form_model()
    today = site_now().astimezone(site_tz()).date()
    return render("_holidays.html", zone=zone, model=model, **holiday_view(model, today))


@bp.route("/schedule/versions/<int:version>", methods=["GET"])
@require("viewer")
def schedule_version(version: int):
    """One saved version: what it contains, and what putting it back would change in the
    schedule in force, before anyone restores it."""
    zone = page_zone()
    g.zone = zone
    db = store()
    doc = db.get_schedule_version(zone, version) if 1 <= version < 2**63 else None
    if doc is None:
        raise ApiError(
            404, f"there is no schedule version {version}; the History lists the saved versions"
        )
    history = db.schedule_history(zone, 1000)
    row = next((h for h in history if h["version"] == version), {"version": version})
    current = appliance().get_schedule(zone)
    in_force = history[0]["version"] if history else None
    lines = schedule_form.describe(doc)
    return render(
        "schedule_version.html",
        zone=zone,
        row=row,
        lines=lines,
        in_force=in_force,
        is_in_force=version == in_force,
        changes=schedule_form.difference(schedule_form.describe(current), lines),
        can_edit=g.identity.may("admin"),
        tz=site_tz(),
        timefmt=timefmt,
    )


@bp.route("/schedule/subdivisions", methods=["GET"])
@require("viewer")
def schedule_subdivisions():
    country = request.args.get("country", "")
    return jsonify(
        {
            "country": country,
            "subdivisions": [list(s) for s in holiday_choices.subdivisions(country)],
        }
    )


@bp.route("/schedule/rollback", methods=["POST"])
@require("admin")
def schedule_rollback():
    zone = page_zone()
    g.zone = zone
    version = request.form.get("version", "")
    try:
        # isascii: "¹".isdigit() is True but int("¹") fails
        number = (
            int(version)
            if version.isascii() and version.isdigit() and len(version) < 10
            else version
        )
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
        problem = 'Choose a schedule file (.json, as "Download the schedule as JSON" gives).'
    else:
        try:
            data = json.loads(upload.read().decode("utf-8"))
            if not isinstance(data, dict):
                problem = f"{name} is not a schedule: it must be one JSON object {{...}}."
        except (UnicodeDecodeError, ValueError) as exc:
            problem = f"{name} is not JSON ({str(exc)[:120]}); nothing was imported."
        except RecursionError:
            problem = f"{name} is nested too deeply to be a schedule; nothing was imported."
    if problem is None:
        try:
            result = appliance().put_schedule(zone, data, by=g.identity.name)
        except ValidationError as exc:
            problem = (
                f"{name} was not imported, nothing changed: "
                + "; ".join(str(e) for e in exc.errors[:10])
                + (f" (and {len(exc.errors) - 10} more)" if len(exc.errors) > 10 else "")
            )
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
        body + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="schedule-{zone}.json"'},
    )
