"""``nightswitch status|day|night|override|auto``: talk to the running daemon.

The daemon writes a local admin token and its address to ``DATA/cli-token`` at start
(readable by root and the service user only); these commands use the HTTP API with it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from appliance.errors import FieldError, NightswitchError, ValidationError


def register(subparsers, common) -> None:
    p = subparsers.add_parser("status", parents=[common.data],
                              help="show the mode, why, and the next change",
                              description="Ask the running daemon for the mode in force.")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p.add_argument("--zone", help="the zone (default: the first)")
    p.set_defaults(func=run_status)
    for mode in ("day", "night"):
        q = subparsers.add_parser(mode, parents=[common.data],
                                  help=f"override to {mode} (until the next change by default)",
                                  description=f"Put the PBX in {mode} service now, until the "
                                              "schedule's next change unless --until says otherwise.")
        q.add_argument("--until", default="next",
                       help="next (default), HH:MM (the next such local time), an ISO-8601 time, "
                            "or 'never' (until cancelled)")
        q.add_argument("--zone", help="the zone (default: the first)")
        q.set_defaults(func=run_override, mode=mode)
    o = subparsers.add_parser("override", parents=[common.data],
                              help="override to any mode the zone can make (lunch, night2 ...)",
                              description="Put the PBX in MODE now, until the schedule's next "
                                          "change unless --until says otherwise. `nightswitch "
                                          "status --json` lists the zone's modes.")
    o.add_argument("mode", metavar="MODE", help="a mode of the zone, such as day, night, lunch")
    o.add_argument("--until", default="next",
                   help="next (default), HH:MM (the next such local time), an ISO-8601 time, "
                        "or 'never' (until cancelled)")
    o.add_argument("--zone", help="the zone (default: the first)")
    o.set_defaults(func=run_override)
    a = subparsers.add_parser("auto", parents=[common.data],
                              help="cancel the override: back to the schedule",
                              description="Cancel any override; the schedule decides again.")
    a.add_argument("--zone", help="the zone (default: the first)")
    a.set_defaults(func=run_auto)


def _endpoint(data_dir: str) -> tuple[str, str]:
    path = Path(data_dir) / "cli-token"
    try:
        token, url = path.read_text().split()[:2]
    except FileNotFoundError:
        raise NightswitchError(f"the daemon is not running on {data_dir} (no {path}); "
                               "start it with systemctl start nightswitch") from None
    except PermissionError:
        raise NightswitchError(f"cannot read {path}; run as root (sudo)") from None
    except OSError as exc:   # --data is a file, or the disk fails: say which, no traceback
        raise NightswitchError(f"cannot read {path}: {exc.strerror or exc}; --data must be "
                               "the daemon's data directory") from None
    except ValueError:
        raise NightswitchError(f"{path} is damaged; restart the daemon") from None
    return token, url


def _request(args, method: str, path: str, body=None) -> dict:
    token, url = _endpoint(args.data)
    prefix = f"/api/v1/zones/{args.zone}" if getattr(args, "zone", None) else "/api/v1"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + prefix + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        message = body.get("error", exc.reason)
        if exc.code == 400:
            # bad input (`--until 25:00`): exit 2 with the field named, as every command does
            errors = [FieldError(str(e.get("field", "")), str(e.get("message", "")))
                      for e in body.get("errors") or [] if isinstance(e, dict)]
            raise ValidationError(errors or [FieldError("", str(message))]) from None
        if exc.code == 404:
            # an unknown --zone is bad input too
            raise ValidationError([FieldError("", f"{message} (HTTP {exc.code})")]) from None
        raise NightswitchError(f"{message} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise NightswitchError(f"cannot reach the daemon at {url}: {exc}; is it running?") from None


def describe(status: dict) -> str:
    lines = [f"{status['mode'].upper()}  ({status['reason']})"]
    if status.get("label") and status.get("zone") != "main":
        lines[0] = f"{status['label']}: " + lines[0]
    change = status.get("next_change")
    lines.append(f"next change: {change['mode']} at {change['at']}" if change
                 else "next change: none scheduled")
    lines.append(f"key switch: {status['key']}")
    lines.append("verified: " + ("yes" if status.get("verified") else "no"))
    for fault in status.get("faults", []):
        lines.append(f"FAULT {fault['kind']}: {fault['message']}")
    return "\n".join(lines)


def run_status(args) -> int:
    status = _request(args, "GET", "/status")
    print(json.dumps(status, indent=2) if args.json else describe(status))
    return 0


def run_override(args) -> int:
    # The API takes HH:MM as well as ISO-8601 and resolves it in the site's time zone.
    until = None if args.until == "never" else args.until
    body = {"mode": args.mode, "until": until}
    print(describe(_request(args, "POST", "/override", body)))
    return 0


def run_auto(args) -> int:
    print(describe(_request(args, "DELETE", "/override")))
    return 0
