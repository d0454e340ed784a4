"""Which names the appliance answers to, and what it believes of a TLS front.

**Host allow-list.** A web page on the internet can make a browser on the office LAN
talk to the appliance under the page's own name, by pointing that name at the
appliance's address (DNS rebinding); the browser then treats the appliance as part of
that site. The defence is to answer only to names that really are the appliance's: by
default ``localhost``, the Pi's host name, ``<host name>.local`` and its fully
qualified name, plus ``[web] allowed_hosts`` from the config. An address typed as such
(``192.168.1.20``, ``[fe80::1]``) is always accepted: rebinding needs a name, so a bare
address cannot be one, and a DHCP lease that changes must not lock anyone out.
``allowed_hosts = ["*"]`` turns the check off (documented, for odd reverse proxies).

**A TLS front** (``install.sh --tls``: nginx on 443 in front of the appliance on
127.0.0.1:8080). Only a request from 127.0.0.1 or ::1 may say, in
``X-Forwarded-For`` and ``X-Forwarded-Proto``, who the client was and that it came over
HTTPS (werkzeug's :class:`~werkzeug.middleware.proxy_fix.ProxyFix`, one proxy). From
anywhere else those headers are ignored, so nobody on the LAN can claim to be the
appliance itself (which the first-run page trusts) or fake HTTPS. Over HTTPS the
session cookie is ``Secure`` (:mod:`web.sessions`) and answers carry
``Strict-Transport-Security``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time

from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from web.errors import ApiError

#: Account and security events go to one named channel, so an admin can follow them in
#: the journal (``journalctl -u nightswitch | grep nightswitch.security``) whichever
#: module saw them: the one deliberate exception to ``getLogger(__name__)``.
log = logging.getLogger("nightswitch.security")

#: The WSGI environ key the Unix-socket server sets (web.serving); such a request has
#: no Host worth checking and never comes through a proxy.
LOCAL_SOCKET = "nightswitch.local_peer"
#: Who may speak for a client: the TLS front on this machine.
TRUSTED_PROXIES = ("127.0.0.1", "::1")
HSTS = "max-age=31536000"
_WARN_EVERY_S = 60.0


def default_host_names() -> tuple[str, ...]:
    """``localhost`` and this machine's names, lower case."""
    names = {"localhost"}
    try:
        host = socket.gethostname().strip().lower().rstrip(".")
    except OSError:
        host = ""
    if host:
        names |= {host, f"{host}.local"}
        short = host.split(".")[0]
        names |= {short, f"{short}.local"}
    try:
        fqdn = socket.getfqdn().strip().lower().rstrip(".")
    except OSError:
        fqdn = ""
    if fqdn and fqdn != "localhost":
        names.add(fqdn)
    return tuple(sorted(names))


def split_host(header: str) -> str | None:
    """The host part of a ``Host`` header, lower case, or None when it is malformed."""
    header = (header or "").strip().lower()
    if (
        not header
        or len(header) > 300
        or any(ch.isspace() or not ch.isprintable() for ch in header)
    ):
        return None
    if header.startswith("["):
        end = header.find("]")
        if end < 0 or (header[end + 1 :] and not header[end + 1 :].startswith(":")):
            return None
        return header[1:end]
    host, _, port = header.partition(":")
    if port and not port.isdigit():
        return None
    return host.rstrip(".")


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def address_key(address) -> str:
    """One client, for counting connections and failed logins: an IPv4 address as it
    is, an IPv6 address as its /64 (one host may hold a whole /64), an IPv4-mapped IPv6
    address as the IPv4 address."""
    try:
        ip = ipaddress.ip_address(str(address).split("%")[0])
    except ValueError:
        return str(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def host_allowed(host: str | None, names) -> bool:
    """Whether *host* (from :func:`split_host`) is one of *names* or an address.

    An entry ``*.example.com`` matches every name under ``example.com``; ``*`` matches
    anything.
    """
    if host is None:
        return False
    if is_address(host):
        return True
    for name in names:
        if name == "*" or name == host:
            return True
        if name.startswith("*.") and host.endswith(name[1:]):
            return True
    return False


class LoopbackProxyFix:
    """:class:`ProxyFix` for requests from :data:`TRUSTED_PROXIES` only."""

    def __init__(self, app):
        self.app = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0, x_port=0, x_prefix=0)

    def __call__(self, environ, start_response):
        if environ.get("REMOTE_ADDR") in TRUSTED_PROXIES and LOCAL_SOCKET not in environ:
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def allowed_names(app) -> tuple[str, ...]:
    """This machine's names (looked up once) and the config's ``allowed_hosts`` (read
    each time, so a reloaded config takes effect)."""
    own = app.extensions.get("nightswitch.host_names")
    if own is None:
        own = app.extensions["nightswitch.host_names"] = default_host_names()
    facade = app.extensions.get("nightswitch")
    extra = getattr(getattr(facade, "site", None), "allowed_hosts", ()) or ()
    return own + tuple(n.lower().rstrip(".") for n in extra)


_last_warning = {"at": 0.0}


def check_host() -> None:
    """Refuse (400) a request whose Host is not one of the appliance's names."""
    if LOCAL_SOCKET in request.environ:
        return
    names = allowed_names(current_app)
    raw = request.environ.get("HTTP_HOST", "")
    if host_allowed(split_host(raw), names):
        return
    now = time.monotonic()
    if now - _last_warning["at"] > _WARN_EVERY_S:
        _last_warning["at"] = now
        log.warning(
            "refused a request for Host %r from %s (not a name of this appliance; "
            "add it to [web] allowed_hosts if it is one)",
            raw[:100],
            request.remote_addr,
        )
    shown = raw[:100] if raw.isprintable() else repr(raw[:100])
    raise ApiError(
        400,
        f"this appliance does not answer to the name {shown!r}; use its "
        "address or one of its names (an installer adds names in [web] "
        "allowed_hosts of /etc/nightswitch/nightswitch.toml)",
    )


def strict_transport(response):
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app) -> None:
    app.wsgi_app = LoopbackProxyFix(app.wsgi_app)
    app.after_request(strict_transport)


__all__ = [
    "LOCAL_SOCKET",
    "LoopbackProxyFix",
    "address_key",
    "check_host",
    "default_host_names",
    "host_allowed",
    "init_app",
    "split_host",
]
