"""Hostile command lines: every ``nightswitch`` command, fuzzed from its own parser.

The commands and their options are read from :func:`appliance.cli.build_parser`, so a
command added later is fuzzed too. Hypothesis builds argument lists from each option's
kind: numbers for numbers (and junk), choices (and junk), paths from a pool of real
files (valid, malformed, random bytes, a directory, ``/dev/null``, ``/dev/full``,
missing), and text from a list of strings that have broken parsers before.

The commands that only read or write the data directory run in this process, through
:func:`appliance.cli.main`, with stdin, stdout and stderr replaced: an exception
escaping ``main`` is a traceback a person would see, and fails the test. After a
command that failed (exit 1 or 2), the database holds exactly what it held before.
The commands that run until stopped (``run``, ``simulate``, ``pbx-sim``, ``console``,
``test``) run as child processes: each either exits at once with one line of error, or
is still working after a few seconds (it accepted its input) and is stopped; neither
may print a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cli import build_parser, main
from appliance.store import Store
from tests.appliance_helpers import REPO, cli_env, free_port
from tests.reliability.daemon_rig import PINMAP
from tests.reliability.relhelp import db_fingerprint, every_day

#: Commands that serve until stopped: fuzzed in a child process each.
LONG_RUNNING = {"run", "simulate", "pbx-sim", "console", "test"}
NASTY = [
    "¹",
    "٣",
    "9" * 30,
    "-1",
    "0",
    "1e309",
    "nan",
    "-0",
    "\x00",
    "",
    " ",
    "x" * 3000,
    "24:00",
    "23:60",
    "2026-02-30",
    "0000-01-01",
    "9999-12-31",
    "2026-03-29T02:30",
    "next",
    "never",
    "day",
    "night",
    "lunch",
    "admin",
    "viewer",
    "main",
    "Europe/Berlin",
    "Mars/Olympus",
    "panasonic-kx-td",
    "mitel-3300",
    "../../etc/passwd",
    "-",
    "--",
    "--help-not",
    "%s",
    "ümlaut",
    "\u202e",
    "leds",
    "relays",
    "key",
    "pbx",
    "silence",
]


def commands():
    """``[(words, parser)]`` for every command and sub-command, from the CLI's parser."""
    out = []

    def walk(parser, words):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, words + [name])
                return
        out.append((words, parser))

    walk(build_parser(), [])
    return out


COMMANDS = commands()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A pool of files to hand the commands: good, bad and strange."""
    base = tmp_path_factory.mktemp("cli-files")
    data = base / "data"
    with Store(data) as store:
        store.save_schedule(
            "main",
            every_day([("08:00", "18:00", "day")], tz="Europe/Berlin"),
            by="test",
            at=datetime.now(timezone.utc),
        )
        store.add_user("keeper", "admin", "keeper-password-1")
        store.create_token("viewer", label="keeper", by="test", at=datetime.now(timezone.utc))
        store.backup_to(base / "good-backup.db")
    (base / "good-config.toml").write_text(
        PINMAP.read_text() + '\n[site]\nname = "CLI"\ntimezone = "Europe/Berlin"\n'
    )
    (base / "bad-config.toml").write_text("[site\nname = 1\n")
    (base / "wrong-config.toml").write_text(
        '[site]\ntimezone = "Mars/Olympus"\n[[actuators]]\ntype = "contact"\npin = 99\n'
    )
    (base / "good-schedule.json").write_text(
        json.dumps(every_day([("08:00", "18:00", "day")], tz="Europe/Berlin"))
    )
    (base / "bad-schedule.json").write_text(
        '{"timezone": "Europe/Berlin", "weekly": {"mon": [{"start": "18:00", "end": "08:00"}]}}'
    )
    (base / "not-json.json").write_text("{" * 5000)
    (base / "random.bin").write_bytes(os.urandom(4096))
    (base / "smdr.txt").write_bytes(
        b"23/11/26 05:03PM 101   01 <I>0301234            0'03 "
        b"00:00'30\r\n" + os.urandom(500) + b"\r\nGARBAGE\r\n"
    )
    (base / "empty").write_bytes(b"")
    (base / "adir").mkdir()
    (base / "out").mkdir()
    return {"base": base, "data": data}


def path_pool(files, kind: str):
    base = files["base"]
    inputs = [
        base / n
        for n in (
            "good-config.toml",
            "bad-config.toml",
            "wrong-config.toml",
            "good-schedule.json",
            "bad-schedule.json",
            "not-json.json",
            "random.bin",
            "smdr.txt",
            "empty",
            "good-backup.db",
            "adir",
            "missing.file",
        )
    ] + ["/dev/null"]
    if kind == "data":
        return st.sampled_from(
            [files["data"]] * 6
            + [base / "fresh-data", base / "random.bin", "/dev/null", base / "adir"]
        )
    if kind == "out":
        return st.sampled_from(
            [
                base / "out" / "file.out",
                base / "adir",
                "/dev/full",
                base / "missing-dir" / "x.out",
                "-",
            ]
        )
    return st.sampled_from(inputs)


PATH_OPTS = {
    "--config": "in",
    "--data": "data",
    "--schedule": "in",
    "file": "in",
    "--csv": "out",
    "--profiles-dir": "in",
    "--formats-dir": "in",
}


@st.composite
def argv_for(draw, words, parser, files):
    args = list(words)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        positional = not action.option_strings
        if not positional and not draw(st.booleans()):
            if name == "--data":  # never the real /var/lib/nightswitch
                args += ["--data", str(files["data"])]
            continue
        if action.nargs == 0:
            args.append(name)
            continue
        kind = PATH_OPTS.get(name)
        if name == "file" and words[0] in ("backup",) or (name == "file" and words[-1] == "export"):
            kind = "out"
        if kind:
            value = str(draw(path_pool(files, kind)))
        elif action.choices:
            value = draw(st.sampled_from(list(action.choices)) | st.sampled_from(NASTY))
        elif action.type in (int, float):
            value = draw(
                st.integers(-(10**12), 10**12).map(str)
                | st.sampled_from(NASTY)
                | st.floats(allow_nan=True).map(repr)
            )
        else:
            value = draw(
                st.sampled_from(NASTY) | st.text(max_size=20).filter(lambda t: "\x00" not in t)
            )
        if "\x00" in value:
            value = value.replace("\x00", "?")  # argv cannot hold NUL
        if positional:
            args.append(value)
        else:
            args += [name, value]
    if draw(st.integers(0, 9)) == 0:
        args.append(
            draw(st.sampled_from(NASTY + ["--no-such-option", "extra"])).replace("\x00", "?")
        )
    if "--data" not in args and any(a.option_strings == ["--data"] for a in parser._actions):
        args += ["--data", str(files["data"])]
    return args


def run_in_process(argv, stdin: bytes):
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", errors="replace", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="replace", write_through=True)
    old_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", errors="replace")
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")


SHORT = [(w, p) for w, p in COMMANDS if w[0] not in LONG_RUNNING]
LONG = [(w, p) for w, p in COMMANDS if w[0] in LONG_RUNNING]


@pytest.mark.parametrize("words", [w for w, _ in SHORT], ids=[" ".join(w) for w, _ in SHORT])
def test_command_under_fuzz(words, files, figures, fuzz_examples, monkeypatch):
    parser = {tuple(w): p for w, p in COMMANDS}[tuple(words)]
    db = files["data"] / "nightswitch.db"
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    results = {}

    @settings(
        max_examples=fuzz_examples or 40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(argv=argv_for(words, parser, files), stdin=st.binary(max_size=300))
    def fuzz(argv, stdin):
        before = db_fingerprint(db)
        try:
            code, out, err = run_in_process(argv, stdin)
        except Exception as exc:  # noqa: BLE001 - that is the finding
            raise AssertionError(
                f"nightswitch {' '.join(argv)[:300]} raised {exc!r}: a traceback reaches the user"
            ) from exc
        results[code] = results.get(code, 0) + 1
        assert code in (0, 1, 2), (argv, code, err[-500:])
        assert "Traceback" not in err and "Traceback" not in out, (argv, err[-2000:])
        if code != 0:
            assert err.strip(), f"{argv}: exit {code} without saying why"
            assert db_fingerprint(db) == before, (
                f"{argv} failed ({code}: {err[:200]}) but changed the database"
            )

    fuzz()
    figures.bump(
        "cli_fuzz_runs",
        sum(results.values()),
        "runs",
        f"{len(COMMANDS)} commands, from the CLI's own parser",
    )
    # every command has --help
    code, out, _ = run_in_process(list(words) + ["--help"], b"")
    assert code == 0 and "usage:" in out


def test_long_running_commands_start_or_refuse_cleanly(files, figures, fuzz_examples):
    """Each either refuses at once with one line, or accepts and is still serving when
    stopped; no traceback either way."""
    outcomes = {"refused": 0, "served": 0}
    env = cli_env()
    base = files["base"]
    good = [
        ["simulate", "--port", "0", "--data", str(base / "fresh-data")],
        ["pbx-sim", "--profile", "mitel-3300"],
        [
            "test",
            "leds",
            "--simulate",
            "--yes",
            "--seconds",
            "0.1",
            "--config",
            str(base / "good-config.toml"),
        ],
        ["run", "--config", str(base / "run-config.toml"), "--data", str(base / "fresh-run-data")],
    ]
    (base / "run-config.toml").write_text(
        (base / "good-config.toml").read_text() + f'\n[web]\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    for argv in good:
        proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env, NIGHTSWITCH_TRUST_CLOCK="1"),
            cwd=REPO,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=4)
            assert proc.returncode == 0, (argv, err[-800:])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
            assert proc.returncode in (0, -signal.SIGTERM), (argv, proc.returncode, err[-800:])
        outcomes["served"] += 1
        assert b"Traceback" not in err, (argv, err.decode(errors="replace")[-2000:])
    for words, parser in LONG:

        @settings(
            max_examples=max(4, (fuzz_examples or 40) // 6),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(argv=argv_for(words, parser, files))
        def fuzz(argv):
            if words[0] == "simulate" and "--port" not in argv:
                argv = argv + ["--port", "0"]  # never the real 8080
            if words[0] == "run" and "--config" not in argv:
                argv = argv + ["--config", str(files["base"] / "bad-config.toml")]
            proc = subprocess.Popen(
                [sys.executable, "-m", "appliance", *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )
            try:
                out, err = proc.communicate(timeout=4)
                outcomes["refused" if proc.returncode else "served"] += 1
                if proc.returncode:
                    assert proc.returncode in (1, 2), (argv, proc.returncode, err[-800:])
                    lines = [
                        ln
                        for ln in err.decode(errors="replace").splitlines()
                        if ln.startswith("nightswitch: error:") or ln.startswith("usage:")
                    ]
                    assert lines, (argv, err[-800:])
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    out, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    out, err = proc.communicate()
                outcomes["served"] += 1
            assert b"Traceback" not in err, (argv, err.decode(errors="replace")[-2000:])

        fuzz()
    for name in ("fresh-data", "fresh-run-data"):
        shutil.rmtree(base / name, ignore_errors=True)
    figures.add(
        "cli_long_running_runs",
        sum(outcomes.values()),
        "runs",
        f"run, simulate, pbx-sim, console, test: {outcomes['refused']} refused at "
        f"once, {outcomes['served']} accepted and stopped",
    )
