"""MQTT over TLS, with a password file, with client certificates, and under the shipped
per-site ACL (docs/examples/mosquitto-acl.conf), on a real Mosquitto.

The certificates are made by the test with openssl (a CA, a server certificate for
127.0.0.1, a client certificate); the password file by ``mosquitto_passwd``.
"""

from __future__ import annotations

import logging
import time

import pytest

from appliance.errors import NightswitchError
from appliance.outputs.mqtt.client import MqttBridge, make_client
from appliance.outputs.mqtt.topics import Topics
from tests.appliance_helpers import build_rig, config, contact_toml, panel_toml, wait_until
from tests.mqtt_helpers import SHIPPED_ACL, Mosquitto, Watcher, make_certificates
from tests.unit.test_mqtt_discovery import check_device_discovery

ACCOUNTS = {
    "branch-017": "pw-017-secret",
    "branch-018": "pw-018-secret",
    "homeassistant": "pw-ha",
    "fleet": "pw-fleet",
}
T17 = Topics("nightswitch", "branch-017")
T18 = Topics("nightswitch", "branch-018")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def start_site(factory, data_dir, broker, site_id="branch-017", **mqtt):
    cfg = config(panel_toml(), contact_toml(), broker.mqtt_toml(site_id, **mqtt))
    rig = build_rig(factory, data_dir, cfg, wires={17: 24})
    rig.start()
    bridge = MqttBridge(rig.controller, cfg.mqtt)
    bridge.start()
    return rig, bridge


def test_tls_with_a_password(mock_factory, data_dir, tmp_path, certs):
    broker = Mosquitto(tmp_path / "b", certs=certs, accounts=ACCOUNTS).start()
    pw = tmp_path / "mqtt-password"
    pw.write_text("pw-017-secret\n")
    rig, bridge = start_site(
        mock_factory, data_dir, broker, username="branch-017", password_file=str(pw)
    )
    watcher = Watcher(broker, user="homeassistant", password="pw-ha").start()
    try:
        assert broker.url.startswith("mqtts://")
        check_device_discovery(watcher.wait_for(T17.discovery).json())
        assert watcher.wait_for(T17.availability).text == "online"
        since = time.monotonic()
        watcher.publish(T17.command("main"), "day")
        assert watcher.wait_for(T17.result("main"), since=since).json()["ok"] is True
        assert rig.audit(limit=1)[0]["who"] == "branch-017"
    finally:
        watcher.stop()
        bridge.stop()
        rig.close()
        broker.kill()
    assert "New client connected" in broker.read_log()


def test_tls_with_a_client_certificate(mock_factory, data_dir, tmp_path, certs):
    broker = Mosquitto(tmp_path / "b", certs=certs, client_certs=True).start()
    rig, bridge = start_site(
        mock_factory,
        data_dir,
        broker,
        cert_file=str(certs["client.crt"]),
        key_file=str(certs["client.key"]),
    )
    watcher = Watcher(broker).start()
    try:
        check_device_discovery(watcher.wait_for(T17.discovery).json())
        assert watcher.wait_for(T17.availability).text == "online"
    finally:
        watcher.stop()
        bridge.stop()
        rig.close()
        broker.kill()


def test_a_wrong_password_is_reported_and_the_appliance_runs_on(
    mock_factory, data_dir, tmp_path, certs, caplog
):
    broker = Mosquitto(tmp_path / "b", certs=certs, accounts=ACCOUNTS).start()
    caplog.set_level(logging.WARNING, logger="appliance.outputs.mqtt.client")
    rig, bridge = start_site(
        mock_factory, data_dir, broker, username="branch-017", password="wrong"
    )
    try:
        wait_until(
            lambda: "refused the connection: Not authorized" in caplog.text, 20, message=caplog.text
        )
        assert not bridge.connected.is_set()
        rig.turn_key("day")
        rig.settle_key()
        wait_until(lambda: rig.status()["mode"] == "day", 10)
        time.sleep(2.5)  # a few retries later: still one line, not one per retry
        assert caplog.text.count("refused the connection") == 1
    finally:
        bridge.stop()
        rig.close()
        broker.kill()


# paho-mqtt 2.2 does not close the TLS socket when the handshake fails
# (Client._ssl_wrap_socket); CPython frees it as soon as paho drops the exception, with a
# ResourceWarning. Nothing is kept open: the broker's log shows each attempt closed.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_broker_certificate_from_another_ca_is_refused(
    mock_factory, data_dir, tmp_path, certs, caplog
):
    other = make_certificates(tmp_path / "other-ca")
    broker = Mosquitto(tmp_path / "b", certs=certs).start()
    caplog.set_level(logging.WARNING, logger="appliance.outputs.mqtt.client")
    rig, bridge = start_site(mock_factory, data_dir, broker, ca_file=str(other["ca.crt"]))
    try:
        wait_until(lambda: "cannot reach the broker" in caplog.text, 20, message=caplog.text)
        time.sleep(1)
        assert not bridge.connected.is_set()
    finally:
        bridge.stop()
        rig.close()
        broker.kill()


def test_an_unreadable_ca_file_is_one_clear_error(tmp_path, certs):
    from appliance.outputs.mqtt.settings import MqttSettings

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    settings = MqttSettings(host="127.0.0.1", port=8883, tls=True, site_id="x", ca_file=str(junk))
    with pytest.raises(NightswitchError, match="mqtt: cannot load the TLS files"):
        make_client(settings, client_id="x")


# -- the shipped ACL ------------------------------------------------------------------------------


def acl_broker(tmp_path):
    return Mosquitto(
        tmp_path / "acl-broker", accounts=ACCOUNTS, acl=SHIPPED_ACL.read_text()
    ).start()


def test_under_the_shipped_acl_a_site_cannot_write_another_sites_topics(
    mock_factory, data_dir, tmp_path
):
    broker = acl_broker(tmp_path)
    rig, bridge = start_site(
        mock_factory, data_dir, broker, username="branch-017", password="pw-017-secret"
    )
    ha = Watcher(
        broker, ["nightswitch/#", "homeassistant/#"], user="homeassistant", password="pw-ha"
    ).start()
    intruder = Watcher(
        broker,
        ["nightswitch/#"],
        user="branch-018",
        password="pw-018-secret",
        client_id="branch-018-test",
    ).start()
    try:
        ha.wait_for(T17.availability, lambda m: m.text == "online")
        ha.wait_for(T17.status)
        since = time.monotonic()
        audit_before = rig.store.audit_count()
        # branch-018 tries to command, impersonate and take offline branch-017, to
        # replace its discovery and to push company closures
        intruder.publish(T17.command("main"), "day")
        intruder.publish(T17.availability, "offline", retain=True)
        intruder.publish(T17.status, {"site": "branch-017", "forged": True}, retain=True)
        intruder.publish(T17.discovery, {"forged": True}, retain=True)
        intruder.publish("nightswitch/fleet/closures", {"version": 99, "closures": []}, retain=True)
        # its own topics are allowed (the positive control: the ACL is not just closed)
        intruder.publish(T18.status, {"site": "branch-018"}, retain=True)
        ha.wait_for(T18.status, since=since)
        time.sleep(1.0)
        for topic in (
            T17.command("main"),
            T17.availability,
            T17.status,
            T17.discovery,
            "nightswitch/fleet/closures",
        ):
            assert ha.on(topic, since) == [], f"the broker let branch-018 write {topic}"
        assert rig.store.audit_count() == audit_before
        assert rig.status()["override"] is None
        # and the intruder cannot even read another site's commands or results
        assert not [m for m in intruder.messages if m.topic.startswith("nightswitch/branch-017/")]
        # Home Assistant may command the site
        since = time.monotonic()
        ha.publish(T17.command("main"), "day")
        assert ha.wait_for(T17.result("main"), since=since).json()["ok"] is True
    finally:
        intruder.stop()
        ha.stop()
        bridge.stop()
        rig.close()
        broker.kill()
    assert "Denied PUBLISH from branch-018" in broker.read_log()


def test_under_the_shipped_acl_the_fleet_account_publishes_closures(tmp_path):
    broker = acl_broker(tmp_path)
    site = Watcher(
        broker, ["nightswitch/fleet/closures"], user="branch-017", password="pw-017-secret"
    ).start()
    fleet = Watcher(broker, ["nightswitch/+/status"], user="fleet", password="pw-fleet").start()
    try:
        fleet.publish("nightswitch/fleet/closures", {"version": 1, "closures": []}, retain=True)
        assert site.wait_for("nightswitch/fleet/closures").json()["version"] == 1
        site.publish(T17.status, {"site": "branch-017"}, retain=True)
        assert fleet.wait_for(T17.status).json()["site"] == "branch-017"
    finally:
        fleet.stop()
        site.stop()
        broker.kill()
