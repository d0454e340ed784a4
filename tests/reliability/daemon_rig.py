"""The real daemon in a child process: ``nightswitch simulate`` with a config on disk.

:class:`SimDaemon` starts ``python -m appliance simulate --port 0 --data DIR --config
FILE``, learns its address from ``DIR/daemon.json`` (which the daemon writes at every
start), talks to it over HTTP like any client with an admin token it made in the data
directory beforehand (as ``nightswitch token create`` would), and kills it with SIGKILL
like a power cut. Its stdout and stderr go to files, so a test can prove that no
traceback was ever printed.

:class:`SmdrLine` is the PBX's call-record port: a pty whose slave path goes in the
config's ``[smdr] port``; the test writes call records into its master.
"""

from __future__ import annotations

import http.client
import json
import os
import pty
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path
from urllib.parse import urlsplit

from tests.appliance_helpers import REPO, cli_env

PINMAP = REPO / "hardware" / "pinmap.toml"


def write_config(
    path: Path,
    *,
    smdr_port: str | None = None,
    smdr_format="panasonic-kx-tda",
    timezone="Europe/Berlin",
) -> Path:
    """The default wiring (hardware/pinmap.toml) plus a site and, if given, SMDR."""
    text = PINMAP.read_text() + f'\n[site]\nname = "Reliability"\ntimezone = "{timezone}"\n'
    if smdr_port:
        text += f'\n[smdr]\nport = "{smdr_port}"\nformat = "{smdr_format}"\n'
    path.write_text(text)
    return path


class SmdrLine:
    """A pty standing in for the PBX's SMDR serial line.

    The slave end is held open here too, so bytes written while the daemon is down wait
    in the line as they would in a USB adapter's buffer, and the line stays in raw mode.
    """

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def write(self, text: str) -> None:
        data = text.encode("latin-1")
        while data:
            written = os.write(self.master, data)
            data = data[written:]

    def drain(self) -> None:
        """Throw away what nobody read (the test's own echo-free raw line)."""
        os.set_blocking(self.slave, False)
        try:
            while os.read(self.slave, 65536):
                pass
        except BlockingIOError:
            pass
        finally:
            os.set_blocking(self.slave, True)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class Answer:
    def __init__(self, status: int, body: bytes, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)


class SimDaemon:
    """``nightswitch simulate`` as a child process.

    :param data: the data directory (kept across restarts).
    :param config: the config file.
    :param logs: a directory for each start's stdout and stderr.
    """

    def __init__(self, data: Path, config: Path, logs: Path):
        self.data = Path(data)
        self.config = Path(config)
        self.logs = Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.token = None
        self.host = None
        self.port = None

    # -- life --------------------------------------------------------------------------
    def _admin_token(self) -> str:
        from datetime import datetime, timezone

        from appliance.store import Store

        with Store(self.data) as store:
            return store.create_token(
                "admin", label="reliability rig", by="test", at=datetime.now(timezone.utc)
            )

    def spawn(self) -> None:
        endpoint = self.data / "daemon.json"
        if endpoint.exists():
            endpoint.unlink()  # the daemon writes a fresh one when it is ready
        if self.token is None:
            self.token = self._admin_token()
        self.starts += 1
        out = open(self.logs / f"start{self.starts}.out", "w")
        err = open(self.logs / f"start{self.starts}.err", "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appliance",
                "simulate",
                "--port",
                "0",
                "--data",
                str(self.data),
                "--config",
                str(self.config),
            ],
            stdout=out,
            stderr=err,
            env=cli_env(),
            cwd=REPO,
            start_new_session=True,
        )
        out.close()
        err.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        endpoint = self.data / "daemon.json"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the daemon exited ({self.proc.returncode}) while starting:\n{self.stderr()}"
                )
            try:
                url = json.loads(endpoint.read_text())["web"]
                break
            except (FileNotFoundError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the daemon was not ready after {timeout} s:\n" + self.stderr()
                )
            time.sleep(0.01)
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def kill(self) -> None:
        """A power cut: SIGKILL, no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> int:
        """An orderly stop (systemctl stop): SIGTERM and wait."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self, start: int | None = None) -> str:
        path = self.logs / f"start{start or self.starts}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def all_stderr(self) -> str:
        return "".join(self.stderr(i) for i in range(1, self.starts + 1))

    # -- HTTP --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body=None,
        *,
        token=True,
        headers=None,
        raw: bytes | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            hdrs = dict(headers or {})
            if token:
                hdrs.setdefault("Authorization", f"Bearer {self.token}")
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            if (resp.getheader("Content-Type") or "").startswith("text/event-stream"):
                # A live stream runs for minutes: its first event is the answer.
                return Answer(resp.status, resp.read1(65536), resp.headers)
            return Answer(resp.status, resp.read(), resp.headers)
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def json(self, method: str, path: str, body=None, *, ok=(200, 201)) -> dict:
        answer = self.request(method, path, body)
        if answer.status not in ok:
            raise AssertionError(f"{method} {path} -> {answer.status}: {answer.body[:300]!r}")
        return answer.json()
