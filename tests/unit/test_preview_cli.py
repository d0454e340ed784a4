"""``nightswitch preview``: output, defaults, and one clear line per bad input."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.cli import main
from tests.appliance_helpers import console_script
from tests.unit.test_schedule_parse import SPEC_EXAMPLE

PINMAP = Path(__file__).resolve().parents[2] / "hardware" / "pinmap.toml"


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(SPEC_EXAMPLE, indent=2), encoding="utf-8")
    return path


def run(capsys, *argv):
    code = main(["preview", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_table(capsys, spec_file):
    code, out, err = run(capsys, "--schedule", spec_file, "--from", "2026-12-24", "--days", 2)
    assert code == 0 and err == ""
    assert out.splitlines()[0] == (
        "Preview Thu 2026-12-24 to Fri 2026-12-25 (2 days), local time Europe/Berlin"
    )
    assert "Thu  2026-12-24  08:00 CET  day    Christmas Eve, special hours 08:00-12:00" in out


def test_json(capsys, spec_file):
    code, out, _ = run(
        capsys, "--schedule", spec_file, "--from", "2026-12-21", "--days", 1, "--json"
    )
    assert code == 0
    entries = json.loads(out)
    assert entries[0] == {
        "at": "2026-12-21T00:00:00+01:00",
        "mode": "night",
        "reason": "night: outside hours",
    }
    assert [e["mode"] for e in entries] == ["night", "day", "lunch", "day", "night"]
    assert all(set(e) == {"at", "mode", "reason"} for e in entries)


def test_defaults_are_today_and_seven_days(capsys, spec_file):
    today = datetime.now(timezone.utc).astimezone(ZoneInfo("Europe/Berlin")).date()
    code, out, _ = run(capsys, "--schedule", spec_file)
    after = datetime.now(timezone.utc).astimezone(ZoneInfo("Europe/Berlin")).date()
    assert code == 0
    assert any(
        out.startswith(f"Preview {d.strftime('%a')} {d.isoformat()} to ") for d in (today, after)
    )
    assert "(7 days)" in out.splitlines()[0]


def test_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(SPEC_EXAMPLE)))
    code, out, _ = run(capsys, "--schedule", "-", "--from", "2026-12-25", "--days", 1, "--json")
    assert code == 0
    assert json.loads(out)[0]["reason"] == "night: public holiday Christmas Day (DE)"


def test_bad_schedule_names_every_field_and_exits_2(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "timezone": "Europe/Berlin",
                "weekly": {
                    "mon": [
                        {"start": "08:00", "end": "12:00", "mode": "day"},
                        {"start": "11:00", "end": "13:00", "mode": "day"},
                    ]
                },
                "holidays": {"country": "DE", "subdivision": "XX"},
            }
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "--schedule", path, "--from", "2026-12-21")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"nightswitch: error: {path}: weekly.mon[1]: 11:00-13:00 overlaps Monday's "
        "hours 08:00-12:00; the hours of one day must not overlap",
        f"nightswitch: error: {path}: holidays.subdivision: unknown subdivision 'XX' for DE; "
        "allowed: BB, BE, BW, BY, HB, HE, HH, MV, NI, NW, RP, SH, SL, SN, ST, TH, Augsburg",
    ]


def test_invalid_json_gives_line_and_column(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "timezone": "UTC",\n  "weekly": {"mon": [}\n}\n', encoding="utf-8")
    code, _, err = run(capsys, "--schedule", path)
    assert code == 2
    assert err.strip() == (
        f"nightswitch: error: {path}: not valid JSON at line 3 column 22: Expecting value"
    )


def test_duplicate_keys_are_refused(capsys, tmp_path):
    path = tmp_path / "twice.json"
    path.write_text('{"timezone": "UTC", "weekly": {"mon": [], "mon": []}}', encoding="utf-8")
    code, _, err = run(capsys, "--schedule", path)
    assert code == 2 and "the key 'mon' appears twice in one object" in err


@pytest.mark.parametrize(
    "content, text",
    [
        (b"\xff\xfe{", "is not UTF-8 text"),
        (b'{"timezone": "UTC", "default_mode": NaN}', "NaN is not a JSON number"),
        (b"[1, 2]", "must be an object (a schedule document"),
    ],
)
def test_other_bad_files(capsys, tmp_path, content, text):
    path = tmp_path / "odd.json"
    path.write_bytes(content)
    code, _, err = run(capsys, "--schedule", path)
    assert code == 2 and text in err and len(err.splitlines()) == 1


def test_missing_or_unreadable_file(capsys, tmp_path):
    code, _, err = run(capsys, "--schedule", tmp_path / "nope.json")
    assert code == 2
    assert err.strip() == (
        f"nightswitch: error: --schedule: cannot read {tmp_path}/nope.json:"
        " No such file or directory"
    )
    code, _, err = run(capsys, "--schedule", tmp_path)
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize(
    "args, line",
    [
        (["--days", "0"], "--days: 0 is out of range; use a whole number from 1 to 3660"),
        (["--days", "3661"], "--days: 3661 is out of range"),
        (["--days", "week"], "--days: 'week' is not a number"),
        (["--from", "24.12.2026"], "--from: '24.12.2026' is not a date; use YYYY-MM-DD"),
        (["--from", "2026-02-30"], "--from: '2026-02-30' is not a date"),
        (
            ["--from", "1901-01-01"],
            "--from: 1901-01-01 is out of range; use a date in the years 1970 to 2199",
        ),
        (["--zone", "sales"], "--zone: needs --config"),
    ],
)
def test_bad_arguments(capsys, spec_file, args, line):
    code, out, err = run(capsys, "--schedule", spec_file, *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"nightswitch: error: {line}")


def test_config_checks_modes_against_the_zone(capsys, spec_file, tmp_path):
    config = tmp_path / "nightswitch.toml"
    shutil.copy(PINMAP, config)
    # The default pin map's contact actuator makes day and night only: no lunch.
    code, _, err = run(capsys, "--schedule", spec_file, "--config", config)
    assert code == 2
    assert (
        f"{spec_file}: weekly.mon[1].mode: mode 'lunch' cannot be produced by this "
        "zone's actuators; allowed: day, night"
    ) in err
    plain = tmp_path / "plain.json"
    plain.write_text(
        json.dumps(
            {
                "timezone": "Europe/Berlin",
                "weekly": {"mon": [{"start": "08:00", "end": "18:00", "mode": "day"}]},
            }
        ),
        encoding="utf-8",
    )
    code, out, _ = run(
        capsys,
        "--schedule",
        plain,
        "--config",
        config,
        "--zone",
        "main",
        "--from",
        "2026-12-21",
        "--days",
        1,
    )
    assert code == 0 and "08:00 CET  day" in out
    code, _, err = run(capsys, "--schedule", plain, "--config", config, "--zone", "sales")
    assert code == 2 and "--zone: no zone 'sales'" in err and "zones: main" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["preview", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--schedule FILE", "--from DATE", "--days N", "--json", "--config PATH"):
        assert option in out


def test_console_script_survives_a_closed_pipe(spec_file):
    """``nightswitch preview ... | head -1``: no BrokenPipeError traceback."""
    result = subprocess.run(
        f"{shlex.quote(console_script())} preview --schedule {spec_file} "
        "--from 2026-01-01 --days 3660 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.startswith("Preview Thu 2026-01-01 to ")
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
