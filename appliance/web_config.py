"""The ``[web]`` keys about who may reach the page: ``allowed_hosts``.

``allowed_hosts`` lists the names the appliance answers to besides its own (web.hosts
adds ``localhost``, the host name, ``<host name>.local`` and the fully qualified name,
and always accepts a bare address). An entry is a host name (``nightswitch.example.com``),
a wildcard for a domain (``*.example.com``), or ``*`` alone, which turns the check off.
"""

from __future__ import annotations

import re

#: A host name as DNS allows it (labels of letters, digits and '-'), optionally after '*.'.
HOST_RE = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}"
    r"[a-z0-9])?)*\.?\Z"
)
MAX_HOSTS = 50


def check_allowed_hosts(c, web: dict, cfg) -> None:
    """Validate ``[web] allowed_hosts`` into ``cfg.allowed_hosts`` (a tuple, lower case).

    :param c: the config's error collector (``err(path, message)``).
    """
    value = web.get("allowed_hosts", [])
    path = "web.allowed_hosts"
    if not isinstance(value, list):
        c.err(path, 'must be a list of host names, such as ["nightswitch.example.com"]')
        return
    if len(value) > MAX_HOSTS:
        c.err(path, f"lists {len(value)} names; at most {MAX_HOSTS} are allowed")
        return
    names = []
    for i, item in enumerate(value):
        name = item.strip().lower() if isinstance(item, str) else None
        if name == "*" or (name and len(name) <= 253 and HOST_RE.match(name)):
            names.append(name.rstrip("."))
        else:
            c.err(
                f"{path}[{i}]",
                f"{item!r} is not a host name; use a name such as "
                "'nightswitch.example.com', '*.example.com' for a whole "
                "domain, or '*' for any name (turns the check off)",
            )
    cfg.allowed_hosts = tuple(names)
