"""Every error becomes a clear answer: JSON for the API, a page for people.

The JSON body is always ``{"error": "what is wrong and what is allowed"}``, plus
``"errors": [{"field", "message"}]`` for a :exc:`~appliance.errors.ValidationError`.
Nothing ever shows a traceback: an unexpected exception is logged (journald has it) and
answered with 500 and a one-line apology.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from appliance.errors import NightswitchError, Refused, ValidationError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status, raised by views.

    :param int status: the HTTP status code.
    :param str message: what is wrong and what is allowed.
    :param dict headers: extra response headers (``Retry-After``).
    """

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def wants_json() -> bool:
    """Whether the answer to this request is JSON (the API, health) or a page."""
    path = request.path
    return (
        path.startswith("/api/")
        or path == "/health"
        or (request.accept_mimetypes.best == "application/json")
    )


def _answer(status: int, message: str, *, errors=None, headers=None):
    if wants_json():
        body = {"error": message}
        if errors:
            body["errors"] = errors
        response = jsonify(body)
    else:
        try:
            html = render_template(
                "error.html", status=status, message=message, errors=errors or []
            )
        except Exception:  # the error page itself must never fail
            log.exception("rendering the error page")
            html = f"<!doctype html><title>Error {status}</title><p>{status}</p>"
        from flask import make_response

        response = make_response(html, status)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


_HTTP_MESSAGES = {
    400: "the request is malformed",
    401: "log in first: send a session cookie from the login page or 'Authorization: Bearer TOKEN'",
    403: "your role does not allow this",
    413: "the request body is too large; at most 256 KB is accepted",
    415: "send the body as JSON with 'Content-Type: application/json'",
}


def _http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 404:
        what = "endpoint" if request.path.startswith("/api/") else "page"
        message = f"there is no {what} {request.path}" + (
            "; see docs/API.md for the endpoints" if what == "endpoint" else ""
        )
    elif status == 405:
        allowed = exc.valid_methods if hasattr(exc, "valid_methods") else None
        allowed = sorted(m for m in (allowed or []) if m not in ("HEAD", "OPTIONS"))
        message = f"{request.method} is not allowed on {request.path}" + (
            f"; use {', '.join(allowed)}" if allowed else ""
        )
    elif status in _HTTP_MESSAGES:
        message = _HTTP_MESSAGES[status]
        if status == 400 and exc.description and "CSRF" in exc.description:
            message = exc.description
    else:
        message = (exc.description or exc.name or "error").split("\n")[0]
    headers = {}
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return _answer(status, message, headers=headers)


def _api_error(exc: ApiError):
    return _answer(exc.status, exc.message, headers=exc.headers)


def _validation_error(exc: ValidationError):
    body = exc.as_json()
    return _answer(400, body["error"], errors=body["errors"])


def _refused(exc: Refused):
    return _answer(409, str(exc))


def _nightswitch_error(exc: NightswitchError):
    # Store and controller trouble that a person should read (a full disk, a timeout).
    log.error("request %s %s failed: %s", request.method, request.path, exc)
    return _answer(503, f"the appliance could not do that now: {exc}")


def _timeout(exc: TimeoutError):
    # The controller thread did not answer in time (a slow PBX dialogue in progress).
    log.error("request %s %s timed out waiting for the controller", request.method, request.path)
    return _answer(
        503,
        "the appliance is busy switching the PBX and did not answer in time; try again in a minute",
        headers={"Retry-After": "30"},
    )


def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unexpected error in %s %s", request.method, request.path)
    return _answer(500, "an internal error happened and was logged; the request was not completed")


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(NightswitchError, _nightswitch_error)
    app.register_error_handler(TimeoutError, _timeout)
    app.register_error_handler(Exception, _unexpected)


__all__ = ["ApiError", "init_app", "wants_json"]
