"""The words of each message: a subject, a plain-text body and a JSON payload.

Mail gets the subject and body; a webhook gets the payload, whose ``text`` field is what
chat tools that take a Slack-style body (Mattermost, Rocket.Chat, Slack itself) show,
with the structured fields beside it for anything that wants to act on them.
"""

from __future__ import annotations

import json
from datetime import datetime

from appliance.outputs.alerts.rules import Notice, title
from appliance.timetext import stamp

PHASE_WORDS = {
    "start": "Alert",
    "reminder": "Still",
    "resolved": "Resolved",
    "test": "Test",
    "report": "Report",
}


def _local(at: datetime | None, tz) -> str:
    return stamp(at, tz, seconds=False) if at else "?"


def notice_message(
    notice: Notice, *, target: str, site: str, tz, now: datetime, multi_zone: bool
) -> dict:
    """The outbox row (without ids) for *notice* to *target*."""
    where = f" ({notice.zone})" if multi_zone else ""
    subject = f"[{site}] {PHASE_WORDS[notice.phase]}: {title(notice.event)}{where}"
    lines = {
        "start": f"{title(notice.event)}{where}, since {_local(notice.since, tz)}.",
        "reminder": f"{title(notice.event)}{where}: still so, since {_local(notice.since, tz)}.",
        "resolved": f"Resolved at {_local(now, tz)}: {title(notice.event)}{where} "
        f"(since {_local(notice.since, tz)}).",
    }
    body = f"{lines[notice.phase]}\n\n{notice.message}\n\n-- \nnightswitch at {site}\n"
    payload = {
        "text": f"{subject}: {notice.message}",
        "site": site,
        "zone": notice.zone,
        "event": notice.event,
        "phase": notice.phase,
        "title": title(notice.event),
        "message": notice.message,
        "since": notice.since.isoformat() if notice.since else None,
        "at": now.isoformat(),
    }
    return dict(
        target=target,
        zone=notice.zone,
        event=notice.event,
        phase=notice.phase,
        subject=subject,
        body=body,
        payload=json.dumps(payload, ensure_ascii=False),
    )


def test_message(*, target: str, zone: str, site: str, by: str, now: datetime, tz) -> dict:
    subject = f"[{site}] Test: alerts reach this address"
    text = (
        f"{by} sent this test at {_local(now, tz)}. When a fault starts, a reminder "
        "follows every few hours while it lasts, and one message says when it is "
        "resolved."
    )
    payload = {
        "text": f"{subject}: {text}",
        "site": site,
        "zone": zone,
        "event": "test",
        "phase": "test",
        "title": "Test",
        "message": text,
        "since": None,
        "at": now.isoformat(),
    }
    return dict(
        target=target,
        zone=zone,
        event="test",
        phase="test",
        subject=subject,
        body=text + f"\n\n-- \nnightswitch at {site}\n",
        payload=json.dumps(payload, ensure_ascii=False),
    )


def report_message(
    *,
    target: str,
    zone: str,
    event: str,
    site: str,
    subject: str,
    body: str,
    data: dict,
    now: datetime,
) -> dict:
    payload = {
        "text": f"[{site}] {subject}\n{body}",
        "site": site,
        "zone": zone,
        "event": event,
        "phase": "report",
        "title": subject,
        "message": body,
        "since": None,
        "at": now.isoformat(),
        "data": data,
    }
    return dict(
        target=target,
        zone=zone,
        event=event,
        phase="report",
        subject=f"[{site}] {subject}",
        body=body + f"\n-- \nnightswitch at {site}\n",
        payload=json.dumps(payload, ensure_ascii=False, default=str),
    )
