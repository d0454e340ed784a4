"""Company-wide closures for a fleet: the set, its versions, and how a site applies it.

The fleet's operator publishes one **closure set**, retained, on ``PREFIX/fleet/closures``
(``nightswitch fleet publish FILE``)::

    {"version": 7,
     "closures": [{"name": "Staff day", "from": "2026-06-12", "to": "2026-06-12",
                   "ranges": []},
                  {"name": "Christmas Eve", "from": "2026-12-24", "to": "2026-12-24",
                   "ranges": [{"start": "08:00", "end": "12:00", "mode": "day"}]}]}

Each closure has the shape of a schedule's date exception and is checked by the same
parser (:func:`appliance.decision.layers.parse_company_closures`). A site puts the set in
force as the **company layer** of every zone's schedule
(:meth:`Controller.set_schedule_layer`, kind ``company``): it never overwrites the site's
own hours. docs/design.md#modes-and-precedence places it: the site's own date exceptions
and its calendar closures win over it, and it wins over public holidays, seasons and the
weekly hours. Reasons read ``company closure v7: Staff day``.

Versions only go up. A site applies a set whose version is higher than the one in force,
and acknowledges it in its status (``closures.version``); the same version with the same
closures is the set already in force (acknowledged again, nothing changes); an older
version, or the same version with other closures, is refused. A refused set changes
nothing: the errors are published in the site's status (``closures.refused``) and the set
in force stays. To withdraw every company closure, publish a higher version with
``"closures": []``.

The set in force is kept in the store, so it is in force from the first decision after a
restart, broker or no broker; a site that was offline gets the retained set when it
reconnects and applies it then.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import tzinfo

from appliance.decision.layers import parse_company_closures
from appliance.errors import FieldError, ValidationError
from appliance.outputs.mqtt.commands import decode_text

log = logging.getLogger(__name__)

#: The store keeps settings up to 64 KiB; a set of a few hundred closures is far below.
MAX_SET_BYTES = 60_000
#: JSON numbers above 2**53 lose digits in JavaScript (Home Assistant's front end).
MAX_VERSION = 2**53 - 1
SETTING = "mqtt.company-closures"


@dataclass(frozen=True)
class ClosureSet:
    """A checked closure set.

    :param int version: its version.
    :param str digest: a hash of its closures, to tell a republished set from a new one.
    :param dict data: the document as published.
    :param dict layers: zone name to its ``company`` :class:`ClosureLayer`.
    """

    version: int
    digest: str
    data: dict
    layers: dict


def digest_of(closures) -> str:
    canonical = json.dumps(closures, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def load_document(payload: bytes) -> dict:
    """The JSON object in *payload*, or a ValidationError that says why not."""
    text = decode_text(payload, limit=MAX_SET_BYTES, what="a closure set")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValidationError([FieldError("", f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise ValidationError(
            [
                FieldError(
                    "", 'must be a company closure set such as {"version": 7, "closures": [...]}'
                )
            ]
        )
    return data


def parse_closure_set(data: dict, zone_modes: dict) -> ClosureSet:
    """Check a closure set for every zone of a site.

    :param dict data: the decoded document.
    :param dict zone_modes: zone name to the modes its actuators make (None: any mode);
        at least one zone.
    :raises ~appliance.errors.ValidationError: every problem; a mode that one zone cannot
        make is named with the zone (``zone sales: closures[1].ranges[0].mode``).
    """
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > MAX_VERSION:
        raise ValidationError(
            [
                FieldError(
                    "version", f"{version} is too large; use a whole number from 1 to {MAX_VERSION}"
                )
            ]
        )
    layers, errors = {}, []
    for zone, modes in zone_modes.items():
        try:
            layers[zone] = parse_company_closures(data, allowed_modes=modes)
        except ValidationError as exc:
            for error in exc.errors:
                if len(zone_modes) > 1:
                    error = FieldError(f"zone {zone}: {error.field}", error.message)
                if error not in errors:
                    errors.append(error)
    if errors:
        raise ValidationError(errors)
    if not isinstance(version, int):  # each zone's check refused it already
        raise ValidationError([FieldError("version", "must be a whole number, 1 or more")])
    return ClosureSet(version, digest_of(data["closures"]), data, layers)


def version_verdict(incoming: ClosureSet, applied: dict | None) -> str | None:
    """``"apply"``, ``"same"`` (already in force), or None with the refusal raised.

    :param applied: the record of the set in force (``version``, ``digest``), or None.
    :raises ~appliance.errors.ValidationError: an older version, or this version with
        other closures.
    """
    if applied is None or incoming.version > applied["version"]:
        return "apply"
    if incoming.version == applied["version"]:
        if incoming.digest == applied["digest"]:
            return "same"
        raise ValidationError(
            [
                FieldError(
                    "version",
                    f"version {incoming.version} is in force "
                    "here with other closures; publish the "
                    f"change as version "
                    f"{applied['version'] + 1} or higher",
                )
            ]
        )
    raise ValidationError(
        [
            FieldError(
                "version",
                f"version {incoming.version} is older than "
                f"version {applied['version']}, which is in "
                "force here; versions only go up",
            )
        ]
    )


class CompanyClosures:
    """The company layer of one site: applied, kept, acknowledged.

    :param controller: the :class:`~appliance.control.controller.Controller`.
    :param tz: the site's time zone (for the times in the status).
    """

    def __init__(self, controller, tz: tzinfo):
        self.controller = controller
        self.store = controller.store
        self.tz = tz
        self.applied: dict | None = None  # version, digest, applied_at, closures count
        self.refused: dict | None = None  # version, errors, at

    def _zone_modes(self) -> dict:
        # From the config, not controller.status(): before the controller starts, that
        # would run a step (and move relays) before the lamp test.
        config = self.controller.config
        return {name: config.zone_modes(name) for name in self.controller.zone_names()}

    def _now(self) -> str:
        return self.controller.clock.now().astimezone(self.tz).isoformat(timespec="seconds")

    def restore(self) -> None:
        """Put the set kept in the store in force again (call before the controller
        starts, so that the first decision already has it)."""
        try:
            raw = self.store.get_setting(SETTING)
        except Exception:
            log.exception("mqtt: could not read the company closures kept in the store")
            return
        if not raw:
            return
        try:
            kept = json.loads(raw)
            data = kept["set"]
            # The config may have changed since: check again against today's modes.
            parsed = parse_closure_set(data, self._zone_modes())
        except ValidationError as exc:
            log.warning(
                "mqtt: the company closures kept in the store (version %s) no longer "
                "fit this site and are not in force: %s",
                data.get("version"),
                exc.render().replace("\n", "; "),
            )
            self.refused = {
                "version": data.get("version"),
                "errors": exc.as_json()["errors"],
                "at": self._now(),
            }
            return
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning(
                "mqtt: the company closures kept in the store are unreadable; "
                "waiting for the fleet's set"
            )
            return
        self._put_in_force(parsed)
        self.applied = {
            "version": parsed.version,
            "digest": parsed.digest,
            "applied_at": kept.get("applied_at"),
            "closures": len(data["closures"]),
        }
        log.info(
            "mqtt: company closures version %s in force (kept from %s)",
            parsed.version,
            kept.get("applied_at"),
        )

    def _put_in_force(self, parsed: ClosureSet) -> None:
        for zone, layer in parsed.layers.items():
            self.controller.set_schedule_layer(zone, "company", layer)

    def receive(self, payload: bytes) -> bool:
        """Check and apply a set that arrived on the fleet topic. Returns True when it
        was applied or is the set already in force; False when refused (the refusal is
        in :meth:`status`). Nothing changes for a refused set."""
        if not payload:
            # The operator cleared the retained set: that withdraws nothing (a higher
            # version with no closures does); a site must not lose closures to an
            # empty broker.
            log.info(
                "mqtt: the fleet's closure set was cleared on the broker; version %s "
                "stays in force",
                self.applied and self.applied["version"],
            )
            return True
        version = None
        try:
            data = load_document(payload)
            version = data.get("version")
            parsed = parse_closure_set(data, self._zone_modes())
            verdict = version_verdict(parsed, self.applied)
        except ValidationError as exc:
            log.warning(
                "mqtt: company closure set %s refused: %s",
                f"version {version}" if isinstance(version, int) else "(no version)",
                exc.render().replace("\n", "; "),
            )
            self.refused = {
                "version": version if isinstance(version, int) else None,
                "errors": exc.as_json()["errors"],
                "at": self._now(),
            }
            return False
        if verdict == "same":
            self.refused = None
            return True
        record = {
            "version": parsed.version,
            "digest": parsed.digest,
            "applied_at": self._now(),
            "set": parsed.data,
        }
        # Kept before it is put in force: after a power cut in between, the restart puts
        # in force what was kept, so an acknowledgement is never of a set not kept.
        self.store.set_setting(
            SETTING, json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        )
        self._put_in_force(parsed)
        self.applied = {
            "version": parsed.version,
            "digest": parsed.digest,
            "applied_at": record["applied_at"],
            "closures": len(parsed.data["closures"]),
        }
        self.refused = None
        log.info(
            "mqtt: company closures version %s in force (%d closures)",
            parsed.version,
            len(parsed.data["closures"]),
        )
        return True

    def status(self) -> dict:
        """The acknowledgement in the site's status: ``{"version", "applied_at",
        "closures", "refused"}``."""
        applied = self.applied or {}
        return {
            "version": applied.get("version"),
            "applied_at": applied.get("applied_at"),
            "closures": applied.get("closures"),
            "refused": self.refused,
        }


__all__ = [
    "ClosureSet",
    "CompanyClosures",
    "MAX_SET_BYTES",
    "digest_of",
    "load_document",
    "parse_closure_set",
    "version_verdict",
]
