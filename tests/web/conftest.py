"""Fixtures for the web tests: a real appliance and a Flask test client around its
controller.

Password hashing (scrypt) is slow on purpose, so the three users are created once per
session in a template database that each test copies; logging in through the form is
tested in test_auth.py, and other tests put the user into the session directly.
"""

from __future__ import annotations

import pytest

from tests.web.webhelp import MONDAY_10, Browser, make_app, make_appliance, make_user_db


@pytest.fixture(scope="session")
def user_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("users")
    make_user_db(path)
    return path


@pytest.fixture
def appliance(tmp_path, user_db, mock_factory):
    appliance = make_appliance(tmp_path, user_db, mock_factory)
    yield appliance
    appliance.stop()


@pytest.fixture
def app(appliance):
    return make_app(appliance)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(appliance):
    """A bearer token per role."""
    return {
        role: appliance.store.create_token(role, label=f"test {role}", by="test", at=MONDAY_10)
        for role in ("viewer", "operator", "admin")
    }


@pytest.fixture
def as_user(client):
    """``as_user("operator")`` -> a :class:`~tests.web.webhelp.Browser` logged in with
    that role (None: not logged in, but with a CSRF token)."""
    return lambda user: Browser(client, user)
