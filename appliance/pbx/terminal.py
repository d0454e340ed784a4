"""Where a maintenance terminal can be when the appliance starts talking, and how to leave.

A 3-wire serial line has no hang-up: the PBX never learns that the last session ended.
When the appliance opens the port, the terminal may be at its login prompt, at its
password prompt (a login cut after the user name), logged in at its command prompt (a
session cut before its logout), or at the login prompt again after a refusal, where a
blank wake-up line is itself answered "Login incorrect" as an empty user name. Running
one fixed login from the top fails for ever from every one of those states.

So a profile's ``[methods.serial.terminal]`` table names the states, each with the
prompt that recognises it and what to do there::

    [methods.serial.terminal]
    wake = ["", "LOGOUT"]     # lines sent in turn until the terminal shows a known prompt
    unknown = "stop"          # an answer that shows none: stop, or "login step 1"
    source = "where the prompts were read"

    [methods.serial.terminal.states.logged_in]
    expect = 'MAINT>\\s*$'     # matched at the very end of what the terminal printed
    sample = "MAINT> "
    then = "logout"           # or "command": use the session as it is

    [methods.serial.terminal.states.password]
    expect = 'Password:\\s*$'
    sample = "Password: "
    then = "send"             # send `send` (a blank line abandons a half-done login),
    send = ""                 # then look again

    [methods.serial.terminal.states.login]
    expect = 'login:\\s*$'
    sample = "login: "
    then = "login step 2"     # continue the login at its second step

A profile with a login but no terminal table gets states derived from its login steps
(:func:`derive_terminal`): the prompt each login step waits for is a state, so old site
profiles find their way too. A profile without a login has no states: the engine goes
straight to the command, as before.

Error patterns say which steps they are about (``during = ["login step 3"]``); by
default an ``auth`` error belongs to the login steps from the one that sends the
password on (:func:`default_during`), so "Login incorrect" in the answer to a wake-up
line is where the terminal is, not a refused password.

The simulator knows three state names: ``login``, ``password`` and ``logged_in``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.pbx.dialogue import prompt_at_end

#: What a state may say to do.
THEN_WORDS = ("command", "logout", "send")
THEN_LOGIN_RE = re.compile(r"^login step ([1-9][0-9]?)$")
STATE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: The parts of a dialogue an error pattern can belong to.
PARTS = ("wake", "login", "command", "status", "logout")
DURING_RE = re.compile(r"^(wake|login|command|status|logout)(?: step ([1-9][0-9]?))?$")
TERMINAL_KEYS = {"wake", "unknown", "states", "timeout_s", "source", "note"}
STATE_KEYS = {"expect", "sample", "then", "send"}


@dataclass(frozen=True)
class TerminalState:
    """One place a terminal can be.

    :param str name: ``login``, ``password``, ``logged_in`` or the profile's own name.
    :param pattern: recognises the state: it matches at the end of what was printed.
    :param str then: ``command`` (logged in: go on), ``logout`` (log out, look again),
        ``send`` (send :attr:`send`, look again) or ``login step N`` (continue the
        login there).
    """

    name: str
    pattern: re.Pattern = field(compare=False, repr=False)
    expect: str
    sample: str
    then: str
    send: str | None = None

    @property
    def login_step(self) -> int | None:
        """N for ``then = "login step N"``, else None."""
        match = THEN_LOGIN_RE.match(self.then)
        return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Terminal:
    """A profile's terminal states and how to wake the terminal.

    :param wake: the lines sent in turn until the terminal shows a known prompt.
    :param states: in the order they are tried.
    :param str unknown: what an answer that shows no known prompt means: ``stop`` (an
        error that quotes it) or ``login step N``.
    :param bool declared: False when derived from the login steps.
    :param timeout_s: the wait for each wake line (None: the profile's step timeout).
    """

    wake: tuple[str, ...]
    states: tuple[TerminalState, ...]
    unknown: str = "stop"
    declared: bool = True
    timeout_s: float | None = None
    source: str = ""

    def state(self, name: str) -> TerminalState | None:
        for state in self.states:
            if state.name == name:
                return state
        return None

    @property
    def prompts(self) -> dict:
        """``{state name: pattern}`` for :meth:`~appliance.pbx.dialogue.Dialogue.expect_prompt`."""
        return {state.name: state.pattern for state in self.states}

    def describe(self) -> str:
        """The states as a person reads them: ``logged_in 'MAINT>', login 'login:'``."""
        return ", ".join(f"{s.name} {s.sample.strip()!r}" for s in self.states)


def uses_placeholder(text: str) -> bool:
    return "{" in text and re.search(r"\{(username|password)\}", text) is not None


def _user_step(login) -> int | None:
    for i, step in enumerate(login):
        if step.send and "{username}" in step.send:
            return i
    return None


def _is_wake(step) -> bool:
    return step.send is not None and not step.send.strip() and step.pattern is not None


def derive_terminal(login, logout) -> Terminal | None:
    """The states an old profile's login implies, or None without a login.

    Each login step waits for a prompt; seeing that prompt means the terminal waits for
    the next step's line. So the prompt before the step that sends ``{username}`` is
    ``login`` (continue there), the prompt before the step that sends ``{password}`` is
    ``password`` (abandon the half-done login with a blank line: we do not know whose
    user name was typed), and the last step's prompt is ``logged_in`` (log out first
    when the profile can, so the login is proved each time). The wake lines are the
    first step's blank line (with its retries) and then the logout's first line, which a
    terminal silent to blank lines at its command prompt answers.
    """
    if not login:
        return None
    states: list[TerminalState] = []
    seen: set[str] = set()
    last = len(login) - 1
    for i, step in enumerate(login):
        if step.pattern is None or step.sample is None or step.expect in seen:
            continue
        if i == last:
            name, then, send = "logged_in", ("logout" if logout else "command"), None
        else:
            following = login[i + 1]
            if following.uses_password:
                name, then, send = "password", "send", ""
            else:
                name, then, send = (
                    ("login" if "login" not in {s.name for s in states} else f"login_{i + 2}"),
                    f"login step {i + 2}",
                    None,
                )
        seen.add(step.expect)
        states.append(TerminalState(name, step.pattern, step.expect, step.sample, then, send))
    wake: list[str] = []
    timeout = None
    if _is_wake(login[0]):
        wake += [login[0].send] * (login[0].retries + 1)
        timeout = login[0].timeout_s
    else:
        wake.append("")
    if (
        logout
        and logout[0].send
        and logout[0].send.strip()
        and not uses_placeholder(logout[0].send)
    ):
        wake.append(logout[0].send)
    # Derived states keep the old behaviour for an answer they do not know: the login
    # from the top (a terminal whose first step sends a command, not a blank line).
    return Terminal(
        tuple(wake), tuple(states), unknown="login step 1", declared=False, timeout_s=timeout
    )


def default_during(kind: str, login) -> tuple[str, ...]:
    """Where an error pattern applies when the profile does not say: an ``auth`` error
    in the answers from the password step on; any other in every part but the wake."""
    if kind == "auth":
        first = next((i for i, step in enumerate(login) if step.uses_password), None)
        if first is None:
            return ("login",)
        return tuple(f"login step {n}" for n in range(first + 1, len(login) + 1))
    return ("login", "command", "status", "logout")


def read_during(r, raw, where: str, kind: str, login, counts: dict) -> tuple[str, ...]:
    """An error pattern's ``during`` list, checked against the dialogue's step counts
    (``{"login": 3, "command": 2, ...}``); the default when absent."""
    if raw is None:
        return default_during(kind, login)
    if not isinstance(raw, list) or not raw:
        r.err(where, 'must be a list such as ["login step 3"] or ["command", "status"]')
        return default_during(kind, login)
    out = []
    for i, item in enumerate(raw):
        match = DURING_RE.match(item) if isinstance(item, str) else None
        if match is None:
            r.err(
                f"{where}[{i}]",
                f"{item!r} is not a part of the dialogue; use one of "
                + ", ".join(PARTS)
                + ', or a step such as "login step 3"',
            )
            continue
        part, step = match.group(1), match.group(2)
        if step is not None and part != "wake" and int(step) > counts.get(part, 0):
            r.err(
                f"{where}[{i}]", f"{item!r}: the {part} dialogue has {counts.get(part, 0)} step(s)"
            )
            continue
        out.append(item)
    return tuple(out)


def read_terminal(r, table, path: str, login, logout) -> Terminal | None:
    """The ``[methods.serial.terminal]`` table, or the states derived from the login
    when there is none. Problems go to *r* (the profile reader)."""
    if table is None:
        return derive_terminal(login, logout)
    if not isinstance(table, dict):
        r.err(path, "must be a table with wake and [states.NAME] tables")
        return derive_terminal(login, logout)
    r.unknown(table, TERMINAL_KEYS, path)
    wake = table.get("wake", [""])
    if not isinstance(wake, list) or not wake or not all(isinstance(w, str) for w in wake):
        r.err(
            f"{path}.wake",
            'must be a list of lines to send, such as ["", "LOGOUT"] '
            '("" sends only the line ending)',
        )
        wake = [""]
    for i, line in enumerate(wake):
        if uses_placeholder(line) or "{" in line:
            r.err(
                f"{path}.wake[{i}]",
                "must not use {username} or {password}: a wake-up line "
                "reaches a terminal whose state is not known yet",
            )
    timeout = r.number(table, "timeout_s", path, lo=0.05, hi=300.0)
    raw_states = r.table(table, "states", path, required=True) or {}
    if not raw_states and "states" in table:
        r.err(f"{path}.states", "needs at least one state, such as [..states.login]")
    states = []
    for name, raw in raw_states.items():
        where = f"{path}.states.{name}"
        if not STATE_NAME_RE.match(name):
            r.err(
                where,
                "is not a state name; use lower-case letters, digits and '_', "
                "such as logged_in, password, login",
            )
        if not isinstance(raw, dict):
            r.err(where, "must be a table with expect, sample and then")
            continue
        r.unknown(raw, STATE_KEYS, where)
        expect = raw.get("expect")
        pattern = r.regex(expect, f"{where}.expect")
        sample = r.string(raw, "sample", where, required=True, allow_empty=True)
        if (
            pattern is not None
            and isinstance(sample, str)
            and sample
            and prompt_at_end(pattern, sample) is None
        ):
            r.err(
                f"{where}.sample",
                f"{sample!r} does not end with a match of expect "
                f"{expect!r}: a state's pattern must match the prompt the "
                "terminal shows last",
            )
        then = _read_then(r, raw, where, login, logout)
        send = None
        if then == "send":
            send = raw.get("send")
            if not isinstance(send, str):
                r.err(
                    f"{where}.send",
                    'is required with then = "send": the line to send '
                    '("" sends only the line ending)',
                )
                send = ""
            elif "{" in send:
                r.err(
                    f"{where}.send",
                    "must not use {username} or {password}: the state is "
                    "reached before we know whose login is under way",
                )
        elif "send" in raw:
            r.err(f"{where}.send", 'is only for then = "send"')
        if pattern is not None and isinstance(expect, str) and then:  # pattern is of expect
            states.append(TerminalState(name, pattern, expect, sample or "", then, send))
    unknown = r.string(table, "unknown", path, default="stop")
    if unknown != "stop" and not _login_step_ok(unknown, login):
        r.err(
            f"{path}.unknown",
            f'{unknown!r} is not allowed; use "stop" or "login step N" '
            f"with N from 1 to {len(login)}",
        )
        unknown = "stop"
    source = r.string(table, "source", path, default="")
    return Terminal(
        tuple(wake), tuple(states), unknown=unknown, declared=True, timeout_s=timeout, source=source
    )


def _login_step_ok(then: str, login) -> bool:
    match = THEN_LOGIN_RE.match(then)
    return match is not None and 1 <= int(match.group(1)) <= len(login)


def _read_then(r, raw, where: str, login, logout) -> str:
    then = raw.get("then")
    allowed = '"command", "logout", "send" or "login step N"'
    if not isinstance(then, str):
        r.err(f"{where}.then", f"is required: what to do in this state, one of {allowed}")
        return ""
    if then in THEN_WORDS:
        if then == "logout" and not logout:
            r.err(
                f"{where}.then",
                'is "logout", but the profile has no logout dialogue; '
                'add [[methods.serial.logout]] or use "command"',
            )
            return ""
        return then
    if THEN_LOGIN_RE.match(then):
        if not _login_step_ok(then, login):
            r.err(f"{where}.then", f"{then!r}: the login has {len(login)} step(s)")
            return ""
        return then
    r.err(f"{where}.then", f"{then!r} is not allowed; use {allowed}")
    return ""
