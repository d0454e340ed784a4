"""The simulated PBX's maintenance terminal as a pure responder: text in, text out.

:class:`MaintenanceTerminal` is the conversation of :class:`~appliance.sim.pty_pbx.PbxSimulator`
without the pty, the wire timing or the threads: it takes the characters the client
typed and returns what the PBX prints (:class:`Output`), and its whole state is one
explicit :class:`Session`. So it can be tested as a table: a state, an input, the
output, the state after.

It speaks the profile's dialogue (the ``send`` templates it recognises and the
``sample`` answers it prints) and is as unkind as real terminals on a 3-wire line,
where nothing tells the PBX that a session ended:

* **No re-prompt on a blank line at the login prompt.** Every line there is a user
  name, so a blank wake-up line is an empty user name, answered with the profile's
  refusal ("LOGIN INCORRECT") and the login prompt again; or, with the profile's
  ``sim.blank_login = "ignored"``, not answered at all. A blank line at the password
  prompt is an empty password, refused.
* **A session left logged in.** The terminal logs out only when told to (the profile's
  logout) or on a power-up. It never notices a client closing the port.
* **No idle timeout.** A session or a half-done login waits for ever.
* **A partial line stays.** Characters typed without Enter (a session cut in the middle
  of a line) wait in the terminal's line buffer, and the next line ending submits them
  with whatever follows; a line the terminal does not know gets the profile's
  ``sim.unknown`` answer (if any) and the command prompt again.
* **Silent to a blank line at the command prompt**, unless the profile's
  ``sim.reprompt`` says it prints the prompt again.

Login steps are read from the profile: leading steps that send a bare line ending are
the client's wake-up, not something the terminal waits for; the step that sends
``{username}`` is the login prompt's, the one that sends ``{password}`` the password
prompt's; the samples the steps document are the prompts printed. The password is
checked against the one given here (and the user name, when the login sends one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{(username|password)\}")
ECHO, ANSWER = "echo", "answer"
#: Where the terminal can be, by name (the engine's state names, see appliance.pbx.terminal).
PLACES = ("login", "password", "logged_in")


@dataclass(frozen=True)
class Output:
    """What the PBX prints: the echo of typed characters, or an answer (a line, or a
    prompt, already with its line endings)."""

    kind: str
    text: str


@dataclass
class Session:
    """The terminal's whole state.

    :param int step: the login step the terminal waits for (0-based); the number of login
        steps means logged in.
    :param username: the user name typed at the login prompt, until the password.
    :param str pending: characters typed since the last line ending.
    :param active: ``(purpose, mode, steps, next index)`` of a multi-step command under way.
    """

    step: int = 0
    username: str | None = None
    pending: str = ""
    last_cr: bool = False
    active: tuple | None = None


def match_send(template: str | None, line: str) -> tuple[bool, dict]:
    """``(matched, captured)`` for a received *line* against a ``send`` template.
    Matching ignores case and padding; ``{username}``/``{password}`` capture anything,
    the empty string too."""
    if template is None:
        return False, {}
    if template.strip() == "":
        return True, {}
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        parts.append(f"(?P<{m.group(1)}>.*?)")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    match = re.fullmatch("".join(parts), line.strip(), re.IGNORECASE)
    if match is None:
        return False, {}
    return True, match.groupdict()


def printed(text: str) -> str:
    """*text* as the PBX prints it: a prompt (ending in a space, ``:``, ``>``, ``?`` or
    ``#``) on a new line and left open for typing; any other answer as a whole line."""
    if text.endswith((" ", ":", ">", "?", "#")) and not text.endswith("\r\n"):
        return "\r\n" + text
    return text + "\r\n"


class MaintenanceTerminal:
    """A PBX's maintenance terminal speaking a profile's dialogue. See the module
    docstring.

    :param method: the profile's :class:`~appliance.pbx.profiles.SerialMethod`.
    :param model: the :class:`~appliance.sim.pbx_model.PbxModel` whose mode commands
        change and status queries print.
    :param str username: the maintenance login's user ("" or None: any user).
    :param str password: the maintenance login's password.
    """

    def __init__(self, method, model, *, username: str | None = "", password: str = ""):
        self.method = method
        self.model = model
        self.username = username or ""
        self._password = password or ""
        login = method.login
        entry = 0
        while (
            entry < len(login)
            and login[entry].send is not None
            and not login[entry].send.strip()
            and login[entry].pattern is not None
        ):
            entry += 1  # a bare line ending: the client's wake-up
        self.entry = entry
        self.session = Session(step=entry)
        #: What happened, in order: ``logged in``, ``refused: password``,
        #: ``refused: empty user name``, ``logged out``, ``unknown: TEXT`` ...
        self.events: list[str] = []

    def __repr__(self) -> str:
        return f"<MaintenanceTerminal at {self.where} pending={self.session.pending!r}>"

    # -- where it is ------------------------------------------------------------------

    @property
    def logged_in(self) -> bool:
        return self.session.step >= len(self.method.login)

    @property
    def where(self) -> str:
        """``logged_in``, ``password``, ``login`` or ``login step N``."""
        login = self.method.login
        step = self.session.step
        if step >= len(login):
            return "logged_in"
        if step == self.entry:
            return "login"
        if login[step].uses_password:
            return "password"
        return f"login step {step + 1}"

    @property
    def login_prompt(self) -> str | None:
        """What the terminal prints when it waits for a user: the sample of the step
        before the first one it waits for."""
        login = self.method.login
        return login[self.entry - 1].sample if 0 < self.entry <= len(login) else None

    @property
    def command_prompt(self) -> str | None:
        """The prompt of a logged-in session: the last login step's sample."""
        login = self.method.login
        return login[-1].sample if login and login[-1].pattern is not None else None

    @property
    def password_step(self) -> int | None:
        for i, step in enumerate(self.method.login):
            if step.uses_password:
                return i
        return None

    def power_up(self) -> None:
        """A PBX back from a power cut: at its login prompt, nothing typed."""
        self.session = Session(step=self.entry)

    def put(self, where: str, *, pending: str = "", username: str | None = None) -> None:
        """Leave the terminal where a cut session would have left it.

        :param str where: ``login``, ``password`` (after the user *username*, ours by
            default) or ``logged_in``.
        :param str pending: characters typed without a line ending.
        :raises ValueError: for a place this profile's terminal does not have.
        """
        login = self.method.login
        if where == "login":
            step = self.entry
        elif where == "logged_in":
            step = len(login)
        elif where == "password" and self.password_step is not None:
            step = self.password_step
        else:
            have = [p for p in PLACES if p != "password" or self.password_step is not None]
            raise ValueError(
                f"{where!r} is not a place this terminal has; use one of " + ", ".join(have)
            )
        self.session = Session(
            step=step,
            pending=pending,
            username=(self.username if username is None else username)
            if where == "password"
            else None,
        )

    # -- input --------------------------------------------------------------------------

    def receive(self, text: str, *, wrong_password: bool = False) -> list[Output]:
        """What the PBX prints in answer to the characters *text* (any number of lines,
        or part of one).

        :param bool wrong_password: the PBX's password was changed: every password is
            refused.
        """
        s = self.session
        out: list[Output] = []
        echo: list[str] = []
        echo_on = self.method.sim.echo

        def flush():
            if echo:
                out.append(Output(ECHO, "".join(echo)))
                echo.clear()

        for ch in text:
            if ch in "\r\n":
                if ch == "\n" and s.last_cr:
                    s.last_cr = False
                    continue
                s.last_cr = ch == "\r"
                if echo_on:
                    echo.append("\r\n")
                flush()
                line, s.pending = s.pending, ""
                out.extend(Output(ANSWER, printed(t)) for t in self._line(line, wrong_password))
                continue
            s.last_cr = False
            if ch in "\x08\x7f":
                s.pending = s.pending[:-1]
            else:
                s.pending += ch
            if echo_on and not self._secret():
                echo.append(ch)
        flush()
        return out

    def _secret(self) -> bool:
        """Whether the terminal waits for a password (which it does not echo)."""
        login = self.method.login
        return not self.logged_in and login[self.session.step].uses_password

    def _line(self, line: str, wrong_password: bool) -> list[str]:
        if not self.logged_in:
            return self._login_line(line, wrong_password)
        return self._command_line(line)

    # -- logging in -----------------------------------------------------------------------

    def _login_line(self, line: str, wrong_password: bool) -> list[str]:
        s = self.session
        login = self.method.login
        matched, captured = match_send(login[s.step].send, line)
        if not matched and s.step > self.entry:
            # A line that fits nothing here: the terminal starts over at its login prompt.
            s.step, s.username = self.entry, None
            matched, captured = match_send(login[s.step].send, line)
        if not matched:
            self.events.append(f"unknown: {line.strip()}")
            unknown = [self.method.sim.unknown] if self.method.sim.unknown and line.strip() else []
            return unknown + ([self.login_prompt] if self.login_prompt else [])
        if "username" in captured:
            if not captured["username"].strip():
                if self.method.sim.blank_login == "ignored":
                    return []
                return self._refuse("empty user name")
            s.username = captured["username"]
        if "password" in captured:
            user_ok = s.username is None or not self.username or s.username == self.username
            if wrong_password or not user_ok or captured["password"] != self._password:
                return self._refuse("password")
        done, s.step = self._consume(login, s.step)
        if self.logged_in:
            s.username = None
            self.events.append("logged in")
        return self._samples(done)

    def _refuse(self, why: str) -> list[str]:
        self.events.append(f"refused: {why}")
        self.session.step, self.session.username = self.entry, None
        refusal = [e.sample for e in self.method.errors if e.kind == "auth" and e.sample][:1]
        return refusal + ([self.login_prompt] if self.login_prompt else [])

    # -- logged in ------------------------------------------------------------------------

    def _command_line(self, line: str) -> list[str]:
        s = self.session
        if s.active is not None:
            purpose, steps, index = s.active
            matched, _ = match_send(steps[index].send, line)
            s.active = None
            if matched:
                done, index = self._consume(steps, index)
                if index < len(steps):
                    s.active = (purpose, steps, index)
                    return self._samples(done)
                return self._samples(done) + self._effect(purpose)
        if not line.strip():
            prompt = self.command_prompt if self.method.sim.reprompt else None
            return [prompt] if prompt else []
        for purpose, steps in self._dialogues():
            first = steps[0].send
            if first and first.strip() and match_send(first, line)[0]:
                done, index = self._consume(steps, 0)
                if index < len(steps):
                    s.active = (purpose, steps, index)
                    return self._samples(done)
                return self._samples(done) + self._effect(purpose)
        self.events.append(f"unknown: {line.strip()}")
        unknown = [self.method.sim.unknown] if self.method.sim.unknown else []
        return unknown + ([self.command_prompt] if self.command_prompt else [])

    def _dialogues(self):
        m = self.method
        for mode, steps in m.commands.items():
            yield ("command", mode), steps
        if m.status is not None:
            yield ("status", None), m.status.steps
        if m.logout:
            yield ("logout", None), m.logout

    def _effect(self, purpose) -> list[str]:
        """Act on a finished dialogue; the text printed after its answers."""
        kind, mode = purpose
        if kind == "command":
            self.model.set_mode(mode, by="serial")
        if kind == "logout":
            self.session.step, self.session.username = self.entry, None
            self.events.append("logged out")
            return [self.login_prompt] if self.login_prompt else []
        return [self.command_prompt] if self.command_prompt else []

    # -- the profile's samples ------------------------------------------------------------

    @staticmethod
    def _consume(steps, index: int) -> tuple[list, int]:
        """Steps answered by one received line: step *index* and the wait-only steps
        that follow it. Returns (those steps, the next index)."""
        done = [steps[index]]
        index += 1
        while index < len(steps) and steps[index].send is None:
            done.append(steps[index])
            index += 1
        return done, index

    def _samples(self, steps) -> list[str]:
        status = self.method.status
        out = []
        for step in steps:
            if step.pattern is None or step.sample is None:
                continue
            text = step.sample
            if "{status}" in text and status is not None:
                text = text.replace("{status}", status.word_for(self.model.mode) or "?")
            out.append(text)
        return out
