"""The site's MQTT client: publishes what the controller published, passes commands on.

It never runs on the controller thread and never holds it up. Three threads of its own:

- paho's network thread (``loop_start``): connects, reconnects with backoff (1 s doubling
  to ``[mqtt] reconnect_max_s``), and hands each incoming message to the inbox; it never
  waits for the controller;
- ``mqtt-publish``: reads the controller's snapshot queue (:meth:`Controller.subscribe`,
  as the web page's live updates do) and publishes each changed zone's state at once,
  and after every (re)connection the discovery message, every state and ``online``;
- ``mqtt-inbox``: carries out commands through :meth:`Controller.set_override` and
  :meth:`Controller.cancel_override` (which audit exactly as the API does) and publishes
  each outcome on the zone's result topic; it also applies the fleet's company closures
  (:mod:`appliance.outputs.mqtt.fleet`).

While the broker is away the appliance goes on switching as before: publishing is skipped
(everything is published again on reconnection) and paho keeps trying in the background.
The broker hears ``offline`` from the site's will when the connection drops without a
goodbye (a crash, a power cut, a cable pulled: after 1.5 times ``keepalive``) and from
:meth:`MqttBridge.stop` on a clean shutdown.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import ssl
import threading
import time
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho

from appliance.errors import FieldError, NightswitchError, Refused, ValidationError
from appliance.outputs.mqtt import commands, discovery, state
from appliance.outputs.mqtt.topics import Topics

log = logging.getLogger(__name__)

#: How often the after-hours count is read again and every state compared (seconds).
REFRESH_S = 60.0
#: The site's status is published at least this often, so ``fleet status`` shows when a
#: site was last heard of even when nothing changes there.
HEARTBEAT_S = 300.0
#: Messages waiting for the inbox thread; beyond that a flood is dropped, not queued.
INBOX_SIZE = 64
_RESYNC = object()  # put in the snapshot queue: publish everything again


def make_client(settings, *, client_id: str, will: tuple[str, str] | None = None) -> paho.Client:
    """A paho client (version-2 callbacks) set up from :class:`MqttSettings`: account,
    TLS, will and reconnect backoff. ``nightswitch fleet`` uses it too.

    :raises ~appliance.errors.NightswitchError: when a TLS file cannot be loaded.
    """
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
        clean_session=True,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        try:
            client.tls_set(
                ca_certs=settings.ca_file,
                certfile=settings.cert_file,
                keyfile=settings.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise NightswitchError(
                f"mqtt: cannot load the TLS files (ca_file, cert_file, key_file): {exc}"
            ) from None
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(settings.reconnect_max_s)))
    # Everything is published again after a reconnection; a long queue of stale states
    # would only delay the fresh ones.
    client.max_queued_messages_set(1000)
    return client


def close_client(client: paho.Client) -> None:
    """Disconnect, stop paho's thread and close its wake-up socket pair, which paho keeps
    until the client is garbage-collected (where it can be found unclosed)."""
    client.disconnect()
    client.loop_stop()
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()


def _no_delay(client: paho.Client) -> None:
    """Send each message at once: with Nagle's algorithm a state published right after a
    command's result waited for the broker's delayed ACK (about 40 ms on Linux)."""
    setsockopt = getattr(client.socket(), "setsockopt", None)
    if setsockopt is None:
        return  # not a TCP socket (websockets, a test double): nothing to tune
    try:
        setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass  # not a TCP socket (websockets, a test double): nothing to tune


def reason_text(reason_code) -> str:
    """A paho reason code (or a bare number) in words."""
    text = getattr(reason_code, "getName", None)
    return text() if callable(text) else str(reason_code)


class MqttBridge:
    """The MQTT side of one appliance.

    :param controller: the running :class:`~appliance.control.controller.Controller`.
    :param settings: the checked ``[mqtt]`` section (:class:`MqttSettings`).
    :param fleet: an :class:`~appliance.outputs.mqtt.fleet.CompanyClosures`, or None.
    """

    def __init__(self, controller, settings, *, fleet=None):
        self.controller = controller
        self.settings = settings
        self.config = controller.config
        self.tz = ZoneInfo(self.config.timezone)
        self.topics = Topics(settings.topic_prefix, settings.site_id, settings.discovery_prefix)
        self.fleet = fleet
        self.client = make_client(
            settings,
            client_id=settings.client_id,
            will=(self.topics.availability, discovery.OFFLINE),
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._inbox: queue.Queue = queue.Queue(maxsize=INBOX_SIZE)
        self._snapshots = None
        self._threads: list[threading.Thread] = []
        self._published: dict[str, str] = {}  # topic -> last payload (states only)
        self._zone_states: dict[str, dict] = {}
        self._after_hours: dict[str, dict | None] = {}
        self._last_error = None
        self._resync_pending = False
        #: Instants (time.monotonic) of what happened, for tests and the benchmark.
        self.events: list[tuple[float, str]] = []

    # -- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and start the threads; returns at once, broker or no
        broker."""
        self._snapshots = self.controller.subscribe()
        for target, name in (
            (self._publish_loop, "mqtt-publish"),
            (self._inbox_loop, "mqtt-inbox"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive
        )
        self.client.loop_start()
        log.info(
            "mqtt: connecting to %s as site %s", self.settings.broker_url, self.settings.site_id
        )

    def stop(self, timeout: float = 3.0) -> None:
        """Say ``offline``, disconnect and stop the threads (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        for q in (self._snapshots, self._inbox):
            if q is None:
                continue
            try:
                q.put_nowait(None)
            except queue.Full:
                pass  # the thread is busy, not waiting: it sees the stop flag next
        if self._snapshots is not None:
            self.controller.unsubscribe(self._snapshots)
        if self.connected.is_set():
            try:
                info = self.client.publish(
                    self.topics.availability, discovery.OFFLINE, qos=1, retain=True
                )
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError, OSError):
                pass  # the broker went away meanwhile: the will says offline instead
        # paho's thread may be inside a connection attempt (a DNS lookup or a TCP connect
        # to a host that does not answer) and loop_stop() waits for it without a limit:
        # the daemon's shutdown (and its relays) must not wait for that.
        closer = threading.Thread(
            target=close_client, args=(self.client,), name="mqtt-close", daemon=True
        )
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            log.warning(
                "mqtt: the connection attempt in progress did not end within "
                "%.0f s; leaving it behind",
                timeout,
            )
        for thread in self._threads:
            thread.join(timeout)

    def _event(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    # -- paho callbacks (paho's network thread: never block here) ---------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._note_error(
                f"the broker refused the connection: {reason_text(reason_code)}"
                " (check [mqtt] username, password and the broker's ACL)"
            )
            return
        self._last_error = None
        _no_delay(client)
        log.info("mqtt: connected to %s", self.settings.broker_url)
        self._event("connected")
        subscriptions = [(self.topics.command_filter, 1)]
        if self.settings.discovery:
            subscriptions.append((self.topics.ha_status, 1))
        if self.settings.fleet and self.fleet is not None:
            subscriptions.append((self.topics.fleet_closures, 1))
        client.subscribe(subscriptions)
        self.connected.set()
        self._request_resync()

    def _on_connect_fail(self, client, userdata) -> None:
        self._note_error(
            f"cannot reach the broker at {self.settings.broker_url}; retrying in the background"
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and not self._stop.is_set():
            self._event("disconnected")
            log.warning(
                "mqtt: lost the broker (%s); reconnecting in the background",
                reason_text(reason_code),
            )

    def _note_error(self, message: str) -> None:
        # Once per distinct trouble, not once per retry.
        if message != self._last_error:
            self._last_error = message
            log.warning("mqtt: %s", message)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            self._route(msg)
        except Exception:  # a message must never stop paho's thread
            log.exception("mqtt: could not handle a message on %r", msg.topic)

    def _route(self, msg) -> None:
        topic = msg.topic
        if topic == self.topics.ha_status:
            if msg.payload.strip() == b"online":
                log.info("mqtt: Home Assistant is online; sending the discovery again")
                self._event("ha-online")
                self._request_resync()
            return
        if topic == self.topics.fleet_closures:
            self._post(("fleet", None, msg.payload, msg.retain))
            return
        zone = self.topics.command_zone(topic)
        if zone is not None:
            if not msg.payload:
                return  # an empty message clears a retained one: it is not a command
            self._post(("command", zone, msg.payload, msg.retain))

    def _post(self, item) -> None:
        try:
            self._inbox.put_nowait(item)
        except queue.Full:
            log.warning(
                "mqtt: messages arrive faster than they can be carried out; one on %s was dropped",
                item[0],
            )
            if item[0] == "command":
                self._publish_result(
                    item[1],
                    commands.result_payload(
                        ok=False,
                        command=commands.describe_payload(item[2]),
                        at=self.controller.clock.now(),
                        tz=self.tz,
                        error=NightswitchError(
                            "too many commands at once; this one was dropped, send it again"
                        ),
                    ),
                )

    def _request_resync(self) -> None:
        if self._snapshots is not None:
            try:
                self._snapshots.put_nowait(_RESYNC)
            except queue.Full:
                self._resync_pending = True

    # -- publishing (the mqtt-publish thread) ------------------------------------------------
    def _publish(self, topic: str, payload, *, retain: bool, qos: int = 1) -> bool:
        if not self.connected.is_set():
            return False
        if not isinstance(payload, (str, bytes)):
            payload = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def _publish_loop(self) -> None:
        next_refresh = time.monotonic()
        next_heartbeat = time.monotonic() + HEARTBEAT_S
        while not self._stop.is_set():
            timeout = max(0.0, min(next_refresh, next_heartbeat) - time.monotonic())
            try:
                item = self._snapshots.get(timeout=timeout)
            except queue.Empty:
                item = False
            items = [item]
            while True:  # take whatever else is waiting: one publish per zone
                try:
                    items.append(self._snapshots.get_nowait())
                except queue.Empty:
                    break
            if None in items or self._stop.is_set():
                return
            try:
                resync = _RESYNC in items or self._resync_pending
                self._resync_pending = False
                zones = {i["zone"] for i in items if isinstance(i, dict)}
                now = time.monotonic()
                if now >= next_refresh:
                    next_refresh = now + REFRESH_S
                    self._refresh_after_hours()
                    zones |= set(self.controller.zone_names())
                if resync:
                    self.publish_all()
                    next_heartbeat = time.monotonic() + HEARTBEAT_S
                elif zones:
                    changed = self._publish_zones(zones)
                    if changed or now >= next_heartbeat:
                        self.publish_status()
                        next_heartbeat = time.monotonic() + HEARTBEAT_S
                elif now >= next_heartbeat:
                    self.publish_status()
                    next_heartbeat = time.monotonic() + HEARTBEAT_S
            except Exception:
                log.exception("mqtt: publishing failed; trying again at the next change")

    def _zone_info(self) -> list[dict]:
        panels = {p.zone for p in self.config.panels}
        zones = []
        for name in self.controller.zone_names():
            snap = self.controller.status(name)
            zones.append(
                {
                    "name": name,
                    "label": snap.get("label") or name,
                    "modes": _forceable_modes(self.controller, name, snap),
                    "panel": name in panels,
                }
            )
        return zones

    def publish_all(self) -> None:
        """Discovery, every zone's state, the site's status, then ``online``."""
        if not self.connected.is_set():
            return
        if self.settings.discovery:
            topic, payload = discovery.discovery_message(
                self.topics,
                site_name=self.config.site_name,
                zones=self._zone_info(),
                smdr=self.config.smdr is not None,
                fleet=self.settings.fleet and self.fleet is not None,
            )
            if self._publish(topic, payload, retain=True):
                self._event("discovery")
        self._published.clear()
        self._publish_zones(self.controller.zone_names())
        self.publish_status()
        if self._publish(self.topics.availability, discovery.ONLINE, retain=True):
            self._event("online")

    def _publish_zones(self, zones) -> bool:
        changed = False
        for name in zones:
            if name not in self.controller.zones:
                continue
            payload = state.zone_state(
                self.controller.status(name), after_hours=self._after_hours.get(name)
            )
            self._zone_states[name] = payload
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            topic = self.topics.state(name)
            if self._published.get(topic) == text:
                continue
            if self._publish(topic, text, retain=True):
                self._published[topic] = text
                self._event(
                    f"state:{name}:{payload['mode']}:{payload['key']}:"
                    f"{payload['override_mode']}:{payload['verified']}"
                )
                changed = True
        return changed

    def status_payload(self) -> dict:
        for name in self.controller.zone_names():
            if name not in self._zone_states:
                self._zone_states[name] = state.zone_state(self.controller.status(name))
        closures = (
            self.fleet.status()
            if self.fleet is not None
            else {"version": None, "applied_at": None, "refused": None}
        )
        return state.site_status(
            site_id=self.settings.site_id,
            site_name=self.config.site_name,
            zones={n: self._zone_states[n] for n in self.controller.zone_names()},
            closures=closures,
            at=self.controller.clock.now(),
            tz=self.tz,
        )

    def publish_status(self) -> None:
        if self._publish(self.topics.status, self.status_payload(), retain=True):
            self._event("status")

    def _refresh_after_hours(self) -> None:
        """Read last night's after-hours calls for each zone (SMDR sites only)."""
        if self.config.smdr is None:
            return
        from appliance.smdr import report

        start, end, today = state.last_night_window(self.controller.clock.now(), self.tz)
        store = self.controller.store
        for name in self.controller.zone_names():
            try:
                calls = store.calls(name, start, end)
                history = store.mode_history(name, start - report.HISTORY_LEAD, end)
                summary = report.summary(calls, history, self.tz, start, end)
                self._after_hours[name] = state.last_night(summary, today)
            except Exception:
                log.exception("mqtt: could not count last night's calls for zone %s", name)

    # -- commands and the fleet (the mqtt-inbox thread) --------------------------------------
    def _inbox_loop(self) -> None:
        while not self._stop.is_set():
            item = self._inbox.get()
            if item is None:
                return
            kind, zone, payload, retained = item
            try:
                if kind == "command":
                    self._carry_out(zone, payload, retained)
                elif kind == "fleet" and self.fleet is not None:
                    self.fleet.receive(payload)
                    self.publish_status()
            except Exception:
                log.exception("mqtt: could not handle a %s message", kind)

    def _publish_result(self, zone: str, payload: dict) -> None:
        self._publish(self.topics.result(zone), payload, retain=False)

    def _carry_out(self, zone: str, payload: bytes, retained: bool) -> None:
        """One command: check it, pass it to the controller, publish the outcome."""
        ctl = self.controller
        shown = commands.describe_payload(payload)
        now = ctl.clock.now()
        # A command left retained on the broker would come back at every reconnection.
        # MQTT 3.1.1 does not tell a subscriber that a message it gets live was retained,
        # so every command topic is cleared after use (an empty retained message, which
        # the broker takes as "delete"), and a retained one found at connection time is
        # stale: refused, never carried out.
        self._publish(self.topics.command(zone), b"", retain=True)
        try:
            if retained:
                raise ValidationError(
                    [
                        FieldError(
                            "retain",
                            "a retained command is not carried out: it was left on the "
                            "broker before this connection, and would come back at every "
                            "reconnection; it was cleared. Send commands without the "
                            "retain flag",
                        )
                    ]
                )
            if zone not in ctl.zone_names():
                raise ValidationError(
                    [
                        FieldError(
                            "zone",
                            f"there is no zone {zone!r}; zones are " + ", ".join(ctl.zone_names()),
                        )
                    ]
                )
            command = commands.parse_command(payload, tz=self.tz, now=now)
            by = self.settings.who
            if command.mode is None:
                status = ctl.cancel_override(zone, by=by, source="mqtt")
            else:
                status = ctl.set_override(zone, command.mode, command.until, by=by, source="mqtt")
        except (ValidationError, Refused) as exc:
            log.info(
                "mqtt: command %r for zone %s refused: %s",
                shown,
                zone,
                str(exc).replace("\n", "; "),
            )
            self._event(f"refused:{zone}")
            self._publish_result(
                zone,
                commands.result_payload(ok=False, command=shown, at=now, tz=self.tz, error=exc),
            )
            return
        except Exception as exc:
            log.exception("mqtt: command %r for zone %s failed", shown, zone)
            self._publish_result(
                zone,
                commands.result_payload(
                    ok=False,
                    command=shown,
                    at=now,
                    tz=self.tz,
                    error=NightswitchError(
                        f"the appliance could not carry it out: {type(exc).__name__}"
                    ),
                ),
            )
            return
        self._event(f"done:{zone}")
        self._publish_result(
            zone, commands.result_payload(ok=True, command=shown, at=now, tz=self.tz, status=status)
        )


def build_bridge(controller, settings) -> MqttBridge:
    """The bridge of the daemon, with the company closures (when ``[mqtt] fleet``) kept
    in the store already in force. Call before the controller starts."""
    fleet = None
    if settings.fleet:
        from appliance.outputs.mqtt.fleet import CompanyClosures

        fleet = CompanyClosures(controller, ZoneInfo(controller.config.timezone))
        fleet.restore()
    return MqttBridge(controller, settings, fleet=fleet)


def _forceable_modes(controller, zone: str, snapshot: dict) -> list[str]:
    """The modes an override can force in *zone*, as the controller checks them: what
    the actuators make, or (a zone without actuators) day, night and the schedule's."""
    if snapshot.get("modes"):
        return list(snapshot["modes"])
    found = {"day", "night"}
    for ranges in (controller.get_schedule(zone).get("weekly") or {}).values():
        for r in ranges:
            mode = r.get("mode") if isinstance(r, dict) else None
            if isinstance(mode, str):
                found.add(mode)
    return sorted(found)


__all__ = ["MqttBridge", "build_bridge", "close_client", "make_client", "reason_text"]
