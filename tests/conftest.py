"""Fixtures shared by every test: gpiozero's own MockFactory, data directories on disk."""

from __future__ import annotations

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory


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
