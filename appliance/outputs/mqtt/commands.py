"""Override commands that arrive over MQTT: parsed and checked before anything changes.

A command on ``PREFIX/SITE/zones/ZONE/override/set`` is either

- plain text, what Home Assistant's select sends: a mode name (``day``, ``night``,
  ``lunch``...) forces that mode until the schedule's next change; ``auto`` cancels the
  override; or
- a JSON object, the body of ``POST /api/v1/override``: ``{"mode": "night",
  "until": "next" | "HH:MM" | ISO-8601 | null}``; ``{"mode": "auto"}`` cancels.

:func:`parse_command` turns the payload into a :class:`Command` or raises
:exc:`~appliance.errors.ValidationError` naming what is wrong and what is allowed. The
mode itself is checked by the controller against what the zone can produce, as for the
API; the key switch's refusal (:exc:`~appliance.errors.Refused`) comes from there too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from appliance.decision.until import checked_until
from appliance.errors import FieldError, Refused, ValidationError
from appliance.outputs.mqtt.state import AUTO
from appliance.validation import MODE_RE

#: A command is a mode name or a small JSON object; anything longer is not one.
MAX_COMMAND_BYTES = 4096
EXAMPLES = (
    "send a mode name such as 'night', 'auto' to follow the schedule, or JSON such "
    'as {"mode": "night", "until": "18:00"}'
)


@dataclass(frozen=True)
class Command:
    """One checked command.

    :param str mode: the mode to force, or None to cancel the override (``auto``).
    :param until: ``"next"``, None (until cancelled) or an aware datetime.
    """

    mode: str | None
    until: object = "next"


def decode_text(payload: bytes, *, limit: int, what: str) -> str:
    """The payload as text, or a ValidationError for one too long or not UTF-8."""
    if len(payload) > limit:
        raise ValidationError(
            [FieldError("payload", f"is {len(payload):,} bytes; {what} is at most {limit:,} bytes")]
        )
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            [FieldError("payload", f"is not UTF-8 text (byte {exc.start}); {what} is UTF-8 text")]
        ) from None


def parse_command(payload: bytes, *, tz: ZoneInfo, now: datetime) -> Command:
    """Check one command payload.

    :param bytes payload: the MQTT message's payload.
    :param tz: the site's time zone (``HH:MM`` and ISO times without an offset).
    :param now: the current instant.
    :raises ~appliance.errors.ValidationError: for anything that is not a command.
    """
    text = decode_text(payload, limit=MAX_COMMAND_BYTES, what="a command").strip()
    if not text:
        raise ValidationError([FieldError("payload", f"is empty; {EXAMPLES}")])
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ValidationError(
                [FieldError("payload", f"is not valid JSON ({exc}); {EXAMPLES}")]
            ) from None
        if not isinstance(data, dict):  # "{" starts an object; kept for safety
            raise ValidationError([FieldError("payload", f"must be a JSON object; {EXAMPLES}")])
        unknown = [k for k in data if k not in ("mode", "until")]
        if unknown:
            raise ValidationError(
                [
                    FieldError(str(k)[:40], "unknown key; allowed keys are mode, until")
                    for k in unknown
                ]
            )
        if "mode" not in data:
            raise ValidationError(
                [
                    FieldError(
                        "mode",
                        'is required: the mode to force, such as "day" or "night", or "auto"',
                    )
                ]
            )
        mode, until = data["mode"], data.get("until", "next")
    else:
        mode, until = text, "next"
    if not isinstance(mode, str) or not MODE_RE.match(mode):
        # Which modes the zone has is the controller's to say (it lists them).
        raise ValidationError(
            [FieldError("mode", f"{str(mode)[:40]!r} is not a mode name; {EXAMPLES}")]
        )
    if mode == AUTO:
        if until != "next":
            raise ValidationError(
                [FieldError("until", 'does not go with "auto": auto cancels the override')]
            )
        return Command(None, None)
    return Command(mode, checked_until(until, tz, now))


def result_payload(
    *, ok: bool, command: str, at: datetime, tz: tzinfo, status=None, error: Exception | None = None
) -> dict:
    """The message on the result topic after a command: what happened, and why not.

    :param str command: the payload as received (shortened), to say which command.
    :param status: the zone's status after a command that was carried out.
    :param error: the refusal (:exc:`ValidationError`, :exc:`Refused`...).
    """
    out = {
        "ok": ok,
        "command": command[:200],
        "at": at.astimezone(tz).isoformat(timespec="seconds"),
    }
    if status is not None:
        out.update(
            mode=status.get("mode"), override=status.get("override"), reason=status.get("reason")
        )
    if error is not None:
        if isinstance(error, ValidationError):
            out.update(error.as_json())
        else:
            out["error"] = str(error)
        out["refused_by"] = (
            "key"
            if isinstance(error, Refused)
            else "validation"
            if isinstance(error, ValidationError)
            else "error"
        )
    return out


def describe_payload(payload: bytes) -> str:
    """The payload shortened for the result topic and the log: text, or its length."""
    if len(payload) > 200:
        return f"<{len(payload):,} bytes>"
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(payload)} bytes, not UTF-8>"


__all__ = [
    "Command",
    "MAX_COMMAND_BYTES",
    "checked_until",
    "decode_text",
    "describe_payload",
    "parse_command",
    "result_payload",
]
