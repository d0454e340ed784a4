"""The offline commands ``schedule``, ``user`` and ``token`` through ``appliance.cli.main``,
and through a real ``nightswitch`` process (one of them on a real pty)."""

from __future__ import annotations

import io
import json
import os
import select
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import find_pinmap
from appliance.decision.schedule import default_schedule_json
from appliance.store import Store
from tests.appliance_helpers import console_script


@pytest.fixture
def cli(data_dir, tmp_path, capsys):
    """Run ``nightswitch ARGS --data DIR``; returns (exit code, stdout, stderr)."""

    def run(*args, config=None, stdin=None):
        argv = [*args, "--data", str(data_dir)]
        if config is not False:
            argv += ["--config", str(config or tmp_path / "no-config.toml")]
        if stdin is not None:
            old = os.sys.stdin
            os.sys.stdin = io.StringIO(stdin)
        try:
            code = main(argv)
        finally:
            if stdin is not None:
                os.sys.stdin = old
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def config_file(tmp_path):
    """The default wiring as an installer's config: zone main can produce day and night."""
    path = tmp_path / "nightswitch.toml"
    path.write_text(
        find_pinmap().read_text(encoding="utf-8")
        + '\n[site]\nname = "Test office"\ntimezone = "Europe/Berlin"\n'
    )
    return path


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nightswitch: error: ")
    assert "Traceback" not in err
    return lines[0]


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# -- user ------------------------------------------------------------------------------


def test_user_add_with_password_stdin(cli, data_dir):
    code, out, err = cli(
        "user",
        "add",
        "anna",
        "--role",
        "admin",
        "--password-stdin",
        config=False,
        stdin="correct horse\n",
    )
    assert (code, err) == (0, "")
    assert out == "added user anna with role admin\n"
    with Store(data_dir) as store:
        assert store.check_password("anna", "correct horse") == {"name": "anna", "role": "admin"}


def test_user_add_generate_password_prints_it_as_last_word(cli, data_dir):
    code, out, _ = cli(
        "user", "add", "admin", "--role", "admin", "--generate-password", config=False
    )
    assert code == 0
    password = out.strip().splitlines()[-1].split()[-1]
    assert len(password) >= 16
    with Store(data_dir) as store:
        assert store.check_password("admin", password)["role"] == "admin"


def test_user_list_role_passwd_delete(cli, data_dir):
    cli(
        "user",
        "add",
        "anna",
        "--role",
        "admin",
        "--password-stdin",
        config=False,
        stdin="correct horse\n",
    )
    cli(
        "user",
        "add",
        "ben",
        "--role",
        "viewer",
        "--password-stdin",
        config=False,
        stdin="battery staple\n",
    )
    code, out, _ = cli("user", "list", config=False)
    assert code == 0 and out.splitlines() == ["NAME  ROLE", "anna  admin", "ben   viewer"]
    assert cli("user", "role", "ben", "operator", config=False)[:2] == (
        0,
        "ben now has role operator; their web sessions ended\n",
    )
    code, out, _ = cli("user", "passwd", "ben", "--generate-password", config=False)
    new = out.split()[-1]
    code, out, _ = cli("user", "list", "--json", config=False)
    assert json.loads(out) == [
        {"name": "anna", "role": "admin"},
        {"name": "ben", "role": "operator"},
    ]
    with Store(data_dir) as store:
        assert store.check_password("ben", new)
        assert store.check_password("ben", "battery staple") is None
    assert cli("user", "delete", "ben", config=False)[0] == 0
    assert "ben" not in cli("user", "list", config=False)[1]


@pytest.mark.parametrize(
    "args, stdin, code, message",
    [
        (
            ("user", "add", "anna smith", "--role", "admin", "--password-stdin"),
            "long enough\n",
            2,
            "NAME: 'anna smith' is not a user name",
        ),
        (
            ("user", "add", "anna", "--role", "boss", "--password-stdin"),
            "long enough\n",
            2,
            "--role: 'boss' is not a role: use one of viewer, operator, admin",
        ),
        (
            ("user", "add", "anna", "--role", "admin", "--password-stdin"),
            "short\n",
            2,
            "password: must be at least 8 characters",
        ),
        (
            ("user", "add", "anna", "--role", "admin"),
            "",
            1,
            "no terminal to ask for the password on",
        ),
        (("user", "delete", "zoe"), None, 2, "name: there is no user named 'zoe'"),
        (("user", "role", "zoe", "viewer"), None, 2, "there is no user named 'zoe'"),
        (("user", "passwd", "zoe", "--generate-password"), None, 2, "there is no user named 'zoe'"),
    ],
)
def test_user_bad_input_is_one_line(cli, data_dir, args, stdin, code, message):
    got, out, err = cli(*args, config=False, stdin=stdin)
    assert got == code
    assert message in one_error_line(err)
    with Store(data_dir) as store:
        assert store.list_users() == []


def test_user_duplicate_and_last_admin(cli):
    cli(
        "user",
        "add",
        "anna",
        "--role",
        "admin",
        "--password-stdin",
        config=False,
        stdin="correct horse\n",
    )
    code, _, err = cli(
        "user", "add", "anna", "--role", "viewer", "--generate-password", config=False
    )
    assert code == 2 and "already exists" in one_error_line(err)
    code, _, err = cli("user", "delete", "anna", config=False)
    assert code == 2 and "only admin" in one_error_line(err)
    code, _, err = cli("user", "role", "anna", "viewer", config=False)
    assert code == 2 and "only admin" in one_error_line(err)


# -- token -----------------------------------------------------------------------------


def test_token_create_prints_once_and_stores_only_the_hash(cli, data_dir):
    code, out, err = cli(
        "token", "create", "--role", "operator", "--label", "wallboard", config=False
    )
    assert (code, err) == (0, "")
    token = out.strip().splitlines()[-1].split()[-1]
    assert token.startswith("ns_")
    assert "created token 1 (role operator, label 'wallboard')" in out
    conn = sqlite3.connect(data_dir / "nightswitch.db")
    dump = "\n".join(conn.iterdump())
    conn.close()
    assert token not in dump and token[3:] not in dump
    code, out, _ = cli("token", "list", config=False)
    assert code == 0 and "wallboard" in out and "operator" in out and token not in out
    code, out, _ = cli("token", "list", "--json", config=False)
    listed = json.loads(out)
    assert [t["id"] for t in listed] == [1] and token not in out
    with Store(data_dir) as store:
        assert store.check_token(token)["role"] == "operator"
    assert cli("token", "revoke", "1", config=False)[:2] == (0, "revoked token 1\n")
    with Store(data_dir) as store:
        assert store.check_token(token) is None


@pytest.mark.parametrize(
    "args, message",
    [
        (("token", "create", "--role", "superuser"), "role: 'superuser' is not a role"),
        (("token", "revoke", "abc"), "ID: 'abc' is not a whole number"),
        (("token", "revoke", "7"), "id: there is no token with id 7"),
    ],
)
def test_token_bad_input_is_one_line(cli, data_dir, args, message):
    code, _, err = cli(*args, config=False)
    assert code == 2
    assert message in one_error_line(err)
    with Store(data_dir) as store:
        assert store.list_tokens() == []


# -- schedule --------------------------------------------------------------------------


def test_schedule_import_export_history_rollback(cli, tmp_path, data_dir):
    week = default_schedule_json()
    short = json.loads(json.dumps(week))
    short["weekly"]["fri"] = [{"start": "08:00", "end": "14:00", "mode": "day"}]
    code, out, err = cli("schedule", "import", str(write_json(tmp_path / "a.json", week)))
    assert (code, err) == (0, "")
    assert out == f"zone main: saved {tmp_path / 'a.json'} as schedule version 1\n"
    assert cli("schedule", "import", str(write_json(tmp_path / "b.json", short)))[0] == 0

    code, out, _ = cli("schedule", "export")
    assert code == 0 and json.loads(out)["weekly"]["fri"][0]["end"] == "14:00"
    assert list(json.loads(out))[:2] == ["timezone", "default_mode"]  # people's order
    code, out, _ = cli("schedule", "export", "--version", "1")
    assert json.loads(out) == week
    code, out, err = cli("schedule", "export", str(tmp_path / "out.json"))
    assert (
        code == 0
        and json.loads((tmp_path / "out.json").read_text())["weekly"]["fri"]
        == short["weekly"]["fri"]
    )

    assert cli("schedule", "rollback", "1")[:2] == (
        0,
        "zone main: version 1 is the schedule again, saved as version 3\n",
    )
    code, out, _ = cli("schedule", "history")
    lines = out.splitlines()
    assert lines[0].split() == ["VERSION", "SAVED", "BY", "NOTE"]
    assert lines[1].split()[0] == "3" and lines[1].endswith("copy of version 1")
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    code, out, _ = cli("schedule", "history", "--json", "--limit", "2")
    assert [h["version"] for h in json.loads(out)] == [3, 2]
    with Store(data_dir) as store:
        assert store.get_schedule("main") == week
        assert store.schedule_history("main")[0]["by"].startswith("cli:")


def test_schedule_import_with_errors_changes_nothing_and_lists_every_error(cli, tmp_path, data_dir):
    cli("schedule", "import", str(write_json(tmp_path / "ok.json", default_schedule_json())))
    bad = default_schedule_json()
    bad["weekly"]["mon"] = [{"start": "18:00", "end": "08:00", "mode": "day"}]
    bad["default_mode"] = "Night!"
    bad["colour"] = "blue"
    code, out, err = cli("schedule", "import", str(write_json(tmp_path / "bad.json", bad)))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) >= 3 and all(
        text.startswith(f"nightswitch: error: {tmp_path / 'bad.json'}: ") for text in lines
    )
    assert any("weekly.mon[0]" in text for text in lines)
    assert any("default_mode" in text for text in lines)
    assert any("colour" in text for text in lines)
    assert "Traceback" not in err
    with Store(data_dir) as store:
        assert [h["version"] for h in store.schedule_history("main")] == [1]


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON at line 1 column 2"),
        ('{"weekly": {}, "weekly": {}}', "the key 'weekly' appears twice"),
        (b"\xff\xfe", "is not UTF-8 text"),
        ("[1, 2]", None),
    ],
)
def test_schedule_import_of_a_broken_file_is_refused(cli, tmp_path, data_dir, content, message):
    path = tmp_path / "broken.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, err = cli("schedule", "import", str(path))
    assert code == 2 and "Traceback" not in err
    if message:
        assert message in one_error_line(err)
    with Store(data_dir) as store:
        assert store.get_schedule("main") is None


def test_schedule_import_checks_modes_against_the_config(cli, tmp_path, data_dir, config_file):
    lunch = default_schedule_json()
    lunch["weekly"]["mon"] = [
        {"start": "08:00", "end": "12:00", "mode": "day"},
        {"start": "12:00", "end": "13:00", "mode": "lunch"},
    ]
    path = write_json(tmp_path / "lunch.json", lunch)
    code, _, err = cli("schedule", "import", str(path), config=config_file)
    assert code == 2 and "lunch" in err and "Traceback" not in err
    with Store(data_dir) as store:
        assert store.get_schedule("main") is None
    # Without a config file (a fresh Pi), only the schedule's own rules apply.
    assert cli("schedule", "import", str(path))[0] == 0
    # Rolling back to a version the actuators cannot produce is refused the same way.
    cli(
        "schedule",
        "import",
        str(write_json(tmp_path / "ok.json", default_schedule_json())),
        config=config_file,
    )
    code, _, err = cli("schedule", "rollback", "1", config=config_file)
    assert code == 2 and "lunch" in err
    code, _, err = cli("schedule", "import", str(path), "--zone", "sales", config=config_file)
    assert code == 2 and "no zone 'sales'" in one_error_line(err)


def test_schedule_zone_resolution(cli, tmp_path, data_dir):
    path = write_json(tmp_path / "s.json", default_schedule_json())
    assert cli("schedule", "import", str(path), "--zone", "sales")[0] == 0
    code, out, _ = cli("schedule", "export")  # the only zone with a schedule
    assert code == 0 and json.loads(out) == default_schedule_json()
    assert cli("schedule", "import", str(path), "--zone", "service")[0] == 0
    code, _, err = cli("schedule", "history")
    assert code == 2 and "several zones (sales, service)" in one_error_line(err)
    code, _, err = cli("schedule", "export", "--zone", "Sales Dept")
    assert code == 2 and "is not a zone name" in one_error_line(err)


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("schedule", "export"), 1, "zone 'main' has no saved schedule yet"),
        (("schedule", "export", "--version", "x"), 2, "--version: 'x' is not a whole number"),
        (("schedule", "rollback", "3"), 2, "zone 'main' has no schedule version 3"),
        (("schedule", "rollback", "0"), 2, "VERSION: '0' is not a whole number of at least 1"),
        (("schedule", "import", "/nonexistent/s.json"), 2, "FILE: cannot read /nonexistent/s.json"),
        (("schedule", "history", "--limit", "-3"), 2, "--limit"),
    ],
)
def test_schedule_bad_input_is_one_line(cli, args, code, message):
    got, _, err = cli(*args)
    assert got == code
    assert message in one_error_line(err)


def test_every_store_command_has_help(capsys):
    for args in (
        ["schedule"],
        ["schedule", "export"],
        ["schedule", "import"],
        ["schedule", "history"],
        ["schedule", "rollback"],
        ["user"],
        ["user", "add"],
        ["user", "list"],
        ["user", "delete"],
        ["user", "passwd"],
        ["user", "role"],
        ["token"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["backup"],
        ["restore"],
    ):
        with pytest.raises(SystemExit) as exc:
            main([*args, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: nightswitch " + " ".join(args)), args
        if len(args) > 1 or args[0] in ("backup", "restore"):
            assert "--data DIR" in out, args


# -- real processes --------------------------------------------------------------------


def test_real_process_bad_input_exits_2_with_one_line(data_dir):
    result = subprocess.run(
        [console_script(), "token", "revoke", "abc", "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "nightswitch: error: ID: 'abc' is not a whole number of at least 1\n"


def _read_until(fd: int, wanted: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {wanted!r}, got {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_real_process_user_add_prompts_twice_on_a_terminal(data_dir):
    master, slave = os.openpty()
    child = subprocess.Popen(
        [console_script(), "user", "add", "anna", "--role", "admin", "--data", str(data_dir)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        _read_until(master, b"New password for anna: ")
        os.write(master, b"correct horse\n")
        _read_until(master, b"The same again: ")
        os.write(master, b"correct horse\n")
        tail = _read_until(master, b"added user anna")
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
    assert b"correct horse" not in tail  # not echoed
    with Store(data_dir) as store:
        assert store.check_password("anna", "correct horse") == {"name": "anna", "role": "admin"}
