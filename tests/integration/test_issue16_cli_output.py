"""Issue 16, items 9 and 10 on the command line: times for people are written the one
way of :mod:`appliance.timetext` (``--json`` keeps ISO-8601), and a reader that stops
early (``nightswitch status --json | head -1``) is not an "internal error"."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from appliance.commands import daemon_client
from tests.appliance_helpers import REPO, OutputCollector, cli_env, nightswitch, spawn, wait_until

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """``nightswitch simulate`` on a free port, its clock at Monday 2 March 2026 10:00."""
    data = tmp_path_factory.mktemp("sim16")
    proc = spawn("simulate", "--port", "0", "--data", data)
    out = OutputCollector(proc)
    try:
        out.wait_for("open http://", timeout=30)
        wait_until(lambda: (data / "daemon.json").exists())
        api("POST", data, "/sim/clock", {"now": "2026-03-02T10:00:00+01:00"})
        wait_until(lambda: api("GET", data, "/status")["mode"] == "day")
        yield data
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        out.join()


def api(method, data, path, body=None):
    return daemon_client.request(data, method, "/api/v1" + path, body)


def into_closed_pipe(*args) -> subprocess.CompletedProcess:
    """Run ``nightswitch ARGS`` writing into a pipe whose reader has already gone: the
    surest way to meet the broken pipe that ``| head`` meets only sometimes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "appliance", *map(str, args)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=REPO,
            timeout=60,
        )
    finally:
        os.close(write_end)


def test_status_json_piped_into_head_ends_quietly(daemon):
    # The pipe exactly as the issue typed it, through a real shell.
    command = (
        f"{sys.executable} -m appliance status --json --data {daemon} | head -1; "
        "exit ${PIPESTATUS[0]}"
    )
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=cli_env(), cwd=REPO, timeout=60
    )
    assert result.stdout == "{\n"
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize("args", [("status", "--json"), ("status",)])
def test_status_into_a_closed_pipe_is_not_an_error(daemon, args):
    result = into_closed_pipe(*args, "--data", daemon)
    assert result.returncode == 0
    assert "internal error" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert result.stderr == ""


def test_offline_commands_into_a_closed_pipe_are_not_errors(tmp_path):
    for args in (
        ("calls", "formats"),
        ("schedule", "history", "--data", tmp_path),
        ("token", "list", "--data", tmp_path),
    ):
        result = into_closed_pipe(*args)
        assert "BrokenPipeError" not in result.stderr, (args, result.stderr)
        assert "internal error" not in result.stderr, (args, result.stderr)
        assert result.returncode == 0, (args, result.stderr)


def test_status_for_people_has_no_iso_times_and_json_keeps_them(daemon):
    result = nightswitch("status", "--data", daemon)
    assert result.returncode == 0, result.stderr
    assert "next change: night at Mon 2 Mar 18:00" in result.stdout
    assert not ISO.search(result.stdout)
    data = json.loads(nightswitch("status", "--json", "--data", daemon).stdout)
    assert data["next_change"]["at"] == "2026-03-02T18:00:00+01:00"


def test_day_until_cancelled_is_said_as_the_warning_it_is(daemon):
    try:
        result = nightswitch("day", "--until", "never", "--data", daemon)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("DAY  (day: override by ")
        assert lines[1] == (
            "next change: none: DAY until someone cancels the override (nightswitch auto)"
        )
        result = nightswitch("night", "--until", "2026-03-03 08:00", "--data", daemon)
        assert result.returncode == 0, result.stderr
        assert "until Tue 3 Mar 08:00)" in result.stdout.splitlines()[0]
    finally:
        nightswitch("auto", "--data", daemon)


def test_schedule_history_in_local_time_without_microseconds(tmp_path):
    data = tmp_path / "data"
    schedule = tmp_path / "week.json"
    from appliance.decision.schedule import default_schedule_json

    schedule.write_text(json.dumps(default_schedule_json()))
    config = tmp_path / "none.toml"
    assert (
        nightswitch("schedule", "import", schedule, "--data", data, "--config", config).returncode
        == 0
    )
    result = nightswitch(
        "schedule", "history", "--data", data, "--config", config, env=cli_env(TZ="Europe/Berlin")
    )
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["VERSION", "SAVED", "BY", "NOTE"]
    assert re.match(
        r"1 +(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4} "
        r"\d{2}:\d{2} +cli:",
        row,
    ), row
    assert "UTC" not in result.stdout and not ISO.search(result.stdout)
    assert not re.search(r":\d{2}\.\d{6}", result.stdout)  # no microseconds
