"""The exceptions that reach people.

Every error a user can cause (a bad config, schedule, profile, form or API body)
is a :exc:`ValidationError` carrying one :class:`FieldError` per problem, so the
CLI, the web page and the API can all say *which field* is wrong and *what is
allowed*, and report every problem at once rather than one per try.
"""

from __future__ import annotations

from dataclasses import dataclass


class NightswitchError(Exception):
    """Base of every error whose message is meant for a person, not a developer."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field.

    :param str field:
        Where the problem is, as a dotted path with list indices, such as
        ``weekly.mon[1].end`` or ``actuators[0].pin``.
    :param str message:
        What is wrong and what is allowed, such as
        ``"must be later than start 12:00"``.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ValidationError(NightswitchError, ValueError):
    """Raised with every problem found in a document at once.

    :param errors:
        A list of :class:`FieldError`, never empty.
    :param str source:
        Optional name of the file or request the document came from; it is
        prefixed to each line of :func:`str`.
    """

    def __init__(self, errors, source: str = ""):
        self.errors = list(errors)
        if not self.errors:
            raise ValueError("ValidationError needs at least one FieldError")
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return "\n".join(prefix + str(e) for e in self.errors)

    def as_json(self) -> dict:
        """The body of an HTTP 400: ``{"error": ..., "errors": [{"field", "message"}]}``."""
        return {
            "error": "; ".join(str(e) for e in self.errors),
            "errors": [{"field": e.field, "message": e.message} for e in self.errors],
        }


class Refused(NightswitchError):
    """A request that is well formed but not allowed now, such as an override
    while the key switch is in a forced position (HTTP 409)."""
