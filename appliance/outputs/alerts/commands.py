"""``nightswitch test alerts``: a test message to every target, sent from this process.

It needs no running daemon and touches no pin, so it can run while the service does. The
results are printed per target; each failure names what went wrong (the server refused
the login, the port is closed, the webhook answered 404...).
"""

from __future__ import annotations

import getpass
from datetime import datetime, timezone

from appliance.errors import NightswitchError
from appliance.outputs.alerts.engine import send_test
from appliance.outputs.alerts.settings import AlertsConfig


def run_test(config, asker) -> None:
    """Send the test; record a failure on *asker* (a :class:`~appliance.commands.hwtest.
    Asker`) per target that failed, and ask whether the message arrived."""
    settings = getattr(config, "alerts", None) or AlertsConfig()
    if not settings.targets:
        raise NightswitchError(
            "no [[alerts.targets]] in the config: nothing to test (add "
            'one with url = "smtp://..." or "https://...")'
        )
    results = send_test(config, by=f"cli:{getpass.getuser()}", now=datetime.now(timezone.utc))
    for result in results:
        if result["ok"]:
            asker.out(f"alerts target {result['target']}: sent by {result['detail']}")
            asker.ask(
                f"did the test message reach {result['target']}?", f"alerts {result['target']}"
            )
        else:
            asker.out(f"alerts target {result['target']}: FAILED: {result['detail']}")
            asker.failures.append(f"alerts {result['target']} ({result['detail']})")
