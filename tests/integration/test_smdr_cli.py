"""``nightswitch calls``: formats, import of captured logs into SQLite on disk, the
after-hours report as a table, JSON and CSV, and one clear line for every bad input."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.cli import main
from appliance.smdr.record import CallRecord
from appliance.store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "smdr"
PINMAP = Path(__file__).resolve().parents[2] / "hardware" / "pinmap.toml"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def no_config(tmp_path):
    return str(tmp_path / "no-config.toml")


@pytest.fixture
def chicago_config(tmp_path):
    path = tmp_path / "etc" / "nightswitch.toml"
    path.parent.mkdir()
    path.write_text(PINMAP.read_text() + '\n[site]\nname = "Test"\ntimezone = "America/Chicago"\n')
    return str(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["calls", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_formats_lists_every_format_with_its_source(capsys, no_config):
    code, out, err = run(capsys, "formats", "--config", no_config)
    assert code == 0 and err == ""
    for name in (
        "panasonic-kx-ta",
        "panasonic-kx-td",
        "avaya-partner",
        "samsung-dcs",
        "mitel-sx200",
        "nec-sl1100",
    ):
        assert name in out
    assert "source: docs/pbx-families.md#" in out and "unverified" in out
    code, out, _ = run(capsys, "formats", "--config", no_config, "--json")
    listed = {f["name"]: f for f in json.loads(out)}
    assert listed["panasonic-kx-td"]["time_printed"] == "end"
    assert listed["mitel-sx200"]["year_printed"] is False


def test_formats_reports_a_broken_site_format(capsys, tmp_path):
    site = tmp_path / "smdr"
    site.mkdir()
    (site / "ours.toml").write_text('name = "ours"\n')
    code, out, err = run(capsys, "formats", "--config", str(tmp_path / "nightswitch.toml"))
    assert code == 2
    assert "panasonic-kx-ta" in out
    assert err.startswith("nightswitch: error: format ours: ")


def test_import_dry_run_shows_and_stores_nothing(capsys, tmp_path, no_config):
    data = tmp_path / "data"
    code, out, _ = run(
        capsys,
        "import",
        str(FIXTURES / "panasonic-kx-ta.txt"),
        "--format",
        "panasonic-kx-ta",
        "--dry-run",
        "--tz",
        "Europe/Berlin",
        "--data",
        str(data),
        "--config",
        no_config,
    )
    assert code == 0
    assert "4 lines as panasonic-kx-ta" in out and "3 calls, 1 headers skipped, 0 unparsed" in out
    assert "Thu 31 Dec 1998 12:52:00  out" in out and "dry run" in out
    assert not data.exists()


def test_import_stores_calls_once(capsys, tmp_path, no_config):
    data = tmp_path / "data"
    args = (
        "import",
        str(FIXTURES / "panasonic-kx-ta.txt"),
        "--format",
        "panasonic-kx-ta",
        "--tz",
        "Europe/Berlin",
        "--data",
        str(data),
        "--config",
        no_config,
    )
    assert run(capsys, *args)[0] == 0
    code, out, _ = run(capsys, *args)
    assert code == 0 and "3 of the calls were stored already" in out
    with Store(data) as store:
        calls = store.calls(
            "main",
            datetime(1998, 12, 31, tzinfo=timezone.utc),
            datetime(1999, 1, 1, tzinfo=timezone.utc),
        )
    assert [(c["started_at"], c["direction"]) for c in calls] == [
        ("1998-12-31T11:52:00+00:00", "out"),
        ("1998-12-31T11:53:00+00:00", "in"),
        ("1998-12-31T11:54:00+00:00", "in"),
    ]


def test_import_shares_calls_out_by_the_configs_routes(capsys, tmp_path):
    """Without --zone, [[smdr.routes]] apply as they do to the live intake; --zone still
    puts every call in one zone."""
    config = tmp_path / "nightswitch.toml"
    config.write_text(
        PINMAP.read_text() + '\n[site]\nname = "T"\ntimezone = "Europe/Berlin"\n'
        '[[zones]]\nname = "main"\n[[zones]]\nname = "service"\n'
        '[smdr]\nport = "/dev/ttyUSB0"\nformat = "panasonic-kx-ta"\n'
        '[[smdr.routes]]\nzone = "service"\nextensions = ["101"]\n'
    )
    data = tmp_path / "data"
    code, out, _ = run(
        capsys,
        "import",
        str(FIXTURES / "panasonic-kx-ta.txt"),
        "--format",
        "panasonic-kx-ta",
        "--data",
        str(data),
        "--config",
        str(config),
    )
    assert code == 0 and "(zones main, service by [[smdr.routes]], Europe/Berlin)" in out
    window = (
        datetime(1998, 12, 31, tzinfo=timezone.utc),
        datetime(1999, 1, 1, tzinfo=timezone.utc),
    )
    with Store(data) as store:
        assert [c["extension"] for c in store.calls("main", *window)] == ["103", "103"]
        assert [c["extension"] for c in store.calls("service", *window)] == ["101"]
    code, out, _ = run(
        capsys,
        "import",
        str(FIXTURES / "panasonic-kx-ta.txt"),
        "--format",
        "panasonic-kx-ta",
        "--data",
        str(data),
        "--config",
        str(config),
        "--zone",
        "service",
    )
    assert code == 0 and "(zone service," in out
    with Store(data) as store:
        assert [c["extension"] for c in store.calls("service", *window)] == ["103", "103", "101"]


def test_import_infers_the_year_from_now(capsys, tmp_path, no_config):
    data = tmp_path / "data"
    code, out, _ = run(
        capsys,
        "import",
        str(FIXTURES / "samsung-dcs.txt"),
        "--format",
        "samsung-dcs",
        "--now",
        "1999-03-21T14:00",
        "--tz",
        "Europe/Berlin",
        "--data",
        str(data),
        "--config",
        no_config,
    )
    assert code == 0 and "2 calls, 2 headers skipped, 0 unparsed" in out
    with Store(data) as store:
        calls = store.calls(
            "main",
            datetime(1999, 3, 21, tzinfo=timezone.utc),
            datetime(1999, 3, 22, tzinfo=timezone.utc),
        )
    assert [c["extension"] for c in calls] == ["3951", "219"]


def test_importing_with_the_wrong_format_stores_nothing(capsys, tmp_path, no_config):
    data = tmp_path / "data"
    code, out, err = run(
        capsys,
        "import",
        str(FIXTURES / "samsung-dcs.txt"),
        "--format",
        "panasonic-kx-ta",
        "--tz",
        "UTC",
        "--data",
        str(data),
        "--config",
        no_config,
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("nightswitch: error: --format: no line of ")
    assert "reads as a panasonic-kx-ta call" in err
    assert not data.exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["import", "missing.txt", "--format", "panasonic-kx-ta", "--tz", "UTC"],
            "FILE: cannot read missing.txt: No such file or directory",
        ),
        (
            ["import", "{fixture}", "--format", "nope", "--tz", "UTC"],
            "--format: unknown SMDR format 'nope'; known formats are ",
        ),
        (
            ["import", "{fixture}", "--format", "panasonic-kx-ta", "--tz", "UTC", "--now", "soon"],
            "--now: 'soon' is not a date and time",
        ),
        (
            ["import", "{fixture}", "--format", "panasonic-kx-ta", "--tz", "UTC", "--show", "-1"],
            "--show: '-1' is not allowed",
        ),
        (
            ["import", "{fixture}", "--format", "panasonic-kx-ta", "--tz", "Mars/Base"],
            "--tz: 'Mars/Base' is not an IANA time zone",
        ),
        (
            ["report", "--from", "2026-13-01", "--to", "2026-03-01", "--tz", "UTC"],
            "--from: '2026-13-01' is not a date; use YYYY-MM-DD",
        ),
        (
            ["report", "--from", "2026-03-05", "--to", "2026-03-01", "--tz", "UTC"],
            "--from: 2026-03-05 is after --to 2026-03-01",
        ),
        (
            ["report", "--from", "2026-03-01", "--to", "2026-03-02", "--tz", "UTC"],
            "--data: no nightswitch database in ",
        ),
        (
            [
                "report",
                "--from",
                "2026-03-01",
                "--to",
                "2026-03-02",
                "--tz",
                "UTC",
                "--csv",
                "-",
                "--json",
            ],
            "--csv: choose one of --csv or --json",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, no_config, argv, message):
    argv = [a.replace("{fixture}", str(FIXTURES / "panasonic-kx-ta.txt")) for a in argv]
    code, out, err = run(capsys, *argv, "--config", no_config, "--data", str(tmp_path / "d"))
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nightswitch: error: " + message), lines[0]


def test_an_unknown_zone_in_the_config_is_refused(capsys, tmp_path, chicago_config):
    code, _, err = run(
        capsys,
        "report",
        "--zone",
        "sales",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-02",
        "--config",
        chicago_config,
        "--data",
        str(tmp_path / "d"),
    )
    assert code == 2 and "--zone: no zone 'sales'" in err and err.count("\n") == 1


@pytest.fixture
def filled(data_dir):
    """A store with a Monday's day→night change and three calls around it (Berlin)."""

    def utc(text):
        return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(timezone.utc)

    with Store(data_dir) as store:
        store.set_applied("main", "day", at=utc("2026-03-02T08:00"))
        store.set_applied("main", "night", at=utc("2026-03-02T18:00"))
        store.set_applied("main", "day", at=utc("2026-03-03T08:00"))
        for when, answered, number in (
            ("2026-03-02T17:59", True, "0301"),
            ("2026-03-02T18:01", False, "=0302"),
            ("2026-03-03T02:30", None, "0303"),
        ):
            store.add_call(
                "main",
                CallRecord(
                    utc(when), 60, "201", "01", "in", answered, None, number, "test", "raw " + when
                ),
            )
    return data_dir


def test_report_table(capsys, filled, no_config):
    code, out, err = run(
        capsys,
        "report",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-03",
        "--tz",
        "Europe/Berlin",
        "--data",
        str(filled),
        "--config",
        no_config,
    )
    assert code == 0 and err == ""
    assert "3 calls in all, 2 after hours: 0 answered, 1 unanswered, 1 not said by the PBX" in out
    assert (
        "2026-03-02  Mon 2 Mar 2026 18:00  Tue 3 Mar 2026 08:00       2         0           1"
        in out
    )
    hours = {
        line[:2]: line for line in out.splitlines() if line[:2].isdigit() and line[2:4] == "  "
    }
    assert hours["18"].split()[1] == "1" and hours["02"].split()[1] == "1"
    assert hours["17"].split()[1] == "0"


def test_report_json_and_csv(capsys, filled, no_config, tmp_path):
    base = (
        "report",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-03",
        "--tz",
        "Europe/Berlin",
        "--data",
        str(filled),
        "--config",
        no_config,
    )
    code, out, _ = run(capsys, *base, "--json")
    result = json.loads(out)
    assert result["totals"]["after_hours"] == 2
    assert [n["night"] for n in result["per_night"]] == ["2026-03-02"]
    code, out, _ = run(capsys, *base, "--csv", "-")
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[0] for r in rows[1:]] == ["2026-03-02T18:01:00+01:00", "2026-03-03T02:30:00+01:00"]
    assert rows[1][-1] == "'=0302"
    target = tmp_path / "after-hours.csv"
    code, out, err = run(capsys, *base, "--csv", str(target))
    assert code == 0 and "2 after-hours calls written to" in err
    assert target.read_text().splitlines()[0].startswith("start_local,night,mode")


def test_report_takes_the_time_zone_from_the_config(capsys, filled, chicago_config):
    code, out, err = run(
        capsys,
        "report",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-03",
        "--json",
        "--tz",
        "Europe/Berlin",
        "--data",
        str(filled),
        "--config",
        chicago_config,
    )
    assert code == 0
    assert json.loads(out)["timezone"] == "America/Chicago"
    assert "--tz Europe/Berlin ignored" in err


def test_report_without_config_or_tz_says_it_uses_utc(capsys, filled, no_config):
    code, out, err = run(
        capsys,
        "report",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-03",
        "--data",
        str(filled),
        "--config",
        no_config,
    )
    assert code == 0 and "(UTC)" in out
    assert "times are read as UTC" in err


def test_every_calls_command_has_help(capsys):
    for argv in (
        ["calls", "--help"],
        ["calls", "report", "--help"],
        ["calls", "import", "--help"],
        ["calls", "formats", "--help"],
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert "usage: nightswitch calls" in capsys.readouterr().out
