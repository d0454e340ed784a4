"""A real Mosquitto broker for the tests, and a watcher that records what it carries.

:class:`Mosquitto` starts Debian's ``/usr/sbin/mosquitto`` on 127.0.0.1 with a config of
its own in a temporary directory, on a free port: plain, with TLS (a CA and certificates
made here with ``openssl``), with a password file (``mosquitto_passwd``) and with an ACL
file. As root Mosquitto would drop to the ``mosquitto`` user, which cannot read a test's
private directory, so the config says ``user root``. It can be stopped, killed and
started again on the same port, which is how a broker restart looks from a site.

:class:`Watcher` is a paho client subscribed to everything; each message is kept with the
instant (``time.monotonic``) it arrived, so a test waits for a message and the benchmark
reads how long it took.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from appliance.outputs.mqtt.client import close_client
from tests.appliance_helpers import (
    REPO,
    build_rig,
    config,
    contact_toml,
    free_port,
    panel_toml,
    wait_until,
)

MOSQUITTO = "/usr/sbin/mosquitto"
#: The per-site ACL that docs/mqtt.md tells installers to use.
SHIPPED_ACL = REPO / "docs" / "examples" / "mosquitto-acl.conf"


def make_certificates(folder: Path) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, with
    openssl (EC keys: quick to make)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        name: folder / name
        for name in ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key")
    }
    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    run(
        "req",
        "-x509",
        *key_args,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3",
        "-subj",
        "/CN=Nightswitch test CA",
    )
    for who, subject, ext in (
        (
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "/CN=branch-017", "extendedKeyUsage=clientAuth\n"),
    ):
        (folder / f"{who}.ext").write_text(ext)
        run("req", *key_args, "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", subject)
        run(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{who}.crt",
            "-days",
            "3",
            "-extfile",
            f"{who}.ext",
        )
    return paths


def password_file(folder: Path, accounts: dict[str, str]) -> Path:
    """A Mosquitto password file made by ``mosquitto_passwd`` (hashed, as installers do)."""
    path = folder / "passwd"
    path.write_text("")
    for user, password in accounts.items():
        subprocess.run(
            ["mosquitto_passwd", "-b", str(path), user, password], check=True, capture_output=True
        )
    return path


class Mosquitto:
    """One broker on 127.0.0.1.

    :param folder: where its config, log and files go.
    :param dict certs: from :func:`make_certificates` for a TLS listener.
    :param bool client_certs: the TLS listener requires a client certificate.
    :param dict accounts: user to password; anonymous clients are refused then.
    :param acl: the text of an ACL file (Mosquitto's ``acl_file``).
    """

    def __init__(
        self,
        folder: Path,
        *,
        certs: dict | None = None,
        client_certs: bool = False,
        accounts: dict | None = None,
        acl: str | None = None,
        persistence: bool = True,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.certs = certs
        self.log = self.folder / "mosquitto.log"
        lines = [
            "user root",
            f"listener {self.port} 127.0.0.1",
            f"log_dest file {self.log}",
            "log_type all",
            "connection_messages true",
        ]
        if persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.folder}/",
                "autosave_interval 1",
            ]
        if certs:
            lines += [
                f"cafile {certs['ca.crt']}",
                f"certfile {certs['server.crt']}",
                f"keyfile {certs['server.key']}",
            ]
            if client_certs:
                lines += ["require_certificate true"]
        if accounts:
            lines += [
                f"password_file {password_file(self.folder, accounts)}",
                "allow_anonymous false",
            ]
        else:
            lines += ["allow_anonymous true"]
        if acl is not None:
            (self.folder / "acl").write_text(acl)
            lines += [f"acl_file {self.folder / 'acl'}"]
        self.conf = self.folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.certs else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Mosquitto:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"mosquitto exited ({self.proc.returncode}): "
                    f"{self.proc.stderr.read().decode(errors='replace')}\n"
                    f"{self.read_log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(listening, timeout, interval=0.02, message="mosquitto did not listen")
        return self

    def stop(self) -> None:
        """SIGTERM, as systemd stops it (it saves its retained messages)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self._close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(15)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def mqtt_toml(self, site_id: str = "branch-017", **extra) -> str:
        """A ``[mqtt]`` table for a site on this broker."""
        table = {"broker": self.url, "site_id": site_id, **extra}
        if self.certs and "ca_file" not in table:
            table["ca_file"] = str(self.certs["ca.crt"])
        lines = ["[mqtt]"]
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
        return "\n".join(lines) + "\n"


@dataclass
class Message:
    at: float
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.payload)


class Watcher:
    """A client that subscribes to *topics* and keeps every message it receives.

    :param broker: the :class:`Mosquitto`.
    :param str user: the account (with *password*), if the broker needs one.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics=("#",),
        *,
        user=None,
        password=None,
        client_id: str | None = None,
    ):
        self.broker = broker
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.topics = list(topics)
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"watcher-{os.getpid()}-{id(self)}",
            protocol=paho.MQTTv311,
        )
        if user:
            self.client.username_pw_set(user, password)
        if broker.certs:
            self.client.tls_set(
                ca_certs=str(broker.certs["ca.crt"]),
                certfile=str(broker.certs["client.crt"]),
                keyfile=str(broker.certs["client.key"]),
            )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.connected.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self.topics])
            self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append(
                Message(time.monotonic(), msg.topic, bytes(msg.payload), bool(msg.retain))
            )

    def start(self) -> Watcher:
        self.client.connect_async("127.0.0.1", self.broker.port, keepalive=10)
        self.client.loop_start()
        wait_until(self.connected.is_set, 20, interval=0.01, message="the watcher did not connect")
        time.sleep(0.2)  # let the subscription's retained messages arrive
        return self

    def stop(self) -> None:
        close_client(self.client)

    def publish(self, topic: str, payload, *, retain: bool = False, qos: int = 1):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(10)
        return info

    def on(self, topic: str, since: float = 0.0) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic and m.at >= since]

    def wait_for(
        self, topic: str, predicate=lambda m: True, *, since: float = 0.0, timeout: float = 20.0
    ) -> Message:
        """The first message on *topic* at or after *since* that satisfies *predicate*."""

        def found():
            for m in self.on(topic, since):
                if predicate(m):
                    return m
            return None

        return wait_until(
            found,
            timeout,
            interval=0.01,
            message=f"no matching message on {topic} within {timeout} s; got "
            f"{[(m.topic, m.text[:120]) for m in self.on(topic)]}",
        )

    def last(self, topic: str) -> Message | None:
        found = self.on(topic)
        return found[-1] if found else None


class Site:
    """A site as the daemon builds it: the controller on gpiozero's MockFactory pins (the
    relay wired to its sense input), a simulated clock, the store on disk, and the MQTT
    bridge with its company closures (kept ones in force before the controller starts).

    :param fragments: more TOML for the config (zones, actuators...).
    :param mqtt: keys of the ``[mqtt]`` table (``username="ns-branch-017"`` by default).
    """

    def __init__(
        self,
        factory,
        data_dir,
        broker,
        *fragments,
        site_id="branch-017",
        start_bridge=True,
        base=None,
        wires=None,
        **mqtt,
    ):
        from appliance.outputs.mqtt.client import build_bridge

        mqtt.setdefault("username", f"ns-{site_id}")
        parts = (panel_toml(), contact_toml()) if base is None else base
        self.cfg = config(*parts, *fragments, broker.mqtt_toml(site_id, **mqtt))
        self.rig = build_rig(
            factory, data_dir, self.cfg, wires={17: 24} if wires is None else wires
        )
        self.bridge = build_bridge(self.rig.controller, self.cfg.mqtt)
        self.rig.start()
        if start_bridge:
            self.bridge.start()

    def turn_key(self, position: str) -> None:
        self.rig.turn_key(position)
        self.rig.settle_key()

    def close(self) -> None:
        self.bridge.stop()
        self.rig.close()


# -- fixtures (import them into a test module by name) ---------------------------------------


@pytest.fixture
def broker(tmp_path):
    """A plain Mosquitto, anonymous clients allowed, killed after the test."""
    b = Mosquitto(tmp_path / "broker").start()
    yield b
    b.kill()


@pytest.fixture
def watcher(broker):
    """A client subscribed to everything on :func:`broker`."""
    w = Watcher(broker).start()
    yield w
    w.stop()
