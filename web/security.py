"""Security of a plain-HTTP appliance on an office LAN.

* **Secret key**: generated on the device's first start and kept in the store's
  settings, so sessions survive a restart and no two appliances share a key.
* **CSRF**: a synchronizer token per session, in every form (``csrf_token``) and in the
  ``X-CSRF-Token`` header of the page's own JavaScript calls, compared in constant time.
  Requests with a bearer token carry no cookie, so they need none.
* **Headers**: a strict Content-Security-Policy (nothing but this appliance; no inline
  script), no framing, no sniffing, no referrer.
* **Login rate limiting**: :class:`LoginLimiter`, in this process (one waitress
  process holds the pins, so in-memory counting is complete).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time

from flask import Flask, current_app, request, session, url_for

SECRET_SETTING = "web.secret_key"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

CSP = ("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'; object-src 'none'")


def device_secret(store) -> str:
    """The per-device secret key, made on first start.

    :param store: the :class:`~appliance.store.Store` that keeps it.
    """
    key = store.get_setting(SECRET_SETTING)
    if not key:
        key = secrets.token_hex(32)
        store.set_setting(SECRET_SETTING, key)
    return key


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid(sent) -> bool:
    """Whether *sent* is this session's CSRF token."""
    expected = session.get("csrf")
    if not expected or not isinstance(sent, str) or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace"))


def sent_csrf_token():
    """The CSRF token a request carries, in its header or its form."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form.get(CSRF_FIELD)
    return None


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.endpoint != "static":
        # Status, users and tokens must not linger in a shared browser's cache.
        headers.setdefault("Cache-Control", "no-store")
    else:
        headers["Cache-Control"] = "public, max-age=3600"
    return response


class LoginLimiter:
    """Counts failed logins per client address and per user name, in memory.

    After :attr:`free` failures in a row, each further attempt must wait: 30 s, then
    twice as long after every further failure, up to :attr:`longest` (15 minutes), so a
    password cannot be guessed from the LAN while a person who mistyped five times is
    only slowed down. A success clears both counters. Entries idle for a day are
    forgotten, and the table is bounded, so a flood of addresses cannot fill memory.

    :param clock: a monotonic clock (seconds); :func:`time.monotonic` by default. Not
        the appliance's clock: ``simulate`` lets anyone move that one.
    """

    free = 5
    first = 30.0
    longest = 900.0
    forget_after = 86400.0
    max_entries = 10000

    def __init__(self, clock=None):
        self.clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}

    def _delay(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return min(self.longest, self.first * 2 ** (count - self.free))

    def wait_for(self, *keys: str) -> float:
        """Seconds until another attempt for any of *keys* is allowed (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                count, last = self._failures.get(key, (0, now))
                wait = max(wait, last + self._delay(count) - now)
        return max(0.0, wait)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_entries:
                self._forget(now)
            for key in keys:
                count, _ = self._failures.get(key, (0, now))
                self._failures[key] = (count + 1, now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)

    def _forget(self, now: float) -> None:
        old = [k for k, (_, last) in self._failures.items() if now - last > self.forget_after]
        for key in old:
            del self._failures[key]
        if len(self._failures) >= self.max_entries:
            # Still full: drop the oldest half rather than refuse to count.
            ordered = sorted(self._failures.items(), key=lambda item: item[1][1])
            for key, _ in ordered[: len(ordered) // 2]:
                del self._failures[key]


def limiter() -> LoginLimiter:
    return current_app.extensions["nightswitch.login_limiter"]


def asset_versions(app: Flask) -> dict[str, str]:
    """A short hash of each static file, added to its URL, so browsers may cache the
    stylesheet and script for an hour yet fetch the new ones right after an upgrade."""
    import hashlib
    from pathlib import Path

    versions = {}
    folder = Path(app.static_folder or "")
    for path in folder.glob("*"):
        if path.is_file():
            versions[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return versions


def init_app(app: Flask) -> None:
    store = app.extensions.get("nightswitch.store")
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = (device_secret(store) if store is not None
                                    else secrets.token_hex(32))
    app.extensions["nightswitch.login_limiter"] = LoginLimiter(
        app.config.get("NIGHTSWITCH_LOGIN_CLOCK"))
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    versions = asset_versions(app)
    app.jinja_env.globals["asset"] = lambda name: url_for("static", filename=name,
                                                          v=versions.get(name, "0"))


__all__ = ["LoginLimiter", "csrf_token", "csrf_valid", "device_secret", "sent_csrf_token",
           "CSRF_FIELD", "CSRF_HEADER", "CSP"]
