"""PBX profiles: one TOML file per PBX family, shipped or added by a site.

A profile says what the appliance knows about a family and *where that knowledge came
from*: the models it covers, the manual or page the facts were read in, and — plainly —
what has been checked on a real unit (for every shipped profile: nothing). It lists the
methods the family offers for switching night service:

``contact``
    an external night-service input: how to wire it, which state means night;
``toggle_key``
    a key that toggles, and what its lamp means;
``keypad``
    feature codes per mode, a password step, timings;
``serial``
    the maintenance-port dialogue: settings, login, a command per mode, a status query
    whose pattern yields the mode, logout, error patterns, timeouts.

A method the sources do not document is ``supported = false`` with a ``note`` saying so;
nothing is invented to fill the gap. Every dialogue step that waits for the PBX carries
the ``sample`` text the source documents, and loading checks that the sample matches the
step's pattern, so a profile cannot drift away from its own source. The simulator speaks
those samples.

Shipped profiles live in ``appliance/pbx/profiles/``; a site directory (default
``/etc/nightswitch/profiles/``) adds more or overrides one by name. A site file may say
``extends = "mitel-3300"`` and give only the tables it changes (tables merge, lists and
values replace). One bad site file never stops the others loading: :func:`load_profiles`
keeps it in :attr:`ProfileSet.problems`.

The file, in outline (``appliance/pbx/profiles/mitel-3300.toml`` is a full example)::

    name = "mitel-3300"               # = the file name
    title = "..."; families = ["..."]; source = "docs/pbx-families.md#mitel-3300: ..."
    verified = "Nothing verified on a real unit; ..."
    modes = ["day", "night", "night2"]
    smdr_format = "..."               # optional: a file in appliance/smdr/formats/
    notes = ["..."]
    [power]          on_power_up = "retain" | "unknown" | a mode; note; source
    [methods.contact]     supported; note; source; wiring; night_when = closed|open|unknown
    [methods.toggle_key]  supported; note; source; key; lamp; lit_in = [modes]; password
    [methods.keypad]      supported; note; source; sequences = {mode = "718 2"}; password
                          (bool); password_default; feedback; timing = {press_ms, ...}
    [methods.serial]      supported; note; source; username; retries (0-5)
    [methods.serial.settings]  baudrate; bytesize; parity; stopbits; xonxoff; rtscts;
                               line_ending = cr|lf|crlf; pacing_ms
    [methods.serial.timeouts]  step_s; operation_s
    [[methods.serial.login]]   send = "{username}"; expect = 'Password:'; sample = "...";
                               timeout_s; retries; eol
    [[methods.serial.commands.MODE]]   steps as above
    [methods.serial.status]    values = { DAY = "day", ... }
    [[methods.serial.status.steps]]    the last expect captures (?P<status>...);
                                       its sample holds {status}
    [[methods.serial.logout]]  steps
    [[methods.serial.errors]]  pattern; kind = auth|refused|busy|error; message; sample;
                               during = ["login step 3", "command", ...] (the steps it
                               is about; see appliance.pbx.terminal for the defaults)
    [methods.serial.terminal]  wake; unknown; timeout_s; source; note
    [methods.serial.terminal.states.NAME]  expect; sample; then; send
                               (where the terminal can be: appliance/pbx/terminal.py)
    [methods.serial.sim]       echo; delay_ms; unknown; reprompt; blank_login
                               (the simulator only)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from appliance.errors import FieldError, ValidationError
from appliance.pbx.profile_model import Profile, ProfileSet
from appliance.pbx.profile_reader import parse_profile

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_SITE_DIR = Path("/etc/nightswitch/profiles")


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError([FieldError("", f"cannot read the file: {exc}")], str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([FieldError("", f"not valid TOML: {exc}")], str(path)) from None


def _merge(base: dict, over: dict) -> dict:
    """Tables merge key by key; lists and values replace."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_profile_file(path, *, bases: Mapping[str, dict] | None = None) -> Profile:
    """Load one profile file.

    :param path: the ``NAME.toml`` file.
    :param bases: raw documents a file may ``extends``, by name (the shipped ones when
        None).
    :raises ValidationError: naming the file, the key and what is allowed.
    """
    path = Path(path)
    data = _read_toml(path)
    shipped = {p.stem: _read_toml(p) for p in sorted(SHIPPED_DIR.glob("*.toml"))}
    data = _resolve_extends(
        data, path, shipped if bases is None else bases, [path.stem], shipped=shipped
    )
    return parse_profile(data, str(path), name=path.stem)


def _resolve_extends(
    data: dict,
    path: Path,
    bases: Mapping[str, dict],
    seen: list,
    *,
    shipped: Mapping[str, dict] | None = None,
) -> dict:
    """*data* merged over the profile it ``extends`` (recursively).

    :param seen: the names on the chain so far, the file's own name first.
    :param shipped: the shipped documents, when *data* is a site file: a site file that
        extends its own name extends the shipped profile of that name.
    """
    parent = data.get("extends")
    if parent is None:
        return data
    own = seen[0] if seen else None
    if isinstance(parent, str) and parent == own and shipped and parent in shipped:
        base = _resolve_extends(shipped[parent], path, shipped, [parent])
    else:
        if not isinstance(parent, str) or parent not in bases:
            raise ValidationError(
                [
                    FieldError(
                        "extends",
                        f"{parent!r} is not a profile to "
                        "extend; use one of " + ", ".join(sorted(bases)),
                    )
                ],
                str(path),
            )
        if parent in seen:
            raise ValidationError(
                [
                    FieldError(
                        "extends",
                        "profiles extend each other in a circle: " + " -> ".join(seen + [parent]),
                    )
                ],
                str(path),
            )
        base = _resolve_extends(bases[parent], path, bases, seen + [parent], shipped=shipped)
    return _merge(base, {k: v for k, v in data.items() if k != "extends"})


def load_profiles(site_dir=DEFAULT_SITE_DIR) -> ProfileSet:
    """Load the shipped profiles, then the site's (which add or override by name).

    :param site_dir: the site's profile directory; missing is fine (no site profiles).
    :returns: a :class:`ProfileSet`; files that fail are in its ``problems``.
    """
    problems: list[ValidationError] = []
    raw: dict[str, dict] = {}
    shipped = {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.toml"))}
    for name, path in shipped.items():
        try:
            raw[name] = _read_toml(path)
        except ValidationError as exc:
            problems.append(exc)
    site = {}
    site_path = Path(site_dir) if site_dir else None
    if site_path is not None and site_path.is_dir():
        try:
            site = {p.stem: p for p in sorted(site_path.glob("*.toml"))}
        except OSError as exc:
            problems.append(
                ValidationError(
                    [FieldError("", f"cannot list the directory: {exc}")], str(site_path)
                )
            )
    site_raw: dict[str, dict] = {}
    for name, path in site.items():
        try:
            site_raw[name] = _read_toml(path)
        except ValidationError as exc:
            problems.append(exc)
    profiles: dict[str, Profile] = {}
    for name, data in raw.items():
        if name in site_raw:
            continue  # the site's file of the same name wins
        try:
            profiles[name] = parse_profile(
                _resolve_extends(data, shipped[name], raw, [name]), str(shipped[name]), name=name
            )
        except ValidationError as exc:
            problems.append(exc)
    bases = {**raw, **site_raw}
    for name, data in site_raw.items():
        # A site file extends another profile by name; one that extends its own name
        # extends the shipped profile it overrides.
        try:
            profiles[name] = parse_profile(
                _resolve_extends(data, site[name], bases, [name], shipped=raw),
                str(site[name]),
                name=name,
            )
        except ValidationError as exc:
            problems.append(exc)
    return ProfileSet(profiles, problems, site_path)
