"""What ``nightswitch check`` says about the PBX profiles the config uses.

A site profile saved in the wrong folder is silent: the actuator falls back on the
shipped profile of that name, which has no login, and the password in the config is
never sent. So ``check`` names the file each serial actuator's profile comes from, warns
when the config gives a password or user name that the profile's dialogue never sends,
and lists the files in the site profile folder that no actuator uses (a typo in a file
name, a profile saved as ``.TOML`` or ``.toml.txt``, one that no longer loads), with
``.toml`` files beside the config that look like profiles put in the wrong place.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from appliance.pbx.profiles import SHIPPED_DIR, load_profiles


def _where(profile, site_dir: Path) -> str:
    """The file a profile comes from, and whether it is the site's or shipped."""
    path = Path(profile.path) if profile.path else None
    if path is None:
        return "?"
    kind = "shipped" if path.parent == SHIPPED_DIR else "site profile"
    return f"{path} ({kind})"


def _extends_chain(name: str, site_dir: Path) -> set[str]:
    """The site files *name* is built from: itself and whatever it ``extends``, by stem."""
    chain: set[str] = set()
    seen: str | None = name
    while seen and seen not in chain:
        chain.add(seen)
        path = site_dir / f"{seen}.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            break
        parent = data.get("extends")
        seen = parent if isinstance(parent, str) else None
    return chain


def profile_lines(config) -> list[str]:
    """Lines for ``check``: a line per serial actuator naming its profile's file, then the
    warnings. Empty when the config has no serial actuator and no site profile folder."""
    site_dir = Path(config.profiles_dir)
    serial = [spec for spec in config.actuators if spec["type"] == "serial"]
    found = load_profiles(site_dir)
    lines, warnings = [], []
    used: set[str] = set()
    named: set[str] = set()
    for spec in serial:
        profile = found.get(spec["profile"])
        if profile is None:  # config validation has already refused this
            continue
        named.add(profile.name)
        used |= _extends_chain(profile.name, site_dir)
        lines.append(
            f"actuator {spec['name']}: profile {profile.name} from {_where(profile, site_dir)}"
        )
        method = profile.serial
        given = [key for key in ("password", "username") if spec.get(key)]
        sends = {"password": method.needs_password, "username": method.needs_username}
        unused = [key for key in given if not sends[key]]
        if unused:
            what = " and ".join(unused)
            if not method.login:
                why = f"profile {profile.name} has no login"
            else:
                why = f"the login of profile {profile.name} never sends {{{unused[0]}}}"
            warnings.append(
                f"warning: actuator {spec['name']} gives a {what}, but {why}, so it is never "
                f"used. If you wrote a site profile with the login, it must be in {site_dir} "
                f"(the [profiles] dir) as {profile.name}.toml"
                + _stray_hint(config, profile.name, site_dir)
            )
    warnings += _unused_files(site_dir, used, named, found)
    return lines + warnings


def _stray_hint(config, name: str, site_dir: Path) -> str:
    """A pointer to a file beside the config that declares profile *name*."""
    source = getattr(config, "source", "")
    beside = Path(source).parent if source else None
    if beside is None or not beside.is_dir() or beside.resolve() == site_dir.resolve():
        return ""
    for path in sorted(beside.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if data.get("name") == name and ("methods" in data or "extends" in data):
            return f"; {path} declares it: move it there"
    return ""


def _unused_files(site_dir: Path, used: set[str], named: set[str], found) -> list[str]:
    """Warnings for the files in *site_dir* that are not profiles the actuators use
    (*named*) or build on (*used*, their ``extends`` chains)."""
    if not site_dir.is_dir():
        return []
    try:
        files = sorted(p for p in site_dir.iterdir() if p.is_file())
    except OSError as exc:
        return [f"warning: cannot list the site profile folder {site_dir}: {exc.strerror}"]
    broken = {
        Path(problem.source).stem: problem
        for problem in found.problems
        if Path(problem.source).parent == site_dir
    }
    out = []
    for path in files:
        if path.suffix != ".toml":
            out.append(
                f"warning: {path} is in the site profile folder but is not read: "
                "profiles are NAME.toml files"
            )
        elif path.stem in broken:
            out.append(
                f"warning: {path} does not load, so no actuator can use it: "
                + broken[path.stem].render().split(": ", 1)[-1]
            )
        elif path.stem not in used:
            out.append(
                f"warning: {path} is not used by any actuator (their profiles: "
                + (", ".join(sorted(named)) or "none")
                + ")"
            )
    return out
