"""Find where the maintenance terminal is, and bring it to its command prompt.

The terminal can be anywhere when the appliance opens the port (see
:mod:`appliance.pbx.terminal`). :func:`reach_command_prompt` wakes it, reads which
prompt it shows, and does what the profile's state says (go on, log out, abandon a
half-done login, continue the login at a step), then looks again, until the terminal is
logged in at its command prompt. Only the login steps themselves can raise a refusal;
what a wake-up line brings back ("Login incorrect" for a blank user name) only says
where the terminal is.

It is bounded: at most :data:`MAX_MOVES` states per operation, within the operation's
deadline, and a state that comes back unchanged after its own way out is an error that
says so, so a terminal that does something unexpected stops the operation with a
message, not a loop.
"""

from __future__ import annotations

import logging

from appliance.errors import DialogueError, DialogueTimeout
from appliance.pbx.dialogue import Dialogue

log = logging.getLogger(__name__)

#: The most states one operation passes through (e.g. logged in -> login -> logged in).
MAX_MOVES = 6
#: How long the terminal must stay quiet after a prompt before we act on it: the time of
#: this many characters on the wire (a prompt is the last thing a terminal prints, and
#: anything after it follows at once), and never less than SETTLE_MIN_S.
SETTLE_CHARS = 10
SETTLE_MIN_S = 0.05


def reach_command_prompt(d: Dialogue, method, *, deadline: float, label: str) -> list[str]:
    """Bring the terminal from wherever it is to its command prompt.

    :param d: the open :class:`~appliance.pbx.dialogue.Dialogue`.
    :param method: the profile's :class:`~appliance.pbx.profiles.SerialMethod`.
    :param deadline: the operation's monotonic deadline.
    :param str label: names the port in messages.
    :returns: the states passed, in order (``["logged_in", "login"]``), for logs and
        the commissioning report; ``[]`` for a profile without a login or states.
    :raises LoginRefused: the PBX refused our login.
    :raises DialogueError: the terminal could not be brought there; the message says what
        it showed and what to try.
    """
    terminal = method.terminal
    if terminal is None or not terminal.states:
        if method.login:
            _login(d, method, 1, deadline)
        return []
    path: list[str] = []
    state = _look(d, method, terminal, deadline, label, wake=True)
    for _ in range(MAX_MOVES):
        if state is None:
            # An answer that shows none of the states, and the profile says what it means.
            step = int(terminal.unknown.rsplit(" ", 1)[1])
            path.append(f"unknown -> login step {step}")
            _login(d, method, step, deadline)
            return path
        path.append(state.name)
        log.debug("%s: the terminal is at %s (%s)", label, state.name, state.then)
        if state.then == "command":
            return path
        if state.login_step is not None:
            _login(d, method, state.login_step, deadline)
            return path
        if state.then == "logout":
            d.run(
                method.logout,
                default_timeout_s=method.step_timeout_s,
                deadline=deadline,
                what="logout of a session left open",
                part="logout",
            )
        else:  # send
            d.send(state.send or "")
        after = _look(d, method, terminal, deadline, label, wake=False)
        if after is not None and after.name == state.name:
            raise DialogueError(
                f"{label}: the terminal is still at its {state.name} prompt "
                f"({state.sample.strip()!r}) after "
                + ("logging out" if state.then == "logout" else f"sending {state.send!r}")
                + f"; {_what_to_try(method)}",
                "protocol",
            )
        state = after
    raise DialogueError(
        f"{label}: the terminal went through {' -> '.join(path)} without "
        f"reaching its command prompt; {_what_to_try(method)}",
        "protocol",
    )


def _login(d: Dialogue, method, first: int, deadline: float) -> None:
    d.run(
        method.login[first - 1 :],
        default_timeout_s=method.step_timeout_s,
        deadline=deadline,
        what="login",
        part="login",
        first_step=first,
    )


def _look(d: Dialogue, method, terminal, deadline: float, label: str, *, wake: bool):
    """The state the terminal shows: first what it already printed (after a logout or a
    line we sent), then the answers to the wake lines in turn. None when it answered
    something no state knows and the profile says to carry on (``unknown``)."""
    timeout = terminal.timeout_s or method.step_timeout_s
    wake_errors = tuple(e for e in method.errors if e.applies("wake"))
    settle = max(SETTLE_MIN_S, SETTLE_CHARS * d.settings.char_time_s)
    if not wake:
        found = d.expect_prompt(
            terminal.prompts,
            min(timeout, method.step_timeout_s),
            deadline=deadline,
            settle_s=settle,
            errors=wake_errors,
        )
        if found is not None:
            return terminal.state(found[0])
    answers = []
    for line in terminal.wake:
        d.send(line)
        found = d.expect_prompt(
            terminal.prompts, timeout, deadline=deadline, settle_s=settle, errors=wake_errors
        )
        if found is not None:
            return terminal.state(found[0])
        if d.received:
            answers.append((line, d.received))
            if terminal.unknown != "stop":
                return None
        if d.monotonic() >= deadline:
            break
    sent = " then ".join(repr(line) for line in terminal.wake) or "''"
    if answers:
        line, said = answers[-1]
        raise DialogueError(
            f"{label}: the terminal answered {said!r} to {line!r}, which shows none of the "
            f"prompts the profile knows ({terminal.describe()}); {_what_to_try(method)}, and "
            "add the prompt it shows as a state ([methods.serial.terminal.states])",
            "protocol",
        )
    if not d.heard_anything:
        raise DialogueTimeout(
            f"{label}: received nothing in answer to the wake-up lines ({sent}, "
            f"{timeout:g} s each): is the PBX on, the cable right (null-modem or straight) "
            f"and the port settings {d.settings.describe()}? Try them with "
            "`nightswitch console`"
        )
    raise DialogueTimeout(
        f"{label}: the terminal answered something but then no known prompt after the "
        f"wake-up lines ({sent}); {_what_to_try(method)}"
    )


def _what_to_try(method) -> str:
    logout = method.logout[0].send if method.logout and method.logout[0].send else None
    how = f" (type {logout!r})" if logout else ""
    return f"open `nightswitch console`, press Enter, see where the terminal is and log it out{how}"
