"""Expect/send over a serial port: the engine under every maintenance-port dialogue.

A :class:`Dialogue` wraps anything with pyserial's ``read``/``write``/``in_waiting``
(a :class:`serial.Serial`, a ``socket://`` or ``rfc2217://`` port, a ``spy://`` wrapper)
and runs profile :class:`~appliance.pbx.profiles.Step`\\ s on it: send a line, wait for a
pattern. It is written for the ports found in comms cupboards:

* **Deadlines, not timeouts per read.** Each wait has a deadline on a monotonic clock,
  and the whole operation may have one too; a PBX that trickles garbage forever cannot
  keep us waiting longer than that.
* **Noise.** NUL, form feed, XON/XOFF and other control characters, and VT100 escape
  sequences are dropped before matching (FIELD_NOTES 0.9: Meridian TTYs emit NULs
  anywhere, Samsung sends form-feed page headers). Bytes are decoded as Latin-1, so no
  byte sequence can raise a decode error.
* **Echo.** Many maintenance terminals echo what is typed. The echo of the line just
  sent is removed before matching, so ``NIGHT`` sent cannot satisfy ``NIGHT`` expected.
* **A bounded buffer.** Only the last :data:`MAX_BUFFER` characters are kept, so a
  megabyte of line noise costs memory of a few kilobytes and matching stays fast.
* **Pacing.** Old ports drop characters that arrive while they are busy; a profile may
  ask for a pause after each character.
* **Secrets.** ``{password}`` is filled in only in the bytes written. Logs and error
  messages show ``***``; received text is masked too, in case a PBX echoes it.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import serial

from appliance.errors import NightswitchError

log = logging.getLogger("appliance.pbx")

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


class DialogueError(NightswitchError):
    """The dialogue with the PBX failed. The message is for people and never holds a
    secret.

    :param str kind: ``timeout``, ``port``, ``auth``, ``refused``, ``busy``, ``error``,
        ``verify`` or ``protocol``; ``auth`` failures are never retried, to avoid
        locking the account.
    """

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


class DialogueTimeout(DialogueError):
    def __init__(self, message: str):
        super().__init__(message, "timeout")


class PortError(DialogueError):
    def __init__(self, message: str):
        super().__init__(message, "port")


def clean(text: str) -> str:
    """*text* without escape sequences and control characters other than TAB/LF/CR."""
    return _CONTROL.sub("", _ANSI.sub("", text))


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
    :param settings: :class:`~appliance.pbx.settings.SerialSettings` (line ending and
        pacing are used here).
    :param str username: fills ``{username}``; shown in logs.
    :param str password: fills ``{password}``; never shown.
    :param errors: :class:`~appliance.pbx.profiles.ErrorPattern` s that end any wait.
    :param monotonic: the clock for deadlines (real time: the wire is real).
    :param sleep: used for pacing.
    :param str label: names the port in log lines.
    """

    def __init__(self, port, settings, *, username: str = "", password: str = "",
                 errors=(), monotonic=time.monotonic, sleep=time.sleep, label: str = "pbx",
                 max_buffer: int = MAX_BUFFER):
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
        self._carry = ""          # an escape sequence cut in half by a read
        self._echo: str | None = None

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
        return (f"<Dialogue {self.label} sent={self.counters.sent} "
                f"received={self.counters.received}>")

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
        # Only a line ended with Enter is echoed as a line; see _answer.
        self._echo = (text.strip() or None) if eol else None
        try:
            pacing = self.settings.pacing_ms / 1000
            if pacing > 0:
                for i in range(len(data)):
                    self.port.write(data[i:i + 1])
                    self.port.flush()
                    self.sleep(pacing)
            else:
                self.port.write(data)
                self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"{self.label}: cannot write to the port: {self.mask(str(exc))}") \
                from None
        self.counters.sent += len(data)

    # -- receiving ------------------------------------------------------------------

    def _receive(self) -> bool:
        """Read what is waiting (or wait one port timeout for a byte); True if any."""
        try:
            waiting = self.port.in_waiting
            data = self.port.read(min(waiting, READ_CHUNK) if waiting else 1)
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"{self.label}: the port failed while reading: "
                            f"{self.mask(str(exc))}") from None
        if not data:
            return False
        self.counters.received += len(data)
        text = self._carry + data.decode("latin-1")
        partial = _ANSI_PARTIAL.search(text)
        if partial and len(text) - partial.start() < 32:
            self._carry, text = text[partial.start():], text[:partial.start()]
        else:
            self._carry = ""
        self._buffer += clean(text)
        if len(self._buffer) > self.max_buffer:
            self._buffer = self._buffer[-self.max_buffer:]
        return True

    def _answer(self) -> str | None:
        """The buffer after the echo of the last line sent; None while the echo may
        still be arriving (then there is nothing else to match yet)."""
        if self._echo is None:
            return self._buffer
        stripped = self._buffer.lstrip("\r\n\t ")
        if stripped.startswith(self._echo):
            rest = stripped[len(self._echo):]
            if not rest:
                return None       # our line so far: its echo, or an answer starting so
            if rest[0] in "\r\n":
                # An echo ends where the typed line did, with the echoed Enter.
                self._buffer = rest
                self._echo = None
                return self._buffer
        elif self._echo.startswith(stripped):
            return None
        self._echo = None  # this PBX does not echo (or not this line)
        return self._buffer

    def expect(self, pattern: re.Pattern, timeout_s: float, *, deadline: float | None = None,
               what: str = "") -> re.Match:
        """Wait until *pattern* matches what the PBX sent since the last :meth:`send`.

        :param pattern: a compiled regular expression.
        :param float timeout_s: the longest wait for this step.
        :param deadline: a monotonic instant the whole operation must finish by.
        :param str what: names the step in messages (``login step 2``).
        :raises DialogueTimeout: nothing matched in time.
        :raises DialogueError: an error pattern matched first (its ``kind``).
        :raises PortError: the port failed or vanished.
        """
        start = self.monotonic()
        own = start + timeout_s
        end = own if deadline is None else min(own, deadline)
        while True:
            answer = self._answer()
            if answer is not None:
                for error in self.errors:
                    if error.pattern.search(answer):
                        log.debug("%s < %r (error %s)", self.label, self.mask(answer), error.kind)
                        raise DialogueError(
                            f"{self.label}: {error.message} (the PBX said "
                            f"{printable(self.mask(answer))!r})", error.kind)
                match = pattern.search(answer)
                if match is not None:
                    log.debug("%s < %r", self.label, self.mask(answer[:match.end()]))
                    self._buffer = answer[match.end():]
                    return match
            if self.monotonic() >= end:
                seen = printable(self.mask(self._buffer))
                why = "the operation's time limit ran out" if end != own else \
                    f"no answer within {timeout_s:g} s"
                raise DialogueTimeout(
                    f"{self.label}: {what + ': ' if what else ''}{why} while waiting for "
                    f"{pattern.pattern!r}; "
                    + (f"received {seen!r}" if seen else "received nothing (is the PBX on, "
                       "the cable right and the port settings "
                       f"{self.settings.describe()}?)"))
            self._receive()

    def run(self, steps, *, default_timeout_s: float, deadline: float | None = None,
            what: str = "") -> re.Match | None:
        """Run *steps* in order; the last match (or None when the last step only sends).

        A step with ``retries`` sends again after a timeout (ports that need a second
        carriage return to wake); other failures end the run at once.
        """
        match = None
        for i, step in enumerate(steps):
            label = f"{what} step {i + 1}" if what else f"step {i + 1}"
            for attempt in range(step.retries + 1):
                if step.send is not None:
                    self.send(step.send, eol=step.eol)
                if step.pattern is None:
                    match = None
                    break
                try:
                    match = self.expect(step.pattern, step.timeout_s or default_timeout_s,
                                        deadline=deadline, what=label)
                    break
                except DialogueTimeout:
                    if attempt == step.retries or (deadline is not None and
                                                   self.monotonic() >= deadline):
                        raise
                    log.debug("%s: %s timed out, sending again", self.label, label)
        return match
