"""The command line's Unix socket (issue 13, finding 1) and the end of the daemon's
command-line token (issue 16, bug 3: revoking "local CLI (created by the daemon)" broke
``nightswitch status`` until a restart).

The token is gone, not protected: the CLI needs none. An upgraded database loses the old
token, the old ``cli-token`` file is deleted at start, and revoking every token leaves
the command line working. Only root and the ``nightswitch`` group may open the socket.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pytest

from appliance.commands import daemon_client
from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from appliance.outputs.sdnotify import SystemdNotifier
from appliance.store.db import connect, migrate
from appliance.store.schema import MIGRATIONS
from tests.appliance_helpers import MONDAY_0759, config, contact_toml, nightswitch, panel_toml

OLD_LABEL = "local CLI (created by the daemon)"


def old_data_dir(path: Path) -> Path:
    """A data directory as the release before this one left it: schema 2, the daemon's
    admin token for the command line in the database and in ``cli-token``."""
    path.mkdir()
    conn = connect(path / "nightswitch.db")
    try:
        migrate(conn, path / "nightswitch.db", MIGRATIONS[:2])
        conn.execute(
            "INSERT INTO tokens (token_sha256, role, label, created_at, created_by) "
            "VALUES ('0' , 'admin', ?, '2026-01-01T00:00:00+00:00', 'nightswitch')",
            (OLD_LABEL,),
        )
        conn.execute("INSERT INTO settings (key, value) VALUES ('web.secret_key', 'old')")
    finally:
        conn.close()
    (path / "cli-token").write_text("ns_old\nhttp://127.0.0.1:8080\n")
    return path


@pytest.fixture
def running(tmp_path, mock_factory):
    data = old_data_dir(tmp_path / "data")
    appliance = Appliance(
        config(panel_toml(), contact_toml(sense_pin=None)),
        data,
        pin_factory=mock_factory,
        clock=SimClock(MONDAY_0759),
        notifier=SystemdNotifier({}),
        host="127.0.0.1",
        port=0,
    )
    appliance.start()
    try:
        yield appliance
    finally:
        appliance.stop()


def test_the_old_cli_token_is_gone_after_the_upgrade(running):
    data = running.data_dir
    assert not (data / "cli-token").exists()
    assert running.store.list_tokens() == []
    assert running.store.get_setting("web.secret_key") is None
    endpoint = json.loads((data / "daemon.json").read_text())
    assert set(endpoint) == {"socket", "web", "pid"}  # no secret in it
    result = nightswitch("status", "--data", data)
    assert result.returncode == 0, result.stderr


def test_revoking_every_token_leaves_the_command_line_working(running):
    data = running.data_dir
    now = datetime.now(timezone.utc)
    for label in ("wallboard", OLD_LABEL):
        running.store.create_token("admin", label=label, by="test", at=now)
    for token in running.store.list_tokens():
        running.store.revoke_token(token["id"])
    result = nightswitch("night", "--until", "never", "--data", data)
    assert result.returncode == 0, result.stderr
    assert nightswitch("auto", "--data", data).returncode == 0
    entry = running.store.audit("main", limit=2)[1]
    assert entry["source"] == "cli" and entry["who"] == f"cli:{_login_name()}"


def test_the_socket_is_for_root_and_the_service_group_only(running):
    sock = Path(json.loads((running.data_dir / "daemon.json").read_text())["socket"])
    st = sock.stat()
    assert st.st_mode & 0o777 == 0o660
    assert st.st_gid == running.data_dir.stat().st_gid
    if os.geteuid() != 0:
        # not root here: the mode and group above are the whole guarantee
        assert st.st_uid == os.geteuid()
        return
    # a user neither root nor in the group is refused by the kernel
    os.chmod(sock.parent, 0o755)  # let "nobody" reach the directory: only the socket decides
    assert _connect_as(65534, sock) == "refused"
    assert _connect_as(0, sock) == "connected"


def _connect_as(uid: int, sock: Path) -> str:
    """Fork, become *uid* (no groups), try to connect to *sock*; the child's verdict."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12 warns of forking a threaded process: the
        warnings.simplefilter("ignore", DeprecationWarning)  # child only connects and exits
        pid = os.fork()
    if pid == 0:  # the child: never returns
        verdict = b"error"
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(sock))
                    verdict = b"connected"
                except PermissionError:
                    verdict = b"refused"
        finally:
            os.write(write, verdict)
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as fh:
        return fh.read().decode()


def test_a_token_label_from_the_old_daemon_is_no_longer_special(tmp_path):
    # nothing in the code looks for the old label any more
    root = Path(__file__).resolve().parents[2]
    for path in list((root / "appliance").rglob("*.py")) + list((root / "web").rglob("*.py")):
        text = path.read_text()
        if OLD_LABEL in text:
            assert path.name == "schema.py", path  # the migration that deletes it


def _login_name() -> str:
    import getpass
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return getpass.getuser()


def test_the_client_names_a_damaged_endpoint(tmp_path):
    from appliance.errors import NightswitchError

    (tmp_path / "daemon.json").write_text(json.dumps({"socket": 5}))
    with pytest.raises(NightswitchError, match="daemon.json is damaged; restart the daemon"):
        daemon_client.request(tmp_path, "GET", "/api/v1/status")
