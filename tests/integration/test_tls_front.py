"""Issue 13, finding 14: the HTTPS front, with the real nginx in front of the real daemon.

The test renders tls/nginx-nightswitch.conf.in exactly as ``install.sh --tls`` does (but
on free ports and with a temporary certificate from tls/make-cert.sh), starts Debian's
nginx on 127.0.0.1 with it, starts ``nightswitch simulate`` behind it, and checks what a
browser would get: HTTPS with the certificate, the redirect from plain HTTP, ``Secure``
cookies, Strict-Transport-Security, the client's own address in the security log (not
nginx's, and not what the client claimed), and nginx's own body limit.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.reliability.daemon_rig import SimDaemon, write_config

REPO = Path(__file__).resolve().parents[2]
NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "nginx did not start: " + log.read_text(errors="replace")
                ) from None
            time.sleep(0.05)


def render_site(upstream: str, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    """The site file as install.sh writes it, for these ports and files."""
    text = (REPO / "tls/nginx-nightswitch.conf.in").read_text()
    for name, value in (
        ("@HTTP_LISTEN@", f"127.0.0.1:{http_port}"),
        ("@HTTPS_LISTEN@", f"127.0.0.1:{https_port}"),
        ("@HTTPS_SUFFIX@", f":{https_port}"),
        ("@CERT@", str(cert)),
        ("@KEY@", str(key)),
        ("@UPSTREAM@", upstream),
    ):
        text = text.replace(name, value)
    assert "@" not in re.sub(r"#.*", "", text), "a placeholder was left"
    return text


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    if not Path(NGINX).is_file():
        pytest.fail(
            "Debian's nginx is not installed; ./dev test installs it (apt-get install nginx)"
        )
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "nightswitch.crt", base / "nightswitch.key"
    subprocess.run(
        ["bash", str(REPO / "tls/make-cert.sh"), str(cert), str(key), "reception-pi"], check=True
    )
    daemon = SimDaemon(base / "data", write_config(base / "nightswitch.toml"), base / "logs")
    from appliance.store import Store

    with Store(base / "data") as store:
        store.add_user("facilities", "operator", "facilities password 1")
    daemon.start()
    http_port, https_port = free_port(), free_port()
    (base / "nightswitch.conf").write_text(
        render_site(f"127.0.0.1:{daemon.port}", http_port, https_port, cert, key)
    )
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (base / sub).mkdir()
    (base / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {base}/body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    include {base}/nightswitch.conf;
}}
""")
    check = subprocess.run(
        [
            NGINX,
            "-t",
            "-q",
            "-p",
            str(base),
            "-c",
            str(base / "nginx.conf"),
            "-e",
            str(base / "error.log"),
        ],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr + (base / "error.log").read_text()
    proc = subprocess.Popen(
        [NGINX, "-p", str(base), "-c", str(base / "nginx.conf"), "-e", str(base / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(https_port, proc, base / "error.log")
        context = ssl.create_default_context(cafile=str(cert))
        yield {
            "daemon": daemon,
            "https": https_port,
            "http": http_port,
            "context": context,
            "cert": cert,
        }
    finally:
        proc.terminate()
        proc.wait(20)
        daemon.stop()


def https(front, method, path, *, body=None, headers=None, source="127.0.0.5"):
    conn = http.client.HTTPSConnection(
        "localhost",
        front["https"],
        context=front["context"],
        timeout=30,
        source_address=(source, 0),
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def test_f14_https_with_the_certificate_and_hsts(front):
    status, headers, body = https(front, "GET", "/health")
    assert status in (200, 503) and b'"ok"' in body
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    # the certificate is for the Pi's names and 127.0.0.1
    text = subprocess.run(
        ["openssl", "x509", "-in", str(front["cert"]), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
    ).stdout
    assert "DNS:reception-pi.local" in text and "IP Address:127.0.0.1" in text


def test_f14_plain_http_is_sent_to_https(front):
    conn = http.client.HTTPConnection("127.0.0.1", front["http"], timeout=30)
    conn.request("GET", "/schedule?zone=main", headers={"Host": "reception-pi.local"})
    resp = conn.getresponse()
    assert resp.status == 301
    assert (
        resp.getheader("Location")
        == f"https://reception-pi.local:{front['https']}/schedule?zone=main"
    )
    conn.close()


def test_f14_login_over_https_gets_a_secure_cookie_and_the_real_address(front):
    status, headers, page = https(front, "GET", "/login")
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    body = urllib.parse.urlencode(
        {"csrf_token": token, "name": "facilities", "password": "facilities password 1"}
    )
    # the client claims to be the appliance itself; nginx replaces the claim
    status, headers, _ = https(
        front,
        "POST",
        "/login",
        body=body,
        headers={
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": "127.0.0.1",
            "X-Forwarded-Proto": "http",
        },
    )
    assert status == 302
    set_cookie = headers["Set-Cookie"]
    assert "; Secure" in set_cookie and "HttpOnly" in set_cookie
    log = front["daemon"].json("GET", "/api/v1/security-log?limit=20")["entries"]
    login = next(e for e in log if e["event"] == "login" and e["who"] == "facilities")
    assert login["address"] == "127.0.0.5"
    session = set_cookie.split(";")[0]
    status, _, page = https(front, "GET", "/", headers={"Cookie": session})
    assert status == 200 and b"facilities" in page


def test_f14_the_first_run_page_is_not_open_through_the_front(front):
    # nginx connects from 127.0.0.1, but the app sees the client behind it
    status, _, _ = https(front, "GET", "/setup")
    assert status == 404


def test_f14_nginx_refuses_a_large_body_itself(front):
    status, _, _ = https(
        front,
        "POST",
        "/login",
        body=b"a" * (512 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 413


def test_f14_the_rendered_site_is_what_install_sh_writes(tmp_path):
    # install.sh fills the same placeholders with sed: none may be missed there either
    text = (REPO / "install.sh").read_text()
    placeholders = set(
        re.findall(r"@[A-Z_]+@", (REPO / "tls/nginx-nightswitch.conf.in").read_text())
    )
    for name in placeholders:
        assert f"s#{name}#" in text, name
    assert shutil.which("openssl"), "openssl makes the certificate"
