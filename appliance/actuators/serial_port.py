"""``serial``: switch the PBX with commands on its maintenance port, per a PBX profile.

Each :meth:`SerialActuator.apply` opens the port, logs in, sends the mode's command,
reads the mode back with the profile's status query, logs out and closes the port; each
:meth:`SerialActuator.read_back` does the same without the command. Opening the port per
operation means nothing is held between them: a USB adapter unplugged and replugged, a
PBX rebooted, or a console session in between (``nightswitch console``) all just work
on the next operation. A PBX that came back from a power cut in another mode is seen by
the next read-back, and the controller enforces or adopts it (``[verify] drift``).

Config::

    [[actuators]]
    name = "maintenance-port"
    type = "serial"
    profile = "mitel-3300"          # shipped, or a file in [profiles] dir
    port = "/dev/ttyAMA0"           # or socket://, rfc2217://, spy://
    username = "system"             # optional: overrides the profile's default
    password = "..."                # a secret: never logged, never shown
    settings = { baudrate = 1200 }  # optional: overrides of the profile's port settings
    modes = { day = "day", night = "night2" }   # optional: our mode -> profile mode

Field debugging: ``port = "spy:///dev/ttyAMA0?file=/dev/stderr"`` hex-dumps every byte
into the journal. (pyserial's spy rewrites a ``file=`` log at each open, and the port is
opened per operation, so a plain file holds only the last operation. The dump shows
the password as typed: remove it when done.)
"""

from __future__ import annotations

import time

from appliance.actuators.base import Actuator, check_keys
from appliance.errors import (
    Abandoned,
    ActuatorError,
    DialogueError,
    FieldError,
    LoginRefused,
    ValidationError,
)
from appliance.pbx import dialogue
from appliance.pbx.link import PbxLink
from appliance.pbx.port_settings import parse_settings
from appliance.pbx.profile_model import Profile, ProfileSet
from appliance.pbx.profiles import DEFAULT_SITE_DIR, load_profiles
from appliance.validation import MODE_RE

ALLOWED = {"profile", "port", "username", "password", "settings", "modes"}


def _profiles(profiles=None, profiles_dir=None):
    if profiles is not None:
        return profiles
    return load_profiles(DEFAULT_SITE_DIR if profiles_dir is None else profiles_dir)


def _find_profile(spec: dict, path: str, profiles) -> tuple[Profile | None, list[FieldError]]:
    name = spec.get("profile")
    if not isinstance(name, str) or not name:
        return None, [
            FieldError(
                f"{path}.profile",
                'is required: the PBX profile, such as "mitel-3300" (see appliance/pbx/profiles/)',
            )
        ]
    if isinstance(profiles, ProfileSet):
        try:
            return profiles.require(name, f"{path}.profile"), []
        except ValidationError as exc:
            return None, exc.errors
    if name not in profiles:
        return None, [
            FieldError(
                f"{path}.profile",
                f"{name!r} is not a known PBX profile; use one of " + ", ".join(sorted(profiles)),
            )
        ]
    return profiles[name], []


def _known_scheme(scheme: str) -> bool:
    """Whether pyserial has a URL handler for *scheme* (as serial_for_url looks it up)."""
    import importlib

    import serial

    if not scheme.isidentifier():
        return False
    for package in serial.protocol_handler_packages:
        try:
            importlib.import_module(f".protocol_{scheme}", package)
            return True
        except ImportError:
            continue
    return False


def mode_map(spec: dict, profile) -> dict[str, str]:
    """Our mode -> the profile's mode: the ``modes`` table, or every mode the profile has
    a command for under its own name."""
    if "modes" in spec:
        return dict(spec["modes"])
    return {mode: mode for mode in profile.serial.commands}


def check(spec: dict, path: str, *, profiles_dir=None, profiles=None, **_) -> list[FieldError]:
    """Validate a ``type = "serial"`` table: every problem, each naming its key."""
    errors = check_keys(spec, ALLOWED, path)
    port = spec.get("port")
    if not isinstance(port, str) or not port.strip():
        errors.append(
            FieldError(
                f"{path}.port",
                "is required: a serial device or pyserial URL "
                "such as /dev/ttyAMA0, /dev/ttyUSB0 or socket://host:port",
            )
        )
    elif "://" in port and not _known_scheme(port.split("://", 1)[0]):
        errors.append(
            FieldError(
                f"{path}.port",
                f"{port.split('://', 1)[0]!r} is not a "
                "pyserial URL scheme; use a device such as /dev/ttyAMA0, or "
                "socket://, rfc2217:// or spy://",
            )
        )
    for key in ("username", "password"):
        if key in spec and not isinstance(spec[key], str):
            errors.append(FieldError(f"{path}.{key}", "must be a string"))
    try:
        found = _profiles(profiles, profiles_dir)
    except OSError as exc:  # pragma: no cover - the loader turns file errors into problems
        return errors + [FieldError(f"{path}.profile", f"cannot read the profiles: {exc}")]
    profile, problems = _find_profile(spec, path, found)
    errors += problems
    if profile is None:
        return errors
    if not profile.has_serial:
        errors.append(
            FieldError(
                f"{path}.profile",
                f"profile {profile.name} has no maintenance-"
                f"port dialogue: {profile.serial.note} Use a contact, pulse or "
                f"keypad actuator (see hardware/examples/)",
            )
        )
        return errors
    method = profile.serial
    if "settings" in spec:
        errors += parse_settings(spec["settings"], f"{path}.settings", method.settings)[1]
    if method.needs_password and not spec.get("password"):
        errors.append(
            FieldError(
                f"{path}.password", f"is required: profile {profile.name}'s login sends a password"
            )
        )
    if method.needs_username and not (spec.get("username") or method.username):
        errors.append(
            FieldError(
                f"{path}.username",
                f"is required: profile {profile.name}'s "
                "login sends a username and the profile has no default",
            )
        )
    if "modes" in spec:
        modes = spec["modes"]
        if not isinstance(modes, dict) or not modes:
            errors.append(
                FieldError(
                    f"{path}.modes",
                    "must be a table of our mode = the "
                    'profile\'s mode, such as { day = "day", night = '
                    '"night2" }',
                )
            )
        else:
            for ours, theirs in modes.items():
                if not MODE_RE.match(ours):
                    errors.append(
                        FieldError(
                            f"{path}.modes.{ours}",
                            "is not a mode name; use lower-case letters, digits, '-' and '_'",
                        )
                    )
                if theirs not in method.commands:
                    errors.append(
                        FieldError(
                            f"{path}.modes.{ours}",
                            f"{theirs!r} is not a mode "
                            f"profile {profile.name} can set; use one of "
                            + ", ".join(method.commands),
                        )
                    )
            if len(set(modes.values())) != len(modes):
                errors.append(
                    FieldError(
                        f"{path}.modes",
                        "two of our modes map to the same "
                        "profile mode, so a read-back could not tell them apart",
                    )
                )
    return errors


def modes_of(spec: dict, *, profiles_dir=None, profiles=None, **_) -> set[str]:
    """The modes the actuator can produce (for a spec that passed :func:`check`)."""
    profile = _find_profile(spec, "", _profiles(profiles, profiles_dir))[0]
    return set(mode_map(spec, profile))


def pins_of(spec: dict):
    return []


def build(
    spec: dict,
    *,
    pin_factory=None,
    clock=None,
    profiles_dir=None,
    sleep=time.sleep,
    profiles=None,
    open_port=None,
    **_,
):
    """The live actuator. *pin_factory* and *clock* are unused: the port is the hardware,
    and serial deadlines run on real time whatever the clock (a simulated clock that
    stands still would make a silent PBX hang the controller)."""
    found = _profiles(profiles, profiles_dir)
    errors = check(spec, spec.get("name", "actuator"), profiles=found)
    if errors:
        raise ValidationError(errors)
    profile = _find_profile(spec, "", found)[0]
    return SerialActuator(spec, profile, sleep=sleep, open_port=open_port)


class SerialActuator(Actuator):
    """The maintenance port as an actuator. See the module docstring.

    :param dict spec: the validated table.
    :param profile: the :class:`~appliance.pbx.profiles.Profile`.
    :param sleep: for pacing and retry pauses.
    :param open_port: port factory for the link (:func:`serial.serial_for_url`).
    """

    #: apply() ends with the profile's status query, so the controller need not ask again.
    verifies_on_apply = True

    type_name = "serial"

    def __init__(
        self, spec: dict, profile, *, sleep=time.sleep, open_port=None, monotonic=time.monotonic
    ):
        # The password leaves the spec here, so no repr or log of the spec can show it.
        spec = dict(spec)
        self._password = spec.pop("password", "") or ""
        super().__init__(spec, sleep=sleep)
        self.profile = profile
        self.port = spec["port"]
        self._map = mode_map(spec, profile)
        self._back = {theirs: ours for ours, theirs in self._map.items()}
        settings = profile.serial.settings
        if "settings" in spec:
            settings, _ = parse_settings(spec["settings"], "settings", settings)
        self.link = PbxLink(
            profile,
            self.port,
            username=spec.get("username"),
            password=self._password,
            settings=settings,
            monotonic=monotonic,
            sleep=sleep,
            open_port=open_port,
            label=self.name,
            should_abandon=lambda: self.should_abandon(),
        )
        self.can_read_back = profile.serial.status is not None

    @property
    def modes(self) -> frozenset[str]:
        return frozenset(self._map)

    def apply(self, mode: str) -> None:
        """Switch the PBX to *mode* and verify it with the status query.

        :raises LoginRefused: the PBX refused the login (do not retry automatically).
        :raises ActuatorError: naming what failed: the port, the command, the answer, or
            a read-back that disagrees.
        """
        if self.closed:
            raise ActuatorError(f"{self.name}: the actuator is closed")
        theirs = self._map.get(mode)
        if theirs is None:
            raise ActuatorError(
                f"{self.name}: cannot produce mode {mode!r}; it knows "
                + ", ".join(sorted(self._map))
            )
        try:
            self.link.set_mode(theirs)
        except DialogueError as exc:
            raise _actuator_error(exc, self) from None
        self.last_mode = mode

    def read_back(self) -> str | None:
        """The PBX's mode as it reports it now.

        A profile mode that none of ours maps to is returned under the profile's name
        (``night2``), so the controller sees a mode other than the one it wants and
        reports drift instead of guessing.

        :raises LoginRefused: the PBX refused the login (do not retry automatically).
        :raises ActuatorError: when the dialogue fails otherwise.
        """
        if not self.can_read_back:
            return None
        if self.closed:
            raise ActuatorError(f"{self.name}: the actuator is closed")
        try:
            theirs = self.link.read_mode()
        except DialogueError as exc:
            raise _actuator_error(exc, self) from None
        return self._back.get(theirs, theirs)

    def test_dialogue(self) -> dict:
        """The commissioning walk (:func:`~appliance.pbx.commission.test_dialogue`: log
        in, read the mode, switch to each mode and read it back, put the PBX back, log
        out) on this actuator's port with its own login, for the Installer page. Run it
        on the zone's worker, the one thread that uses the port.

        :returns: ``{"actuator", "port", "ok", "steps": [line, ...], "transcript":
            [(direction, text), ...]}``; the password is hidden in both.
        """
        from appliance.pbx.commission import test_dialogue
        from appliance.pbx.transcript import Transcript

        transcript = Transcript(secrets=[self._password], open_port=self.link.open_port)
        steps: list[str] = []
        ok = test_dialogue(
            self.profile,
            self.port,
            {"username": self.spec.get("username"), "password": self._password},
            modes=dict(self._map),
            settings=self.link.settings,
            out=lambda line: steps.append(transcript.mask(line.strip())),
            open_port=transcript.open_port,
            sleep=self.link.sleep,
        )
        return {
            "actuator": self.name,
            "port": self.port,
            "ok": bool(ok),
            "steps": steps,
            "transcript": transcript.lines(),
        }

    def close(self) -> None:
        # Nothing is held between operations; closing only refuses further ones.
        super().close()

    def __repr__(self) -> str:
        # The password is a secret: never in a repr, a log line or an error.
        return (
            f"<SerialActuator {self.name!r} zone={self.zone} role={self.role} "
            f"profile={self.profile.name} port={self.port} "
            f"password={'***' if self._password else 'none'} last_mode={self.last_mode}>"
        )


def _actuator_error(exc: DialogueError, actuator: SerialActuator) -> ActuatorError:
    """The dialogue's failure as the worker sees it: abandoned at a safe point (a newer
    mode is wanted), a refused login (:exc:`LoginRefused`, never retried by itself), or a
    plain failure."""
    message = f"{exc} [{actuator.profile.name} on {actuator.port}]"
    if exc.kind == "abandoned":
        return Abandoned(message)
    if isinstance(exc, dialogue.LoginRefused) or exc.kind == "auth":
        return LoginRefused(message)
    return ActuatorError(message)
