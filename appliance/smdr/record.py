"""One call as the PBX reported it.

A :class:`CallRecord` is what every SMDR format's parser produces and what the store
keeps. It says only what the PBX printed: a field the format does not carry is ``None``
rather than a guess, so the after-hours report can count "unknown" honestly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The values :attr:`CallRecord.direction` may take besides None.
DIRECTIONS = ("in", "out", "internal")


@dataclass(frozen=True)
class CallRecord:
    """One call from a PBX's SMDR/CDR output.

    :param datetime started_at:
        When the call started, timezone-aware, in UTC. Formats that print the *end* of
        the call are converted (start = end - duration) by the parser.
    :param duration_s:
        The call's length in whole seconds, or None when the format does not print it.
    :param extension:
        The internal party (station, extension) as printed, or None.
    :param trunk:
        The trunk / CO line as printed, or None.
    :param direction:
        ``"in"``, ``"out"``, ``"internal"`` or None when the record does not say.
    :param answered:
        True or False where the format says so (e.g. NEC ``NO ANSWER``, Samsung ``A``),
        otherwise None.
    :param ring_s:
        Ring time in seconds where printed, otherwise None.
    :param number:
        The dialled number (outgoing) or the caller's number (incoming) as printed.
    :param str fmt:
        The name of the SMDR format that produced this record.
    :param str raw:
        The line as received, after framing (NUL, form feed, STX/ETX removed).
    """

    started_at: datetime
    duration_s: int | None
    extension: str | None
    trunk: str | None
    direction: str | None
    answered: bool | None
    ring_s: int | None
    number: str | None
    fmt: str
    raw: str

    def __post_init__(self):
        # A naive datetime here would be stored as if it were UTC and silently shift
        # every call by the site's offset; refuse it where the mistake is made.
        if self.started_at.tzinfo is None or self.started_at.utcoffset() is None:
            raise ValueError("CallRecord.started_at must be timezone-aware")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(
                f"CallRecord.direction must be one of {DIRECTIONS} or None, not {self.direction!r}"
            )
        for name in ("duration_s", "ring_s"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(
                    f"CallRecord.{name} must be a whole number of seconds >= 0 "
                    f"or None, not {value!r}"
                )
