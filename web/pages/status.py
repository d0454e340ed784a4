"""The status page: the mode, why, the next change, the override buttons and retry."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import (
    flash,
    g,
    redirect,
    request,
    url_for,
)

from appliance import timetext as timefmt
from appliance.control.facade import confirm_question
from appliance.decision.decide import decide, next_schedule_change
from appliance.decision.until import MAX_OVERRIDE, next_wall_time
from appliance.errors import FieldError, Refused, ValidationError
from appliance.vocabulary import fault_title
from web.auth import appliance, require
from web.pages.frame import bp, page_zone, render, site_now, site_tz, zurl
from web.pages.sim_panel import panel_view


@dataclass
class Choice:
    """One override button: what it sets and the concrete end it states."""

    until: str  # next | 1h | 2h | never | a local "YYYY-MM-DD HH:MM"
    title: str
    end_text: str
    confirm: str | None = None


#: The "for N hours" buttons.
FOR_HOURS = (1, 2)
#: How far ahead the quick ends (closing, openings) are looked for: past a long weekend.
QUICK_END_DAYS = 10


@dataclass
class ModeChoices:
    mode: str
    buttons: list[Choice] = field(default_factory=list)
    ends: list[Choice] = field(default_factory=list)


def _modes_of(st: dict, schedule) -> list[str]:
    """The zone's modes in a fixed order, day and night first, so each group of buttons
    keeps its place whatever the mode (reception finds them where they were)."""
    modes = set(st.get("modes") or ()) or ({"day", "night"} | set(schedule.modes))
    return sorted(modes, key=lambda m: (m != "day", m != "night", m))


def quick_ends(schedule, now, tz) -> list[tuple[str, datetime]]:
    """The ends people ask for by name, from the schedule: today's closing, the next
    opening ("Tomorrow's opening", "Monday's opening" after a weekend) and tomorrow's
    opening when that is another one. ``[(label, end)]``, soonest first."""
    today = now.astimezone(tz).date()
    tomorrow = today + timedelta(days=1)
    openings, closing = [], None
    at = now
    for _ in range(6 * QUICK_END_DAYS):
        change = next_schedule_change(schedule, at)
        if change is None or change.at - now > timedelta(days=QUICK_END_DAYS):
            break
        on = change.at.astimezone(tz)
        if change.mode == "day":
            openings.append(on)
        elif change.mode == schedule.default_mode and closing is None and on.date() == today:
            closing = on
        at = change.at
    ends = []
    if closing is not None:
        ends.append(("Tonight's closing" if closing.hour >= 16 else "Today's closing", closing))
    if openings:
        first = openings[0]
        ends.append((_opening_label(first.date(), today), first))
        again = next((o for o in openings if o.date() == tomorrow), None)
        if again is not None and again != first:
            ends.append(("Tomorrow's opening", again))
    return sorted(ends, key=lambda pair: pair[1])


def _opening_label(day, today) -> str:
    if day == today:
        return "Today's opening"
    if day == today + timedelta(days=1):
        return "Tomorrow's opening"
    return f"{day:%A}'s opening"


#: Faults of the switch itself, which an operator's "try again" addresses.
RETRY_FAULTS = ("actuator", "auth", "link", "fallback")


def status_view(zone: str) -> dict:
    facade = appliance()
    st = facade.status(zone)
    tz = site_tz()
    now = site_now()
    schedule = facade.schedule_in_force(zone)
    mode = st["mode"]
    reason = st["reason"]
    if reason.startswith(f"{mode}: "):
        reason = reason[len(mode) + 2 :]
    change = st.get("next_change")
    next_text = (
        f"{change['mode']} at {timefmt.when(change['at'], now, tz)}"
        if change
        else "no change scheduled"
    )
    key = st.get("key", "none")
    key_forced = key in ("day", "night")
    if key_forced:
        next_text = "when the key at reception is turned back to AUTO"
    override = st.get("override")
    # An override without an end is the trap of phones left in day all night: it is
    # said as a warning, not as the calm "no change scheduled".
    open_ended = (
        bool(override)
        and not override.get("until")
        and not key_forced
        and st.get("source") == "override"
    )
    if open_ended:
        next_text = "none: it stays so until someone cancels the override"
    sched_change = next_schedule_change(schedule, now)
    sched_mode = decide(now, schedule).mode
    ends = quick_ends(schedule, now, tz)
    choices = []
    for m in _modes_of(st, schedule):
        group = ModeChoices(m)
        if m != sched_mode:
            end = sched_change.at if sched_change else None
            group.buttons.append(
                Choice(
                    "next",
                    f"{m.capitalize()} until the next change",
                    f"until {timefmt.when(end, now, tz)}" if end else "until cancelled",
                    confirm_question(m, end, now, tz, schedule),
                )
            )
        for hours in FOR_HOURS:
            end = now + timedelta(hours=hours)
            group.buttons.append(
                Choice(
                    f"{hours}h",
                    f"{m.capitalize()} for {hours} hour" + ("s" if hours > 1 else ""),
                    f"until {timefmt.when(end, now, tz)}",
                    confirm_question(m, end, now, tz, schedule),
                )
            )
        for label, end in ends:
            group.ends.append(
                Choice(
                    f"{end:%Y-%m-%d %H:%M}",
                    label,
                    timefmt.when(end, now, tz),
                    confirm_question(m, end, now, tz, schedule),
                )
            )
        choices.append(group)
    faults = [
        {
            "title": fault_title(f["kind"]),
            "message": f["message"],
            "since": timefmt.when(f.get("since"), now, tz) if f.get("since") else "",
            # the switch itself failed: an operator may have it tried again now
            "retry": f["kind"] in RETRY_FAULTS,
        }
        for f in st.get("faults", [])
    ]
    # The primaries applied the mode in force (while a fallback holds it, nothing is
    # "confirmed" anyway); a spare fallback that cannot read back does not weaken that.
    primaries = [a for a in st.get("actuators", []) if a.get("role", "primary") == "primary"]
    unverified = [a["name"] for a in primaries if a.get("unverified") or not a.get("can_read_back")]
    overview = []
    if len(facade.zone_names()) > 1:
        for name in facade.zone_names():
            other = facade.status(name)
            overview.append(
                {
                    "name": name,
                    "label": other.get("label", name),
                    "mode": other["mode"],
                    "reason": other["reason"],
                    "faults": len(other.get("faults", [])),
                    "verified": other.get("verified"),
                }
            )
    local_now = now.astimezone(tz)
    return dict(
        st=st,
        mode=mode,
        reason=reason,
        next_text=next_text,
        key=key,
        key_forced=key_forced,
        override=override
        and dict(
            override,
            until_text=(
                "until " + timefmt.when(override["until"], now, tz)
                if override.get("until")
                else "until cancelled"
            ),
        ),
        open_ended=open_ended,
        verified=st.get("verified"),
        switching=st.get("switching"),
        faults=faults,
        all_unverified=bool(primaries) and len(unverified) == len(primaries),
        unverified_names=unverified,
        no_actuators=not st.get("actuators"),
        choices=choices,
        overview=overview,
        now_text=timefmt.when(now, now, tz),
        today_value=f"{local_now:%Y-%m-%d}",
        last_day_value=f"{local_now + MAX_OVERRIDE:%Y-%m-%d}",
        can_override=g.identity is not None and g.identity.may("operator"),
        live_url=zurl("pages.status_live", zone),
        events_url=url_for("sse.events"),
        problem=None,
    )


@bp.route("/", methods=["GET"])
@require("viewer", public=True)
def status():
    zone = page_zone()
    g.zone = zone
    return render("status.html", zone=zone, panel=panel_view(), **status_view(zone))


@bp.route("/status/live", methods=["GET"])
@require("viewer", public=True)
def status_live():
    """The live part of the status page, for the page's script to swap in."""
    zone = page_zone()
    g.zone = zone
    return render("_live.html", zone=zone, **status_view(zone))


#: The override form's fields, each with the words used for it in errors.
FORM_FIELDS = ("mode", "until", "at", "on")


def _form_until(form, now, tz):
    """What the override form asks for, as an ``until`` the facade plans with: the
    buttons' ``next``, ``1h`` .. ``24h``, ``never`` and quick ends (a local
    ``YYYY-MM-DD HH:MM``), or ``at`` with a time of day typed as people type it (``8:00``,
    ``0800``, ``17.30``) and an optional date ``on``.

    :raises ~appliance.errors.ValidationError: naming the field (``at``, ``on`` or
        ``until``) and what is allowed.
    """
    until = form.get("until", "next")
    if until in ("next", "never"):
        return until
    if (
        until.endswith("h")
        and until[:-1].isascii()
        and until[:-1].isdigit()
        and 1 <= int(until[:-1]) <= 24
    ):
        return now + timedelta(hours=int(until[:-1]))
    if until == "at":
        at_text, on_text = form.get("at", "").strip(), form.get("on", "").strip()
        problems = []
        at = on = None
        try:
            at = timefmt.parse_time_of_day(at_text, field="at")
        except ValidationError as exc:
            problems += exc.errors
        if on_text:
            try:
                on = date.fromisoformat(on_text) if len(on_text) <= 10 else None
            except ValueError:
                on = None
            if on is None:
                problems.append(
                    FieldError(
                        "on",
                        f"{on_text[:20]!r} is not a date; choose "
                        "one in the calendar or type YYYY-MM-DD",
                    )
                )
        if problems:
            raise ValidationError(problems)
        end = next_wall_time(at.hour, at.minute, tz, now, day=on)
        if end <= now:
            raise ValidationError(
                [
                    FieldError(
                        "on" if on else "at",
                        f"{timefmt.when(end, now, tz)} has passed; choose a later date or time",
                    )
                ]
            )
        if end - now > MAX_OVERRIDE:
            raise ValidationError(
                [
                    FieldError(
                        "on", 'must be within 400 days from now; for longer, use "until cancelled"'
                    )
                ]
            )
        return end
    if _QUICK_END.fullmatch(until):
        return until  # a quick end's local date and time: parse_until reads it
    raise ValidationError(
        [FieldError("until", "choose next, 1h, 2h, at (with a time), a date and time, or never")]
    )


_QUICK_END = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


@bp.route("/override", methods=["POST"])
@require("operator")
def override():
    zone = page_zone()
    g.zone = zone
    facade = appliance()
    tz, now = site_tz(), site_now()
    form = {name: request.form.get(name, "")[:40] for name in FORM_FIELDS}
    mode = form["mode"]
    try:
        asked = _form_until(form, now, tz)
        try:
            plan = facade.plan_override(zone, mode, asked)
        except ValidationError as exc:
            if form["until"] == "at":  # the error is about the time typed in "at"
                raise ValidationError([FieldError("at", e.message) for e in exc.errors]) from None
            raise
        end = plan.end
        if plan.question and request.form.get("confirm") != "1":
            return render(
                "confirm.html",
                zone=zone,
                mode=mode,
                form=form,
                question=plan.question,
                end_text=timefmt.when(end, now, tz) if end else "until cancelled",
            )
        facade.set_override(zone, mode, plan.until, by=g.identity.name, source="web")
    except Refused as exc:
        return _status_error(zone, str(exc), 409, form=form)
    except ValidationError as exc:
        return _status_error(
            zone,
            "; ".join(e.message if e.field in FORM_FIELDS else str(e) for e in exc.errors),
            400,
            form=form,
            fields=[e.field for e in exc.errors],
        )
    flash(
        f"{mode.capitalize()} "
        + (f"until {timefmt.when(end, now, tz)}." if end else "until you cancel it.")
    )
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


def _status_error(zone: str, message: str, status: int, *, form: dict, fields=()):
    """The status page again with what went wrong, the typed values kept and the fields
    at fault marked; it stays until the person acts (the live refresh keeps it, see
    nightswitch.js), so a 400 or a 409 is never mistaken for nothing happening."""
    view = status_view(zone)
    typed = form.get("until") == "at"
    view["problem"] = {
        "message": message,
        "mode": form.get("mode"),
        "fields": [f for f in fields if f in ("at", "on")] if typed else [],
        "at": form.get("at", "") if typed else "",
        "on": form.get("on", "") if typed else "",
    }
    return render(
        "status.html", status=status, zone=zone, error=message, panel=panel_view(), **view
    )
