"""``nightswitch check`` names the PBX profile file each serial actuator uses and warns
when the config's password cannot be used or the site profile folder holds files that no
actuator uses: the site profile saved in the wrong folder, found before the site visit."""

from __future__ import annotations

import shutil

from appliance.pbx.profiles import SHIPPED_DIR
from tests.appliance_helpers import SITE, nightswitch, panel_toml
from tests.fixtures.pbx.simhelp import PASSWORD, SITE_DIR

SITE_LOGIN = (
    (SITE_DIR / "mitel-3300-login.toml")
    .read_text()
    .replace('name = "mitel-3300-login"', 'name = "mitel-3300"')
)


def config(tmp_path, profile="mitel-3300", **extra):
    keys = "".join(f'{k} = "{v}"\n' for k, v in extra.items())
    path = tmp_path / "nightswitch.toml"
    path.write_text(
        SITE
        + panel_toml()
        + f"""
[[actuators]]
name = "pbx-port"
type = "serial"
profile = "{profile}"
port = "/dev/ttyUSB0"
{keys}"""
    )
    return path


def check(path, tmp_path):
    result = nightswitch(
        "check",
        "--config",
        path,
        "--data",
        tmp_path / "none",
        "--boot-config",
        tmp_path / "none.txt",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_site_profile_in_the_wrong_folder_is_named(tmp_path):
    path = config(tmp_path, password=PASSWORD)
    (tmp_path / "mitel-3300.toml").write_text(SITE_LOGIN)  # beside the config, not in profiles/
    out = check(path, tmp_path)
    assert (
        f"actuator pbx-port: profile mitel-3300 from {SHIPPED_DIR / 'mitel-3300.toml'} "
        "(shipped)" in out
    )
    warning = next(line for line in out if "gives a password" in line)
    assert warning == (
        "warning: actuator pbx-port gives a password, but profile mitel-3300 has no login, "
        f"so it is never used. If you wrote a site profile with the login, it must be in "
        f"{tmp_path / 'profiles'} (the [profiles] dir) as mitel-3300.toml; "
        f"{tmp_path / 'mitel-3300.toml'} declares it: move it there"
    )
    assert PASSWORD not in "\n".join(out)
    assert out[-1] == f"{path}: OK"


def test_the_same_profile_in_the_right_folder(tmp_path):
    path = config(tmp_path, password=PASSWORD)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mitel-3300.toml").write_text(SITE_LOGIN)
    out = check(path, tmp_path)
    assert (
        f"actuator pbx-port: profile mitel-3300 from {tmp_path / 'profiles' / 'mitel-3300.toml'}"
        " (site profile)" in out
    )
    assert not [line for line in out if line.startswith("warning:") and "profile" in line]


def test_a_user_name_the_login_never_sends(tmp_path):
    path = config(tmp_path, username="admin")
    out = check(path, tmp_path)
    assert any(
        line.startswith(
            "warning: actuator pbx-port gives a username, but profile mitel-3300 has no login"
        )
        for line in out
    )


def test_files_no_actuator_uses_in_the_site_folder(tmp_path):
    site = tmp_path / "profiles"
    site.mkdir()
    # mitel-3300-states extends mitel-3300-login: the base is in use too.
    for name in ("mitel-3300-login", "mitel-3300-states"):
        shutil.copy(SITE_DIR / f"{name}.toml", site / f"{name}.toml")
    (site / "old-pbx.toml").write_text(
        SITE_LOGIN.replace('name = "mitel-3300"', 'name = "old-pbx"')
    )
    (site / "mitel-3300.toml.txt").write_text(SITE_LOGIN)
    (site / "broken.toml").write_text('name = "broken"\nextends = "nothing-like-it"\n')
    path = config(tmp_path, profile="mitel-3300-states", password=PASSWORD)
    out = check(path, tmp_path)
    warnings = [line for line in out if line.startswith("warning:") and str(site) in line]
    assert warnings == [
        f"warning: {site / 'broken.toml'} does not load, so no actuator can use it: "
        "extends: 'nothing-like-it' is not a profile to extend; use one of "
        + warnings[0].split("use one of ", 1)[1],
        f"warning: {site / 'mitel-3300.toml.txt'} is in the site profile folder but is not "
        "read: profiles are NAME.toml files",
        f"warning: {site / 'old-pbx.toml'} is not used by any actuator (their profiles: "
        "mitel-3300-states)",
    ]
    assert (
        f"actuator pbx-port: profile mitel-3300-states from {site / 'mitel-3300-states.toml'}"
        " (site profile)" in out
    )


def test_no_serial_actuator_and_no_folder_says_nothing_more(tmp_path):
    path = tmp_path / "nightswitch.toml"
    path.write_text(SITE + panel_toml())
    out = check(path, tmp_path)
    assert not [line for line in out if "profile" in line]
