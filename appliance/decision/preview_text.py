"""A preview as people read it: a table in the site's local time, or JSON.

:func:`~appliance.decision.decide.preview` gives
:class:`~appliance.decision.decide.Transition` entries; this module only renders them, for
``nightswitch preview`` and for the web layer.
"""

from __future__ import annotations

from datetime import date, timedelta

from appliance.decision.decide import Transition

_HEADER = ("Day", "Date", "Time", "Mode", "Reason")


def transition_to_json(entry: Transition) -> dict:
    """One entry as the preview's JSON: ``{"at": ISO-8601 with the local offset, "mode",
    "reason"}`` (docs/design.md#the-api-and-the-command-line)."""
    return {"at": entry.at.isoformat(), "mode": entry.mode, "reason": entry.reason}


def transitions_to_json(entries: list[Transition]) -> list[dict]:
    """The whole preview as a JSON list (docs/design.md#the-api-and-the-command-line)."""
    return [transition_to_json(entry) for entry in entries]


def _why(entry: Transition) -> str:
    # The table has its own mode column; the reason without "night: " reads better.
    prefix = f"{entry.mode}: "
    return entry.reason[len(prefix) :] if entry.reason.startswith(prefix) else entry.reason


def format_preview(entries: list[Transition], *, timezone: str, start: date, days: int) -> str:
    """A table of *entries*: weekday, date, local time, mode and reason, one per line.

    The time carries the zone's abbreviation (``CET``/``CEST``), so the two passes of
    an autumn overlap and the hour after a spring gap are never ambiguous.

    :param list entries:
        From :func:`~appliance.decision.decide.preview`; their ``at`` is in the site's zone.
    :param str timezone:
        The site's time zone, named in the title line.
    :param date start:
        The first date of the preview.
    :param int days:
        How many days it covers.
    """
    last = start + timedelta(days=days - 1)
    span = "1 day" if days == 1 else f"{days} days"
    title = (
        f"Preview {start.strftime('%a')} {start.isoformat()} to "
        f"{last.strftime('%a')} {last.isoformat()} ({span}), local time {timezone}"
    )
    rows = [_HEADER]
    for entry in entries:
        rows.append(
            (
                entry.at.strftime("%a"),
                entry.at.date().isoformat(),
                f"{entry.at.strftime('%H:%M')} {entry.at.tzname()}",
                entry.mode,
                _why(entry),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER) - 1)]
    lines = [title]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    changes = len(entries) - 1
    lines.append(f"{changes} change{'s' if changes != 1 else ''} of mode after the first entry")
    return "\n".join(lines)
