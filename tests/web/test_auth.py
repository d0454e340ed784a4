"""Logging in, sessions, CSRF, the rate limiter, first run and roles on pages."""

from __future__ import annotations

import re

import pytest

from appliance.accounts.keyfile import KEY_FILE
from tests.web.webhelp import PASSWORDS, make_app, make_appliance
from web.security import LoginLimiter


def _csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


def _login(client, name, password, next_url=None):
    token = _csrf(client.get("/login").data)
    data = {"csrf_token": token, "name": name, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/login", data=data)


def test_login_and_logout(client):
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    r = _login(client, "operator", PASSWORDS["operator"], next_url="/log")
    assert r.status_code == 302 and r.headers["Location"] == "/log"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.status_code == 200 and b"operator" in page.data
    r = client.post("/logout", data={"csrf_token": _csrf(page.data)})
    assert r.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_and_unknown_user(client):
    r = _login(client, "operator", "wrong password")
    assert r.status_code == 401 and b"do not match" in r.data
    r = _login(client, "nobody", "whatever it is")
    assert r.status_code == 401 and b"do not match" in r.data


def test_next_never_leaves_the_appliance(client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil", "javascript:x"):
        r = _login(client, "viewer", PASSWORDS["viewer"], next_url=target)
        assert r.headers["Location"] == "/", target


def test_rate_limit_locks_out_after_five_failures(appliance):
    now = [1000.0]
    client = make_app(appliance, NIGHTSWITCH_LOGIN_CLOCK=lambda: now[0]).test_client()
    for _ in range(5):
        assert _login(client, "admin", "wrong password").status_code == 401
    r = _login(client, "admin", PASSWORDS["admin"])
    assert r.status_code == 429 and b"Try again in 30 seconds" in r.data
    now[0] += 31
    assert _login(client, "admin", "wrong again").status_code == 401
    r = _login(client, "admin", PASSWORDS["admin"])  # the lock doubled to 60 s
    assert r.status_code == 429 and b"60 seconds" in r.data
    now[0] += 61
    assert _login(client, "admin", PASSWORDS["admin"]).status_code == 302


def test_limiter_counts_per_key_and_forgets_on_success():
    now = [0.0]
    limiter = LoginLimiter(lambda: now[0])
    for _ in range(4):
        assert limiter.begin("ip:a", "user:x").allowed
    assert limiter.wait_for("ip:a") == 0
    attempt = limiter.begin("ip:a", "user:x")
    assert attempt.allowed and attempt.locked == ("ip:a", "user:x")
    assert limiter.wait_for("ip:a") == 30 and limiter.wait_for("user:x") == 30
    assert limiter.wait_for("ip:b", "user:y") == 0
    for _ in range(10):  # each try as soon as allowed: the wait doubles up to the longest
        now[0] += limiter.wait_for("ip:a")
        assert limiter.begin("ip:a").allowed
    assert limiter.wait_for("ip:a") == LoginLimiter.longest
    limiter.succeeded(limiter.begin("ip:c", "ip:a", "user:x"))
    assert limiter.wait_for("ip:a", "user:x") == 0


def test_limiter_is_bounded():
    now = [0.0]
    limiter = LoginLimiter(lambda: now[0])
    limiter.max_entries = 10
    for i in range(50):
        limiter.begin(f"ip:{i}")
    assert len(limiter._failures) <= 10


def test_forms_need_the_csrf_token(client, as_user, appliance):
    browser = as_user("operator")
    r = browser.client.post("/override", data={"mode": "night", "until": "1h"})
    assert r.status_code == 400 and b"CSRF" in r.data
    r = browser.client.post(
        "/override", data={"mode": "night", "until": "1h", "csrf_token": "forged"}
    )
    assert r.status_code == 400
    assert appliance.store.get_override("main") is None
    # a page's own script sends the header instead
    r = browser.api("POST", "/api/v1/override", json={"mode": "night"})
    assert r.status_code == 200
    r = browser.client.post("/api/v1/override", json={"mode": "day"})
    assert r.status_code == 400 and "CSRF" in r.get_json()["error"]


def test_login_form_needs_csrf_too(client):
    r = client.post("/login", data={"name": "admin", "password": PASSWORDS["admin"]})
    assert r.status_code == 400


def test_roles_on_pages(as_user):
    viewer = as_user("viewer")
    assert viewer.get("/").status_code == 200
    assert viewer.get("/schedule").status_code == 200
    assert viewer.get("/installer").status_code == 403
    assert viewer.get("/users").status_code == 403
    r = viewer.post("/override", {"mode": "night", "until": "1h"})
    assert r.status_code == 403 and b"operator" in r.data
    page = viewer.get("/").data
    assert b"Change the mode" not in page
    assert b"Installer" not in page and b"Users" not in page
    admin = as_user("admin")
    page = admin.get("/").data
    assert b"Installer" in page and b"Users" in page


def test_deleted_user_is_logged_out(as_user, appliance):
    browser = as_user("viewer")
    assert browser.get("/").status_code == 200
    appliance.store.delete_user("viewer")
    assert browser.get("/").status_code == 302


def test_secret_key_is_made_once_per_device(appliance):
    first = make_app(appliance).config["SECRET_KEY"]
    key_file = appliance.data_dir / KEY_FILE
    assert key_file.read_text().strip() == first
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert appliance.store.get_setting("web.secret_key") is None
    assert len(first) == 64
    assert make_app(appliance).config["SECRET_KEY"] == first


@pytest.fixture
def empty_appliance(tmp_path, mock_factory):
    appliance = make_appliance(tmp_path, None, mock_factory)
    yield appliance
    appliance.stop()


def test_first_run_setup_only_from_localhost_and_only_once(empty_appliance):
    client = make_app(empty_appliance).test_client()
    page = client.get("/login")
    assert b"No one can log in yet" in page.data and b"/setup" in page.data
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/setup", environ_base=remote).status_code == 404
    assert b"user add" in client.get("/login", environ_base=remote).data
    token = _csrf(client.get("/setup").data)
    r = client.post(
        "/setup",
        data={"csrf_token": token, "name": "boss", "password": "short", "password2": "short"},
    )
    assert r.status_code == 400 and b"at least 8" in r.data
    r = client.post(
        "/setup",
        data={
            "csrf_token": token,
            "name": "boss",
            "password": "long enough",
            "password2": "different",
        },
    )
    assert r.status_code == 400 and b"differ" in r.data
    r = client.post(
        "/setup",
        data={"csrf_token": token, "name": "boss", "password": "password", "password2": "password"},
    )
    assert r.status_code == 400 and b"most common passwords" in r.data
    r = client.post(
        "/setup",
        data={
            "csrf_token": token,
            "name": "boss",
            "password": "long enough",
            "password2": "long enough",
        },
    )
    assert r.status_code == 302
    assert empty_appliance.store.get_user("boss") == {"name": "boss", "role": "admin"}
    assert client.get("/").status_code == 200  # logged in as boss
    assert client.get("/setup").status_code == 404  # never again


def test_change_own_password(as_user, appliance):
    browser = as_user("viewer")
    r = browser.post(
        "/account",
        {"current": "wrong", "password": "new password 1", "password2": "new password 1"},
    )
    assert r.status_code == 400 and b"not your current password" in r.data
    r = browser.post(
        "/account",
        {
            "current": PASSWORDS["viewer"],
            "password": "new password 1",
            "password2": "new password 2",
        },
    )
    assert r.status_code == 400 and b"differ" in r.data
    r = browser.post(
        "/account",
        {
            "current": PASSWORDS["viewer"],
            "password": "new password 1",
            "password2": "new password 1",
        },
    )
    assert r.status_code == 302
    assert appliance.store.check_password("viewer", "new password 1") is not None
