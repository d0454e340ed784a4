"""The ``[mqtt]`` section of the installer's config, checked.

::

    [mqtt]
    broker = "mqtts://broker.example.net:8883"   # mqtt://HOST[:PORT] or mqtts://HOST[:PORT]
    site_id = "branch-017"                       # this site's topics and device id
    username = "branch-017"                      # the broker account (the ACL's %u)
    password_file = "/etc/nightswitch/mqtt-password"
    ca_file = "/etc/nightswitch/mqtt-ca.pem"     # mqtts only; default: the system's CAs

:func:`check_mqtt` reads the table and returns :class:`MqttSettings`, or records one
:class:`~appliance.errors.FieldError` per problem (``mqtt.broker: ...``) so that
``nightswitch check`` lists them with every other error of the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import overload
from urllib.parse import urlsplit

from appliance.errors import FieldError

#: A site id is a topic level and part of Home Assistant's device id: no '/', '+', '#'.
SITE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: Topic prefixes: levels of letters, digits, '_' and '-' (no wildcards, no '$SYS').
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")
#: The topic level under the prefix that carries what the fleet sends to every site.
FLEET_LEVEL = "fleet"
SCHEMES = {"mqtt": 1883, "mqtts": 8883}
KEYS = {
    "broker",
    "site_id",
    "username",
    "password",
    "password_file",
    "ca_file",
    "cert_file",
    "key_file",
    "topic_prefix",
    "discovery",
    "discovery_prefix",
    "fleet",
    "keepalive",
    "client_id",
    "reconnect_max_s",
}
#: MQTT 3.1.1 client ids may be refused by a broker above 23 bytes; Mosquitto takes 65535.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class MqttSettings:
    """A checked ``[mqtt]`` section.

    :param str host: the broker's host name or address.
    :param int port: its port (1883 for ``mqtt://``, 8883 for ``mqtts://`` by default).
    :param bool tls: ``mqtts://``: TLS with the broker's certificate checked.
    :param str site_id: this site's id, a topic level and part of the device id.
    :param username: the broker account, or None.
    :param password: the password (from ``password`` or ``password_file``), or None.
    :param ca_file: the CA that signed the broker's certificate; None: the system's CAs.
    :param cert_file: a client certificate (with *key_file*), or None.
    :param str topic_prefix: the first level(s) of every nightswitch topic.
    :param bool discovery: publish Home Assistant's discovery message.
    :param str discovery_prefix: Home Assistant's discovery prefix.
    :param bool fleet: take company closures from the fleet topic.
    :param int keepalive: seconds; the broker declares the site offline after 1.5 times it.
    :param str client_id: the MQTT client id.
    :param float reconnect_max_s: the longest wait between two connection attempts.
    """

    host: str
    port: int
    tls: bool
    site_id: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    topic_prefix: str = "nightswitch"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    fleet: bool = True
    keepalive: int = 30
    client_id: str = ""
    reconnect_max_s: float = 30.0

    @property
    def broker_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    @property
    def who(self) -> str:
        """Who an MQTT command is recorded as in the audit log: the broker account."""
        return self.username or f"mqtt:{self.site_id}"

    def __repr__(self) -> str:  # never show the password in a log or a traceback
        return (
            f"MqttSettings({self.broker_url}, site_id={self.site_id!r}, username={self.username!r})"
        )


def _readable_file(errors: list, path: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append(
            FieldError(path, "must be the path of a file, such as '/etc/nightswitch/mqtt-ca.pem'")
        )
        return None
    if not os.path.isfile(value):
        errors.append(FieldError(path, f"{value!r}: no such file"))
        return None
    if not os.access(value, os.R_OK):
        errors.append(
            FieldError(
                path,
                f"{value!r} cannot be read by this user; "
                "the nightswitch service user must be able to read it",
            )
        )
        return None
    return value


@overload
def _string(
    errors: list, table: dict, key: str, default: str, *, pattern=None, hint: str = ""
) -> str: ...


@overload
def _string(
    errors: list, table: dict, key: str, default: None = None, *, pattern=None, hint: str = ""
) -> str | None: ...


def _string(
    errors: list, table: dict, key: str, default: str | None = None, *, pattern=None, hint: str = ""
) -> str | None:
    value = table.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
        errors.append(FieldError(f"mqtt.{key}", f"{value!r} is not allowed{hint}"))
        return default
    return value


def _parse_broker(errors: list, value) -> tuple[str, int, bool] | None:
    example = "such as 'mqtt://192.0.2.10:1883' or 'mqtts://broker.example.net:8883'"
    if value is None:
        errors.append(FieldError("mqtt.broker", f"is required: the broker's URL, {example}"))
        return None
    if not isinstance(value, str):
        errors.append(FieldError("mqtt.broker", f"must be a URL {example}"))
        return None
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError:
        errors.append(FieldError("mqtt.broker", f"{value!r} is not a URL; use one {example}"))
        return None
    if url.scheme not in SCHEMES:
        errors.append(
            FieldError(
                "mqtt.broker", f"{value!r}: the scheme must be mqtt:// or mqtts:// (TLS), {example}"
            )
        )
        return None
    if not url.hostname or url.path not in ("", "/") or url.query or url.username:
        errors.append(
            FieldError(
                "mqtt.broker",
                f"{value!r} must be just a host and port, "
                f"{example}; give the account in username "
                "and password_file",
            )
        )
        return None
    from appliance.config import listen_host_problem

    if problem := listen_host_problem(url.hostname):
        errors.append(FieldError("mqtt.broker", f"the host {problem}"))
        return None
    if port == 0:
        errors.append(FieldError("mqtt.broker", f"{value!r}: port 0 is not a port; use 1 to 65535"))
        return None
    return url.hostname, port or SCHEMES[url.scheme], url.scheme == "mqtts"


def check_mqtt(data: dict, errors: list) -> MqttSettings | None:
    """Check the ``[mqtt]`` table of the parsed config *data*.

    :param dict data: the whole parsed TOML document.
    :param list errors: :class:`~appliance.errors.FieldError` entries are appended here.
    :returns: the settings, or None when the section is absent or has errors.
    """
    table = data.get("mqtt")
    if table is None:
        return None
    if not isinstance(table, dict):
        errors.append(FieldError("mqtt", "must be a table ([mqtt])"))
        return None
    before = len(errors)
    for key in table:
        if key not in KEYS:
            errors.append(
                FieldError(
                    f"mqtt.{key}", "unknown key; allowed keys are " + ", ".join(sorted(KEYS))
                )
            )
    broker = _parse_broker(errors, table.get("broker"))
    site_id = _string(
        errors,
        table,
        "site_id",
        pattern=SITE_ID_RE,
        hint="; use 1 to 32 lower-case letters, digits, '-' and '_' "
        "(it is an MQTT topic level and the Home Assistant device id)",
    )
    if site_id == FLEET_LEVEL:
        errors.append(
            FieldError(
                "mqtt.site_id",
                f"{site_id!r} is taken by the fleet's own topics; choose another site id",
            )
        )
        site_id = None
    if "site_id" not in table:
        errors.append(
            FieldError(
                "mqtt.site_id", "is required: this site's id in the fleet, such as 'branch-017'"
            )
        )
    username = _string(errors, table, "username", hint="; use the broker account's name")
    password = None
    if "password" in table and "password_file" in table:
        errors.append(
            FieldError("mqtt.password", "give either password or password_file, not both")
        )
    elif "password" in table:
        password = _string(errors, table, "password", hint="; give the password as a string")
    elif path := _readable_file(errors, "mqtt.password_file", table.get("password_file")):
        try:
            password = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(FieldError("mqtt.password_file", f"cannot be read: {exc}"))
        else:
            if not password:
                password = None
                errors.append(FieldError("mqtt.password_file", f"{path!r} is empty"))
    if password is not None and username is None:
        errors.append(FieldError("mqtt.username", "is required when a password is given"))
    ca_file = _readable_file(errors, "mqtt.ca_file", table.get("ca_file"))
    cert_file = _readable_file(errors, "mqtt.cert_file", table.get("cert_file"))
    key_file = _readable_file(errors, "mqtt.key_file", table.get("key_file"))
    if ("cert_file" in table) != ("key_file" in table):
        errors.append(
            FieldError("mqtt.cert_file", "a client certificate needs both cert_file and key_file")
        )
    tls = bool(broker and broker[2])
    if broker and not tls:
        for key in ("ca_file", "cert_file", "key_file"):
            if key in table:
                errors.append(
                    FieldError(
                        f"mqtt.{key}",
                        "is only used with TLS: write the broker as mqtts://HOST:PORT",
                    )
                )
    prefix = _string(
        errors,
        table,
        "topic_prefix",
        "nightswitch",
        pattern=PREFIX_RE,
        hint="; use letters, digits, '_' and '-', in up to 4 levels "
        "separated by '/', such as 'nightswitch' or 'acme/phones'",
    )
    discovery_prefix = _string(
        errors,
        table,
        "discovery_prefix",
        "homeassistant",
        pattern=PREFIX_RE,
        hint="; use Home Assistant's discovery prefix, 'homeassistant' unless you changed it there",
    )
    flags = {}
    for key in ("discovery", "fleet"):
        value = table.get(key, True)
        if not isinstance(value, bool):
            errors.append(FieldError(f"mqtt.{key}", f"must be true or false, not {value!r}"))
        flags[key] = value is True
    keepalive = table.get("keepalive", 30)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 5 <= keepalive <= 600:
        errors.append(
            FieldError(
                "mqtt.keepalive", f"{keepalive!r} is not allowed; use whole seconds from 5 to 600"
            )
        )
    reconnect_max = table.get("reconnect_max_s", 30)
    if (
        isinstance(reconnect_max, bool)
        or not isinstance(reconnect_max, (int, float))
        or not 1 <= reconnect_max <= 600
    ):
        errors.append(
            FieldError(
                "mqtt.reconnect_max_s",
                f"{reconnect_max!r} is not allowed; use seconds from 1 to 600",
            )
        )
    client_id = _string(
        errors,
        table,
        "client_id",
        pattern=CLIENT_ID_RE,
        hint="; use 1 to 64 letters, digits, '.', '_' and '-'",
    )
    if len(errors) > before or broker is None or site_id is None:
        return None
    host, port, tls = broker
    return MqttSettings(
        host=host,
        port=port,
        tls=tls,
        site_id=site_id,
        username=username,
        password=password,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        topic_prefix=prefix,
        discovery=flags["discovery"],
        discovery_prefix=discovery_prefix,
        fleet=flags["fleet"],
        keepalive=keepalive,
        client_id=client_id or f"nightswitch-{site_id}",
        reconnect_max_s=float(reconnect_max),
    )


def describe(settings: MqttSettings) -> str:
    """One line for ``nightswitch check``: what the section sets up."""
    parts = [
        f"MQTT: site {settings.site_id} on {settings.broker_url}",
        f"as {settings.username}" if settings.username else "without an account",
        f"keepalive {settings.keepalive} s",
    ]
    if settings.discovery:
        parts.append(f"Home Assistant discovery under {settings.discovery_prefix}/")
    if settings.fleet:
        parts.append("company closures from the fleet")
    return parts[0] + " " + ", ".join(parts[1:])


__all__ = ["MqttSettings", "check_mqtt", "describe"]
