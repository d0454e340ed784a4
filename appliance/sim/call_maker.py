"""Plausible call records for the simulated PBXs that print SMDR.

The serial and the network simulators print the same kind of calls: one that just ended,
incoming more often than outgoing, mostly answered, rendered by the SMDR format the way
the PBX prints it (:meth:`appliance.smdr.formats.SmdrFormat.render`). A seed makes a run
repeatable.
"""

from __future__ import annotations

import random
from datetime import timedelta, timezone


def _now_utc():
    from appliance.inputs.clock import SystemClock

    return SystemClock().now()


class CallMaker:
    """Plausible calls that just ended, as CallRecords, and their printed lines.

    :param fmt: the SMDR format that prints them.
    :param tz: the site's time zone (the PBX prints local time).
    :param now: the wall clock (a callable giving an aware datetime); the system clock
        when None.
    :param seed: seeds the random calls.
    """

    def __init__(self, fmt, tz=timezone.utc, now=None, seed=None):
        self.fmt = fmt
        self.tz = tz
        self.now = now or _now_utc
        self.rng = random.Random(seed)

    def record(self, **fields):
        """A CallRecord; *fields* (``direction``, ``extension`` ...) override the dice."""
        from appliance.smdr.record import CallRecord

        rng = self.rng
        direction = fields.pop("direction", rng.choice(["in", "in", "out"]))
        answered = fields.pop("answered", True)
        duration = fields.pop("duration_s", rng.randrange(5, 600) if answered else 0)
        values = dict(
            started_at=fields.pop(
                "started_at", (self.now() - timedelta(seconds=duration)).replace(microsecond=0)
            ),
            duration_s=duration,
            extension=fields.pop("extension", str(rng.randrange(101, 121))),
            trunk=fields.pop("trunk", f"{rng.randrange(1, 9):02d}"),
            direction=direction,
            answered=answered,
            ring_s=fields.pop("ring_s", rng.randrange(2, 40)),
            number=fields.pop("number", "0" + "".join(str(rng.randrange(10)) for _ in range(9))),
            fmt=self.fmt.name,
            raw="",
        )
        if fields:
            raise ValueError("unknown call fields: " + ", ".join(sorted(fields)))
        return CallRecord(**values)

    def line(self, record) -> str:
        """*record* as the PBX prints it."""
        return self.fmt.render(record, self.tz)
