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

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from appliance.errors import FieldError, ValidationError
from appliance.pbx.port_settings import SerialSettings, parse_settings
from appliance.pbx.terminal import Terminal, read_during, read_terminal
from appliance.validation import MODE_RE, Problems

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_SITE_DIR = Path("/etc/nightswitch/profiles")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
SECRET_RE = re.compile(r"\{([^{}]*)\}")
SECRET_NAMES = ("username", "password")
#: A keypad sequence: phone keys, a space for a pause, {password}, or a named key of a
#: system phone such as <NIGHT> (a programmable key, not a digit).
KEYPAD_TOKEN_RE = re.compile(r"\{password\}|<[A-Z][A-Z0-9_]*>|[0-9*#]| ")
METHODS = ("contact", "toggle_key", "keypad", "serial")
ERROR_KINDS = ("auth", "refused", "busy", "error")
TOP_KEYS = {"name", "title", "families", "source", "verified", "modes", "notes", "methods",
            "power", "smdr_format", "extends"}
MAX_STEP_TIMEOUT_S = 300.0


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


#: Either kind of method, for code that builds one kind or the other.
AnyMethod = TypeVar("AnyMethod", Method, SerialMethod)


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

    def __init__(self, profiles: dict[str, Profile], problems: list[ValidationError],
                 site_dir: Path | None = None):
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
                raise ValidationError([FieldError(field_path, f"profile {name!r} exists but "
                                       f"does not load: {problem.render()}")])
        where = f" (shipped, or in {self.site_dir})" if self.site_dir else ""
        raise ValidationError([FieldError(field_path, f"{name!r} is not a known PBX profile"
                                          f"{where}; use one of " + ", ".join(self._profiles))])


# -- reading ---------------------------------------------------------------------------

class _Reader(Problems):
    """The profile's readers on the one :class:`~appliance.validation.Problems`, plus its
    own: placeholders in a dialogue and the profile's mode names."""

    def template(self, value, path: str, allowed=SECRET_NAMES) -> None:
        for name in SECRET_RE.findall(value):
            if name not in allowed:
                self.err(path, f"{{{name}}} is not a placeholder; allowed are "
                               + ", ".join(f"{{{a}}}" for a in allowed))

    def mode_name(self, value, path: str, modes) -> bool:
        if not isinstance(value, str) or not MODE_RE.match(value):
            self.err(path, f"{value!r} is not a mode name; use lower-case letters, digits, "
                           "'-' and '_', starting with a letter")
            return False
        if modes is not None and value not in modes:
            self.err(path, f"mode {value!r} is not in this profile's modes: " + ", ".join(modes))
            return False
        return True


STEP_KEYS = {"send", "expect", "sample", "timeout_s", "retries", "eol"}


def _read_steps(r: _Reader, value, path: str, *, status_values=None) -> tuple[Step, ...]:
    if not isinstance(value, list):
        r.err(path, "must be a list of steps ([[...]] tables with send / expect / sample)")
        return ()
    steps = []
    for i, raw in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(raw, dict):
            r.err(where, "must be a table with send, expect and sample")
            continue
        r.unknown(raw, STEP_KEYS, where)
        send = None
        if "send" in raw:
            send = raw["send"]
            if not isinstance(send, str):
                r.err(f"{where}.send", f"must be a string (\"\" sends only the line ending), "
                                       f"not {send!r}")
                send = None
            else:
                r.template(send, f"{where}.send")
        expect = raw.get("expect")
        is_status = status_values is not None and i == len(value) - 1
        pattern = None
        if expect is not None:
            pattern = r.regex(expect, f"{where}.expect", groups=("status",) if is_status else ())
        elif is_status:
            r.err(f"{where}.expect", "is required: the last status step's pattern must capture "
                                     "the mode in (?P<status>...)")
        if send is None and expect is None and "send" not in raw:
            r.err(where, "needs send, expect or both")
        sample = raw.get("sample")
        if sample is not None and not isinstance(sample, str):
            r.err(f"{where}.sample", f"must be a string, not {sample!r}")
            sample = None
        if expect is not None and sample is None:
            r.err(f"{where}.sample", "is required with expect: the text the PBX prints here, "
                                     "as the source documents it (the simulator prints it and "
                                     "it proves the pattern)")
        if pattern is not None and sample is not None:
            samples = [sample]
            if is_status:
                if "{status}" not in sample:
                    r.err(f"{where}.sample", "must contain {status} where the PBX prints its "
                                             "mode word")
                samples = [sample.replace("{status}", word) for word in status_values] or []
            for text in samples:
                match = pattern.search(text)
                if match is None:
                    r.err(f"{where}.sample", f"{text!r} does not match expect {expect!r}; the "
                                             "pattern or the sample is wrong")
                elif is_status and "status" in pattern.groupindex and \
                        match.group("status") is not None and \
                        match.group("status").strip().upper() not in \
                        {w.upper() for w in status_values}:
                    r.err(f"{where}.expect", f"captures {match.group('status')!r} from the "
                                             f"sample {text!r}, which is not one of the status "
                                             "values")
        timeout = r.number(raw, "timeout_s", where, lo=0.05, hi=MAX_STEP_TIMEOUT_S)
        retries = raw.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
            r.err(f"{where}.retries", f"{retries!r} is not allowed; use a whole number 0 to 5")
            retries = 0
        eol = r.boolean(raw, "eol", where, default=True)
        steps.append(Step(send=send, expect=expect, sample=sample, timeout_s=timeout,
                          retries=retries, eol=eol, pattern=pattern))
    return tuple(steps)


def _unsupported(r: _Reader, table: dict, path: str, allowed_extra, *,
                 make: Callable[[bool, str, str], AnyMethod]) -> AnyMethod | None:
    """The method as ``supported = false`` (built with *make*: :class:`Method` or
    :class:`SerialMethod`), or None when it is supported and its other keys are read by
    the caller."""
    supported = r.boolean(table, "supported", path, required=True)
    note = r.string(table, "note", path, default="")
    source = r.string(table, "source", path, default="")
    if not supported:
        if not note:
            r.err(f"{path}.note", "is required when supported = false: say what the sources "
                                  "do (not) document, so nobody invents it")
        r.unknown(table, {"supported", "note", "source"}, path)
        return make(False, note, source)
    r.unknown(table, {"supported", "note", "source"} | set(allowed_extra), path)
    return None


def _read_contact(r: _Reader, table: dict, path: str, modes) -> Method:
    done = _unsupported(r, table, path, {"wiring", "night_when"}, make=Method)
    if done:
        return done
    wiring = r.string(table, "wiring", path, required=True)
    night_when = r.string(table, "night_when", path, required=True)
    if night_when and night_when not in ("closed", "open", "unknown"):
        r.err(f"{path}.night_when", f"{night_when!r} is not allowed; use \"closed\", \"open\" "
                                    "or \"unknown\" (when the sources do not say)")
    return Method(True, table.get("note", ""), table.get("source", ""),
                  {"wiring": wiring, "night_when": night_when})


def _read_toggle(r: _Reader, table: dict, path: str, modes) -> Method:
    done = _unsupported(r, table, path, {"key", "lamp", "lit_in", "password"}, make=Method)
    if done:
        return done
    key = r.string(table, "key", path, required=True)
    lamp = r.string(table, "lamp", path, required=True)
    lit_in = table.get("lit_in", [])
    if not isinstance(lit_in, list):
        r.err(f"{path}.lit_in", "must be a list of the modes in which the lamp is lit")
        lit_in = []
    for i, mode in enumerate(lit_in):
        r.mode_name(mode, f"{path}.lit_in[{i}]", modes)
    password = r.string(table, "password", path, default="")
    return Method(True, table.get("note", ""), table.get("source", ""),
                  {"key": key, "lamp": lamp, "lit_in": tuple(lit_in), "password": password})


KEYPAD_TIMINGS = {"press_ms": (30, 2000), "gap_ms": (30, 2000), "offhook_ms": (0, 10000),
                  "pause_ms": (0, 10000)}


def _read_keypad(r: _Reader, table: dict, path: str, modes) -> Method:
    done = _unsupported(r, table, path, {"sequences", "password", "password_default",
                                         "feedback", "timing"}, make=Method)
    if done:
        return done
    sequences = table.get("sequences", {})
    if not isinstance(sequences, dict):
        r.err(f"{path}.sequences", "must be a table of mode = \"keys\"")
        sequences = {}
    uses_password = False
    for mode, sequence in sequences.items():
        where = f"{path}.sequences.{mode}"
        r.mode_name(mode, where, modes)
        if not isinstance(sequence, str) or not sequence.strip():
            r.err(where, "must be a non-empty string of keys")
            continue
        leftover = KEYPAD_TOKEN_RE.sub("", sequence)
        if leftover:
            r.err(where, f"{leftover!r} is not a key; use 0-9, *, #, a space for a pause, "
                         "{password}, or a named key such as <NIGHT>")
        uses_password |= "{password}" in sequence
    password = r.boolean(table, "password", path, default=False)
    if uses_password and not password:
        r.err(f"{path}.password", "must be true: a sequence uses {password}")
    default = r.string(table, "password_default", path, default="")
    timing = table.get("timing", {})
    if not isinstance(timing, dict):
        r.err(f"{path}.timing", "must be a table such as { press_ms = 150, gap_ms = 150 }")
        timing = {}
    r.unknown(timing, KEYPAD_TIMINGS, f"{path}.timing")
    for key, (lo, hi) in KEYPAD_TIMINGS.items():
        if key in timing:
            value = timing[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                r.err(f"{path}.timing.{key}", f"{value!r} is not allowed; use a whole number "
                                              f"{lo} to {hi}")
    feedback = r.string(table, "feedback", path, default="")
    return Method(True, table.get("note", ""), table.get("source", ""),
                  {"sequences": dict(sequences), "password": password,
                   "password_default": default, "timing": dict(timing), "feedback": feedback})


SERIAL_KEYS = {"settings", "username", "login", "commands", "status", "logout", "errors",
               "timeouts", "retries", "sim", "terminal"}


def _read_serial(r: _Reader, table: dict, path: str, modes) -> SerialMethod:
    done = _unsupported(r, table, path, SERIAL_KEYS, make=SerialMethod)
    if done:
        return done
    note, source = table.get("note", ""), table.get("source", "")
    settings_table = r.table(table, "settings", path, required=True) or {}
    settings, errors = parse_settings(settings_table, f"{path}.settings")
    r.errors.extend(errors)
    username = r.string(table, "username", path, default="", allow_empty=True)
    login = _read_steps(r, table.get("login", []), f"{path}.login")
    logout = _read_steps(r, table.get("logout", []), f"{path}.logout")
    commands = {}
    command_table = r.table(table, "commands", path, required=True) or {}
    for mode, steps in command_table.items():
        if r.mode_name(mode, f"{path}.commands.{mode}", modes):
            commands[mode] = _read_steps(r, steps, f"{path}.commands.{mode}")
            if not commands[mode]:
                r.err(f"{path}.commands.{mode}", "needs at least one step")
    if not commands:
        r.err(f"{path}.commands", "needs a command dialogue for at least one mode")
    status = None
    status_table = r.table(table, "status", path)
    if status_table is not None:
        r.unknown(status_table, {"steps", "values"}, f"{path}.status")
        values = status_table.get("values")
        if not isinstance(values, dict) or not values:
            r.err(f"{path}.status.values", "is required: the PBX's word for each mode, such as "
                                           "{ DAY = \"day\", NIGHT1 = \"night\" }")
            values = {}
        for word, mode in values.items():
            r.mode_name(mode, f"{path}.status.values.{word}", modes)
        steps = _read_steps(r, status_table.get("steps", []), f"{path}.status.steps",
                            status_values=list(values))
        if not steps:
            r.err(f"{path}.status.steps", "needs at least one step")
        status = StatusQuery(steps, dict(values))
        for mode in commands:
            if mode not in values.values():
                r.err(f"{path}.status.values", f"has no word for mode {mode!r}, so a change to "
                                               f"{mode} could never be verified")
    counts = {"login": len(login), "logout": len(logout),
              "command": max((len(c) for c in commands.values()), default=0),
              "status": len(status.steps) if status is not None else 0}
    errors_list = []
    raw_errors = table.get("errors", [])
    if not isinstance(raw_errors, list):
        r.err(f"{path}.errors", "must be a list of [[...errors]] tables with pattern, kind, "
                                "message")
        raw_errors = []
    for i, raw in enumerate(raw_errors):
        where = f"{path}.errors[{i}]"
        if not isinstance(raw, dict):
            r.err(where, "must be a table with pattern, kind and message")
            continue
        r.unknown(raw, {"pattern", "kind", "message", "sample", "during"}, where)
        pattern = r.regex(raw.get("pattern"), f"{where}.pattern")
        kind = r.string(raw, "kind", where, default="error")
        if kind not in ERROR_KINDS:
            r.err(f"{where}.kind", f"{kind!r} is not allowed; use one of " + ", ".join(ERROR_KINDS))
        message = r.string(raw, "message", where, required=True)
        sample = raw.get("sample")
        if sample is not None and (not isinstance(sample, str) or
                                   (pattern is not None and not pattern.search(sample))):
            r.err(f"{where}.sample", f"{sample!r} does not match pattern {raw.get('pattern')!r}")
        during = read_during(r, raw.get("during"), f"{where}.during", kind, login, counts)
        if pattern is not None:
            errors_list.append(ErrorPattern(pattern, kind, message,
                                            sample if isinstance(sample, str) else None,
                                            during))
    if any(step.uses_password for step in login) and not any(e.kind == "auth" and e.sample
                                                             for e in errors_list):
        r.err(f"{path}.errors", "the login sends {password}, so give an error of kind = \"auth\" "
                                "with the pattern and sample of the PBX's wrong-password answer")
    timeouts = r.table(table, "timeouts", path) or {}
    r.unknown(timeouts, {"step_s", "operation_s"}, f"{path}.timeouts")
    step_s = r.number(timeouts, "step_s", f"{path}.timeouts", lo=0.05, hi=MAX_STEP_TIMEOUT_S,
                      default=5.0)
    operation_s = r.number(timeouts, "operation_s", f"{path}.timeouts", lo=0.1, hi=3600,
                           default=60.0)
    retries = table.get("retries", 1)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
        r.err(f"{path}.retries", f"{retries!r} is not allowed; use a whole number 0 to 5")
        retries = 1
    sim_table = r.table(table, "sim", path) or {}
    r.unknown(sim_table, {"echo", "delay_ms", "unknown", "reprompt", "blank_login"},
              f"{path}.sim")
    blank_login = r.string(sim_table, "blank_login", f"{path}.sim", default="refused")
    if blank_login not in ("refused", "ignored"):
        r.err(f"{path}.sim.blank_login", f"{blank_login!r} is not allowed; use \"refused\" (a "
                                         "blank line at the login prompt is an empty user "
                                         "name) or \"ignored\" (no answer at all)")
        blank_login = "refused"
    sim = SimBehaviour(
        echo=r.boolean(sim_table, "echo", f"{path}.sim", default=True),
        delay_ms=int(r.number(sim_table, "delay_ms", f"{path}.sim", lo=0, hi=10000,
                              default=20)),
        unknown=r.string(sim_table, "unknown", f"{path}.sim", default=None),
        reprompt=r.boolean(sim_table, "reprompt", f"{path}.sim", default=False),
        blank_login=blank_login)
    terminal = read_terminal(r, table.get("terminal"), f"{path}.terminal", login, logout)
    if terminal is not None and terminal.declared and not login and \
            any(s.login_step for s in terminal.states):
        r.err(f"{path}.terminal", "a state continues the login, but the profile has no "
                                  "[[methods.serial.login]]")
    return SerialMethod(True, note, source, settings, username, login, commands, status, logout,
                        tuple(errors_list), float(step_s), float(operation_s), retries, sim,
                        terminal)


READERS: dict[str, Callable[[_Reader, dict, str, list[str]], Method | SerialMethod]] = {
    "contact": _read_contact, "toggle_key": _read_toggle, "keypad": _read_keypad,
    "serial": _read_serial}


def parse_profile(data: dict, source: str, *, name: str | None = None) -> Profile:
    """Build a :class:`Profile` from a parsed (and ``extends``-merged) TOML document.

    :param data: the document.
    :param str source: the file it came from, named in every error.
    :param name: the name the file must declare (its stem), or None.
    :raises ValidationError: with every problem found, each naming its key.
    """
    r = _Reader()
    if not isinstance(data, dict):
        raise ValidationError([FieldError("", "a profile must be a TOML document")], source)
    r.unknown(data, TOP_KEYS, "")
    declared = r.string(data, "name", "", required=True)
    if declared and not NAME_RE.match(declared):
        r.err("name", f"{declared!r} is not allowed; use lower-case letters, digits, '-' and "
                      "'_' (up to 48)")
    elif declared and name is not None and declared != name:
        r.err("name", f"{declared!r} differs from the file name {name!r}.toml; make them agree")
    title = r.string(data, "title", "", required=True)
    families = data.get("families")
    if not isinstance(families, list) or not families or \
            not all(isinstance(f, str) and f.strip() for f in families):
        r.err("families", "is required: a list of the models covered, such as [\"SV9100\"]")
        families = []
    source_text = r.string(data, "source", "", required=True)
    verified = r.string(data, "verified", "", required=True)
    modes = data.get("modes")
    if not isinstance(modes, list) or not modes:
        r.err("modes", "is required: the modes this PBX has, such as [\"day\", \"night\"]")
        modes = []
    for i, mode in enumerate(modes):
        r.mode_name(mode, f"modes[{i}]", None)
    if len(set(map(str, modes))) != len(modes):
        r.err("modes", "lists a mode twice")
    if modes and "day" not in modes:
        r.err("modes", "must include \"day\"")
    mode_set = [m for m in modes if isinstance(m, str)]
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        r.err("notes", "must be a list of strings")
        notes = []
    smdr_format = data.get("smdr_format")
    if smdr_format is not None and (not isinstance(smdr_format, str) or
                                    not NAME_RE.match(smdr_format)):
        r.err("smdr_format", f"{smdr_format!r} is not a format name; use the file name of an "
                             "SMDR format without .toml, such as \"panasonic-kx-td\"")
        smdr_format = None
    power_table = r.table(data, "power", "") or {}
    r.unknown(power_table, {"on_power_up", "note", "source"}, "power")
    on_power_up = r.string(power_table, "on_power_up", "power", default="unknown")
    if on_power_up not in ("retain", "unknown") and on_power_up not in mode_set:
        r.err("power.on_power_up", f"{on_power_up!r} is not allowed; use \"retain\", "
                                   "\"unknown\" or one of the modes: " + ", ".join(mode_set))
    power = Power(on_power_up, r.string(power_table, "note", "power", default=""),
                  r.string(power_table, "source", "power", default=""))
    methods_table = r.table(data, "methods", "", required=True) or {}
    r.unknown(methods_table, METHODS, "methods")
    methods: dict[str, Method | SerialMethod] = {}
    for method in METHODS:
        table = r.table(methods_table, method, "methods", required=True)
        if table is None:
            methods[method] = SerialMethod(False) if method == "serial" else Method(False)
            continue
        methods[method] = READERS[method](r, table, f"methods.{method}", mode_set)
    if methods_table and not any(m.supported for m in methods.values()):
        r.err("methods", "no method is supported; a profile must offer at least one way to "
                         "switch the PBX")
    if r.errors:
        raise ValidationError(r.errors, source)
    return Profile(declared, title, tuple(families), source_text, verified, tuple(modes),
                   methods, power, smdr_format, tuple(notes), source)


# -- files -----------------------------------------------------------------------------

def _read_toml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError([FieldError("", f"cannot read the file: {exc}")], str(path)) \
            from None
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
    data = _resolve_extends(data, path, shipped if bases is None else bases, [path.stem],
                            shipped=shipped)
    return parse_profile(data, str(path), name=path.stem)


def _resolve_extends(data: dict, path: Path, bases: Mapping[str, dict], seen: list, *,
                     shipped: Mapping[str, dict] | None = None) -> dict:
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
            raise ValidationError([FieldError("extends", f"{parent!r} is not a profile to "
                                              "extend; use one of " + ", ".join(sorted(bases)))],
                                  str(path))
        if parent in seen:
            raise ValidationError([FieldError("extends", "profiles extend each other in a "
                                              "circle: " + " -> ".join(seen + [parent]))],
                                  str(path))
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
            problems.append(ValidationError([FieldError("", f"cannot list the directory: {exc}")],
                                            str(site_path)))
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
            profiles[name] = parse_profile(_resolve_extends(data, shipped[name], raw, [name]),
                                           str(shipped[name]), name=name)
        except ValidationError as exc:
            problems.append(exc)
    bases = {**raw, **site_raw}
    for name, data in site_raw.items():
        # A site file extends another profile by name; one that extends its own name
        # extends the shipped profile it overrides.
        try:
            profiles[name] = parse_profile(_resolve_extends(data, site[name], bases, [name],
                                                            shipped=raw),
                                           str(site[name]), name=name)
        except ValidationError as exc:
            problems.append(exc)
    return ProfileSet(profiles, problems, site_path)
