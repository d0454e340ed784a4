"""The fleet operator's side of the broker: every site's status, and the closure set.

:class:`FleetOperator` is what ``nightswitch fleet publish|status`` drive. It subscribes to
every site's retained status and availability (``PREFIX/+/status``,
``PREFIX/+/availability``) and to the retained closure set, publishes a new set, and
waits for the sites' acknowledgements (each site's status names the version in force,
or the version it refused and why).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from appliance.decision.layers import parse_company_closures
from appliance.errors import FieldError, NightswitchError, ValidationError
from appliance.outputs.mqtt.client import close_client, make_client, reason_text
from appliance.outputs.mqtt.fleet import MAX_SET_BYTES, MAX_VERSION, digest_of
from appliance.outputs.mqtt.settings import MqttSettings
from appliance.outputs.mqtt.topics import fleet_closures_topic, site_of


@dataclass
class SiteView:
    """What the broker holds about one site."""

    site: str
    status: dict | None = None
    online: bool | None = None
    status_at: float | None = None  # time.monotonic() the status arrived here

    @property
    def closures(self) -> dict:
        return (self.status or {}).get("closures") or {}


def check_set(data) -> tuple[int, str]:
    """Check a closure set before it is published: ``(version, digest)``.

    The modes of its ranges are checked by each site against what its actuators make;
    here any mode name is accepted.

    :raises ~appliance.errors.ValidationError: every problem, with the field.
    """
    parse_company_closures(data)
    version = data["version"]
    if version > MAX_VERSION:
        raise ValidationError(
            [
                FieldError(
                    "version", f"{version} is too large; use a whole number from 1 to {MAX_VERSION}"
                )
            ]
        )
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_SET_BYTES:
        raise ValidationError(
            [
                FieldError(
                    "closures", f"the set is {size:,} bytes; a site takes at most {MAX_SET_BYTES:,}"
                )
            ]
        )
    return version, digest_of(data["closures"])


@dataclass
class FleetOperator:
    """A connection to the fleet's broker as its operator.

    :param settings: :class:`~appliance.outputs.mqtt.settings.MqttSettings` (the broker,
        the operator's account, TLS, the topic prefix).
    """

    settings: MqttSettings
    sites: dict = field(default_factory=dict)
    current_set: dict | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_message: float = 0.0

    def __post_init__(self):
        self.prefix = self.settings.topic_prefix
        self.client = make_client(self.settings, client_id=self.settings.client_id)
        self.client.reconnect_delay_set(1, 2)
        self._connected = threading.Event()
        self._refused: str | None = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = reason_text(reason_code)
            return
        client.subscribe(
            [
                (f"{self.prefix}/+/status", 1),
                (f"{self.prefix}/+/availability", 1),
                (fleet_closures_topic(self.prefix), 1),
            ]
        )
        self._connected.set()

    def _on_message(self, client, userdata, msg) -> None:
        now = time.monotonic()
        self._last_message = now
        if msg.topic == fleet_closures_topic(self.prefix):
            try:
                self.current_set = json.loads(msg.payload) if msg.payload else None
            except ValueError:
                self.current_set = None
            return
        found = site_of(self.prefix, msg.topic)
        if found is None:
            return
        site, rest = found
        with self._lock:
            view = self.sites.setdefault(site, SiteView(site))
            if rest == "availability":
                view.online = msg.payload == b"online"
            elif rest == "status":
                try:
                    status = json.loads(msg.payload)
                except ValueError:
                    return  # not a nightswitch status: shown as unknown
                if isinstance(status, dict):
                    view.status, view.status_at = status, now

    def connect(self, timeout: float = 15.0) -> None:
        """Connect and take in the retained statuses.

        :raises ~appliance.errors.NightswitchError: the broker cannot be reached or
            refuses the account.
        """
        self.client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive
        )
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.05):
            if self._refused:
                self.close()
                raise NightswitchError(
                    f"the broker {self.settings.broker_url} refused the "
                    f"connection: {self._refused} (check --username and "
                    "--password-file, and the broker's ACL)"
                )
            if time.monotonic() > deadline:
                self.close()
                raise NightswitchError(
                    f"cannot reach the broker {self.settings.broker_url} within {timeout:g} s"
                )
        # Retained messages come in a burst after the subscription: wait for it to end.
        self._last_message = time.monotonic()
        end = time.monotonic() + 5.0
        while time.monotonic() < end and time.monotonic() - self._last_message < 0.4:
            time.sleep(0.05)

    def close(self) -> None:
        close_client(self.client)

    def publish_set(self, data: dict) -> None:
        """Publish *data* retained on the fleet topic and wait for the broker to take it."""
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        info = self.client.publish(fleet_closures_topic(self.prefix), payload, qos=1, retain=True)
        try:
            info.wait_for_publish(15)
        except (RuntimeError, ValueError) as exc:
            raise NightswitchError(f"the broker did not take the set: {exc}") from None
        if not info.is_published():
            raise NightswitchError("the broker did not confirm the set within 15 s")

    def snapshot(self) -> dict[str, SiteView]:
        with self._lock:
            return {
                k: SiteView(v.site, v.status, v.online, v.status_at)
                for k, v in sorted(self.sites.items())
            }

    def verdicts(self, version: int) -> dict[str, str]:
        """Each site's answer to *version*: ``applied``, ``refused``, ``pending`` (online,
        not yet answered) or ``offline``."""
        out = {}
        for site, view in self.snapshot().items():
            closures = view.closures
            refused = closures.get("refused") or {}
            if closures.get("version") is not None and closures["version"] >= version:
                out[site] = "applied" if closures["version"] == version else "newer"
            elif refused.get("version") == version:
                out[site] = "refused"
            elif view.online:
                out[site] = "pending"
            else:
                out[site] = "offline"
        return out

    def wait_for_acks(self, version: int, timeout: float) -> dict[str, str]:
        """Wait until no online site is pending (or *timeout*); the last verdicts."""
        deadline = time.monotonic() + timeout
        while True:
            verdicts = self.verdicts(version)
            if "pending" not in verdicts.values() or time.monotonic() >= deadline:
                return verdicts
            time.sleep(0.02)


__all__ = ["FleetOperator", "SiteView", "check_set"]
