"""The soak (slow): 60 simulated days of the whole appliance, in a process of its own.

It runs in every suite run (about half a minute; ``-m "not slow"`` leaves it out while
working on something else), and from ``bench/run_all.py``. See
:mod:`tests.reliability.soak` for what it does and checks.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.appliance_helpers import REPO, cli_env
from tests.reliability.soak import check

SOAK_DAYS = 60


@pytest.mark.slow
def test_sixty_days_exact_transitions_flat_memory(figures):
    proc = subprocess.run(
        [sys.executable, "-m", "tests.reliability.soak", "--days", str(SOAK_DAYS), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=1800,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[0])
    problems = check(result)
    assert not problems, problems
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert result["transitions"] == result["expected_transitions"] > 2 * SOAK_DAYS
    figures.add("soak_days", result["days"], "simulated days", f"{result['real_s']} s real")
    figures.add(
        "soak_transitions",
        result["transitions"],
        "relay changes",
        f"exactly as expected from preview() plus {result['overrides']} overrides "
        f"and {result['key_turns']} key turns",
    )
    figures.add(
        "soak_calls",
        result["calls_stored"],
        "call records",
        f"of {result['calls_sent']} sent; none lost",
    )
    figures.add(
        "soak_rss_growth",
        result["rss_growth_pct"],
        "%",
        f"{result['rss_kb'][0] / 1024:.1f} MB after warm-up, "
        f"{max(result['rss_kb']) / 1024:.1f} MB at most",
    )
