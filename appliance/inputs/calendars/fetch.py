"""Fetching a calendar: an ICS URL over HTTP(S), or a CalDAV calendar.

Both give back the bytes of one iCalendar file, so the rest (the stored last good
copy, expansion) does not care where it came from. Every failure raises
:exc:`~appliance.inputs.calendars.expand.FeedError` with a message a facilities
manager can act on: a 404, a timeout, refused credentials, a file too large, a body
that is not iCalendar. Nothing here ever runs on the controller thread.

Bounds: the whole fetch must finish within about *timeout* seconds (a server that
drips one byte a second is cut off, not waited for), and the body may hold at most
:data:`~appliance.inputs.calendars.expand.MAX_FEED_BYTES`.

Secrets: a Google secret address carries its key in the URL, and a CalDAV calendar has
a password. :func:`redact_url` is what logs, errors and the web page show.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

from appliance.errors import FeedError
from appliance.inputs.calendars.expand import MAX_FEED_BYTES, check_feed_bytes

_CHUNK = 64 * 1024
USER_AGENT = "nightswitch-calendar/1"


def redact_url(url: str) -> str:
    """*url* without what may be secret: only its scheme and host are shown (Google's
    secret address ends in ``/private-KEY/basic.ics``; others put a key anywhere in the
    path or the query, or a password before the host)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(an address that cannot be read)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    more = "..." if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}/{more}"


def http_url(url: str) -> str:
    """``webcal://`` (what calendar apps hand out) is HTTPS."""
    if url.lower().startswith("webcal://"):
        return "https://" + url[len("webcal://") :]
    return url


def _deadline_left(deadline: float, url: str, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FeedError(f"{redact_url(url)} did not send the whole calendar within {timeout:g} s")
    return left


def fetch_ics(
    url: str,
    *,
    timeout: float = 20.0,
    username: str | None = None,
    password: str | None = None,
    max_bytes: int = MAX_FEED_BYTES,
) -> bytes:
    """The body of an ICS URL.

    :param str url: ``https://``, ``http://`` or ``webcal://``.
    :param float timeout: seconds for the whole fetch.
    :param str username: for HTTP basic authentication (with *password*), or None.
    :raises FeedError: with the reason in words.
    """
    url = http_url(url)
    shown = redact_url(url)
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    )
    if username:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            length = answer.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise FeedError(
                    f"{shown} sends {int(length) / 1e6:.1f} MB; at most "
                    f"{max_bytes // (1024 * 1024)} MB is accepted"
                )
            chunks, size = [], 0
            while True:
                # read1: one receive at a time (each bounded by the socket timeout), so
                # the deadline is checked between them even when a server drips.
                chunk = answer.read1(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FeedError(
                        f"{shown} sends more than "
                        f"{max_bytes // (1024 * 1024)} MB; at most that is "
                        "accepted"
                    )
                chunks.append(chunk)
                _deadline_left(deadline, url, timeout)
    except FeedError:
        raise
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the answer's socket
        raise FeedError(_http_message(shown, exc.code, exc.reason)) from None
    except TimeoutError:
        raise FeedError(f"{shown} did not answer within {timeout:g} s") from None
    except urllib.error.URLError as exc:
        raise FeedError(f"cannot reach {shown}: {_reason(exc.reason)}") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise FeedError(f"cannot fetch {shown}: {_reason(exc)}") from None
    body = b"".join(chunks)
    try:
        check_feed_bytes(body)
    except FeedError as exc:
        raise FeedError(f"{shown} sent {exc}") from None
    return body


def _http_message(shown: str, code: int, reason) -> str:
    if code in (401, 403):
        return (
            f"{shown} refused the credentials (HTTP {code}); check user and password,"
            " or whether the address is still shared"
        )
    if code == 404:
        return (
            f"{shown} has no calendar there (HTTP 404 Not Found); the address may "
            "have changed or the calendar was unpublished"
        )
    return f"{shown} answered HTTP {code} {reason or ''}".rstrip()


def _reason(reason) -> str:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({reason.verify_message})"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(reason, socket.gaierror):
        return "the host name is unknown (check the address and the Pi's DNS)"
    if isinstance(reason, ConnectionRefusedError):
        return "the connection was refused (is the server running?)"
    return str(getattr(reason, "strerror", None) or reason)[:200]


def fetch_caldav(
    url: str,
    *,
    username: str | None,
    password: str | None,
    start: datetime,
    end: datetime,
    timeout: float = 20.0,
    max_bytes: int = MAX_FEED_BYTES,
) -> bytes:
    """The events of one CalDAV calendar between *start* and *end*, as one iCalendar
    file (each event's ``VTIMEZONE`` kept once).

    :param str url: the calendar collection's URL (not the server's root).
    :raises FeedError: with the reason in words.
    """
    from caldav.davclient import DAVClient
    from caldav.lib import error as dav_error

    shown = redact_url(url)
    try:
        with DAVClient(
            url=url,
            username=username or None,
            password=password or None,
            timeout=int(max(1, timeout)),
            enable_rfc6764=False,
        ) as client:
            calendar = client.calendar(url=url)
            found = calendar.search(start=start, end=end, event=True, expand=False)
            texts = [item.data for item in found]
    except dav_error.AuthorizationError:
        raise FeedError(f"{shown} refused the credentials; check user and password") from None
    except dav_error.NotFoundError:
        raise FeedError(
            f"{shown} has no calendar there (not found); check the calendar's CalDAV address"
        ) from None
    except dav_error.DAVError as exc:
        code = getattr(exc, "status", None) or ""
        raise FeedError(f"{shown} answered with an error {code}: {_first(exc)}") from None
    except Exception as exc:  # requests/niquests errors, timeouts, bad XML
        text = _first(exc)
        if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
            raise FeedError(f"{shown} did not answer within {timeout:g} s") from None
        if "401" in text or "403" in text:
            raise FeedError(f"{shown} refused the credentials; check user and password") from None
        if "404" in text:
            raise FeedError(f"{shown} has no calendar there (not found)") from None
        raise FeedError(f"cannot read the CalDAV calendar {shown}: {text}") from None
    return merge_calendars(texts, max_bytes=max_bytes, shown=shown)


def merge_calendars(texts, *, max_bytes: int = MAX_FEED_BYTES, shown: str = "") -> bytes:
    """One ``VCALENDAR`` holding the events (and each time zone once) of *texts*."""
    import icalendar

    merged = icalendar.Calendar()
    merged.add("prodid", "-//nightswitch//calendar copy//EN")
    merged.add("version", "2.0")
    zones, size, wr_zone = set(), 0, None
    for text in texts:
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        size += len(raw)
        if size > max_bytes:
            raise FeedError(
                f"{shown} holds more than {max_bytes // (1024 * 1024)} MB of "
                "events; at most that is accepted"
            )
        try:
            part = icalendar.Calendar.from_ical(raw)
        except Exception as exc:
            raise FeedError(f"{shown} sent an event that cannot be read: {_first(exc)}") from None
        # Google's events keep their calendar's X-WR-TIMEZONE: a series stored in UTC
        # means "at this local time" by it, and must keep meaning that in the copy.
        if wr_zone is None and part.get("X-WR-TIMEZONE"):
            wr_zone = str(part["X-WR-TIMEZONE"])
            merged.add("X-WR-TIMEZONE", wr_zone)
        for component in part.subcomponents:
            if component.name == "VTIMEZONE":
                tzid = str(component.get("TZID"))
                if tzid in zones:
                    continue
                zones.add(tzid)
            merged.add_component(component)
    return merged.to_ical()


def _first(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
