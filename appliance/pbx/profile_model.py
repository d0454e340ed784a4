"""What a PBX profile holds, once read: the dialogue steps, the switching methods, the
family's facts and the set of profiles a site has.

:mod:`appliance.pbx.profile_reader` makes these from a profile's TOML and
:mod:`appliance.pbx.profiles` finds the files; the format itself is described there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from appliance.errors import FieldError, ValidationError
from appliance.pbx.port_settings import SerialSettings
from appliance.pbx.terminal import Terminal

#: The ways a family can be switched, as the profile's [methods.*] tables name them.
METHODS = ("contact", "toggle_key", "keypad", "serial")
#: What a PBX's answer can mean when a dialogue's error pattern matches it.
ERROR_KINDS = ("auth", "refused", "busy", "error")


@dataclass(frozen=True)
class Step:
    """One exchange of a dialogue: send a line, then wait for a pattern.

    :param send: the text to send (``{username}``/``{password}`` are filled in at the
        last moment and never logged), or None to only wait.
    :param expect: the regular expression to wait for, or None to only send.
    :param sample: what the PBX prints here, as the source documents it; the simulator
        prints it. ``{status}`` in a status step's sample stands for the PBX's word for
        its mode.
    :param timeout_s: how long to wait, or None for the profile's default.
    :param retries: on a timeout, send again this many times before giving up (for
        ports that need a second carriage return to wake).
    :param eol: append the line ending to *send*.
    """

    send: str | None = None
    expect: str | None = None
    sample: str | None = None
    timeout_s: float | None = None
    retries: int = 0
    eol: bool = True
    pattern: re.Pattern | None = field(default=None, compare=False, repr=False)

    @property
    def uses_password(self) -> bool:
        return self.send is not None and "{password}" in self.send


@dataclass(frozen=True)
class ErrorPattern:
    """Text that means the PBX refused what we asked.

    :param kind: ``auth`` (wrong login: never retried, to avoid a lock-out), ``refused``,
        ``busy`` or ``error``.
    :param message: what to tell a person, such as "the PBX refused the password".
    :param during: the parts and steps it is about (``login``, ``login step 3``,
        ``command``, ``status``, ``logout``, ``wake``); None: every step.
    """

    pattern: re.Pattern
    kind: str
    message: str
    sample: str | None = None
    during: tuple[str, ...] | None = None

    def applies(self, part: str, step: int | None = None) -> bool:
        """Whether this pattern ends a wait in *part* (at its *step*, counted from 1)."""
        if self.during is None:
            return True
        return part in self.during or (step is not None and f"{part} step {step}" in self.during)


@dataclass(frozen=True)
class StatusQuery:
    """The dialogue that asks the PBX its mode.

    The last step's pattern has a group named ``status``; :attr:`values` maps the PBX's
    word (``NIGHT1``) to the profile's mode (``night``).
    """

    steps: tuple[Step, ...]
    values: dict[str, str]

    def mode_of(self, word: str) -> str | None:
        """The profile mode for the PBX's *word*, compared without case or padding."""
        wanted = word.strip().upper()
        for key, mode in self.values.items():
            if key.upper() == wanted:
                return mode
        return None

    def word_for(self, mode: str) -> str | None:
        """The PBX's word for *mode* (what the simulator prints)."""
        for key, value in self.values.items():
            if value == mode:
                return key
        return None


@dataclass(frozen=True)
class SimBehaviour:
    """How the simulator behaves beyond the documented samples. None of this is a PBX
    fact; it makes the simulator a harder test (echo on, a processing delay).

    :param reprompt: a blank line at the command prompt prints the prompt again (off:
        the terminal says nothing at all).
    :param blank_login: a blank line at the login prompt is ``refused`` as an empty user
        name ("Login incorrect", then the prompt), or ``ignored`` (no answer, no prompt).
    """

    echo: bool = True
    delay_ms: int = 20
    unknown: str | None = None
    reprompt: bool = False
    blank_login: str = "refused"


@dataclass(frozen=True)
class SerialMethod:
    """The maintenance-port dialogue. See the module docstring."""

    supported: bool
    note: str = ""
    source: str = ""
    settings: SerialSettings | None = None
    username: str = ""
    login: tuple[Step, ...] = ()
    commands: dict[str, tuple[Step, ...]] = field(default_factory=dict)
    status: StatusQuery | None = None
    logout: tuple[Step, ...] = ()
    errors: tuple[ErrorPattern, ...] = ()
    step_timeout_s: float = 5.0
    operation_timeout_s: float = 60.0
    retries: int = 1
    sim: SimBehaviour = SimBehaviour()
    terminal: Terminal | None = None

    @property
    def needs_password(self) -> bool:
        return any(step.uses_password for step in self.login)

    @property
    def needs_username(self) -> bool:
        return any(step.send and "{username}" in step.send for step in self.login)


@dataclass(frozen=True)
class Method:
    """A relay method (``contact``, ``toggle_key`` or ``keypad``): documentation an
    installer reads to write the actuator table, with the facts as plain values.

    :param supported: whether the sources document this method for the family.
    :param note: why not, or what to watch for.
    :param details: the rest of the table (``night_when``, ``sequences``, ``lamp`` ...).
    """

    supported: bool
    note: str = ""
    source: str = ""
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Power:
    """What the PBX does with its mode after a power cut.

    :param on_power_up: ``retain`` (comes back in the mode it had), a mode name, or
        ``unknown`` (the sources do not say).
    """

    on_power_up: str = "unknown"
    note: str = ""
    source: str = ""


@dataclass(frozen=True)
class Profile:
    """One PBX family. Build it with :func:`load_profile_file` or :func:`load_profiles`."""

    name: str
    title: str
    families: tuple[str, ...]
    source: str
    verified: str
    modes: tuple[str, ...]
    methods: dict
    power: Power = Power()
    smdr_format: str | None = None
    notes: tuple[str, ...] = ()
    path: str = ""

    @property
    def serial(self) -> SerialMethod:
        return self.methods["serial"]

    @property
    def has_serial(self) -> bool:
        return self.methods["serial"].supported

    def method(self, name: str):
        return self.methods[name]

    def __repr__(self) -> str:
        offered = ",".join(m for m in METHODS if self.methods[m].supported) or "none"
        return f"<Profile {self.name} modes={'/'.join(self.modes)} methods={offered}>"


class ProfileSet(Mapping):
    """The profiles found: name -> :class:`Profile`, plus the files that failed.

    :attr problems: a :exc:`ValidationError` per file that could not be loaded, each
        naming the file; the daemon and ``nightswitch check`` report them.
    """

    def __init__(
        self,
        profiles: dict[str, Profile],
        problems: list[ValidationError],
        site_dir: Path | None = None,
    ):
        self._profiles = dict(sorted(profiles.items()))
        self.problems = list(problems)
        self.site_dir = site_dir

    def __getitem__(self, name: str) -> Profile:
        return self._profiles[name]

    def __iter__(self):
        return iter(self._profiles)

    def __len__(self) -> int:
        return len(self._profiles)

    def require(self, name, field_path: str = "profile") -> Profile:
        """The profile *name*, or a ValidationError listing the ones there are (and the
        problem, when the file of that name failed to load)."""
        if isinstance(name, str) and name in self._profiles:
            return self._profiles[name]
        for problem in self.problems:
            if isinstance(name, str) and Path(problem.source).stem == name:
                raise ValidationError(
                    [
                        FieldError(
                            field_path,
                            f"profile {name!r} exists but does not load: {problem.render()}",
                        )
                    ]
                )
        where = f" (shipped, or in {self.site_dir})" if self.site_dir else ""
        raise ValidationError(
            [
                FieldError(
                    field_path,
                    f"{name!r} is not a known PBX profile"
                    f"{where}; use one of " + ", ".join(self._profiles),
                )
            ]
        )
