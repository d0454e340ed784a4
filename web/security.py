"""Security of a plain-HTTP appliance on an office LAN.

* **Secret key**: generated on the device's first start and kept in a 0600 file in the
  data directory (:mod:`appliance.accounts.keyfile`), so sessions survive a restart, no
  two appliances share a key, and no backup carries it.
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
from dataclasses import dataclass

from flask import Flask, current_app, request, session, url_for

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

CSP = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


def device_secret(store) -> str:
    """The per-device secret key, made on first start, in the store's data directory.

    :param store: the :class:`~appliance.store.Store` whose directory keeps it.
    """
    from appliance.accounts.keyfile import session_key

    return session_key(store.data_dir)


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


@dataclass
class Attempt:
    """The answer of :meth:`LoginLimiter.begin`.

    :attr wait: seconds to wait before trying again; 0 when the attempt may be checked
        (it has then already been counted as a failure: :meth:`LoginLimiter.succeeded`
        takes it back).
    :attr locked: keys this attempt locked (for the security log).
    """

    keys: tuple[str, ...]
    wait: float = 0.0
    locked: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.wait <= 0


class LoginLimiter:
    """Counts failed logins per client address and per user name, in memory.

    After :attr:`free` failures, each further attempt must wait: 30 s, then twice as long
    after every further failure, up to :attr:`longest` (15 minutes). One failure is
    forgotten for every :attr:`decay` seconds without one, so a typo a week after a bad
    day starts afresh. A success clears both counters.

    Three rules close the holes a probe found (issue 13, finding 8):

    * an attempt is counted *before* its password is checked, under the lock
      (:meth:`begin`), so forty guesses sent at once still get only :attr:`free` checks;
    * a locked *user name* does not stop an address that has no failures: anyone could
      otherwise lock the admin out with one guess every quarter hour. Such an address
      gets its one check; if that fails, it is counted like any other;
    * IPv6 addresses count per /64 (one host may hold a whole /64).

    Entries are forgotten once fully decayed, and the table is bounded, so a flood of
    addresses cannot fill memory.

    :param clock: a monotonic clock (seconds); :func:`time.monotonic` by default. Not
        the appliance's clock: ``simulate`` lets anyone move that one.
    """

    free = 5
    first = 30.0
    longest = 900.0
    decay = 600.0
    max_entries = 10000

    def __init__(self, clock=None):
        self.clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}

    @staticmethod
    def address_key(address: str | None) -> str:
        """The limiter's key for a client address (an IPv6 address counts per /64)."""
        from web.hosts import address_key

        return f"ip:{address_key(address or '')}"

    def _delay(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return min(self.longest, self.first * 2 ** (count - self.free))

    def _count(self, key: str, now: float) -> tuple[int, float]:
        """The failures of *key* after decay, and the time of the last one."""
        count, last = self._failures.get(key, (0, now))
        forgotten = int((now - last) // self.decay) if now > last else 0
        return max(0, count - forgotten), last

    def _wait(self, key: str, now: float) -> float:
        count, last = self._count(key, now)
        return max(0.0, last + self._delay(count) - now) if count else 0.0

    def begin(self, address_key: str, *other_keys: str) -> Attempt:
        """Ask to check one password. When allowed, the attempt is counted at once."""
        now = self.clock()
        keys = (address_key, *other_keys)
        with self._lock:
            wait = self._wait(address_key, now)
            if wait <= 0 and self._count(address_key, now)[0] > 0:
                # An address that has failed before waits for a locked user name too.
                wait = max([self._wait(k, now) for k in other_keys] + [0.0])
            if wait > 0:
                return Attempt(keys, wait)
            if len(self._failures) >= self.max_entries:
                self._forget(now)
            locked = []
            for key in keys:
                count, _ = self._count(key, now)
                self._failures[key] = (count + 1, now)
                if count + 1 == self.free:
                    locked.append(key)
            return Attempt(keys, 0.0, tuple(locked))

    def succeeded(self, attempt: Attempt) -> None:
        with self._lock:
            for key in attempt.keys:
                self._failures.pop(key, None)

    def wait_for(self, *keys: str) -> float:
        """Seconds until another attempt for any of *keys* is allowed (0: now)."""
        now = self.clock()
        with self._lock:
            return max([self._wait(key, now) for key in keys] + [0.0])

    def _forget(self, now: float) -> None:
        old = [k for k in self._failures if self._count(k, now)[0] == 0]
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
        app.config["SECRET_KEY"] = (
            device_secret(store) if store is not None else secrets.token_hex(32)
        )
    app.extensions["nightswitch.login_limiter"] = LoginLimiter(
        app.config.get("NIGHTSWITCH_LOGIN_CLOCK")
    )
    app.after_request(_security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    versions = asset_versions(app)
    app.jinja_env.globals["asset"] = lambda name: url_for(
        "static", filename=name, v=versions.get(name, "0")
    )


__all__ = [
    "LoginLimiter",
    "csrf_token",
    "csrf_valid",
    "device_secret",
    "sent_csrf_token",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CSP",
]
