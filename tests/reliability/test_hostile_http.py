"""Hostile HTTP: every endpoint of the web app, fuzzed against the real daemon.

The daemon is ``nightswitch simulate`` in a child process (waitress, the real store on
disk). The endpoints are read from the Flask app's own URL map, so an endpoint added
later is fuzzed without touching this file. Hypothesis draws a method (allowed or not),
path arguments, query strings, headers, a body (JSON of any shape, form fields, raw
bytes, oversized) and who is asking (nobody, a bad token, viewer, operator, admin, a
logged-in browser with or without its CSRF token).

For every request: no 5xx (no request ever gets a 500 for bad input:
docs/design.md#the-api-and-the-command-line); an API error is ``{"error": ...}``; and a
refused request (4xx) changes nothing stored: the database's schedules, overrides,
users, tokens, settings, calls and audit log are the same, row for row, before and after
it. At the end the daemon is alive and has never printed a traceback. A second test
throws raw bytes and broken HTTP at the socket.
"""

from __future__ import annotations

import json
import random
import re
import socket
import time
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.store import Store
from tests.reliability.daemon_rig import SimDaemon, write_config
from tests.reliability.relhelp import GUARDED_TABLES, db_fingerprint, every_day

#: Tables a refused request must leave exactly as they were.
GUARDED = GUARDED_TABLES
#: Endpoints that move the simulated clock; fuzzed on their own (below), since a clock
#: moved by an accepted request makes the controller write later, on its own.
CLOCK_ENDPOINTS = {"/api/v1/sim/clock", "/sim/clock"}
QUERY_KEYS = [
    "from",
    "to",
    "days",
    "limit",
    "offset",
    "who",
    "source",
    "next",
    "zone",
    "version",
    "format",
    "kind",
]
FORM_KEYS = [
    "mode",
    "until",
    "minutes",
    "name",
    "role",
    "password",
    "label",
    "id",
    "kind",
    "version",
    "position",
    "advance_s",
    "now",
    "next",
    "schedule",
    "timezone",
    "default_mode",
    "country",
    "subdivision",
    "confirm",
    "csrf_token",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "BREW"]


def app_rules():
    """Every rule of the web app, from its URL map: ``(rule, methods, arguments)``."""
    from web import create_app

    app = create_app()
    out = []
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        out.append((rule.rule, methods, sorted(rule.arguments)))
    return out


RULES = app_rules()

#: Strings that have broken parsers elsewhere: digits that are not ASCII (``"¹".isdigit()``
#: is True, ``int("¹")`` fails), numbers past 64 bits, NUL, odd dates, huge text.
NASTY = [
    "¹",
    "¹h",
    "٣",
    "１２",
    "9" * 30,
    "-9" * 20,
    "1e309",
    "NaN",
    "-0",
    "0x10",
    " 7 ",
    "\x00",
    "\u202e",
    "24:00",
    "23:60",
    "0000-00-00",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-03-29T02:30:00",
    "2026-10-25T02:30:00+01:00",
    "x" * 5000,
    "../../etc/passwd",
    "<script>",
    "%s%n",
    "' OR 1=1 --",
]
nasty_text = st.sampled_from(NASTY) | st.text(max_size=40)
big_ints = st.integers() | st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**70, 10**30])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | big_ints
    | st.floats(allow_nan=False)
    | nasty_text
    | st.sampled_from(
        [
            "day",
            "night",
            "next",
            "auto",
            "main",
            "24:00",
            "2026-12-24T17:00:00+01:00",
            "08:00",
            "admin",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                FORM_KEYS
                + [
                    "weekly",
                    "ranges",
                    "start",
                    "end",
                    "holidays",
                    "seasons",
                    "exceptions",
                    "from",
                    "to",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=6,
        )
    ),
    max_leaves=25,
)

path_values = (
    st.sampled_from(
        [
            "main",
            "nosuchzone",
            "admin",
            "..",
            "%00",
            "x" * 300,
            "0",
            "99999999999999999999",
            "-1",
            "night-service",
            "ümlaut",
        ]
    )
    | st.sampled_from(NASTY)
    | st.text(min_size=1, max_size=30)
)


def fingerprint(db_path) -> dict:
    return db_fingerprint(db_path)


class Browser:
    """A logged-in browser: the session cookie and the page's CSRF token."""

    def __init__(self, daemon: SimDaemon, name: str, password: str):
        self.d = daemon
        self.cookie = None
        form = self.get("/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', form.body)
        fields = {"name": name, "password": password}
        if token:
            fields["csrf_token"] = token.group(1).decode()
        answer = daemon.request(
            "POST",
            "/login",
            raw=urlencode(fields).encode(),
            token=False,
            headers=self.headers({"Content-Type": "application/x-www-form-urlencoded"}),
        )
        assert answer.status in (302, 303), answer.body[:300]
        self._take_cookie(answer)
        page = self.get("/")
        assert page.status == 200, page.body[:300]
        found = re.search(rb'name="csrf_token" value="([^"]+)"', page.body)
        assert found, "no CSRF token on the status page"
        self.csrf = found.group(1).decode()

    def _take_cookie(self, answer):
        for header, value in answer.headers.items():
            if header.lower() == "set-cookie" and value.startswith("nightswitch_session="):
                self.cookie = value.split(";")[0]

    def headers(self, extra=None):
        h = {"Cookie": self.cookie} if self.cookie else {}
        h.update(extra or {})
        return h

    def get(self, path):
        answer = self.d.request("GET", path, token=False, headers=self.headers())
        self._take_cookie(answer)
        return answer


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-http")
    data = base / "data"
    # Every schedule version this site will ever have keeps day all day, so no
    # boundary passes while the fuzzer runs (a rollback can only bring back such a one).
    with Store(data) as store:
        store.save_schedule(
            "main",
            every_day([("00:00", "24:00", "day")], tz="Europe/Berlin"),
            by="test",
            at=store_time(),
        )
        store.add_user("fuzzer", "admin", "fuzzer-password-1")
    d = SimDaemon(data, write_config(base / "nightswitch.toml"), base / "logs")
    try:
        d.start()
        tokens = {"admin": d.token}
        for role in ("operator", "viewer"):
            tokens[role] = d.json(
                "POST", "/api/v1/tokens", {"role": role, "label": f"fuzz-{role}"}
            )["token"]
        ids = {t["id"] for t in d.json("GET", "/api/v1/tokens")}
        d.tokens = tokens
        d.protected = {str(i) for i in ids} | {"fuzzer", "admin"}
        d.browser = Browser(d, "fuzzer", "fuzzer-password-1")
        yield d
    finally:
        d.kill()


def store_time():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def protected(value, daemon) -> bool:
    """Would *value* revoke our own token or delete our own user?"""
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+", text):
        text = str(int(text))
    return text in daemon.protected


def assert_sound(daemon, method, path, answer, note=""):
    where = f"{method} {path[:120]} {note}"
    if answer.status >= 500:
        allowed = (
            path.startswith("/api/v1/health") or path.startswith("/health")
        ) and answer.status == 503
        allowed |= (
            path.startswith("/api/v1/events")
            and answer.status == 503
            and b"too many live connections" in answer.body
        )
        assert allowed, f"{where} -> {answer.status}: {answer.body[:400]!r}"
    if path.startswith("/api/") and 400 <= answer.status < 500 and method != "HEAD":
        try:
            body = json.loads(answer.body)
        except ValueError:
            raise AssertionError(
                f"{where} -> {answer.status} without a JSON error: {answer.body[:200]!r}"
            ) from None
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], (
            f"{where} -> {answer.status}: {body}"
        )


def send(daemon, data, rule_choice=None):
    """Draw one request with *data* (hypothesis), send it, return what was sent and got."""
    rule, methods, args = rule_choice or data.draw(
        st.sampled_from([r for r in RULES if r[0] not in CLOCK_ENDPOINTS]), label="rule"
    )
    method = data.draw(st.sampled_from(methods) | st.sampled_from(METHODS), label="method")
    path = rule
    for arg in args:
        value = data.draw(path_values, label=arg)
        if protected(value, daemon):
            value = "nosuch"
        path = re.sub(rf"<(?:[a-z]+:)?{arg}>", quote(value, safe=""), path)
    query = data.draw(
        st.dictionaries(
            st.sampled_from(QUERY_KEYS) | st.text(max_size=6),
            nasty_text | st.sampled_from(["2026-03-02", "7", "0", "-1", "9999999", "day"]),
            max_size=4,
        ),
        label="query",
    )
    if query:
        path += "?" + urlencode(query)
    who = data.draw(
        st.sampled_from(
            ["nobody", "garbage", "viewer", "operator", "admin", "browser", "browser-no-csrf"]
        ),
        label="who",
    )
    headers = {}
    if who == "garbage":
        headers["Authorization"] = data.draw(
            st.sampled_from(
                ["Bearer nope", "Basic YWRtaW46YWRtaW4=", "Bearer ", "bearer " + "x" * 5000]
            )
        )
    elif who in ("viewer", "operator", "admin"):
        headers["Authorization"] = f"Bearer {daemon.tokens[who]}"
    elif who.startswith("browser"):
        headers.update(daemon.browser.headers())
    kind = data.draw(
        st.sampled_from(["none", "json", "form", "bytes", "huge", "wrongtype"]), label="body"
    )
    raw = None
    if kind == "json":
        value = data.draw(json_values, label="json")
        if any(protected(v, daemon) for v in _leaves(value)):
            value = {"mode": "lunch"}
        raw = json.dumps(value).encode()
        headers["Content-Type"] = "application/json"
    elif kind == "form":
        fields = data.draw(
            st.dictionaries(
                st.sampled_from(FORM_KEYS),
                nasty_text | st.sampled_from(["day", "night", "leds", "auto"]),
                max_size=6,
            ),
            label="form",
        )
        fields = {k: v for k, v in fields.items() if not protected(v, daemon)}
        if who == "browser":
            fields["csrf_token"] = daemon.browser.csrf
        raw = urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif kind == "bytes":
        raw = data.draw(st.binary(max_size=2000), label="bytes")
        headers["Content-Type"] = data.draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                    "multipart/form-data; boundary=x",
                ]
            )
        )
    elif kind == "huge":
        raw = b'{"mode": "' + b"n" * (300 * 1024) + b'"}'
        headers["Content-Type"] = "application/json"
    elif kind == "wrongtype":
        raw = b'{"mode": "night"}'
        headers["Content-Type"] = data.draw(
            st.sampled_from(["text/plain", "image/png", "", "application/xml"])
        )
    if kind == "form" and b"leds" in raw:
        # The LED test lights each LED for a second; a fuzzer that found the one valid
        # body would spend the run waiting.
        raw = raw.replace(b"leds", b"ledz")
    if rule.endswith("/test/leds") and who == "admin":
        raw = b'{"unknown": 1}'  # likewise: keep the admin's LED test refused
        headers["Content-Type"] = "application/json"
    return method, path, headers, raw, who


def _leaves(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_every_endpoint_under_fuzz(daemon, figures, fuzz_examples):
    db = daemon.data / "nightswitch.db"
    counts = {"requests": 0, "refused": 0, "accepted": 0}
    statuses: dict[int, int] = {}

    @settings(
        max_examples=fuzz_examples or 700,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data):
        method, path, headers, raw, who = send(daemon, data)
        before = fingerprint(db)
        answer = daemon.request(method, path, raw=raw, token=False, headers=headers)
        counts["requests"] += 1
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
        assert_sound(daemon, method, path, answer, f"as {who}")
        if 400 <= answer.status < 500:
            counts["refused"] += 1
            after = fingerprint(db)
            changed = [t for t in GUARDED if before[t] != after[t]]
            assert not changed, (
                f"{method} {path[:100]} as {who} was refused "
                f"({answer.status}) but changed {changed}: {answer.body[:200]!r}"
            )
        else:
            counts["accepted"] += 1

    fuzz()
    assert daemon.proc.poll() is None, "the daemon died under the fuzzer"
    health = daemon.request("GET", "/api/v1/health", token=False)
    assert health.status in (200, 503) and "ok" in health.json()
    assert "Traceback" not in daemon.all_stderr(), daemon.all_stderr()[-3000:]
    figures.add(
        "http_fuzz_requests",
        counts["requests"],
        "requests",
        f"{len(RULES)} routes; {counts['refused']} refused with 4xx (nothing stored "
        f"changed), {counts['accepted']} accepted; statuses "
        + ", ".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
    )


#: The values every field, path argument and query key gets in the table pass.
TABLE_VALUES = NASTY + [
    2**63,
    2**70,
    -(2**63) - 1,
    10**30,
    1e308,
    -1,
    0,
    None,
    True,
    [],
    {},
    [None],
    {"x": {"y": []}},
]
QUERY_TABLE_KEYS = ("from", "to", "days", "limit", "offset", "who", "source", "next")
#: The shorter list for query keys and form fields, where the table grows fastest.
SHORT = [
    "¹",
    "¹h",
    "٣",
    "9" * 30,
    "1e309",
    "-0",
    "\x00",
    "24:00",
    "0000-00-00",
    "9999-12-31",
    "2026-02-30",
    "x" * 5000,
]


def allowed_keys(daemon, method: str, path: str) -> list[str]:
    """An endpoint's JSON keys, learned from its own error message for an unknown key."""
    answer = daemon.request(method, path, {"__probe__": 1})
    if answer.status != 400:
        return []
    text = answer.json().get("error", "")
    found = re.search(r"allowed keys (?:are|here:) ([a-z_, ]+)", text)
    return [k.strip() for k in found.group(1).split(",")] if found else []


def page_forms(daemon) -> list[tuple[str, list[str]]]:
    """Every form on the pages a logged-in admin sees: ``(action, field names)``."""
    forms = []
    for rule, methods, args in RULES:
        if args or "GET" not in methods or rule.startswith(("/api/", "/static")):
            continue
        page = daemon.browser.get(rule)
        for match in re.finditer(rb"<form\b([^>]*)>(.*?)</form>", page.body, re.S):
            attrs, inner = match.groups()
            action = re.search(rb'action="([^"]*)"', attrs)
            method = re.search(rb'method="([^"]*)"', attrs)
            if not action or not method or method.group(1).lower() != b"post":
                continue
            names = sorted(
                {
                    n.decode()
                    for n in re.findall(
                        rb'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', inner
                    )
                }
                - {"csrf_token"}
            )
            forms.append((action.group(1).decode().replace("&amp;", "&"), names))
    return sorted({(a, tuple(n)) for a, n in forms})


def test_every_field_of_every_endpoint_with_nasty_values(daemon, figures):
    """A table pass: each JSON key of each API endpoint (learned from the endpoint), each
    field of each form on the pages, each path argument and the query keys of every GET
    endpoint, with each value of :data:`TABLE_VALUES`. Random fuzzing finds these only
    by luck; a table finds them every run."""
    db = daemon.data / "nightswitch.db"
    admin = {"Authorization": f"Bearer {daemon.tokens['admin']}"}
    sent = refused = 0
    failures: list[str] = []

    def check(method, path, raw, headers):
        nonlocal sent, refused
        if any(
            protected(v, daemon)
            for v in re.split(r"[/=&?\"]", path + (raw or b"").decode("latin-1"))
        ):
            return
        before = fingerprint(db)
        answer = daemon.request(method, path, raw=raw, token=False, headers=headers)
        sent += 1
        try:
            assert_sound(daemon, method, path, answer, f"body {raw[:120] if raw else None!r}")
            if 400 <= answer.status < 500:
                refused += 1
                assert fingerprint(db) == before, (
                    f"{method} {path} {raw[:100]!r} refused "
                    f"({answer.status}) but changed the database"
                )
        except AssertionError as exc:
            # All of them at once: one run tells the web's owner every case.
            failures.append(str(exc).splitlines()[0][:300])

    for rule, methods, args in RULES:
        if not rule.startswith("/api/") or rule.endswith("/test/leds"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?\w+>", "nosuch", rule)
        # /zones/NAME/x runs the view of /x: its bodies and queries are covered there,
        # its path argument below.
        same_view = "/zones/<zone>/" in rule
        for method in methods if not same_view else ():
            if method == "GET":
                for key in QUERY_TABLE_KEYS:
                    for value in SHORT:
                        check("GET", f"{path}?{urlencode({key: value})}", None, admin)
                continue
            for key in allowed_keys(daemon, method, path):
                for value in TABLE_VALUES:
                    check(
                        method,
                        path,
                        json.dumps({key: value}).encode(),
                        {**admin, "Content-Type": "application/json"},
                    )
        for arg in args:
            for value in NASTY:
                filled = re.sub(rf"<(?:[a-z]+:)?{arg}>", quote(value, safe=""), rule)
                filled = re.sub(r"<(?:[a-z]+:)?\w+>", "main", filled)
                for method in methods:
                    if method in ("GET", "DELETE"):
                        check(method, filled, None, admin)
    forms = page_forms(daemon)
    assert forms, "no forms found on the pages"
    for action, names in forms:
        if action in CLOCK_ENDPOINTS:
            continue
        for name in names:
            for value in SHORT:
                fields = {name: value, "csrf_token": daemon.browser.csrf}
                if b"leds" in urlencode(fields).encode():
                    continue
                check(
                    "POST",
                    action,
                    urlencode(fields).encode(),
                    daemon.browser.headers({"Content-Type": "application/x-www-form-urlencoded"}),
                )
    assert not failures, f"{len(failures)} of {sent} requests answered wrongly:\n" + "\n".join(
        failures[:60]
    )
    assert daemon.proc.poll() is None
    assert "Traceback" not in daemon.all_stderr(), daemon.all_stderr()[-3000:]
    figures.add(
        "http_table_requests",
        sent,
        "requests",
        f"every API key, form field, path argument and query key x "
        f"{len(NASTY)}-{len(TABLE_VALUES)} nasty values; {refused} refused, nothing "
        f"stored changed; {len(forms)} forms",
    )


def test_clock_endpoints_refuse_junk_without_moving_anything(daemon, figures, fuzz_examples):
    db = daemon.data / "nightswitch.db"
    n = 0

    @settings(
        max_examples=max(60, (fuzz_examples or 700) // 8),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=json_values, path=st.sampled_from(sorted(CLOCK_ENDPOINTS)), as_form=st.booleans())
    def fuzz(body, path, as_form):
        nonlocal n
        if isinstance(body, dict) and ("advance_s" in body or "now" in body) and len(body) == 1:
            body = {"advance_s": -1}  # keep it junk: a valid one moves the clock
        if as_form and isinstance(body, dict):
            fields = {str(k): str(v) for k, v in body.items()}
            fields["csrf_token"] = daemon.browser.csrf
            if set(fields) & {"advance_s", "now"}:
                fields["advance_s"] = "not-a-number"
            raw = urlencode(fields).encode()
            headers = daemon.browser.headers({"Content-Type": "application/x-www-form-urlencoded"})
        else:
            raw = json.dumps(body).encode()
            headers = {
                "Authorization": f"Bearer {daemon.tokens['admin']}",
                "Content-Type": "application/json",
            }
        before = fingerprint(db)
        clock_before = daemon.json("GET", "/api/v1/sim/panel")["now"]
        answer = daemon.request("POST", path, raw=raw, token=False, headers=headers)
        n += 1
        assert_sound(daemon, "POST", path, answer)
        assert 400 <= answer.status < 500 or answer.status in (302, 303), (
            answer.status,
            body,
            answer.body[:200],
        )
        assert fingerprint(db) == before
        clock_after = daemon.json("GET", "/api/v1/sim/panel")["now"]
        # the simulated clock runs at real speed: a second or two may pass, no more
        from datetime import datetime

        moved = datetime.fromisoformat(clock_after) - datetime.fromisoformat(clock_before)
        assert moved.total_seconds() < 5, f"junk moved the clock by {moved}"

    fuzz()
    figures.bump("http_fuzz_requests", n, "requests")


def test_raw_socket_garbage_never_gets_a_5xx(daemon, figures, fuzz_examples):
    """Broken HTTP and random bytes straight at the socket: an answer of 4xx, or the
    connection closed; never a 5xx, and the daemon answers normally afterwards."""
    rng = random.Random(11)
    samples = [
        b"\x00" * 100,
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET\r\n\r\n",
        b"POST /api/v1/override HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v1/override HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n",
        b"POST /api/v1/override HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /api/v1/status HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    ]
    samples += [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        for _ in range(max(40, (fuzz_examples or 700) // 10))
    ]
    answers = {}
    for blob in samples:
        with socket.create_connection((daemon.host, daemon.port), timeout=5) as s:
            try:
                s.sendall(blob)
                s.shutdown(socket.SHUT_WR)
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
            except (TimeoutError, ConnectionResetError, BrokenPipeError):
                reply = b""
        status = reply[9:12].decode(errors="replace") if reply.startswith(b"HTTP/") else "closed"
        answers[status] = answers.get(status, 0) + 1
        assert not status.startswith("5"), (blob[:80], reply[:300])
    time.sleep(0.1)
    assert daemon.proc.poll() is None
    assert daemon.request("GET", "/api/v1/status").status == 200
    assert "Traceback" not in daemon.all_stderr()
    figures.add(
        "http_raw_socket_inputs",
        len(samples),
        "inputs",
        ", ".join(f"{k}:{v}" for k, v in sorted(answers.items())),
    )
