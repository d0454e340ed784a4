"""The expect/send engine on a real pty: noise, echo, timeouts, pacing, secrets, junk."""

from __future__ import annotations

import logging
import os
import pty
import re
import threading
import time
import tty

import pytest
import serial
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from appliance.errors import DialogueError, DialogueTimeout, LoginRefused, PortError
from appliance.pbx.dialogue import MAX_BUFFER, Dialogue, clean, prompt_at_end
from appliance.pbx.port_settings import SerialSettings
from appliance.pbx.profile_model import ErrorPattern, Step
from tests.appliance_helpers import wait_until

ANSWER = re.compile(r"SYSTEM STATUS CHANGED TO\s+DAY")


class Peer:
    """The PBX's end of a real pty: it writes what a PBX would and records what it got."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.port = serial.serial_for_url(self.path, do_not_open=False, timeout=0.05)
        self.received = b""
        self.script: list[tuple[bytes, list[bytes]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def on(self, trigger: bytes, *replies: bytes, gap: float = 0.0) -> None:
        """When *trigger* has been received, write *replies* (``gap`` s apart)."""
        self.script.append((trigger, list(replies), gap))

    def _run(self):
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                self.received += os.read(self.master, 65536)
            except OSError:
                return
            while self.script and self.script[0][0] in self.received:
                trigger, replies, gap = self.script.pop(0)
                self.received = self.received.replace(trigger, b"", 1)
                for reply in replies:
                    if gap:
                        time.sleep(gap)
                    os.write(self.master, reply)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def hang_up(self):
        """Close the PBX's end: the port the client holds now fails."""
        self._stop.set()
        self._thread.join()
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    def close(self):
        self.hang_up()
        self.port.close()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def dialogue(peer, password="", errors=(), **settings):
    return Dialogue(
        peer.port, SerialSettings(**settings), username="system", password=password, errors=errors
    )


def test_answer_through_echo_nul_form_feed_and_bell(peer):
    peer.on(
        b"CP SERVICE DAY\r",
        b"CP SERVICE DAY\r\n\x00\x0cSYS\x00TEM STATUS\x07 CHANGED TO \x00DAY\r\n",
    )
    d = dialogue(peer)
    d.send("CP SERVICE DAY")
    match = d.expect(ANSWER, 2.0)
    assert match.group(0) == "SYSTEM STATUS CHANGED TO DAY"
    assert d.counters.sent == len(b"CP SERVICE DAY\r")
    assert d.counters.received > len("SYSTEM STATUS CHANGED TO DAY")


def test_the_echo_of_our_own_line_never_counts_as_the_answer(peer):
    peer.on(b"NIGHT\r", b"NIGHT\r\n")  # echo only: the PBX did not answer
    d = dialogue(peer)
    d.send("NIGHT")
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(re.compile("NIGHT"), 0.3)
    assert "no answer within 0.3 s" in str(caught.value)


def test_echo_arriving_in_pieces_then_the_answer(peer):
    peer.on(b"NIGHT\r", b"NI", b"GHT\r\n", b"NIGHT SET\r\n", gap=0.05)
    d = dialogue(peer)
    d.send("NIGHT")
    # Were the echo not removed, "NIGHT" alone would match first.
    match = d.expect(re.compile(r"NIGHT( SET)?"), 2.0)
    assert match.group(0) == "NIGHT SET"


def test_an_answer_that_starts_like_our_line_is_not_taken_for_its_echo(peer):
    peer.on(b"DAY\r", b"DAY SERVICE ON\r\n")  # no echo; the answer repeats us
    d = dialogue(peer)
    d.send("DAY")
    assert d.expect(re.compile(r"\ADAY SERVICE ON"), 2.0) is not None


def test_escape_sequence_cut_between_reads_is_removed(peer):
    peer.on(b"X\r", b"\x1b[", b"1mSYSTEM STATUS CHANGED TO DAY\x1b[0m\r\n", gap=0.1)
    d = dialogue(peer)
    d.send("X")
    match = d.expect(re.compile(r"\A\s*SYSTEM STATUS CHANGED TO DAY\r"), 2.0)
    assert match is not None


def test_timeout_is_a_deadline_and_says_what_was_awaited(peer):
    d = dialogue(peer, baudrate=1200, parity="even", bytesize=7)
    start = time.monotonic()
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(ANSWER, 0.3, what="command day step 1")
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 2.0  # the deadline, not the 10 s of a step
    message = str(caught.value)
    assert "command day step 1: no answer within 0.3 s" in message
    assert "received nothing" in message and "1200 7E1" in message
    assert caught.value.kind == "timeout"


def test_operation_deadline_cuts_a_step_short(peer):
    d = dialogue(peer)
    start = time.monotonic()
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(ANSWER, 10.0, deadline=time.monotonic() + 0.2)
    assert time.monotonic() - start < 3.0  # far under the step's 10 s
    assert "the operation's time limit ran out" in str(caught.value)


def test_what_was_received_is_quoted_on_timeout(peer):
    peer.on(b"X\r", b"\r\nINVALID COMMAND\r\n")
    d = dialogue(peer)
    d.send("X")
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(ANSWER, 0.3)
    assert "received 'INVALID COMMAND'" in str(caught.value)


def junk(size: int) -> bytes:
    # No ESC: an escape sequence may legitimately swallow the next character.
    return os.urandom(size).replace(b"\x1b", b"?")


def test_a_megabyte_of_junk_neither_crashes_nor_hangs(peer):
    writer = threading.Thread(target=lambda: [peer.write(junk(64 * 1024)) for _ in range(16)])
    d = dialogue(peer)
    writer.start()
    start = time.monotonic()
    with pytest.raises(DialogueTimeout):
        d.expect(ANSWER, 1.0)
    writer.join()
    assert time.monotonic() - start < 2.0
    assert len(d._buffer) <= MAX_BUFFER


def test_the_answer_after_a_megabyte_of_junk_is_found(peer):
    def spew():
        for _ in range(16):
            peer.write(junk(64 * 1024))
        peer.write(b"\r\nSYSTEM STATUS CHANGED TO DAY\r\n")

    writer = threading.Thread(target=spew)
    d = dialogue(peer)
    writer.start()
    match = d.expect(ANSWER, 10.0)
    writer.join()
    assert match.group(0) == "SYSTEM STATUS CHANGED TO DAY"
    assert d.counters.received == 16 * 64 * 1024 + len(b"\r\nSYSTEM STATUS CHANGED TO DAY\r\n")
    assert len(d._buffer) <= MAX_BUFFER


def test_an_error_pattern_ends_the_wait_with_its_kind(peer):
    refused = ErrorPattern(re.compile("LOGIN INCORRECT"), "auth", "the PBX refused the login")
    peer.on(b"X\r", b"\r\nLOGIN INCORRECT\r\n")
    d = dialogue(peer, errors=[refused])
    d.send("X")
    start = time.monotonic()
    with pytest.raises(DialogueError) as caught:
        d.expect(ANSWER, 5.0)
    assert time.monotonic() - start < 3.0  # at once, not after the 5 s
    assert caught.value.kind == "auth"
    assert isinstance(caught.value, LoginRefused) and caught.value.said == "LOGIN INCORRECT"
    assert "the PBX refused the login (the PBX said 'LOGIN INCORRECT')" in str(caught.value)


def test_an_error_pattern_belongs_to_the_steps_it_is_about(peer):
    # "Login incorrect" answers a blank wake-up line at a login prompt (an empty user
    # name): that is where the terminal is, not a refusal of our password.
    refused = ErrorPattern(
        re.compile("LOGIN INCORRECT"), "auth", "the PBX refused the login", during=("login step 3",)
    )
    peer.on(b"\r", b"\r\nLOGIN INCORRECT\r\n\r\nlogin: ")
    peer.on(b"system\r", b"\r\nPassword: ")
    peer.on(b"pw\r", b"\r\nLOGIN INCORRECT\r\n\r\nlogin: ")
    d = dialogue(peer, password="pw", errors=[refused])
    steps = [
        Step(send="", expect="login:", sample="login: ", pattern=re.compile("login:")),
        Step(
            send="{username}",
            expect="Password:",
            sample="Password: ",
            pattern=re.compile("Password:"),
        ),
        Step(send="{password}", expect="MAINT>", sample="MAINT> ", pattern=re.compile("MAINT>")),
    ]
    with pytest.raises(LoginRefused):
        d.run(steps, default_timeout_s=2.0, what="login", part="login")
    assert peer.script == []  # steps 1 and 2 passed; step 3 was refused
    # Without a part every pattern applies everywhere, as before: step 1 fails.
    peer.on(b"\r", b"\r\nLOGIN INCORRECT\r\n\r\nlogin: ")
    with pytest.raises(LoginRefused):
        d.run(steps[:1], default_timeout_s=2.0, what="login")


def test_run_continues_a_dialogue_at_a_later_step(peer):
    peer.on(b"system\r", b"\r\nPassword: ")
    d = dialogue(peer)
    steps = [
        Step(send="{username}", expect="OK", sample="OK", pattern=re.compile("OK"), timeout_s=0.3)
    ]
    with pytest.raises(DialogueTimeout) as caught:
        d.run(steps, default_timeout_s=1.0, what="login", first_step=2)
    assert "login step 2: no answer within 0.3 s" in str(caught.value)


@pytest.mark.parametrize(
    "text,found",
    [
        ("\r\nlogin: ", True),
        ("LOGIN INCORRECT\r\n\r\nlogin: ", True),
        ("login: \r\nPassword: ", False),  # it moved on: the password prompt shows
        ("Last login: Monday\r\nWelcome", False),
        ("", False),
    ],
)
def test_a_prompt_counts_only_at_the_end(text, found):
    assert (prompt_at_end(re.compile("login:"), text) is not None) is found


def test_expect_prompt_reports_the_prompt_shown_last(peer):
    prompts = {"logged_in": re.compile(r"MAINT>\s*$"), "login": re.compile(r"login:\s*$")}
    peer.on(b"\r", b"\r\nMAINT> ", b"?\r\n\r\nlogin: ", gap=0.05)
    d = dialogue(peer)
    d.send("")
    name, _ = d.expect_prompt(prompts, 3.0, settle_s=0.3)
    assert name == "login"


def test_expect_prompt_gives_none_and_keeps_what_it_saw(peer):
    peer.on(b"\r", b"\r\nOVL111 IDLE\r\n")
    d = dialogue(peer)
    d.send("")
    assert d.expect_prompt({"login": re.compile("login:")}, 0.3) is None
    assert d.received == "OVL111 IDLE"


def test_messages_say_what_came_back(peer):
    d = dialogue(peer)
    d.send("CP SERVICE DAY")
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(ANSWER, 0.2)
    assert "received nothing (is the PBX on" in str(caught.value)
    peer.on(b"CP SERVICE NIGHT1\r", b"CP SERVICE NIGHT1\r\n")  # an echo, no answer
    d.send("CP SERVICE NIGHT1")
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(ANSWER, 0.5)
    assert "received only the echo of 'CP SERVICE NIGHT1'" in str(caught.value)
    assert "is the PBX on" not in str(caught.value)
    d.send("CP SERVICE DAY")
    with pytest.raises(DialogueTimeout) as caught:
        d.expect(ANSWER, 0.2)
    assert (
        "received nothing more: the PBX answered earlier on this port but not to "
        "'CP SERVICE DAY'" in str(caught.value)
    )
    assert "is the PBX on" not in str(caught.value)


def test_pacing_spaces_the_characters(peer):
    d = dialogue(peer, pacing_ms=4)
    start = time.monotonic()
    d.send("ABCDEFGHIJ")
    assert time.monotonic() - start >= 11 * 0.004
    assert wait_until(lambda: peer.received == b"ABCDEFGHIJ\r")


def test_line_endings(peer):
    d = dialogue(peer, line_ending="crlf")
    d.send("A")
    d.send("", eol=True)
    d.settings = SerialSettings(line_ending="lf")
    d.send("B")
    assert wait_until(lambda: peer.received == b"A\r\n\r\nB\n")


def test_a_step_with_retries_sends_again_after_a_timeout(peer):
    peer.on(b"\r\r", b"\r\nlogin: ")  # this port wakes only on the second CR
    d = dialogue(peer)
    steps = [
        Step(
            send="",
            expect="login:",
            sample="login: ",
            retries=1,
            pattern=re.compile("login:"),
            timeout_s=0.3,
        )
    ]
    assert d.run(steps, default_timeout_s=1.0, what="login") is not None


def test_run_returns_the_last_match_for_a_status(peer):
    peer.on(b"CP SERVICE DISPLAY\r", b"CURRENT SYSTEM STATUS IS NIGHT2\r\n")
    d = dialogue(peer)
    pattern = re.compile(r"CURRENT SYSTEM STATUS IS (?P<status>\w+)")
    steps = [Step(send="CP SERVICE DISPLAY", expect=pattern.pattern, sample="x", pattern=pattern)]
    assert d.run(steps, default_timeout_s=1.0).group("status") == "NIGHT2"


def test_the_password_is_sent_but_never_logged_or_quoted(peer, caplog):
    secret = "Zebra-4417"
    refused = ErrorPattern(re.compile("LOGIN INCORRECT"), "auth", "the PBX refused the login")
    # A badly behaved PBX that echoes the password and repeats it in its refusal.
    peer.on(b"system\r", b"\r\nPassword: ")
    peer.on(
        secret.encode() + b"\r",
        secret.encode() + b"\r\nLOGIN INCORRECT for " + secret.encode() + b"\r\n",
    )
    d = dialogue(peer, password=secret, errors=[refused])
    steps = [
        Step(
            send="{username}",
            expect="Password:",
            sample="Password: ",
            pattern=re.compile("Password:"),
        ),
        Step(send="{password}", expect="OK", sample="OK", pattern=re.compile("OK")),
    ]
    caplog.set_level(logging.DEBUG, logger="appliance.pbx.dialogue")
    with pytest.raises(DialogueError) as caught:
        d.run(steps, default_timeout_s=2.0, what="login")
    assert peer.script == []  # the PBX got the password, and answered
    assert secret not in str(caught.value)
    assert "***" in str(caught.value)
    assert secret not in caplog.text and "***" in caplog.text
    assert secret not in repr(d)


def test_a_vanished_port_is_a_port_error(peer):
    d = dialogue(peer)
    peer.hang_up()
    with pytest.raises(PortError) as caught:
        d.expect(ANSWER, 1.0)
    assert "the port failed while reading" in str(caught.value)
    assert caught.value.kind == "port"


@hsettings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=200))
def test_clean_leaves_no_control_characters(text):
    cleaned = clean(text)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", cleaned)


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    noise=st.binary(max_size=300).map(lambda b: b.replace(b"\x1b", b"")),
    split=st.integers(min_value=0, max_value=40),
)
def test_the_answer_survives_any_noise_before_it(peer, noise, split):
    answer = b"SYSTEM STATUS CHANGED TO DAY\r\n"
    d = dialogue(peer)
    d.send("X")
    peer.write(noise + answer[:split])
    time.sleep(0.001)
    peer.write(answer[split:])
    assert d.expect(ANSWER, 2.0).group(0) == "SYSTEM STATUS CHANGED TO DAY"
