"""Which passwords are refused, and the strong ones the appliance makes up.

A password must be 8 to 1024 characters (:mod:`appliance.store.validate`) and must not
be one of the passwords people choose most often, which guessing starts with: the list
is data, ``common-passwords.txt`` beside this module, one password a line, so an
installer can read it and add a site's own weak favourites. The check ignores case,
and also refuses the user's own name as a password.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path

LIST_FILE = Path(__file__).with_name("common-passwords.txt")


@functools.cache
def common_passwords(path: Path = LIST_FILE) -> frozenset[str]:
    """The refused passwords, lower case (read once)."""
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            words.add(word.casefold())
    return frozenset(words)


def weakness(password: str, name: str | None = None) -> str | None:
    """Why *password* is refused, or None. Never repeats the password."""
    folded = password.casefold()
    if folded in common_passwords():
        return (
            "is one of the most common passwords, which guessing tries first; choose "
            "another (a few unrelated words make a strong one)"
        )
    if name and folded == name.casefold():
        return "must not be the user name"
    return None


def generate() -> str:
    """A strong random password: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


__all__ = ["common_passwords", "generate", "weakness"]
