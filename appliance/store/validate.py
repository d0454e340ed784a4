"""Checks on the values the store is handed, collected so one error names every problem.

The store is the last line before the disk: the web layer, the CLI, the controller and
the SMDR intake all write through it, and a bad value written today is a crash or a
wrong report in five years. So every public :class:`~appliance.store.Store` method runs
its arguments through a :class:`Checker`, which turns each problem into a
:class:`~appliance.errors.FieldError` naming the argument and what is allowed, and raises
one :class:`~appliance.errors.ValidationError` with all of them.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from appliance.validation import MODE_RE, ProblemList

ZONE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
WORD_RE = re.compile(r"[a-z][a-z0-9_-]*\Z")
SETTING_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")

ROLES = ("viewer", "operator", "admin")
#: How roles compare: a higher rank may do everything a lower one may.
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
DIRECTIONS = ("in", "out", "internal")

MAX_NAME = 64
MAX_PASSWORD = 1024  # hashing a megabyte "password" is a cheap way to stall a Pi
MIN_PASSWORD = 8
MAX_TEXT = 2000
MAX_LABEL = 100
MAX_RAW = 8192  # an SMDR record is one to three printer lines
MAX_SETTING = 65536


def to_utc_text(value: datetime) -> str:
    """The one way instants are written to the database: ISO-8601 in UTC.

    Every stored instant has the same offset (``+00:00``), so comparing the strings
    compares the instants and the time-range indices work.
    """
    return value.astimezone(timezone.utc).isoformat()


class Checker(ProblemList):
    """The store's argument checks, on the :class:`~appliance.validation.ProblemList` that
    :class:`~appliance.validation.Problems` shares.

    Each ``check`` method returns the value in the form the database wants (or ``None``
    when it is bad), so a caller checks every argument first and calls :meth:`done`
    once, which raises with every problem at once::

        check = Checker()
        zone = check.zone("zone", zone)
        at = check.instant("at", at)
        check.done()
    """

    def _string(self, field, value, *, max_len, allow_empty=False):
        if not isinstance(value, str):
            self.err(field, f"must be text, not {type(value).__name__}")
            return None
        if not value and not allow_empty:
            self.err(field, "must not be empty")
            return None
        if len(value) > max_len:
            self.err(field, f"must be at most {max_len} characters (got {len(value)})")
            return None
        return value

    def zone(self, field: str, value) -> str | None:
        """A zone name: lower-case letters, digits, ``_`` and ``-``, starting with a letter
        or digit."""
        value = self._string(field, value, max_len=MAX_NAME)
        if value is not None and not ZONE_RE.match(value):
            self.err(
                field,
                f"{value!r} is not a zone name: use lower-case letters, digits, "
                "'_' and '-', starting with a letter or digit (such as 'main')",
            )
            return None
        return value

    def mode(self, field: str, value, *, optional: bool = False) -> str | None:
        """A mode name such as ``day``, ``night`` or ``lunch`` (``[a-z][a-z0-9_-]*``)."""
        if value is None and optional:
            return None
        value = self._string(field, value, max_len=MAX_NAME)
        if value is not None and not MODE_RE.match(value):
            self.err(
                field,
                f"{value!r} is not a mode name: use a lower-case word "
                "such as 'day', 'night' or 'lunch' ([a-z][a-z0-9_-]*)",
            )
            return None
        return value

    def word(self, field: str, value, *, what: str) -> str | None:
        """A lower-case identifier such as an audit source (``key``, ``web``, ``schedule``)."""
        value = self._string(field, value, max_len=32)
        if value is not None and not WORD_RE.match(value):
            self.err(
                field,
                f"{value!r} is not {what}: use a lower-case word "
                "([a-z][a-z0-9_-]*, at most 32 characters)",
            )
            return None
        return value

    def role(self, field: str, value) -> str | None:
        if value not in ROLES:
            self.err(field, f"{value!r} is not a role: use one of {', '.join(ROLES)}")
            return None
        return value

    def user_name(self, field: str, value) -> str | None:
        """1 to 64 printable characters without spaces."""
        value = self._string(field, value, max_len=MAX_NAME)
        if value is None:
            return None
        if not value.isprintable() or any(ch.isspace() for ch in value):
            self.err(
                field,
                f"{value!r} is not a user name: use 1 to {MAX_NAME} printable "
                "characters without spaces",
            )
            return None
        return value

    def password(self, field: str, value, name: str | None = None) -> str | None:
        if not isinstance(value, str):
            self.err(field, f"must be text, not {type(value).__name__}")
            return None
        if len(value) < MIN_PASSWORD:
            # never echo the password itself, not even a short one
            self.err(field, f"must be at least {MIN_PASSWORD} characters (got {len(value)})")
            return None
        if len(value) > MAX_PASSWORD:
            self.err(field, f"must be at most {MAX_PASSWORD} characters")
            return None
        from appliance.accounts.passwords import weakness

        if problem := weakness(value, name):
            self.err(field, problem)
            return None
        return value

    def text(
        self,
        field: str,
        value,
        *,
        max_len: int = MAX_TEXT,
        allow_empty: bool = True,
        optional: bool = False,
    ) -> str | None:
        if value is None and optional:
            return None
        return self._string(field, value, max_len=max_len, allow_empty=allow_empty)

    def label(self, field: str, value) -> str:
        """What a token is for: up to 100 printable characters (spaces allowed, no
        control characters, no line breaks), or empty."""
        if value is None:
            return ""
        value = self._string(field, value, max_len=MAX_LABEL, allow_empty=True)
        if value is None:
            return ""
        if not value.isprintable():
            self.err(
                field,
                "must be printable text: letters, digits, spaces and punctuation, "
                "no control characters or line breaks",
            )
            return ""
        return value.strip()

    def who(self, field: str, value) -> str | None:
        """Who did something: a user name, ``schedule``, ``key``, ``cli:root`` ..."""
        value = self._string(field, value, max_len=128)
        if value is not None and not value.isprintable():
            self.err(field, "must be printable text without control characters")
            return None
        return value

    def instant(self, field: str, value, *, optional: bool = False) -> str | None:
        """A timezone-aware :class:`~datetime.datetime`, returned as ISO-8601 UTC text."""
        if value is None and optional:
            return None
        if not isinstance(value, datetime):
            allowed = "a timezone-aware datetime" + (" or None" if optional else "")
            self.err(field, f"must be {allowed}, not {type(value).__name__}")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.err(
                field,
                f"must be timezone-aware (got naive {value.isoformat()}); "
                "pass an instant with its offset, such as UTC",
            )
            return None
        return to_utc_text(value)

    def count(
        self,
        field: str,
        value,
        *,
        minimum: int = 0,
        maximum: int | None = None,
        optional: bool = False,
    ) -> int | None:
        """A whole number (not a bool) within limits (at most SQLite's 64-bit largest
        integer, which a larger one would overflow)."""
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(field, f"must be a whole number, not {type(value).__name__}")
            return None
        if maximum is None and value > 2**63 - 1:
            maximum = 2**63 - 1
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            self.err(field, f"must be at least {minimum}{upper} (got {value})")
            return None
        return value

    def flag(self, field: str, value, *, optional: bool = False) -> int | None:
        """A bool, stored as 0/1 (or NULL when unknown)."""
        if value is None and optional:
            return None
        if not isinstance(value, bool):
            self.err(field, f"must be true, false or unknown (None), not {type(value).__name__}")
            return None
        return int(value)

    def choice(self, field: str, value, choices, *, optional: bool = False):
        if value is None and optional:
            return None
        if value not in choices:
            extra = " or None" if optional else ""
            self.err(field, f"{value!r} is not allowed: use one of {', '.join(choices)}{extra}")
            return None
        return value

    def setting_key(self, field: str, value) -> str | None:
        value = self._string(field, value, max_len=MAX_NAME)
        if value is not None and not SETTING_RE.match(value):
            self.err(
                field,
                f"{value!r} is not a setting name: use lower-case letters, digits, "
                "'_', '.' and '-'",
            )
            return None
        return value
