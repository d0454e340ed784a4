"""The web page and the HTTP API of the appliance.

:func:`create_app` builds a Flask app around the running appliance's
:class:`~appliance.control.facade.ApplianceFacade`, kept in
``app.extensions["nightswitch"]``, and the :class:`~appliance.store.Store` it is given
(``app.extensions["nightswitch.store"]``). The views reach the daemon only through the
facade's operations (status, override plans, schedule, preview, hardware tests); they
never touch the controller, pins or the serial port. Waitress serves the app inside the
daemon's process (:meth:`appliance.daemon.Appliance._start_web`).

Blueprints, one concern each:

* :mod:`web.auth`: who is asking (session or bearer token), roles, login, first run;
* :mod:`web.api`: the JSON API under ``/api/v1`` (docs/API.md);
* :mod:`web.sse`: the live status stream ``/api/v1/events``;
* :mod:`web.pages`: the HTML pages, one module per page, which work without JavaScript.

:mod:`web.security` adds the per-device secret key, CSRF tokens, security headers and
the login rate limiter; :mod:`web.sessions` keeps logins on the appliance;
:mod:`web.hosts` checks the Host header and trusts a TLS front on 127.0.0.1 only;
:mod:`web.serving` builds the hardened waitress servers (the web port and the command
line's Unix socket); :mod:`web.errors` turns every error into a clear answer without a
traceback.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class DocumentedOrderJSON(DefaultJSONProvider):
    """Flask's JSON, with an answer's fields in the order docs/API.md gives them."""

    sort_keys = False


log = logging.getLogger(__name__)

#: Bodies larger than this are refused with 413 (a schedule is a few KB).
MAX_BODY = 256 * 1024


def create_app(appliance=None, *, store=None, virtual_panel=None, test_config=None) -> Flask:
    """Build the web app.

    :param appliance:
        The running appliance as an :class:`~appliance.control.facade.ApplianceFacade`
        (or any object with its methods, :class:`~appliance.control.facade.ApplianceInterface`).
        Without one the app can only answer ``/health`` with 503 (useful to check the
        factory itself).
    :param store:
        The :class:`~appliance.store.Store`: users, tokens, the audit log, call records.
    :param virtual_panel:
        The :class:`~appliance.sim.virtual_panel.VirtualPanel` of ``simulate``, which turns
        on the virtual front panel and ``/api/v1/sim``; None on a real appliance.
    :param dict test_config:
        Settings that override the defaults, such as ``{"TESTING": True,
        "NIGHTSWITCH_INTAKE": intake}``.
        ``NIGHTSWITCH_INTAKE`` is the SMDR intake, for its counters on the installer page;
        ``NIGHTSWITCH_CALENDARS`` the calendar service, for the Schedule page's list of
        calendars and the closures in its preview;
        ``NIGHTSWITCH_MAX_STREAMS`` bounds live-update connections (each holds one of
        waitress's threads); ``NIGHTSWITCH_LOGIN_CLOCK`` is the monotonic clock of the
        login rate limiter; ``NIGHTSWITCH_ACCOUNT_CLOCK`` the UTC clock of sessions and
        token expiry (web.sessions); ``NIGHTSWITCH_TEST_SECONDS`` how long the installer
        page's hardware test holds each LED and relay.
    """
    app = Flask(__name__)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_BODY,
        MAX_FORM_PARTS=4000,
        SESSION_COOKIE_NAME="nightswitch_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Plain HTTP on a LAN: a Secure cookie would never be sent back
        # (docs/raspberry-pi.md#waitress-and-flask-on-a-lan).
        # Over the HTTPS front web.sessions marks it Secure, request by request.
        SESSION_COOKIE_SECURE=False,
        # A login lasts two weeks from the moment of login, never slid along; the session
        # itself lives on the appliance (web.sessions) and is what counts.
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        # The page polls fragments in the background; if each answer re-sent the cookie, a
        # slow one could overwrite the cookie a form post had just set (and lose its
        # message).
        SESSION_REFRESH_EACH_REQUEST=False,
        JSON_SORT_KEYS=False,
        NIGHTSWITCH_INTAKE=None,
        NIGHTSWITCH_CALENDARS=None,
        NIGHTSWITCH_ALERTS=None,
        NIGHTSWITCH_METRICS=None,
        NIGHTSWITCH_MAX_STREAMS=4,
        NIGHTSWITCH_STREAM_SECONDS=300.0,
        NIGHTSWITCH_HEARTBEAT_SECONDS=5.0,
        NIGHTSWITCH_LOGIN_CLOCK=None,
        NIGHTSWITCH_TEST_SECONDS=1.0,
    )
    if test_config:
        app.config.from_mapping(test_config)
    app.json = DocumentedOrderJSON(app)
    app.extensions["nightswitch"] = appliance
    app.extensions["nightswitch.store"] = store
    app.extensions["nightswitch.virtual_panel"] = virtual_panel

    from web import api, auth, errors, followup, pages, security, sse

    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(sse.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(followup.bp)
    return app


__all__ = ["create_app", "MAX_BODY"]
