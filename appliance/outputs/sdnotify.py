"""systemd notifications (sd_notify(3)) in a few lines, without a dependency.

``sdnotify`` on PyPI has not been released since 2017 and ``systemd-python`` needs
libsystemd headers to build; the protocol is one datagram on a unix socket.
"""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    """Sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=...`` to the service manager.

    Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing, so the daemon runs the
    same from a terminal.

    :param environ: the environment to read ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` from.
    """

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET") or None
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace socket
        self.address = address
        usec = environ.get("WATCHDOG_USEC")
        self.watchdog_s = int(usec) / 1e6 if usec and usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send *message*; True if it was sent."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall(message.encode())
            return True
        except OSError:
            return False  # systemd went away or the socket is gone: nothing to tell

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")
