"""Where a form may send a person back to: a path on this appliance, never elsewhere.

Browsers are generous with what they call a path. ``/\\t/evil.example/phish`` loses its
tab and becomes ``//evil.example/phish``, a link to another host; a backslash is read
as a slash; a scheme or a host name turns the "path" into another site. So a target is
accepted only when it has no control character and no whitespace at all (as the
framework hands it over, already decoded from the query), no backslash, starts with
exactly one ``/``, and parses with no scheme and no host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_TARGET = 2000


def safe_local_path(target) -> str | None:
    """*target* if it is a path on this appliance, else None."""
    if not isinstance(target, str) or not target or len(target) > MAX_TARGET:
        return None
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


__all__ = ["safe_local_path"]
