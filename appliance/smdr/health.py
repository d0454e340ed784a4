"""Is the SMDR port alive? A pure judgement over the intake's counters and the time.

The Calls page used to say "0 calls after hours" while the port could not even be
opened. The port is *dead* when the intake has not been connected for a while and has
an error to show; it is *silent* when no line came for hours although the office was
open in that time (a PBX prints a record for every outside call, so a working day
without one means the cable, the port or the PBX's SMDR output is off).
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: How long the intake may try before a port that will not open is a fault (its
#: reopen backoff starts at 1 s; a USB adapter takes a few seconds to appear at boot).
DEAD_AFTER = timedelta(minutes=2)


def port_problem(
    stats: dict, now: datetime, *, started_at: datetime, silent_hours: float, open_in_window: bool
) -> str | None:
    """The fault message, or None when the port is fine.

    :param stats: :meth:`~appliance.smdr.intake.SmdrIntake.stats`.
    :param started_at: when the intake started (the silence counts from there at most).
    :param silent_hours: the longest silence tolerated.
    :param open_in_window: whether day service was in force at some time in the last
        *silent_hours* (a weekend or holiday may be silent).
    """
    port = stats.get("port", "the SMDR port")
    if not stats.get("connected"):
        error = stats.get("last_error")
        if error and now - started_at >= DEAD_AFTER:
            return (
                f"the SMDR port {port} cannot be used ({error}); no calls are recorded "
                "until it works: check the cable, the USB adapter and [smdr] port"
            )
        return None
    last = _parse(stats.get("last_line_at")) or started_at
    last = max(last, started_at)
    if now - last >= timedelta(hours=silent_hours) and open_in_window:
        hours = (now - last).total_seconds() / 3600
        return (
            f"no line from the SMDR port {port} for {hours:.0f} h although the office "
            "was open: check that the PBX's SMDR output is on and the cable is in"
        )
    return None


def _parse(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
