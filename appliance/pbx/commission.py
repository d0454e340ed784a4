"""Commissioning a PBX profile against the real PBX: ``nightswitch test pbx``.

:func:`test_dialogue` walks the installer through the dialogue one step at a time:
open the port, log in, read the mode, switch to each mode and read it back, put the
original mode back, log out. It prints what it does, what the PBX answered, and what to
look for on the PBX itself, because every shipped profile says "nothing verified on a
real unit" and this is where that changes.
"""

from __future__ import annotations

import time

from appliance.errors import DialogueError, ValidationError
from appliance.pbx.link import PbxLink
from appliance.pbx.port_settings import parse_settings
from appliance.pbx.profile_model import Profile
from appliance.pbx.profiles import DEFAULT_SITE_DIR, load_profiles


def _from_spec(spec: dict, profiles_dir, profiles):
    """(profile, port, secrets, settings, modes) from a serial actuator table."""
    from appliance.actuators.serial_port import mode_map

    found = profiles if profiles is not None else load_profiles(profiles_dir or DEFAULT_SITE_DIR)
    profile = (
        found.require(spec.get("profile"), "profile")
        if hasattr(found, "require")
        else found[spec["profile"]]
    )
    settings = None
    if "settings" in spec and profile.has_serial:
        settings, errors = parse_settings(spec["settings"], "settings", profile.serial.settings)
        if errors:
            raise ValidationError(errors)
    secrets = {"username": spec.get("username"), "password": spec.get("password", "")}
    modes = mode_map(spec, profile) if profile.has_serial else {}
    return profile, spec["port"], secrets, settings, modes


def test_dialogue(
    profile,
    port_url: str | None = None,
    secrets: dict | None = None,
    *,
    modes=None,
    out=print,
    profiles_dir=None,
    profiles=None,
    settings=None,
    open_port=None,
    sleep=time.sleep,
) -> bool:
    """Run the profile's whole dialogue against the PBX on *port_url*; True if every
    step worked and the PBX is back in the mode it was in.

    :param profile: a :class:`~appliance.pbx.profiles.Profile`, or a serial actuator's
        config table (then *port_url*, *secrets* and *modes* come from it).
    :param str port_url: the port (any pyserial URL).
    :param dict secrets: ``{"username": ..., "password": ...}``; the password is never
        printed.
    :param modes: the modes to try: a list of profile modes, or ``{our mode: profile
        mode}``; default every mode the profile can set.
    :param out: where the report goes, one line per call.
    :param profiles_dir: site profile directory, when *profile* is a table.
    """
    if isinstance(profile, dict):
        profile, port_url, secrets, settings, spec_modes = _from_spec(
            profile, profiles_dir, profiles
        )
        modes = modes or spec_modes
    if not isinstance(profile, Profile):
        raise TypeError("profile must be a Profile or a serial actuator table")
    if port_url is None:
        raise TypeError("port_url is required with a Profile")
    if not profile.has_serial:
        out(f"  profile {profile.name} has no maintenance-port dialogue: {profile.serial.note}")
        return False
    secrets = secrets or {}
    method = profile.serial
    if modes is None:
        modes = {m: m for m in method.commands}
    elif not isinstance(modes, dict):
        modes = {m: m for m in modes}
    link = PbxLink(
        profile,
        port_url,
        username=secrets.get("username"),
        password=secrets.get("password", ""),
        settings=settings,
        open_port=open_port,
        sleep=sleep,
        label=profile.name,
    )
    out(f"  profile {profile.name}: {profile.title}")
    out(f"  port {port_url}: {link.settings.describe()}")
    out(f"  source: {profile.source}")
    out(f"  verified: {profile.verified}")
    for note in profile.notes:
        out(f"  note: {note}")
    step = 0
    ok = True
    original = None

    def say(text: str) -> None:
        nonlocal step
        step += 1
        out(f"  {step}. {text}")

    try:
        with link.session() as d:
            say("port opened")
            deadline = time.monotonic() + method.operation_timeout_s * (len(modes) + 2)
            if method.login:
                path = link.login(d, deadline)
                found = f"; the terminal was at: {' -> '.join(path)}" if path else ""
                say(
                    f"logged in ({len(method.login)} steps{found}); look for: the PBX's "
                    "session or maintenance log showing a login"
                )
            else:
                say(
                    "no login in this profile; if the PBX asks for one, add it in a site "
                    f'profile (extends = "{profile.name}")'
                )
            if method.status is not None:
                original = link.status(d, deadline)
                say(
                    f"the PBX reports mode {original}; look for: the same mode on a display "
                    "phone or the attendant console"
                )
            else:
                say(
                    "this profile has no status query: modes are sent but not read back, "
                    "and the original mode cannot be restored; watch the PBX yourself"
                )
            for ours, theirs in modes.items():
                try:
                    link.command(d, theirs, deadline)
                    if method.status is not None:
                        got = link.status(d, deadline)
                        if got != theirs:
                            ok = False
                            say(f"FAILED: switched to {ours} ({theirs}), but the PBX reports {got}")
                            continue
                        say(
                            f"switched to {ours} ({theirs}), read back {got}; look for: "
                            f"the PBX in {theirs} (night calls to the night destination)"
                        )
                    else:
                        say(
                            f"sent the command for {ours} ({theirs}); look for: the PBX in {theirs}"
                        )
                except DialogueError as exc:
                    ok = False
                    say(f"FAILED: switching to {ours}: {exc}")
                    if exc.kind in ("port", "auth"):
                        raise
            if original is not None:
                link.command(d, original, deadline)
                back = link.status(d, deadline)
                if back == original:
                    say(f"put the PBX back in {original}")
                else:
                    ok = False
                    say(f"FAILED: tried to put the PBX back in {original}, it reports {back}")
            if method.logout:
                link.logout(d, deadline)
                say("logged out")
            else:
                say("no logout in this profile")
    except DialogueError as exc:
        ok = False
        say(f"FAILED: {exc}")
        if original is not None:
            try:
                link.set_mode(original)
                say(f"put the PBX back in {original} (on a fresh session)")
            except DialogueError as again:
                say(f"FAILED: could not put the PBX back in {original}: {again}; set it by hand")
    out(f"  bytes on the wire: {link.bytes_sent} sent, {link.bytes_received} received")
    out(
        "  PBX dialogue OK"
        if ok
        else "  PBX dialogue FAILED: see the steps above; "
        "`nightswitch console` lets you try the commands by hand"
    )
    return ok


# pytest would otherwise collect this function from any test module that imports it.
test_dialogue.__dict__["__test__"] = False
