"""The code checks CI holds the line with: ruff's lint, ruff's format and mypy.

They run here, in the suite, so ``./dev test`` (and so CI) fails on a finding, with the
finding in the failure. The settings are in pyproject.toml; a finding is fixed, not
silenced.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: What the checks cover: the product, its tests and its benchmarks.
TREES = ["appliance", "web", "tests", "bench"]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_ruff_finds_nothing():
    result = run_tool("ruff", "check", "--no-cache", *TREES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    result = run_tool("ruff", "format", "--check", "--no-cache", *TREES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing():
    # The files and settings are pyproject.toml's [tool.mypy]; no cache, so a stale one
    # can never hide an error.
    result = run_tool("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
