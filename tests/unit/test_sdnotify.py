"""sd_notify(3) on a real unix datagram socket, as systemd listens for it."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from appliance.outputs.sdnotify import SystemdNotifier


@pytest.fixture
def listener(tmp_path):
    """A datagram socket bound where ``NOTIFY_SOCKET`` will point."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield str(path), sock
    sock.close()


def receive(sock) -> str:
    return sock.recv(4096).decode()


def test_ready_watchdog_status_stopping_arrive_as_datagrams(listener):
    path, sock = listener
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("serving on 0.0.0.0:8080") is True
    assert receive(sock) == "READY=1\nSTATUS=serving on 0.0.0.0:8080"
    assert notifier.watchdog() is True
    assert receive(sock) == "WATCHDOG=1"
    assert notifier.status("switching to night") is True
    assert receive(sock) == "STATUS=switching to night"
    assert notifier.stopping() is True
    assert receive(sock) == "STOPPING=1"
    assert notifier.ready() and receive(sock) == "READY=1"


def test_abstract_namespace_socket():
    name = f"nightswitch-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert notifier.address == "\0" + name
        assert notifier.watchdog()
        assert receive(sock) == "WATCHDOG=1"
    finally:
        sock.close()


def test_outside_systemd_every_call_does_nothing():
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.ready() is False and notifier.watchdog() is False
    assert SystemdNotifier({"NOTIFY_SOCKET": ""}).enabled is False


def test_a_vanished_socket_is_not_an_error(tmp_path):
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.enabled
    assert notifier.watchdog() is False


def test_watchdog_interval_is_read_from_the_environment():
    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_s == 30.0
    assert SystemdNotifier({"WATCHDOG_USEC": "junk"}).watchdog_s is None
    assert SystemdNotifier({}).watchdog_s is None


def test_reads_the_process_environment_by_default(listener, monkeypatch):
    path, sock = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert SystemdNotifier().ready()
    assert receive(sock) == "READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not SystemdNotifier().enabled
    assert os.environ.get("NOTIFY_SOCKET") is None
