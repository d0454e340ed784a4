"""Fixtures shared by every test: gpiozero's own MockFactory, data directories on disk.

Hypothesis draws the same examples on every run (``derandomize``), so a red CI run means
the code changed, not that the draw was unlucky. ``NIGHTSWITCH_FUZZ=explore`` draws fresh
examples each run instead: use it to hunt for new failures (RELIABILITY.md, "Exploring"),
then pin each one as a plain test.
"""

from __future__ import annotations

import os

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile(
    "explore",
    derandomize=False,
    max_examples=int(os.environ.get("NIGHTSWITCH_FUZZ_EXAMPLES") or 100),
)
settings.load_profile(
    "explore" if os.environ.get("NIGHTSWITCH_FUZZ") == "explore" else "repeatable"
)


@pytest.fixture
def mock_factory():
    """gpiozero's MockFactory, reset after the test (as gpiozero's own suite does)."""
    save = Device.pin_factory
    Device.pin_factory = MockFactory()
    try:
        yield Device.pin_factory
    finally:
        if Device.pin_factory is not None:
            Device.pin_factory.reset()
        Device.pin_factory = save


@pytest.fixture
def data_dir(tmp_path):
    """A fresh data directory on disk (SQLite lives here)."""
    path = tmp_path / "data"
    path.mkdir()
    return path


# -- the reliability suite's figures, with or without pytest-xdist ------------------------


def pytest_sessionfinish(session, exitstatus):
    """Write the figures to $NIGHTSWITCH_REL_REPORT; an xdist worker hands them to the
    controller instead (pytest_testnodedown), which writes and prints them all."""
    from tests.reliability.relhelp import FIGURES

    handed = getattr(session.config, "workeroutput", None)
    if handed is not None:
        handed["nightswitch_figures"] = dict(FIGURES.values)
        return
    FIGURES.write()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    from tests.reliability.relhelp import FIGURES

    FIGURES.values.update(getattr(node, "workeroutput", {}).get("nightswitch_figures", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests.reliability.relhelp import FIGURES

    if not FIGURES.values:
        return
    terminalreporter.section("nightswitch reliability figures")
    for name, item in sorted(FIGURES.values.items()):
        unit = f" {item['unit']}" if item["unit"] else ""
        note = f"  ({item['note']})" if item["note"] else ""
        terminalreporter.write_line(f"{name}: {item['value']}{unit}{note}")
