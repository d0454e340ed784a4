"""One session with a PBX over its maintenance port: open, login, command, status, logout.

:class:`PbxLink` turns a profile's dialogues into operations. The port is opened for
each operation and closed after it, so a USB adapter that vanished and came back, a PBX
that was power-cycled, or a terminal server that dropped the TCP session all recover on
the next try with no state to reset. Ports are opened only through
:func:`serial.serial_for_url`, so ``/dev/ttyAMA0``, ``/dev/ttyUSB0``,
``socket://host:port``, ``rfc2217://host:port`` and ``spy:///dev/ttyUSB0?file=...``
(a hex log for field debugging) all work without code changes.

Before it logs in, each operation finds out where the terminal is (a 3-wire line has
no hang-up, so a session cut earlier may have left it logged in, at a password prompt,
or at a login prompt after a refusal) and leaves that state as the profile says
(:mod:`appliance.pbx.probe`).

Operations (:meth:`PbxLink.set_mode`, :meth:`PbxLink.read_mode`) retry a failed attempt
on a freshly opened port as often as the profile's ``retries`` says, except after a
refused login (:exc:`~appliance.pbx.dialogue.LoginRefused`): a second wrong login can
lock the maintenance account, so that is never retried here, and the message says what
to check.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager

import serial

if sys.platform == "win32":  # pragma: no cover - not POSIX: no termios

    class _TermiosError(Exception):
        pass
else:
    from termios import error as _TermiosError

from appliance.errors import DialogueError, LoginRefused, PortError
from appliance.pbx.dialogue import Dialogue
from appliance.pbx.port_settings import SerialSettings
from appliance.pbx.probe import reach_command_prompt
from appliance.pbx.profile_model import Profile

log = logging.getLogger(__name__)

#: The port's own read timeout: short, because the dialogue loops on its deadlines.
READ_SLICE_S = 0.05
#: A write that blocks this long means flow control is holding us (XOFF, CTS low).
WRITE_TIMEOUT_S = 10.0
#: The logout after a failure gets this long at most: the failure is what matters.
CLEANUP_TIMEOUT_S = 2.0
#: Pause before retrying on a fresh port.
RETRY_PAUSE_S = 0.5


class PbxLink:
    """A PBX reached through its maintenance port, as a profile describes it.

    :param profile: a :class:`~appliance.pbx.profiles.Profile` with a serial dialogue.
    :param str url: any pyserial URL or device path.
    :param str username: overrides the profile's default username.
    :param str password: the secret for ``{password}``; never logged or shown.
    :param settings: :class:`~appliance.pbx.port_settings.SerialSettings` overriding the
        profile's, or None.
    :param monotonic: the clock for deadlines; real time, since the wire is real.
    :param sleep: for pacing and the pause before a retry.
    :param open_port: the port factory, :func:`serial.serial_for_url` by default.
    """

    def __init__(
        self,
        profile: Profile,
        url: str,
        *,
        username: str | None = None,
        password: str = "",
        settings: SerialSettings | None = None,
        monotonic=time.monotonic,
        sleep=time.sleep,
        open_port=None,
        label=None,
        should_abandon=None,
    ):
        if not profile.has_serial:
            raise ValueError(f"profile {profile.name} has no serial dialogue")
        self.profile = profile
        self.method = profile.serial
        self.url = url
        self._username = self.method.username if username is None else username
        self._password = password or ""
        settings = settings or self.method.settings
        if settings is None:  # a supported serial method is always read with its settings
            raise ValueError(f"profile {profile.name} has no serial settings")
        self.settings = settings
        self.monotonic = monotonic
        self.sleep = sleep
        self.open_port = open_port or serial.serial_for_url
        self.label = label or f"{profile.name}@{url}"
        #: Asked between the dialogue's steps (see :meth:`_safe_point`).
        self.should_abandon = should_abandon or (lambda: False)
        self.bytes_sent = 0
        self.bytes_received = 0
        self.last_path: list[str] = []

    def __repr__(self) -> str:
        return f"<PbxLink {self.profile.name} {self.url} {self.settings.describe()}>"

    # -- the port -------------------------------------------------------------------

    def _open(self):
        try:
            port = self.open_port(
                self.url,
                do_not_open=False,
                timeout=READ_SLICE_S,
                write_timeout=WRITE_TIMEOUT_S,
                exclusive=True,
                **self.settings.pyserial_kwargs(),
            )
        except (serial.SerialException, OSError, ValueError, _TermiosError) as exc:
            # termios.error is not an OSError: a port that refuses a setting (a pty
            # refuses 7 data bits) raises it from inside pyserial's open().
            raise PortError(
                f"{self.label}: cannot open the port with {self.settings.describe()}: {exc}"
            ) from None
        try:
            # Whatever the port holds from before (a previous session's tail, SMDR
            # chatter on a shared port) is not an answer to us.
            port.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass
        return port

    @contextmanager
    def session(self):
        """Open the port and yield a :class:`~appliance.pbx.dialogue.Dialogue` on it;
        close the port afterwards whatever happened."""
        port = self._open()
        dialogue = Dialogue(
            port,
            self.settings,
            username=self._username,
            password=self._password,
            errors=self.method.errors,
            monotonic=self.monotonic,
            sleep=self.sleep,
            label=self.label,
        )
        try:
            yield dialogue
        finally:
            self.bytes_sent += dialogue.counters.sent
            self.bytes_received += dialogue.counters.received
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass
            _close_spy_log(port)

    # -- dialogue pieces ------------------------------------------------------------

    def _deadline(self) -> float:
        return self.monotonic() + self.method.operation_timeout_s

    def login(self, d: Dialogue, deadline: float) -> list[str]:
        """Bring the terminal to its command prompt from wherever it is, logging in as
        needed. Returns the states it passed (``[]`` without a login).

        :raises LoginRefused: the PBX refused the login; the message says what to check.
        """
        try:
            path = reach_command_prompt(d, self.method, deadline=deadline, label=self.label)
        except LoginRefused as exc:
            raise LoginRefused(self._refused_message(exc), exc.said) from None
        self.last_path = path
        return path

    def _refused_message(self, exc: LoginRefused) -> str:
        """What to check after a refusal, short enough for the status page (``check``
        names the profile's file)."""
        user = self._username
        who = f" and user {user!r}" if self.method.needs_username and user else ""
        return (
            f"{self.label}: the PBX refused the login: check the password{who} in the "
            f"config and the login of profile {self.profile.name}, and try them with "
            f"`nightswitch console` (the PBX said {exc.said!r}). Not retried "
            "automatically: a wrong password could lock the account"
        )

    def command(self, d: Dialogue, mode: str, deadline: float) -> None:
        steps = self.method.commands.get(mode)
        if steps is None:
            raise DialogueError(
                f"{self.label}: profile {self.profile.name} has no command "
                f"for mode {mode!r}; it has " + ", ".join(self.method.commands),
                "protocol",
            )
        d.run(
            steps,
            default_timeout_s=self.method.step_timeout_s,
            deadline=deadline,
            what=f"command {mode}",
            part="command",
        )

    def status(self, d: Dialogue, deadline: float) -> str:
        """The profile mode the PBX reports."""
        query = self.method.status
        if query is None:
            raise DialogueError(
                f"{self.label}: profile {self.profile.name} has no status "
                "query, so the mode cannot be read back",
                "protocol",
            )
        match = d.run(
            query.steps,
            default_timeout_s=self.method.step_timeout_s,
            deadline=deadline,
            what="status",
            part="status",
        )
        word = match.group("status") if match is not None else None
        mode = query.mode_of(word) if word is not None else None
        if mode is None:
            raise DialogueError(
                f"{self.label}: the PBX reported status {word!r}, which "
                f"profile {self.profile.name} does not map to a mode "
                "(status.values)",
                "protocol",
            )
        return mode

    def logout(self, d: Dialogue, deadline: float) -> None:
        if self.method.logout:
            d.run(
                self.method.logout,
                default_timeout_s=self.method.step_timeout_s,
                deadline=deadline,
                what="logout",
                part="logout",
            )

    def _cleanup(self, d: Dialogue) -> bool:
        """Log out after a failure, briefly and quietly: leaving a maintenance session
        logged in is worse than a slow failure, but the failure is what we report.
        Returns False when the logout failed too (the session may be left open)."""
        if not self.method.logout:
            return True
        try:
            self.logout(d, self.monotonic() + CLEANUP_TIMEOUT_S)
            return True
        except DialogueError as exc:
            log.debug("%s: logout after a failure also failed: %s", self.label, exc)
            return False

    # -- operations -----------------------------------------------------------------

    def _safe_point(self, where: str) -> None:
        """Between two dialogues (after the login, before the command or the status
        query) the session may stop: a newer mode is wanted. It logs out as after a
        failure, and the worker applies the newest mode on a fresh session."""
        if self.should_abandon():
            raise DialogueError(
                f"{self.label}: stopped {where}: a newer mode is wanted", "abandoned"
            )

    def _operation(self, name: str, body):
        attempts = self.method.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                with self.session() as d:
                    deadline = self._deadline()
                    logged_in = False
                    try:
                        self._safe_point("before logging in")
                        self.login(d, deadline)
                        logged_in = True
                        self._safe_point("after the login")
                        result = body(d, deadline)
                        self.logout(d, deadline)
                        return result
                    except DialogueError as exc:
                        if logged_in and exc.kind != "port" and not self._cleanup(d):
                            raise _left_open(exc, self.method) from None
                        raise
            except DialogueError as exc:
                if exc.kind in ("auth", "verify", "protocol", "abandoned") or attempt == attempts:
                    raise
                log.info(
                    "%s: %s failed (%s); trying again on a fresh port (%d of %d)",
                    self.label,
                    name,
                    exc,
                    attempt + 1,
                    attempts,
                )
                self.sleep(RETRY_PAUSE_S)
        raise AssertionError("unreachable")  # pragma: no cover

    def set_mode(self, mode: str) -> str | None:
        """Log in, switch to profile mode *mode*, read it back where the profile can,
        log out. Returns the mode read back (None without a status query).

        :raises DialogueError: on any failure; kind ``verify`` when the PBX reports a
            different mode afterwards.
        """

        def body(d, deadline):
            self.command(d, mode, deadline)
            if self.method.status is None:
                return None
            self._safe_point("after the command, before the read-back")
            got = self.status(d, deadline)
            if got != mode:
                raise DialogueError(
                    f"{self.label}: sent the command for {mode}, but the PBX then reported {got}",
                    "verify",
                )
            return got

        return self._operation(f"switching to {mode}", body)

    def read_mode(self) -> str:
        """Log in, ask the PBX its mode, log out. Returns the profile mode."""
        return self._operation("reading the mode", lambda d, deadline: self.status(d, deadline))


def _left_open(exc: DialogueError, method) -> DialogueError:
    """*exc* with a word on the session it left: logged in, its logout lost too."""
    known = method.terminal is not None and method.terminal.state("logged_in") is not None
    after = (
        "the next attempt finds it and logs it out first"
        if known
        else "log it out with `nightswitch console` if the next attempt fails the same way"
    )
    return DialogueError(
        f"{exc}; the logout after it got no answer either, so the PBX may "
        f"still be logged in: {after}",
        exc.kind,
    )


def _close_spy_log(port) -> None:
    """pyserial's ``spy://`` opens its ``file=`` log at each open and never closes it;
    as the port is opened per operation, close it here or every operation leaks a file.
    (It also opens the file with "w": the log holds the last operation only. Use
    ``file=/dev/stderr`` under systemd to keep every operation in the journal.)"""
    if not type(port).__module__.endswith("protocol_spy"):
        return
    output = getattr(getattr(port, "formatter", None), "output", None)
    if output is not None and output not in (sys.stderr, sys.stdout, sys.__stderr__):
        try:
            output.close()
        except OSError:
            pass
