"""The status page: the mode, why, the next change, the override buttons and retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

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
from appliance.errors import FieldError, Refused, ValidationError
from appliance.vocabulary import fault_title
from web.auth import appliance, require
from web.pages.frame import bp, page_zone, render, site_now, site_tz, zurl
from web.pages.sim_panel import panel_view


@dataclass
class Choice:
    """One override button: what it sets and the concrete end it states."""

    until: str              # next | 1h | 2h | never
    title: str
    end_text: str
    confirm: str | None = None


#: The "for N hours" buttons.
FOR_HOURS = (1, 2)


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
    tz = site_tz()
    now = site_now()
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
    faults = [{"title": fault_title(f["kind"]),
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
    return render("status.html", zone=zone, panel=panel_view(), **status_view(zone))


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
    tz, now = site_tz(), site_now()
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
    return render("status.html", status=status, zone=zone, error=message, panel=panel_view(),
                  **status_view(zone))


