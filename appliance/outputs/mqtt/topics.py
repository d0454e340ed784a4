"""Every MQTT topic nightswitch uses, in one place.

With the default prefix ``nightswitch`` and site ``branch-017``::

    nightswitch/branch-017/availability            online | offline (retained; the will)
    nightswitch/branch-017/status                  the site's summary (retained): what
                                                   `nightswitch fleet status` reads, and the
                                                   company-closure acknowledgement
    nightswitch/branch-017/zones/main/state        the zone's state (retained)
    nightswitch/branch-017/zones/main/override/set     commands (written by Home Assistant)
    nightswitch/branch-017/zones/main/override/result  each command's outcome
    nightswitch/fleet/closures                     the company closure set (retained)
    homeassistant/device/nightswitch-branch-017/config   discovery (retained)
    homeassistant/status                           Home Assistant's birth and will

Everything a site writes lies under ``PREFIX/SITE/`` (and its one discovery topic), so
a broker ACL with ``pattern readwrite PREFIX/%u/#`` keeps each site to its own topics
(docs/mqtt.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.outputs.mqtt.settings import FLEET_LEVEL


@dataclass(frozen=True)
class Topics:
    """The topics of one site.

    :param str prefix: the topic prefix (``[mqtt] topic_prefix``).
    :param str site: the site id.
    :param str discovery_prefix: Home Assistant's discovery prefix.
    """

    prefix: str
    site: str
    discovery_prefix: str = "homeassistant"

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    def state(self, zone: str) -> str:
        return f"{self.base}/zones/{zone}/state"

    def command(self, zone: str) -> str:
        return f"{self.base}/zones/{zone}/override/set"

    def result(self, zone: str) -> str:
        return f"{self.base}/zones/{zone}/override/result"

    @property
    def command_filter(self) -> str:
        """The subscription that receives every zone's commands."""
        return f"{self.base}/zones/+/override/set"

    @property
    def device_id(self) -> str:
        """Home Assistant's device id (the discovery topic's object id)."""
        return f"nightswitch-{self.site}"

    @property
    def discovery(self) -> str:
        return f"{self.discovery_prefix}/device/{self.device_id}/config"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    @property
    def fleet_closures(self) -> str:
        return fleet_closures_topic(self.prefix)

    def command_zone(self, topic: str) -> str | None:
        """The zone a command *topic* is for, or None when it is not a command topic."""
        head, tail = f"{self.base}/zones/", "/override/set"
        if topic.startswith(head) and topic.endswith(tail):
            zone = topic[len(head) : -len(tail)]
            if zone and "/" not in zone:
                return zone
        return None


def fleet_closures_topic(prefix: str) -> str:
    return f"{prefix}/{FLEET_LEVEL}/closures"


def site_of(prefix: str, topic: str) -> tuple[str, str] | None:
    """``(site, rest)`` of a topic under *prefix*, such as ``("branch-017", "status")``;
    None for the fleet's own topics and anything else."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    site, _, rest = topic[len(head) :].partition("/")
    if not site or site == FLEET_LEVEL or not rest:
        return None
    return site, rest


__all__ = ["Topics", "fleet_closures_topic", "site_of"]
