"""Options and shared fixtures of the reliability suite.

``--kills N`` (or ``NIGHTSWITCH_KILLS=N``) sets how many times the power-cut test
kills the daemon (default 200). ``--rel-examples N`` (or ``NIGHTSWITCH_FUZZ_EXAMPLES``)
scales the hypothesis fuzzers.

pytest only reads options from conftest files it loads at start-up, which this one is
when the run names ``tests/reliability`` (or a file in it); a run of the whole ``tests``
tree takes the environment variables instead.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability.relhelp import FIGURES, Figures


def pytest_addoption(parser):
    group = parser.getgroup("nightswitch reliability")
    group.addoption(
        "--kills",
        type=int,
        default=None,
        help="daemon kills in the power-cut test (default 200, or NIGHTSWITCH_KILLS)",
    )
    group.addoption(
        "--rel-examples",
        type=int,
        default=None,
        help="hypothesis examples per fuzzer (or NIGHTSWITCH_FUZZ_EXAMPLES)",
    )


def _option(config, name, env, default):
    try:
        value = config.getoption(name)
    except ValueError:  # the option was not registered (a run of the whole tree)
        value = None
    if value is None:
        value = os.environ.get(env)
    return default if value in (None, "") else value


@pytest.fixture(scope="session")
def kills(pytestconfig) -> int:
    return int(_option(pytestconfig, "--kills", "NIGHTSWITCH_KILLS", 200))


@pytest.fixture(scope="session")
def fuzz_examples(pytestconfig) -> int:
    return int(_option(pytestconfig, "--rel-examples", "NIGHTSWITCH_FUZZ_EXAMPLES", 0)) or 0


@pytest.fixture(scope="session")
def figures() -> Figures:
    """The run's figures; written to $NIGHTSWITCH_REL_REPORT and printed at the end of
    the session (tests/conftest.py, which the xdist controller loads too)."""
    return FIGURES
