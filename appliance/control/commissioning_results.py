"""What ``nightswitch test all`` found: each step, its checks and the overall word.

The walk (:mod:`appliance.control.commissioning_run`) fills these in; the report
(:mod:`appliance.outputs.commissioning_report`) and the command print them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.errors import NightswitchError

PASSED, FAILED, SKIPPED, UNCONFIRMED = "passed", "failed", "skipped", "unconfirmed"


class NobodyThere(NightswitchError):
    """The installer's terminal closed in the middle of the walk."""


@dataclass
class Check:
    """One thing a step checked.

    :param str what: what was checked (``relay night-service (GPIO17)``).
    :param str result: ``passed``, ``failed``, ``skipped`` or ``unconfirmed`` (done, but
        nobody could look: ``--yes`` on a real site).
    :param str detail: what happened, in words.
    :param answer: what the installer answered, or why nobody was asked.
    """

    what: str
    result: str
    detail: str
    answer: str | None = None


@dataclass
class StepResult:
    """One step of the walk and its checks."""

    key: str
    title: str
    checks: list[Check] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)  # {"title", "head", "rows"}
    error: str | None = None

    @property
    def result(self) -> str:
        results = [c.result for c in self.checks]
        if self.error or FAILED in results:
            return FAILED
        if not results or all(r == SKIPPED for r in results):
            return SKIPPED
        if UNCONFIRMED in results:
            return UNCONFIRMED
        return PASSED

    def add(self, what: str, result: str, detail: str, answer: str | None = None) -> Check:
        check = Check(what, result, detail, answer)
        self.checks.append(check)
        return check

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "title": self.title,
            "result": self.result,
            "error": self.error,
            "tables": self.tables,
            "checks": [vars(c) for c in self.checks],
        }


def summary(steps: list[StepResult]) -> dict:
    """How the walk went: counts of each result, and the overall word."""
    counts = {
        r: sum(1 for s in steps if s.result == r) for r in (PASSED, FAILED, SKIPPED, UNCONFIRMED)
    }
    overall = (
        FAILED
        if counts[FAILED]
        else UNCONFIRMED
        if counts[UNCONFIRMED]
        else PASSED
        if counts[PASSED]
        else SKIPPED
    )
    return {"overall": overall, **counts}


__all__ = [
    "FAILED",
    "PASSED",
    "SKIPPED",
    "UNCONFIRMED",
    "Check",
    "NobodyThere",
    "StepResult",
    "summary",
]
