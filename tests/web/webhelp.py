"""Helpers for the web tests: a real appliance (mock pins, SQLite on disk, a simulated
clock), the app around its controller, and a logged-in browser."""

from __future__ import annotations

import shutil
import tomllib
from datetime import datetime, timezone

from appliance.config import find_pinmap, validate_config
from appliance.control.facade import ApplianceFacade
from appliance.daemon import Appliance
from appliance.inputs.clock import SimClock
from web import create_app

#: Monday 2 March 2026, 10:00 in Berlin: office hours by the default schedule.
MONDAY_10 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PASSWORDS = {
    "admin": "admin-password",
    "operator": "operator-password",
    "viewer": "viewer-password",
}


def site_config(*, zones=None, public_status=False, sense=False, extra=None):
    """The default wiring as a validated config. Without ``sense`` the contact relay
    cannot read the PBX back, so a switch is verified as soon as it is applied (the
    pin-side PBX simulator is not needed for the web tests)."""
    data = tomllib.loads(find_pinmap().read_text(encoding="utf-8"))
    data["site"] = {"name": "Test Office", "timezone": "Europe/Berlin"}
    if not sense:
        del data["actuators"][0]["sense"]
    if public_status:
        data["web"] = {"public_status": True}
    if zones:
        data["zones"] = [{"name": n, "label": n.replace("-", " ").title()} for n in zones]
        second = dict(data["actuators"][0], name="sales-contact", zone=zones[1], pin=27)
        data["actuators"].append(second)
    if extra:
        data.update(extra)
    return validate_config(data, "test config")


def make_user_db(path) -> None:
    """A data directory holding only the three users."""
    from appliance.store import Store

    with Store(path) as store:
        for role, password in PASSWORDS.items():
            store.add_user(role, role, password)


def make_appliance(tmp_path, user_db, pin_factory, *, config=None, clock=None, simulate=True):
    """A started appliance (controller running, no web server) on a copy of *user_db*."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if user_db is not None:
        for item in user_db.iterdir():
            if item.name.startswith("nightswitch.db"):
                shutil.copy(item, data / item.name)
    appliance = Appliance(
        config or site_config(),
        data,
        pin_factory=pin_factory,
        clock=clock or SimClock(MONDAY_10),
        simulate=simulate,
    )
    appliance.controller.start()
    settle(appliance)
    return appliance


def settle(appliance, steps: int = 2) -> None:
    """Let the controller thread finish what it was woken for, and the zones' workers
    finish applying what is wanted now (each round waits for one pass of the loop)."""
    for _ in range(steps):
        appliance.controller.wait_idle()


def make_app(appliance, **config):
    settings = {
        "TESTING": True,
        "NIGHTSWITCH_TEST_SECONDS": 0.05,
        "NIGHTSWITCH_STREAM_SECONDS": 2.0,
        "NIGHTSWITCH_HEARTBEAT_SECONDS": 0.2,
    }
    settings.update(config)
    return create_app(
        ApplianceFacade(appliance.controller, appliance.config),
        store=appliance.store,
        virtual_panel=appliance.virtual_panel,
        test_config=settings,
    )


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def log_in(client, user: str, csrf: str | None = None) -> str:
    """Give *client* a real session of *user* (as the login form would), and a CSRF
    token if *csrf* is given; returns the session id."""
    session_id = client.application.extensions["nightswitch.accounts"].start_session(user)
    with client.session_transaction() as session:
        session["sid"] = session_id
        if csrf:
            session["csrf"] = csrf
    return session_id


class Browser:
    """A logged-in person: the test client with a session and its CSRF token."""

    def __init__(self, client, user: str | None):
        self.client = client
        self.user = user
        self.csrf = "test-csrf-token"
        self.session_id = None
        if user:
            # A real session on the appliance, as the login form makes (web.sessions).
            accounts = client.application.extensions["nightswitch.accounts"]
            self.session_id = accounts.start_session(user)
        with client.session_transaction() as session:
            if self.session_id:
                session["sid"] = self.session_id
            session["csrf"] = self.csrf

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {}) if not hasattr(data, "getlist") else data
        if not hasattr(data, "getlist"):
            data.setdefault("csrf_token", self.csrf)
        return self.client.post(url, data=data, **kw)

    def api(self, method, url, **kw):
        headers = dict(kw.pop("headers", {}))
        headers.setdefault("X-CSRF-Token", self.csrf)
        return self.client.open(url, method=method, headers=headers, **kw)


def turn_key(appliance, position: str) -> None:
    """Turn the virtual key and let the debounce time pass on the simulated clock."""
    appliance.virtual_panel.set_key(position)
    appliance.clock.advance(0.2)
    settle(appliance, 3)
