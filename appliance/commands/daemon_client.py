"""How the command line talks to the running daemon: HTTP over its Unix socket.

The daemon serves its web app a second time on a Unix socket that only root and the
``nightswitch`` group may open (``web.serving``), and writes where it is to
``DATA/daemon.json``. No token is needed, none can be revoked by mistake, and the
socket answers while the web port is flooded. The daemon knows who is asking from the
kernel (the socket's peer credentials) and records the change as ``cli:<login name>``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import tempfile
from pathlib import Path

from appliance.errors import FieldError, NightswitchError, ValidationError

ENDPOINT_FILE = "daemon.json"
TIMEOUT_S = 30.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """:class:`http.client.HTTPConnection` to a Unix socket."""

    def __init__(self, path: str, timeout: float = TIMEOUT_S):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _marker_glob() -> tuple[Path, str]:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()), f"nightswitch-simulate-{uid}-*.json"


def announce_simulation(data_dir, web: str) -> Path:
    """Say, for this user's other commands, that ``simulate`` runs on *data_dir* (a small
    file in the temporary directory, removed when the simulation ends): a command run
    without ``--data`` then names the one to use instead of the service's start."""
    folder, pattern = _marker_glob()
    path = folder / pattern.replace("*", str(os.getpid()))
    path.write_text(
        json.dumps({"data": str(Path(data_dir).resolve()), "web": web, "pid": os.getpid()}) + "\n",
        encoding="utf-8",
    )
    return path


def running_simulations() -> list[dict]:
    """The simulations this user runs now: ``[{"data", "web", "pid"}, ...]``."""
    folder, pattern = _marker_glob()
    found = []
    for path in sorted(folder.glob(pattern)):
        try:
            marker = json.loads(path.read_text(encoding="utf-8"))
            os.kill(int(marker["pid"]), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)  # left by a simulation that was killed
            continue
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(marker)
    return found


def not_running(data_dir) -> NightswitchError:
    """What to do when nothing answers on *data_dir*: use the running simulation's data
    directory, or start the service (or a simulation on that data)."""
    here = Path(data_dir).resolve()
    others = [s for s in running_simulations() if Path(s["data"]) != here]
    if others:
        data = others[0]["data"]
        return NightswitchError(
            f"nothing is running on {data_dir}, but a simulation is "
            f"(nightswitch simulate, data in {data}): add --data {data} "
            "to reach it"
        )
    return NightswitchError(
        f"nothing is running on {data_dir}: start the service (sudo "
        "systemctl start nightswitch), or a simulation on this data "
        f"(nightswitch simulate --data {data_dir})"
    )


def socket_path(data_dir) -> str:
    """The daemon's socket, from ``DATA/daemon.json``."""
    path = Path(data_dir) / ENDPOINT_FILE
    try:
        endpoint = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise not_running(data_dir) from None
    except PermissionError:
        raise NightswitchError(
            f"cannot read {path}; run as root (sudo) or as a member of the nightswitch group"
        ) from None
    except OSError as exc:  # --data is a file, or the disk fails: say which, no traceback
        raise NightswitchError(
            f"cannot read {path}: {exc.strerror or exc}; --data must be the daemon's data directory"
        ) from None
    except ValueError:
        raise NightswitchError(f"{path} is damaged; restart the daemon") from None
    found = endpoint.get("socket") if isinstance(endpoint, dict) else None
    if not isinstance(found, str) or not found:
        raise NightswitchError(f"{path} is damaged; restart the daemon")
    return found


def request(data_dir, method: str, path: str, body=None) -> dict:
    """Send one request to the daemon and return its JSON answer.

    400 and 404 become :exc:`ValidationError` (exit 2, the field named); any other error
    a :exc:`NightswitchError` with the daemon's own words.
    """
    where = socket_path(data_dir)
    conn = UnixHTTPConnection(where)
    data = json.dumps(body).encode() if body is not None else None
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        status = resp.status
    except (FileNotFoundError, ConnectionRefusedError):
        raise not_running(data_dir) from None
    except PermissionError:
        raise NightswitchError(
            f"not allowed to open {where}; run as root (sudo) or as a "
            "member of the nightswitch group"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise NightswitchError(
            f"cannot reach the daemon at {where}: {exc}; is it running?"
        ) from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    if 200 <= status < 300:
        return answer
    message = answer.get("error", f"HTTP {status}")
    if status == 400:
        # bad input (`--until 25:00`): exit 2 with the field named, as every command does
        errors = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")))
            for e in answer.get("errors") or []
            if isinstance(e, dict)
        ]
        raise ValidationError(errors or [FieldError("", str(message))])
    if status == 404:
        # an unknown --zone is bad input too
        raise ValidationError([FieldError("", f"{message} (HTTP {status})")])
    raise NightswitchError(f"{message} (HTTP {status})")


__all__ = [
    "ENDPOINT_FILE",
    "UnixHTTPConnection",
    "announce_simulation",
    "not_running",
    "request",
    "running_simulations",
    "socket_path",
]
