"""Alerts by mail and webhook, the morning callback list and the weekly summary (issue 15).

* :mod:`.events`: the events a target can subscribe to (data);
* :mod:`.settings`: the ``[alerts]`` config table, checked;
* :mod:`.rules`: which alerts are open and what to send (pure);
* :mod:`.messages`: the words of each message;
* :mod:`.senders`: mail (``smtplib``) and webhooks (a JSON POST);
* :mod:`.review`: the "reviewed, still right" record and each zone's stale warnings;
* :mod:`.engine`: the subscriber thread and one delivery thread per target.
"""

from appliance.outputs.alerts.engine import AlertEngine, send_test

__all__ = ["AlertEngine", "send_test"]
