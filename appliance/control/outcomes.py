"""What a zone's actuator worker reports back to the controller.

The worker drives the relays and the maintenance port; the controller alone turns what
happened into the audit log, faults, LEDs and the published status. An
:class:`Outcome` is the one message between them, posted to the controller's inbox, so
the controller never waits for an actuator and never guesses what one did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OutcomeKind(StrEnum):
    """What happened to the zone's actuators."""

    #: The primary actuators put the PBX in ``mode`` (and confirmed it where they can).
    APPLIED = "applied"
    #: The primary failed, and the fallback put the PBX in ``mode``; ``message`` says why
    #: the primary failed.
    FELL_BACK = "fell back"
    #: While the fallback held ``mode``, the primary applied it again: it takes over.
    PRIMARY_BACK = "primary back"
    #: ``mode`` could not be applied; ``message`` says why, ``retry_in`` when the worker
    #: tries again (None: not by itself, see ``needs_operator``).
    FAILED = "failed"
    #: The periodic read-back confirmed ``mode``.
    VERIFIED = "verified"
    #: The read-back found the PBX in ``seen`` instead of ``mode`` (switched behind the
    #: appliance's back, or reset by a power cut); ``by`` names the actuator.
    DRIFT = "drift"
    #: The read-back itself failed; ``message`` says why, ``retry_in`` when it is asked
    #: again.
    LINK_DOWN = "link down"
    #: A hardware test finished on the worker (``message`` describes it for the audit).
    TESTED = "tested"
    #: The fallback drill applied ``mode`` through the fallback and read it back
    #: (``message`` empty), or failed (``message`` says why).
    DRILLED = "drilled"


@dataclass(frozen=True)
class Outcome:
    """One report from a zone's worker.

    :param str zone: the zone's name.
    :param OutcomeKind kind: what happened.
    :param str mode: the mode the worker was applying or holding.
    :param str message: the failure in words (never holding a password).
    :param str seen: for :attr:`OutcomeKind.DRIFT`, the mode the PBX reads back.
    :param str by: the actuator that saw or did it.
    :param float retry_in: seconds until the worker tries again by itself, or None.
    :param bool needs_operator: True when the worker will not try again by itself soon
        (the PBX refused the login: retrying could lock the account); an operator's
        "retry", a config change or a long interval restarts it.
    :param bool reasserted: True when ``mode`` was applied again without a change of
        mode (a re-assert, a retry of the same mode, a re-apply after a test).
    """

    zone: str
    kind: OutcomeKind
    mode: str | None
    message: str = ""
    seen: str | None = None
    by: str = ""
    retry_in: float | None = None
    needs_operator: bool = False
    reasserted: bool = False


__all__ = ["Outcome", "OutcomeKind"]
