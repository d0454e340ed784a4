"""Reading a PBX profile's TOML table into a :class:`~appliance.pbx.profile_model.Profile`,
with an error per field that names what is wrong and what is allowed.

The format is described in :mod:`appliance.pbx.profiles`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from appliance.errors import FieldError, ValidationError
from appliance.pbx.port_settings import parse_settings
from appliance.pbx.profile_model import (
    ERROR_KINDS,
    METHODS,
    ErrorPattern,
    Method,
    Power,
    Profile,
    SerialMethod,
    SimBehaviour,
    StatusQuery,
    Step,
)
from appliance.pbx.terminal import read_during, read_terminal
from appliance.validation import MODE_RE, Problems

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
SECRET_RE = re.compile(r"\{([^{}]*)\}")
SECRET_NAMES = ("username", "password")
#: A keypad sequence: phone keys, a space for a pause, {password}, or a named key of a
#: system phone such as <NIGHT> (a programmable key, not a digit).
KEYPAD_TOKEN_RE = re.compile(r"\{password\}|<[A-Z][A-Z0-9_]*>|[0-9*#]| ")
TOP_KEYS = {
    "name",
    "title",
    "families",
    "source",
    "verified",
    "modes",
    "notes",
    "methods",
    "power",
    "smdr_format",
    "extends",
}
MAX_STEP_TIMEOUT_S = 300.0

#: Either kind of method, for code that builds one kind or the other.
AnyMethod = TypeVar("AnyMethod", Method, SerialMethod)


class _Reader(Problems):
    """The profile's readers on the one :class:`~appliance.validation.Problems`, plus its
    own: placeholders in a dialogue and the profile's mode names."""

    def template(self, value, path: str, allowed=SECRET_NAMES) -> None:
        for name in SECRET_RE.findall(value):
            if name not in allowed:
                self.err(
                    path,
                    f"{{{name}}} is not a placeholder; allowed are "
                    + ", ".join(f"{{{a}}}" for a in allowed),
                )

    def mode_name(self, value, path: str, modes) -> bool:
        if not isinstance(value, str) or not MODE_RE.match(value):
            self.err(
                path,
                f"{value!r} is not a mode name; use lower-case letters, digits, "
                "'-' and '_', starting with a letter",
            )
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
                r.err(
                    f"{where}.send",
                    f'must be a string ("" sends only the line ending), not {send!r}',
                )
                send = None
            else:
                r.template(send, f"{where}.send")
        expect = raw.get("expect")
        is_status = status_values is not None and i == len(value) - 1
        pattern = None
        if expect is not None:
            pattern = r.regex(expect, f"{where}.expect", groups=("status",) if is_status else ())
        elif is_status:
            r.err(
                f"{where}.expect",
                "is required: the last status step's pattern must capture "
                "the mode in (?P<status>...)",
            )
        if send is None and expect is None and "send" not in raw:
            r.err(where, "needs send, expect or both")
        sample = raw.get("sample")
        if sample is not None and not isinstance(sample, str):
            r.err(f"{where}.sample", f"must be a string, not {sample!r}")
            sample = None
        if expect is not None and sample is None:
            r.err(
                f"{where}.sample",
                "is required with expect: the text the PBX prints here, "
                "as the source documents it (the simulator prints it and "
                "it proves the pattern)",
            )
        if pattern is not None and sample is not None:
            samples = [sample]
            if is_status:
                if "{status}" not in sample:
                    r.err(
                        f"{where}.sample",
                        "must contain {status} where the PBX prints its mode word",
                    )
                samples = [sample.replace("{status}", word) for word in status_values] or []
            for text in samples:
                match = pattern.search(text)
                if match is None:
                    r.err(
                        f"{where}.sample",
                        f"{text!r} does not match expect {expect!r}; the "
                        "pattern or the sample is wrong",
                    )
                elif (
                    is_status
                    and "status" in pattern.groupindex
                    and match.group("status") is not None
                    and match.group("status").strip().upper()
                    not in {w.upper() for w in status_values}
                ):
                    r.err(
                        f"{where}.expect",
                        f"captures {match.group('status')!r} from the "
                        f"sample {text!r}, which is not one of the status "
                        "values",
                    )
        timeout = r.number(raw, "timeout_s", where, lo=0.05, hi=MAX_STEP_TIMEOUT_S)
        retries = raw.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
            r.err(f"{where}.retries", f"{retries!r} is not allowed; use a whole number 0 to 5")
            retries = 0
        eol = r.boolean(raw, "eol", where, default=True)
        steps.append(
            Step(
                send=send,
                expect=expect,
                sample=sample,
                timeout_s=timeout,
                retries=retries,
                eol=eol,
                pattern=pattern,
            )
        )
    return tuple(steps)


def _unsupported(
    r: _Reader,
    table: dict,
    path: str,
    allowed_extra,
    *,
    make: Callable[[bool, str, str], AnyMethod],
) -> AnyMethod | None:
    """The method as ``supported = false`` (built with *make*: :class:`Method` or
    :class:`SerialMethod`), or None when it is supported and its other keys are read by
    the caller."""
    supported = r.boolean(table, "supported", path, required=True)
    note = r.string(table, "note", path, default="")
    source = r.string(table, "source", path, default="")
    if not supported:
        if not note:
            r.err(
                f"{path}.note",
                "is required when supported = false: say what the sources "
                "do (not) document, so nobody invents it",
            )
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
        r.err(
            f"{path}.night_when",
            f'{night_when!r} is not allowed; use "closed", "open" '
            'or "unknown" (when the sources do not say)',
        )
    return Method(
        True,
        table.get("note", ""),
        table.get("source", ""),
        {"wiring": wiring, "night_when": night_when},
    )


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
    return Method(
        True,
        table.get("note", ""),
        table.get("source", ""),
        {"key": key, "lamp": lamp, "lit_in": tuple(lit_in), "password": password},
    )


KEYPAD_TIMINGS = {
    "press_ms": (30, 2000),
    "gap_ms": (30, 2000),
    "offhook_ms": (0, 10000),
    "pause_ms": (0, 10000),
}


def _read_keypad(r: _Reader, table: dict, path: str, modes) -> Method:
    done = _unsupported(
        r,
        table,
        path,
        {"sequences", "password", "password_default", "feedback", "timing"},
        make=Method,
    )
    if done:
        return done
    sequences = table.get("sequences", {})
    if not isinstance(sequences, dict):
        r.err(f"{path}.sequences", 'must be a table of mode = "keys"')
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
            r.err(
                where,
                f"{leftover!r} is not a key; use 0-9, *, #, a space for a pause, "
                "{password}, or a named key such as <NIGHT>",
            )
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
                r.err(
                    f"{path}.timing.{key}",
                    f"{value!r} is not allowed; use a whole number {lo} to {hi}",
                )
    feedback = r.string(table, "feedback", path, default="")
    return Method(
        True,
        table.get("note", ""),
        table.get("source", ""),
        {
            "sequences": dict(sequences),
            "password": password,
            "password_default": default,
            "timing": dict(timing),
            "feedback": feedback,
        },
    )


SERIAL_KEYS = {
    "settings",
    "username",
    "login",
    "commands",
    "status",
    "logout",
    "errors",
    "timeouts",
    "retries",
    "sim",
    "terminal",
}


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
            r.err(
                f"{path}.status.values",
                "is required: the PBX's word for each mode, such as "
                '{ DAY = "day", NIGHT1 = "night" }',
            )
            values = {}
        for word, mode in values.items():
            r.mode_name(mode, f"{path}.status.values.{word}", modes)
        steps = _read_steps(
            r, status_table.get("steps", []), f"{path}.status.steps", status_values=list(values)
        )
        if not steps:
            r.err(f"{path}.status.steps", "needs at least one step")
        status = StatusQuery(steps, dict(values))
        for mode in commands:
            if mode not in values.values():
                r.err(
                    f"{path}.status.values",
                    f"has no word for mode {mode!r}, so a change to {mode} could never be verified",
                )
    counts = {
        "login": len(login),
        "logout": len(logout),
        "command": max((len(c) for c in commands.values()), default=0),
        "status": len(status.steps) if status is not None else 0,
    }
    errors_list = []
    raw_errors = table.get("errors", [])
    if not isinstance(raw_errors, list):
        r.err(
            f"{path}.errors", "must be a list of [[...errors]] tables with pattern, kind, message"
        )
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
        if sample is not None and (
            not isinstance(sample, str) or (pattern is not None and not pattern.search(sample))
        ):
            r.err(f"{where}.sample", f"{sample!r} does not match pattern {raw.get('pattern')!r}")
        during = read_during(r, raw.get("during"), f"{where}.during", kind, login, counts)
        if pattern is not None:
            errors_list.append(
                ErrorPattern(
                    pattern, kind, message, sample if isinstance(sample, str) else None, during
                )
            )
    if any(step.uses_password for step in login) and not any(
        e.kind == "auth" and e.sample for e in errors_list
    ):
        r.err(
            f"{path}.errors",
            'the login sends {password}, so give an error of kind = "auth" '
            "with the pattern and sample of the PBX's wrong-password answer",
        )
    timeouts = r.table(table, "timeouts", path) or {}
    r.unknown(timeouts, {"step_s", "operation_s"}, f"{path}.timeouts")
    step_s = r.number(
        timeouts, "step_s", f"{path}.timeouts", lo=0.05, hi=MAX_STEP_TIMEOUT_S, default=5.0
    )
    operation_s = r.number(
        timeouts, "operation_s", f"{path}.timeouts", lo=0.1, hi=3600, default=60.0
    )
    retries = table.get("retries", 1)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 5:
        r.err(f"{path}.retries", f"{retries!r} is not allowed; use a whole number 0 to 5")
        retries = 1
    sim_table = r.table(table, "sim", path) or {}
    r.unknown(sim_table, {"echo", "delay_ms", "unknown", "reprompt", "blank_login"}, f"{path}.sim")
    blank_login = r.string(sim_table, "blank_login", f"{path}.sim", default="refused")
    if blank_login not in ("refused", "ignored"):
        r.err(
            f"{path}.sim.blank_login",
            f'{blank_login!r} is not allowed; use "refused" (a '
            "blank line at the login prompt is an empty user "
            'name) or "ignored" (no answer at all)',
        )
        blank_login = "refused"
    sim = SimBehaviour(
        echo=r.boolean(sim_table, "echo", f"{path}.sim", default=True),
        delay_ms=int(r.number(sim_table, "delay_ms", f"{path}.sim", lo=0, hi=10000, default=20)),
        unknown=r.string(sim_table, "unknown", f"{path}.sim", default=None),
        reprompt=r.boolean(sim_table, "reprompt", f"{path}.sim", default=False),
        blank_login=blank_login,
    )
    terminal = read_terminal(r, table.get("terminal"), f"{path}.terminal", login, logout)
    if (
        terminal is not None
        and terminal.declared
        and not login
        and any(s.login_step for s in terminal.states)
    ):
        r.err(
            f"{path}.terminal",
            "a state continues the login, but the profile has no [[methods.serial.login]]",
        )
    return SerialMethod(
        True,
        note,
        source,
        settings,
        username,
        login,
        commands,
        status,
        logout,
        tuple(errors_list),
        float(step_s),
        float(operation_s),
        retries,
        sim,
        terminal,
    )


READERS: dict[str, Callable[[_Reader, dict, str, list[str]], Method | SerialMethod]] = {
    "contact": _read_contact,
    "toggle_key": _read_toggle,
    "keypad": _read_keypad,
    "serial": _read_serial,
}


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
        r.err(
            "name",
            f"{declared!r} is not allowed; use lower-case letters, digits, '-' and '_' (up to 48)",
        )
    elif declared and name is not None and declared != name:
        r.err("name", f"{declared!r} differs from the file name {name!r}.toml; make them agree")
    title = r.string(data, "title", "", required=True)
    families = data.get("families")
    if (
        not isinstance(families, list)
        or not families
        or not all(isinstance(f, str) and f.strip() for f in families)
    ):
        r.err("families", 'is required: a list of the models covered, such as ["SV9100"]')
        families = []
    source_text = r.string(data, "source", "", required=True)
    verified = r.string(data, "verified", "", required=True)
    modes = data.get("modes")
    if not isinstance(modes, list) or not modes:
        r.err("modes", 'is required: the modes this PBX has, such as ["day", "night"]')
        modes = []
    for i, mode in enumerate(modes):
        r.mode_name(mode, f"modes[{i}]", None)
    if len(set(map(str, modes))) != len(modes):
        r.err("modes", "lists a mode twice")
    if modes and "day" not in modes:
        r.err("modes", 'must include "day"')
    mode_set = [m for m in modes if isinstance(m, str)]
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        r.err("notes", "must be a list of strings")
        notes = []
    smdr_format = data.get("smdr_format")
    if smdr_format is not None and (
        not isinstance(smdr_format, str) or not NAME_RE.match(smdr_format)
    ):
        r.err(
            "smdr_format",
            f"{smdr_format!r} is not a format name; use the file name of an "
            'SMDR format without .toml, such as "panasonic-kx-td"',
        )
        smdr_format = None
    power_table = r.table(data, "power", "") or {}
    r.unknown(power_table, {"on_power_up", "note", "source"}, "power")
    on_power_up = r.string(power_table, "on_power_up", "power", default="unknown")
    if on_power_up not in ("retain", "unknown") and on_power_up not in mode_set:
        r.err(
            "power.on_power_up",
            f'{on_power_up!r} is not allowed; use "retain", '
            '"unknown" or one of the modes: ' + ", ".join(mode_set),
        )
    power = Power(
        on_power_up,
        r.string(power_table, "note", "power", default=""),
        r.string(power_table, "source", "power", default=""),
    )
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
        r.err(
            "methods",
            "no method is supported; a profile must offer at least one way to switch the PBX",
        )
    if r.errors:
        raise ValidationError(r.errors, source)
    return Profile(
        declared,
        title,
        tuple(families),
        source_text,
        verified,
        tuple(modes),
        methods,
        power,
        smdr_format,
        tuple(notes),
        source,
    )
