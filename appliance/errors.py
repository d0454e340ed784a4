"""The exceptions that reach people, as one tree.

Every error a user can cause (a bad config, schedule, profile, form or API body)
is a :exc:`ValidationError` carrying one :class:`FieldError` per problem, so the
CLI, the web page and the API can all say *which field* is wrong and *what is
allowed*, and report every problem at once rather than one per try. Every other
failure a person may read derives from :exc:`NightswitchError` too, and all of them
are defined here::

    NightswitchError                 a message for people, never a traceback
    ├── ValidationError              a document or request, one FieldError per problem
    ├── Refused                      well formed, but not allowed now (HTTP 409)
    ├── StoreError                   the database cannot be used
    │   └── SchemaTooNewError        ... it was written by a newer nightswitch
    ├── ActuatorError                an actuator could not apply or confirm a mode
    │   ├── Abandoned                ... it stopped at a safe point: a newer mode is wanted
    │   └── LoginRefused             ... the PBX refused the login (also a DialogueError)
    ├── DialogueError                the dialogue with the PBX failed (its ``kind``)
    │   ├── DialogueTimeout
    │   ├── PortError
    │   └── LoginRefused             never retried by itself: it could lock the account
    ├── SourceError                  an SMDR source (port, telnet, listener) cannot open
    ├── FeedError                    a calendar feed cannot be used
    ├── DeliveryError                an alert could not be delivered
    ├── TemplateError                an SMDR render template cannot be compiled
    └── SimError                     the PBX simulator cannot honour a request
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


class StoreError(NightswitchError):
    """The database cannot be used: the disk, permissions, a lock, a closed store."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer nightswitch than this one."""


class ActuatorError(NightswitchError):
    """An actuator could not apply or confirm a mode. The message is for people: it
    says what failed and, where it can, what to look at.

    ``retry_automatically`` is False for a failure that retrying would make worse (a
    login the PBX refused: a few more tries can lock the maintenance account, see
    :exc:`LoginRefused`); the zone's worker then waits for an operator's retry or a long
    interval.
    """

    retry_automatically = True


class Abandoned(ActuatorError):
    """An apply stopped at a safe point because a newer mode is wanted (or the appliance
    is stopping). Not a fault: the worker applies the newest mode next."""


class DialogueError(NightswitchError):
    """The dialogue with the PBX failed. The message is for people and never holds a
    secret.

    :param str kind: ``timeout``, ``port``, ``auth``, ``refused``, ``busy``, ``error``,
        ``verify``, ``protocol`` or ``abandoned``; ``auth`` failures are never retried,
        to avoid locking the account.
    """

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


class DialogueTimeout(DialogueError):
    def __init__(self, message: str):
        super().__init__(message, "timeout")


class PortError(DialogueError):
    def __init__(self, message: str):
        super().__init__(message, "port")


class LoginRefused(DialogueError, ActuatorError):
    """The PBX refused a login (a wrong password or user name), on its maintenance port
    or on its call-record (SMDR) telnet service.

    Trying again with the same password cannot work and can lock the account after a
    few failures, so it is never retried by the dialogue engine or the link, and
    :attr:`retry_automatically` is False for the worker: it stops, shows the fault, and
    tries again only when the config changes (a restart), when an operator asks for a
    retry, or after a long interval. The message says what to check and how to try it
    by hand.

    :param str said: what the PBX printed (masked, one line).
    """

    retry_automatically = False

    def __init__(self, message: str, said: str = ""):
        super().__init__(message, "auth")
        self.said = said


class SourceError(NightswitchError):
    """An SMDR source could not be opened; the message says why (retried with backoff)."""


class FeedError(NightswitchError):
    """A calendar feed as a whole cannot be used; the message says why, in words for a
    facilities manager (it is shown as the ``calendar`` fault)."""


class DeliveryError(NightswitchError):
    """An alert could not be delivered; the message says why."""


class TemplateError(NightswitchError, ValueError):
    """An SMDR template that cannot be compiled; the message says what is allowed."""


class SimError(NightswitchError):
    """A request the PBX simulator cannot honour, said plainly (no traceback)."""
