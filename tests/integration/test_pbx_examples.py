"""hardware/examples/: one config per PBX family; each loads, agrees with its profile, and
switches the simulated PBX of that family."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from appliance.actuators import build_actuator
from appliance.config import load_config
from appliance.pbx.profiles import SHIPPED_DIR, load_profiles
from appliance.sim import PbxModel, PbxSimulator, PinSidePbx
from tests.appliance_helpers import wait_until
from tests.fixtures.pbx.simhelp import fast

EXAMPLES = Path(__file__).resolve().parents[2] / "hardware" / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.toml"))
METHOD_OF = {"serial": "serial", "keypad": "keypad", "pulse": "toggle_key", "contact": "contact"}
FAST_KEYS = {"press_ms": 50, "gap_ms": 50, "offhook_ms": 350, "pause_ms": 50, "hangup_ms": 30}


def profile_named_in(path: Path) -> str:
    return re.search(r"Profile: appliance/pbx/profiles/([a-z0-9-]+)\.toml", path.read_text()).group(
        1
    )


def test_one_example_per_shipped_profile():
    assert NAMES == sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


@pytest.mark.parametrize("name", NAMES)
def test_example_uses_a_method_its_profile_documents(name):
    path = EXAMPLES / f"{name}.toml"
    profile = load_profiles(None)[profile_named_in(path)]
    assert profile.name == name
    for table in tomllib.loads(path.read_text())["actuators"]:
        method = profile.method(METHOD_OF[table["type"]])
        assert method.supported, f"{name}: {table['type']} is not documented for {name}"
        if table["type"] == "keypad":
            codes = method.details["sequences"]
            for mode, sequence in table["sequences"].items():
                assert sequence == codes[mode]
        if table["type"] == "serial":
            assert table["profile"] == name


@pytest.mark.parametrize("name", NAMES)
def test_example_passes_the_config_check(name):
    config = load_config(EXAMPLES / f"{name}.toml")
    assert config.actuators and {"day", "night"} <= set(config.actuators[0]["_modes"])


@pytest.mark.parametrize("name", NAMES)
def test_example_switches_the_simulated_pbx(name, mock_factory):
    config = load_config(EXAMPLES / f"{name}.toml")
    profile = load_profiles(None)[name]
    model = PbxModel.from_profile(profile)
    specs = [
        dict(spec, **FAST_KEYS) if spec["type"] == "keypad" else spec for spec in config.actuators
    ]
    sim = None
    if profile.has_serial:
        sim = PbxSimulator(fast(profile), model=model).start()
        specs = [dict(spec, port=sim.port_path) for spec in specs]
    side = PinSidePbx(mock_factory, specs, model).start()
    actuators = [
        build_actuator(spec, pin_factory=mock_factory, profiles_dir=None) for spec in specs
    ]
    try:
        for mode in ("night", "day", "night"):
            for actuator in actuators:
                actuator.apply(mode)
            assert wait_until(lambda: model.mode == mode), (name, mode, model.history)
            for actuator in actuators:
                if actuator.can_read_back:
                    assert wait_until(lambda: actuator.read_back() == mode)
    finally:
        for actuator in actuators:
            actuator.close()
        side.close()
        if sim is not None:
            sim.close()
