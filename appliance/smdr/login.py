"""The login some PBXs want before they send call records over the network, as data.

A Panasonic KX-TDE/NCP/NS gives its SMDR on a Telnet port only after a short dialogue
(docs/pbx-families.md#panasonic-kx-tda: a prompt, the command ``smdr``, a password). The
dialogue is a TOML file like the PBX profiles' serial dialogues, run by the same engine
(:class:`appliance.pbx.dialogue.Dialogue`), so a site whose PBX prompts differently
writes a file instead of code. Shipped files live in ``appliance/smdr/logins/``; a site
adds or overrides one in ``logins/`` beside its SMDR formats (``/etc/nightswitch/smdr/
logins/``).

The file, in outline (``appliance/smdr/logins/panasonic-telnet.toml`` is the example)::

    name = "panasonic-telnet"; title = "..."; verified = "..."
    source = "docs/pbx-families.md#panasonic-kx-tda ..."
    port = 2300                  # the usual TCP port (the config's URL may give another)
    username = "SMDR"            # the default user name
    line_ending = "crlf"         # cr, lf or crlf after what we type
    timeout_s = 30               # the whole login
    [[answers]]                  # answered whenever its prompt shows, in any order
    name = "password"; expect = 'password:\\s*$'; sample = "Enter password: "
    send = "{password}"; final = true   # after the final answer the records follow
    [refused]                    # after the final answer: this within wait_s = refused
    expect = '...'; sample = "> "; wait_s = 3; message = "..."

A PBX may show its prompts in any order and repeat one (a blank line wakes a prompt
again), so the engine does not run the answers as a fixed sequence: it waits for any of
the prompts and gives that prompt's answer, until the final one. Nothing is retried
after a refusal: the intake waits a long time before it tries again, so that a wrong
password cannot lock an account.

Bytes that arrive after the password are the first call records. They are handed back to
the caller (with an echo of the password removed and any other copy masked), so the
first records are not lost to the login.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from appliance.errors import (
    DialogueError,
    DialogueTimeout,
    FieldError,
    LoginRefused,
    NightswitchError,
    ValidationError,
)
from appliance.pbx.dialogue import Dialogue
from appliance.pbx.port_settings import LINE_ENDINGS, SerialSettings
from appliance.smdr.formats import NAME_RE  # a login's file name follows its format's

TOP_KEYS = {
    "name",
    "title",
    "source",
    "verified",
    "notes",
    "port",
    "username",
    "line_ending",
    "timeout_s",
    "answers",
    "refused",
}
ANSWER_KEYS = {"name", "expect", "sample", "send", "final"}
REFUSED_KEYS = {"expect", "sample", "wait_s", "message"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: An answer given more often than this means the PBX is not accepting it.
MAX_ROUNDS = 8
_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


class LoginFailed(NightswitchError):
    """The login did not complete (no prompt, an unexpected answer); retried later."""


@dataclass(frozen=True)
class Answer:
    """A prompt the PBX may show and what to type when it does."""

    name: str
    expect: re.Pattern
    sample: str
    send: str
    final: bool = False


@dataclass(frozen=True)
class Login:
    """A login dialogue, loaded from its TOML file with :func:`load_login`."""

    name: str
    title: str
    source: str
    verified: str
    path: str
    answers: tuple[Answer, ...]
    refused: re.Pattern
    refused_message: str
    refused_wait_s: float
    port: int | None = None
    username: str = ""
    line_ending: str = "crlf"
    timeout_s: float = 30.0

    @property
    def needs_password(self) -> bool:
        return any("{password}" in a.send for a in self.answers)

    @property
    def settings(self) -> SerialSettings:
        """What the dialogue engine needs of the wire: the line ending."""
        return SerialSettings(line_ending=self.line_ending)


# -- loading ----------------------------------------------------------------------------


def _shipped_dir():
    return resources.files("appliance.smdr") / "logins"


def login_paths(site_dir=None) -> dict[str, Traversable]:
    """``{name: path}`` of the shipped login files, then the site's over them."""
    found: dict[str, Traversable] = {
        entry.name[:-5]: entry for entry in _shipped_dir().iterdir() if entry.name.endswith(".toml")
    }
    if site_dir is not None:
        try:
            found.update({p.stem: p for p in sorted(Path(site_dir).glob("*.toml"))})
        except OSError:
            pass
    return dict(sorted(found.items()))


def load_login(name: str, site_dir=None) -> Login:
    """The login dialogue *name*.

    :raises ValidationError: the name is unknown (naming those there are) or the file is
        broken (naming every bad key).
    """
    paths = login_paths(site_dir)
    if name not in paths:
        raise ValidationError(
            [FieldError("", f"no SMDR login called {name!r}; there are " + ", ".join(paths))]
        )
    path = paths[name]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(
            [FieldError("", f"cannot read the login file: {exc}")], str(path)
        ) from None
    return parse_login(data, source=str(path), expected_name=name)


def parse_login(data, *, source: str = "login", expected_name: str | None = None) -> Login:
    """Validate a login document (parsed TOML); every problem names its key.

    :raises ValidationError: listing every problem.
    """
    errors: list[FieldError] = []

    def err(key, message):
        errors.append(FieldError(key, message))

    if not isinstance(data, dict):
        raise ValidationError([FieldError("", "a login must be a TOML document")], source)
    for key in data:
        if key not in TOP_KEYS:
            err(key, "unknown key; allowed keys are " + ", ".join(sorted(TOP_KEYS)))
    text = {}
    for key in ("name", "title", "source", "verified"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            err(key, "is required (a non-empty string)")
        text[key] = value if isinstance(value, str) else ""
    if text["name"] and not NAME_RE.fullmatch(text["name"]):
        err("name", f"{text['name']!r} is not allowed; use lower-case letters, digits and '-'")
    elif expected_name is not None and text["name"] and text["name"] != expected_name:
        err("name", f"{text['name']!r} must match the file name {expected_name}.toml")
    port = data.get("port")
    if port is not None and (
        isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
    ):
        err("port", f"{port!r} is not allowed; use a TCP port 1 to 65535")
        port = None
    username = data.get("username", "")
    if not isinstance(username, str):
        err("username", "must be a string")
        username = ""
    line_ending = data.get("line_ending", "crlf")
    if line_ending not in LINE_ENDINGS:
        err("line_ending", f"{line_ending!r} is not allowed; use " + ", ".join(LINE_ENDINGS))
        line_ending = "crlf"
    timeout = data.get("timeout_s", 30)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 1 <= timeout <= 600
    ):
        err("timeout_s", f"{timeout!r} is not allowed; use 1 to 600 seconds")
        timeout = 30
    answers = []
    raw_answers = data.get("answers")
    if not isinstance(raw_answers, list) or not raw_answers:
        err("answers", "is required: [[answers]] tables with name, expect, sample, send")
        raw_answers = []
    for i, raw in enumerate(raw_answers):
        where = f"answers[{i}]"
        if not isinstance(raw, dict):
            err(where, "must be a table")
            continue
        for key in raw:
            if key not in ANSWER_KEYS:
                err(
                    f"{where}.{key}",
                    "unknown key; allowed keys are " + ", ".join(sorted(ANSWER_KEYS)),
                )
        raw_name = raw.get("name")
        name = raw_name if isinstance(raw_name, str) else f"answer {i + 1}"
        pattern = _pattern(raw.get("expect"), raw.get("sample"), f"{where}", err)
        send = raw.get("send")
        if not isinstance(send, str):
            err(
                f"{where}.send",
                'is required: what to type at this prompt ("" = only the line ending)',
            )
            send = None
        else:
            for placeholder in PLACEHOLDER.findall(send):
                if placeholder not in ("username", "password"):
                    err(
                        f"{where}.send",
                        f"{{{placeholder}}} is not a placeholder; allowed "
                        "are {username} and {password}",
                    )
        final = raw.get("final", False)
        if not isinstance(final, bool):
            err(f"{where}.final", "must be true or false")
            final = False
        if pattern is not None and send is not None:
            answers.append(Answer(name, pattern, raw["sample"], send, final))
    if raw_answers and not any(a.final for a in answers) and not errors:
        err("answers", "one answer needs final = true: the one after which records follow")
    refused = data.get("refused")
    refused_pattern, message, wait = None, "", 3.0
    if not isinstance(refused, dict):
        err(
            "refused",
            "is required: a table with expect, sample, message (what the PBX "
            "shows when it refuses the login) and wait_s",
        )
    else:
        for key in refused:
            if key not in REFUSED_KEYS:
                err(
                    f"refused.{key}",
                    "unknown key; allowed keys are " + ", ".join(sorted(REFUSED_KEYS)),
                )
        refused_pattern = _pattern(refused.get("expect"), refused.get("sample"), "refused", err)
        raw_message = refused.get("message")
        if not isinstance(raw_message, str) or not raw_message.strip():
            err("refused.message", "is required: what to tell the installer")
        else:
            message = raw_message
        wait = refused.get("wait_s", 3.0)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0.2 <= wait <= 60:
            err("refused.wait_s", f"{wait!r} is not allowed; use 0.2 to 60 seconds")
            wait = 3.0
    if errors or refused_pattern is None:  # no refused pattern has put its error
        raise ValidationError(errors, source)
    return Login(
        text["name"],
        text["title"],
        text["source"],
        text["verified"],
        source,
        tuple(answers),
        refused_pattern,
        message,
        float(wait),
        port,
        username,
        line_ending,
        float(timeout),
    )


def _pattern(expect, sample, where: str, err) -> re.Pattern | None:
    if not isinstance(expect, str) or not expect:
        err(f"{where}.expect", "is required: a regular expression for the PBX's prompt")
        return None
    try:
        pattern = re.compile(expect)
    except re.error as exc:
        err(f"{where}.expect", f"is not a valid regular expression: {exc}")
        return None
    if not isinstance(sample, str):
        err(f"{where}.sample", "is required: the prompt exactly as the source shows it")
        return None
    if pattern.search(sample) is None:
        err(f"{where}.sample", f"{sample!r} does not match expect {expect!r}")
        return None
    return pattern


def _scoped(pattern: re.Pattern) -> str:
    """*pattern*'s text with leading global flags made local, so that patterns can be
    joined with ``|`` (``(?i)abc`` becomes ``(?i:abc)``)."""
    text = pattern.pattern
    m = _GLOBAL_FLAGS.match(text)
    if m is None:
        return f"(?:{text})"
    return f"(?{m.group(1)}:{text[m.end() :]})"


# -- running ------------------------------------------------------------------------------


class _Tap:
    """Wraps a port and keeps what was read since :meth:`start`."""

    def __init__(self, port):
        self.port = port
        self.recording = False
        self.seen = bytearray()

    def start(self) -> None:
        self.recording = True
        self.seen.clear()

    def read(self, size=1):
        data = self.port.read(size)
        if self.recording:
            self.seen += data
        return data

    def __getattr__(self, name):
        return getattr(self.port, name)


def run_login(
    port,
    login: Login,
    *,
    username: str = "",
    password: str = "",
    label: str = "smdr",
    monotonic=None,
) -> bytes:
    """Log in on *port* (an open :class:`~appliance.smdr.telnet.NetPort` or any
    pyserial-like port) and return the bytes that arrived after the final answer: the
    first call records.

    :raises LoginRefused: the PBX refused (its ``refused`` pattern showed in time).
    :raises LoginFailed: no prompt came, or the PBX kept asking the same thing.
    :raises DialogueError: the port failed (``kind == "port"``).
    """
    import time

    monotonic = monotonic or time.monotonic
    tap = _Tap(port)
    user = username or login.username
    dialogue = Dialogue(
        tap, login.settings, username=user, password=password, label=label, monotonic=monotonic
    )
    combined = re.compile(
        "|".join(f"(?P<a{i}>{_scoped(a.expect)})" for i, a in enumerate(login.answers))
    )
    deadline = monotonic() + login.timeout_s
    rounds = 0
    while True:
        try:
            match = dialogue.expect(combined, login.timeout_s, deadline=deadline, what="SMDR login")
        except DialogueTimeout as exc:
            raise LoginFailed(
                f"{label}: the PBX showed no login prompt in {login.timeout_s:g} s ({exc})"
            ) from None
        answer = next(a for i, a in enumerate(login.answers) if match.group(f"a{i}"))
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise LoginFailed(
                f"{label}: the PBX keeps asking ({answer.name}) after "
                f"{MAX_ROUNDS} answers; check the login {login.name!r}"
            )
        if answer.final:
            tap.start()
        dialogue.send(answer.send)
        if answer.final:
            break
    try:
        dialogue.expect(login.refused, login.refused_wait_s, what="SMDR login check")
    except DialogueTimeout:
        return _records_after(bytes(tap.seen), password)
    except DialogueError as exc:
        raise LoginFailed(str(exc)) from None
    raise LoginRefused(f"{label}: {login.refused_message}")


def _records_after(data: bytes, password: str) -> bytes:
    """*data* without an echo of the password at its start and with any other copy of
    it masked: the password must never reach the store as an unparsed line."""
    if not password:
        return data
    secret = password.encode("latin-1", errors="replace")
    stripped = data.lstrip(b"\r\n\t ")
    if stripped.startswith(secret):
        data = stripped[len(secret) :]
    return data.replace(secret, b"***")
