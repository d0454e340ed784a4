"""Expect/send over a serial port: the engine under every maintenance-port dialogue.

A :class:`Dialogue` wraps anything with pyserial's ``read``/``write``/``in_waiting``
(a :class:`serial.Serial`, a ``socket://`` or ``rfc2217://`` port, a ``spy://`` wrapper)
and runs profile :class:`~appliance.pbx.profiles.Step`\\ s on it: send a line, wait for a
pattern. It is written for the ports found in comms cupboards:

* **Deadlines, not timeouts per read.** Each wait has a deadline on a monotonic clock,
  and the whole operation may have one too; a PBX that trickles garbage forever cannot
  keep us waiting longer than that.
* **Noise.** NUL, form feed, XON/XOFF and other control characters, and VT100 escape
  sequences are dropped before matching (docs/pbx-families.md#stream-hygiene: Meridian
  TTYs emit NULs anywhere, Samsung sends form-feed page headers). Bytes are decoded as
  Latin-1, so no byte sequence can raise a decode error.
* **Echo.** Many maintenance terminals echo what is typed. The echo of the line just
  sent is removed before matching, so ``NIGHT`` sent cannot satisfy ``NIGHT`` expected.
* **A bounded buffer.** Only the last :data:`MAX_BUFFER` characters are kept, so a
  megabyte of line noise costs memory of a few kilobytes and matching stays fast.
* **Pacing.** Old ports drop characters that arrive while they are busy; a profile may
  ask for a pause after each character.
* **Secrets.** ``{password}`` is filled in only in the bytes written. Logs and error
  messages show ``***``; received text is masked too, in case a PBX echoes it.
* **Errors where they belong.** An error pattern may say which steps it is about
  (:meth:`~appliance.pbx.profiles.ErrorPattern.applies`): "Login incorrect" is a refusal
  in the answer to the password, not in the answer to a wake-up line.
* **Prompts.** :meth:`Dialogue.expect_prompt` tells which of several prompts the terminal
  is showing now (the last thing it printed), for finding where a terminal is before
  logging in (:mod:`appliance.pbx.probe`).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import serial

from appliance.errors import (
    DialogueError,
    DialogueTimeout,
    LoginRefused,
    PortError,
)

log = logging.getLogger(__name__)

#: Characters kept for matching; older text is dropped. A PBX answer is a few lines.
MAX_BUFFER = 16 * 1024
#: The most we read in one call; whatever is waiting beyond it is read next time round.
READ_CHUNK = 4096
#: How much received text an error message quotes.
QUOTE_CHARS = 160
MASK = "***"

_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")
_ANSI_PARTIAL = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*)?$")
# Everything below space except tab, LF and CR, plus DEL and the C1 block.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_PLACEHOLDER = re.compile(r"\{(username|password)\}")


def clean(text: str) -> str:
    """*text* without escape sequences and control characters other than TAB/LF/CR."""
    return _CONTROL.sub("", _ANSI.sub("", text))


def prompt_at_end(pattern: re.Pattern, text: str) -> re.Match | None:
    """The last match of *pattern* in *text* with nothing but white space after it: the
    prompt a terminal is showing now, not one it showed earlier in the same answer."""
    for match in reversed(list(pattern.finditer(text))):
        if not text[match.end() :].strip():
            return match
    return None


def printable(text: str, limit: int = QUOTE_CHARS) -> str:
    """A short one-line quote of received text for an error message."""
    text = " ".join(text.replace("\r", "\n").split())
    if len(text) > limit:
        text = "..." + text[-limit:]
    return text


@dataclass
class Counters:
    """Bytes on the wire, both ways, for the benchmark and the commissioning report."""

    sent: int = 0
    received: int = 0


class Dialogue:
    """Expect/send on an open port.

    :param port: an open pyserial port (its ``timeout`` should be short, such as
        0.05 s: the dialogue loops on its own deadlines).
    :param settings: :class:`~appliance.pbx.port_settings.SerialSettings` (line ending and
        pacing are used here).
    :param str username: fills ``{username}``; shown in logs.
    :param str password: fills ``{password}``; never shown.
    :param errors: :class:`~appliance.pbx.profiles.ErrorPattern` s that end any wait.
    :param monotonic: the clock for deadlines (real time: the wire is real).
    :param sleep: used for pacing.
    :param str label: names the port in log lines.
    """

    def __init__(
        self,
        port,
        settings,
        *,
        username: str = "",
        password: str = "",
        errors=(),
        monotonic=time.monotonic,
        sleep=time.sleep,
        label: str = "pbx",
        max_buffer: int = MAX_BUFFER,
    ):
        self.port = port
        self.settings = settings
        self._username = username or ""
        self._password = password or ""
        self.errors = tuple(errors)
        self.monotonic = monotonic
        self.sleep = sleep
        self.label = label
        self.max_buffer = max_buffer
        self.counters = Counters()
        self._buffer = ""
        self._carry = ""  # an escape sequence cut in half by a read
        self._echo: str | None = None
        self._sent_line = ""  # the last line sent, as shown (for messages)
        self._texts = 0  # reads that brought something other than white space
        self._texts_at_send = 0
        self._echo_removed = False

    # -- secrets --------------------------------------------------------------------

    def mask(self, text: str) -> str:
        """*text* with the password replaced by ``***``."""
        if self._password and self._password in text:
            text = text.replace(self._password, MASK)
        return text

    def _fill(self, template: str) -> tuple[str, str]:
        """The text to send and the text to show for a ``send`` template."""

        def real(m):
            return self._username if m.group(1) == "username" else self._password

        def shown(m):
            return self._username if m.group(1) == "username" else MASK

        return _PLACEHOLDER.sub(real, template), _PLACEHOLDER.sub(shown, template)

    def __repr__(self) -> str:
        return (
            f"<Dialogue {self.label} sent={self.counters.sent} received={self.counters.received}>"
        )

    # -- sending --------------------------------------------------------------------

    def send(self, template: str, *, eol: bool = True) -> None:
        """Send *template* with its placeholders filled, then the line ending.

        Whatever was received before is discarded: an answer to this line cannot have
        arrived before it was sent, and stale text must not satisfy the next wait.
        """
        text, shown = self._fill(template)
        line = text + (self.settings.eol if eol else "")
        data = line.encode("latin-1", errors="replace")
        log.debug("%s > %r", self.label, shown)
        self._buffer = ""
        self._sent_line = shown
        self._texts_at_send = self._texts
        self._echo_removed = False
        # Only a line ended with Enter is echoed as a line; see _answer.
        self._echo = (text.strip() or None) if eol else None
        try:
            pacing = self.settings.pacing_ms / 1000
            if pacing > 0:
                for i in range(len(data)):
                    self.port.write(data[i : i + 1])
                    self.port.flush()
                    self.sleep(pacing)
            else:
                self.port.write(data)
                self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortError(
                f"{self.label}: cannot write to the port: {self.mask(str(exc))}"
            ) from None
        self.counters.sent += len(data)

    # -- receiving ------------------------------------------------------------------

    def _receive(self) -> bool:
        """Read what is waiting (or wait one port timeout for a byte); True if any."""
        try:
            waiting = self.port.in_waiting
            data = self.port.read(min(waiting, READ_CHUNK) if waiting else 1)
        except (serial.SerialException, OSError) as exc:
            raise PortError(
                f"{self.label}: the port failed while reading: {self.mask(str(exc))}"
            ) from None
        if not data:
            return False
        self.counters.received += len(data)
        text = self._carry + data.decode("latin-1")
        partial = _ANSI_PARTIAL.search(text)
        if partial and len(text) - partial.start() < 32:
            self._carry, text = text[partial.start() :], text[: partial.start()]
        else:
            self._carry = ""
        text = clean(text)
        if text.strip():
            self._texts += 1
        self._buffer += text
        if len(self._buffer) > self.max_buffer:
            self._buffer = self._buffer[-self.max_buffer :]
        return True

    def _answer(self) -> str | None:
        """The buffer after the echo of the last line sent; None while the echo may
        still be arriving (then there is nothing else to match yet)."""
        if self._echo is None:
            return self._buffer
        stripped = self._buffer.lstrip("\r\n\t ")
        if stripped.startswith(self._echo):
            rest = stripped[len(self._echo) :]
            if not rest:
                return None  # our line so far: its echo, or an answer starting so
            if rest[0] in "\r\n":
                # An echo ends where the typed line did, with the echoed Enter.
                self._buffer = rest
                self._echo = None
                self._echo_removed = True
                return self._buffer
        elif self._echo.startswith(stripped):
            return None
        self._echo = None  # this PBX does not echo (or not this line)
        return self._buffer

    def expect(
        self,
        pattern: re.Pattern,
        timeout_s: float,
        *,
        deadline: float | None = None,
        what: str = "",
        errors=None,
    ) -> re.Match:
        """Wait until *pattern* matches what the PBX sent since the last :meth:`send`.

        :param pattern: a compiled regular expression.
        :param float timeout_s: the longest wait for this step.
        :param deadline: a monotonic instant the whole operation must finish by.
        :param str what: names the step in messages (``login step 2``).
        :param errors: the :class:`~appliance.pbx.profiles.ErrorPattern` s that end this
            wait (default: all of the dialogue's).
        :raises DialogueTimeout: nothing matched in time.
        :raises LoginRefused: an error pattern of kind ``auth`` matched first.
        :raises DialogueError: another error pattern matched first (its ``kind``).
        :raises PortError: the port failed or vanished.
        """
        errors = self.errors if errors is None else tuple(errors)
        own, end = self._ends(timeout_s, deadline)
        while True:
            answer = self._answer()
            if answer is not None:
                self._check_errors(errors, answer)
                match = pattern.search(answer)
                if match is not None:
                    log.debug("%s < %r", self.label, self.mask(answer[: match.end()]))
                    self._buffer = answer[match.end() :]
                    return match
            if self.monotonic() >= end:
                why = (
                    "the operation's time limit ran out"
                    if end != own
                    else f"no answer within {timeout_s:g} s"
                )
                raise DialogueTimeout(
                    f"{self.label}: {what + ': ' if what else ''}{why} while waiting for "
                    f"{pattern.pattern!r}; {self.describe_received()}"
                )
            self._receive()

    def _ends(self, timeout_s: float, deadline: float | None) -> tuple[float, float]:
        """``(this wait's own end, the end that applies)`` on the monotonic clock."""
        own = self.monotonic() + timeout_s
        return own, (own if deadline is None else min(own, deadline))

    def _check_errors(self, errors, answer: str) -> None:
        for error in errors:
            if error.pattern.search(answer):
                self._raise_error(error, answer)

    def _raise_error(self, error, answer: str):
        said = printable(self.mask(answer))
        log.debug("%s < %r (error %s)", self.label, self.mask(answer), error.kind)
        message = f"{self.label}: {error.message} (the PBX said {said!r})"
        if error.kind == "auth":
            raise LoginRefused(message, said)
        raise DialogueError(message, error.kind)

    @property
    def received(self) -> str:
        """What the PBX sent since the last :meth:`send`, masked, as one short line."""
        return printable(self.mask(self._buffer))

    @property
    def heard_anything(self) -> bool:
        """Whether the PBX sent anything but white space on this port so far."""
        return self._texts > 0

    def describe_received(self) -> str:
        """What came back after the last line sent, said for a person: nothing at all
        (then the wire is the suspect), nothing more after earlier answers (the PBX
        stopped answering), only the echo of our line, or the text itself."""
        seen = self.received
        if self._texts == 0:
            # Nothing but white space or noise control characters on this port so far.
            return (
                "received nothing (is the PBX on, the cable right and the port settings "
                f"{self.settings.describe()}?)"
            )
        if self._texts == self._texts_at_send:
            return (
                "received nothing more: the PBX answered earlier on this port but not "
                f"to {self._sent_line!r}; it may be busy, or at a prompt that ignores "
                "this line"
            )
        if (self._echo_removed and not seen) or (
            self._echo is not None and self._echo.startswith(seen.strip())
        ):
            return f"received only the echo of {self._sent_line!r}, no answer after it"
        return f"received {seen!r}"

    def expect_prompt(
        self,
        prompts,
        timeout_s: float,
        *,
        deadline: float | None = None,
        settle_s: float = 0.2,
        errors=(),
    ):
        """Wait until the terminal shows one of *prompts*: a pattern that matches at the
        very end of what it sent (only white space after it), and then nothing more for
        *settle_s* seconds (a prompt followed by more text is not where it stopped).

        :param prompts: ``{name: compiled pattern}``.
        :param errors: error patterns that end the wait (none by default: an answer on
            the way to a prompt, such as "Login incorrect" before "login:", is part of
            where the terminal is).
        :returns: ``(name, match)``, or None when no prompt showed in time (the received
            text stays in :attr:`received` for the message).
        :raises DialogueError: an error pattern matched.
        :raises PortError: the port failed or vanished.
        """
        _, end = self._ends(timeout_s, deadline)
        found = None
        quiet_since = self.monotonic()
        while True:
            answer = self._answer()
            if answer is not None:
                self._check_errors(errors, answer)
                found = None
                for name, pattern in prompts.items():
                    match = prompt_at_end(pattern, answer)
                    if match is not None:
                        found = (name, match)
                        break
            now = self.monotonic()
            # (found comes from an answer: once there is one, there always is)
            if found is not None and answer is not None and now - quiet_since >= settle_s:
                name, match = found
                log.debug("%s < %r (prompt %s)", self.label, self.mask(answer), name)
                self._buffer = answer[match.end() :]
                return found
            if now >= end:
                return None
            if self._receive():
                quiet_since = self.monotonic()

    def run(
        self,
        steps,
        *,
        default_timeout_s: float,
        deadline: float | None = None,
        what: str = "",
        part: str | None = None,
        first_step: int = 1,
    ) -> re.Match | None:
        """Run *steps* in order; the last match (or None when the last step only sends).

        A step with ``retries`` sends again after a timeout (ports that need a second
        carriage return to wake); other failures end the run at once.

        :param part: which part of the dialogue this is (``login``, ``command``,
            ``status``, ``logout``): each error pattern applies only to the steps it
            is about. None applies every error pattern to every step.
        :param int first_step: the number of the first of *steps* in its dialogue (a
            login continued at its second step), for messages and error scopes.
        """
        match = None
        for i, step in enumerate(steps, start=first_step):
            label = f"{what} step {i}" if what else f"step {i}"
            errors = (
                self.errors if part is None else tuple(e for e in self.errors if e.applies(part, i))
            )
            for attempt in range(step.retries + 1):
                if step.send is not None:
                    self.send(step.send, eol=step.eol)
                if step.pattern is None:
                    match = None
                    break
                try:
                    match = self.expect(
                        step.pattern,
                        step.timeout_s or default_timeout_s,
                        deadline=deadline,
                        what=label,
                        errors=errors,
                    )
                    break
                except DialogueTimeout:
                    if attempt == step.retries or (
                        deadline is not None and self.monotonic() >= deadline
                    ):
                        raise
                    log.debug("%s: %s timed out, sending again", self.label, label)
        return match
