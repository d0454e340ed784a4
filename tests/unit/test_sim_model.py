"""The simulated PBX's state on its own: modes, power cuts per profile, feature codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.errors import SimError
from appliance.pbx.profiles import load_profiles
from appliance.sim.pbx_model import PbxModel


def test_modes_and_listeners():
    model = PbxModel(("day", "night", "night2"))
    seen = []
    model.subscribe(seen.append)
    model.set_mode("night", by="serial")
    model.set_mode("night", by="serial")  # no change, no call
    assert model.mode == "night"
    assert [(c.old, c.new, c.by) for c in seen] == [("day", "night", "serial")]
    assert len(model.history) == 2
    with pytest.raises(SimError, match="not one of the PBX's modes: day, night, night2"):
        model.set_mode("evening", by="serial")
    with pytest.raises(SimError):
        PbxModel(("day", "night"), mode="lunch")


@pytest.mark.parametrize(
    "policy,before,after",
    [
        ("retain", "night", "night"),
        ("night", "day", "night"),
        ("day", "night", "day"),
        ("unknown", "day", "night"),  # comes back wrong: the case read-back must catch
        ("unknown", "night", "day"),
    ],
)
def test_power_cut_follows_on_power_up(policy, before, after):
    model = PbxModel(("day", "night"), mode=before, on_power_up=policy)
    assert model.power_cut() == after
    assert model.mode == after and model.powered
    assert model.history[-1].by == "power"


def test_power_off_and_on_with_an_explicit_mode():
    model = PbxModel(("day", "night"), on_power_up="retain")
    model.power_off()
    assert not model.powered
    assert model.power_on("night") == "night"


def test_from_profile_takes_modes_power_and_codes():
    profiles = load_profiles(None)
    partner = PbxModel.from_profile(profiles["avaya-partner"])
    assert partner.modes == ("day", "night") and partner.on_power_up == "retain"
    nec = PbxModel.from_profile(profiles["nec-sv9100"])
    assert nec.feature_codes["night"] == "718 2"
    assert nec.decode("7182").mode == "night"
    assert nec.decode("7188").mode == "rest2"
    assert nec.mode == "rest2"


def test_feature_codes_with_a_password():
    profiles = load_profiles(None)
    samsung = PbxModel.from_profile(profiles["samsung-dcs"], password="0000")
    result = samsung.decode("<NIGHT>00001")
    assert (result.mode, result.outcome, result.dialled) == ("night", "accepted", "<NIGHT>***1")
    wrong = samsung.decode("<NIGHT>12340")
    assert (wrong.mode, wrong.outcome) == (None, "wrong_password")
    assert "1234" not in wrong.dialled
    assert samsung.mode == "night"
    assert samsung.decode("<NIGHT>00000").mode == "day"
    assert samsung.decode("999").outcome == "unknown_code"
    assert [r.outcome for r in samsung.keypad_log] == [
        "accepted",
        "wrong_password",
        "accepted",
        "unknown_code",
    ]


def test_a_powered_off_pbx_ignores_codes():
    model = PbxModel(("day", "night"), feature_codes={"night": "313"})
    model.power_off()
    assert model.decode("313").mode is None
    assert model.mode == "day"


def test_toggle():
    model = PbxModel(("day", "night"))
    assert model.toggle() == "night"
    assert model.toggle() == "day"


@settings(max_examples=60, deadline=None)
@given(
    password=st.text(alphabet="0123456789*#", min_size=1, max_size=6),
    given_pw=st.text(alphabet="0123456789*#", min_size=1, max_size=6),
)
def test_only_the_right_password_switches(password, given_pw):
    model = PbxModel(
        ("day", "night"), password=password, feature_codes={"night": "*78 {password} 1"}
    )
    result = model.decode(f"*78{given_pw}1")
    if given_pw == password:
        assert result.mode == "night"
    else:
        assert result.mode is None and model.mode == "day"
