"""``nightswitch status|day|night|override|auto|retry``: talk to the running daemon.

These commands use the HTTP API over the daemon's Unix socket
(:mod:`appliance.commands.daemon_client`), which only root and the ``nightswitch``
group may open; no token is needed, and they work while the web port is flooded.
"""

from __future__ import annotations

from datetime import datetime

from appliance.commands import daemon_client
from appliance.commands.output import emit, emit_json
from appliance.timetext import when


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "status",
        parents=[common.data],
        help="show the mode, why, and the next change",
        description="Ask the running daemon for the mode in force.",
    )
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.add_argument("--zone", help="the zone (default: the first)")
    p.set_defaults(func=run_status)
    for mode in ("day", "night"):
        q = subparsers.add_parser(
            mode,
            parents=[common.data],
            help=f"override to {mode} (until the next change by default)",
            description=f"Put the PBX in {mode} service now, until the "
            "schedule's next change unless --until says "
            "otherwise.",
        )
        q.add_argument(
            "--until",
            default="next",
            help="next (default), HH:MM (the next such local time), a local date "
            "and time such as '2026-12-24 08:00', or 'never' (until "
            "cancelled)",
        )
        q.add_argument("--zone", help="the zone (default: the first)")
        q.set_defaults(func=run_override, mode=mode)
    o = subparsers.add_parser(
        "override",
        parents=[common.data],
        help="override to any mode the zone can make (lunch, night2 ...)",
        description="Put the PBX in MODE now, until the schedule's next "
        "change unless --until says otherwise. `nightswitch "
        "status --json` lists the zone's modes.",
    )
    o.add_argument("mode", metavar="MODE", help="a mode of the zone, such as day, night, lunch")
    o.add_argument(
        "--until",
        default="next",
        help="next (default), HH:MM (the next such local time), a local date and "
        "time such as '2026-12-24 08:00', or 'never' (until cancelled)",
    )
    o.add_argument("--zone", help="the zone (default: the first)")
    o.set_defaults(func=run_override)
    r = subparsers.add_parser(
        "retry",
        parents=[common.data],
        help="try the PBX again now, after a switching fault",
        description="Have the daemon try the zone's actuators again "
        "now. After the PBX refused the login, fix the "
        "password first: a refused login is otherwise "
        "tried again only after a day, so the PBX's "
        "account is not locked.",
    )
    r.add_argument("--zone", help="the zone (default: the first)")
    r.set_defaults(func=run_retry)
    a = subparsers.add_parser(
        "auto",
        parents=[common.data],
        help="cancel the override: back to the schedule",
        description="Cancel any override; the schedule decides again.",
    )
    a.add_argument("--zone", help="the zone (default: the first)")
    a.set_defaults(func=run_auto)


def _request(args, method: str, path: str, body=None) -> dict:
    prefix = f"/api/v1/zones/{args.zone}" if getattr(args, "zone", None) else "/api/v1"
    return daemon_client.request(args.data, method, prefix + path, body)


def describe(status: dict) -> str:
    """The status as people read it, times as everywhere else (``Thu 3 Dec 08:00``, in
    the site's time zone: the API gives local times). ``--json`` keeps ISO-8601."""
    now = datetime.fromisoformat(status["now"]) if status.get("now") else None
    lines = [f"{status['mode'].upper()}  ({status['reason']})"]
    if status.get("label") and status.get("zone") != "main":
        lines[0] = f"{status['label']}: " + lines[0]
    override = status.get("override")
    change = status.get("next_change")
    if status.get("key") in ("day", "night"):
        lines.append("next change: when the key at reception is turned back to AUTO")
    elif override and not override.get("until"):
        lines.append(
            f"next change: none: {override['mode'].upper()} until someone cancels "
            "the override (nightswitch auto)"
        )
    else:
        lines.append(
            f"next change: {change['mode']} at {when(change['at'], now, None)}"
            if change
            else "next change: none scheduled"
        )
    lines.append(f"key switch: {status['key']}")
    lines.append("verified: " + ("yes" if status.get("verified") else "no"))
    for fault in status.get("faults", []):
        lines.append(f"FAULT {fault['kind']}: {fault['message']}")
    return "\n".join(lines)


def run_status(args) -> int:
    status = _request(args, "GET", "/status")
    if args.json:
        emit_json(status)
    else:
        emit(describe(status))
    return 0


def run_retry(args) -> int:
    emit(describe(_request(args, "POST", "/retry", {})))
    return 0


def run_override(args) -> int:
    # The API reads HH:MM and local dates and times in the site's time zone.
    until = None if args.until == "never" else args.until
    body = {"mode": args.mode, "until": until}
    emit(describe(_request(args, "POST", "/override", body)))
    return 0


def run_auto(args) -> int:
    emit(describe(_request(args, "DELETE", "/override")))
    return 0
