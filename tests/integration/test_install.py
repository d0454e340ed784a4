"""install.sh, run for real in a scratch root with its documented test switch.

``NIGHTSWITCH_INSTALL_TEST=1`` stubs only what would change this machine (apt-get,
systemctl, udevadm, raspi-config, user management, chown, the venv and pip, Pi detection)
and logs each stubbed call; the file layout, the config.txt and cmdline.txt edits, the
generated config and the first admin are the real code path.  The script runs from a
snapshot of the checkout, so other people's edits during the run cannot change the tree.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ORIGINAL_CONFIG_TXT = (
    "# For more options and information see\n"
    "# http://rptl.io/configtxt\n"
    "dtparam=audio=on\n"
    "camera_auto_detect=1\n"
    "\n"
    "[cm5]\n"
    "dtoverlay=dwc2,dr_mode=host\n"
    "\n"
    "[all]\n"
)
ORIGINAL_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 "
    "rootfstype=ext4 fsck.repair=yes rootwait\n"
)
BEGIN = "# >>> nightswitch >>>"
END = "# <<< nightswitch <<<"
TEST_LOG = "var/log/nightswitch-install-test.log"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A frozen copy of the checkout, as an installer would unpack it."""
    dest = tmp_path_factory.mktemp("src") / "nightswitch"
    shutil.copytree(
        REPO,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "venv",
            "__pycache__",
            "*.egg-info",
            ".pytest_cache",
            ".hypothesis",
            ".benchmarks",
            "node_modules",
            "build",
            "var",
        ),
    )
    return dest


def make_root(path: Path, *, legacy_boot: bool = False) -> Path:
    """A scratch root that looks like a fresh Raspberry Pi OS card."""
    boot = path / ("boot" if legacy_boot else "boot/firmware")
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text(ORIGINAL_CONFIG_TXT)
    (boot / "cmdline.txt").write_text(ORIGINAL_CMDLINE)
    (path / "etc").mkdir()
    (path / "etc/timezone").write_text("Europe/Vienna\n")
    (path / "etc/hostname").write_text("reception-pi\n")
    return path


@pytest.fixture(scope="module")
def installed(source, tmp_path_factory):
    """One fresh install (the slow part), shared by the tests that only read it or clone it."""
    root = make_root(tmp_path_factory.mktemp("installed") / "root")
    result = run_install(source, root, "--unattended")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result


def clone(root: Path, dest: Path) -> Path:
    """A copy of an installed root (modes, links and all) for a test that changes it."""
    shutil.copytree(root, dest, symlinks=True)
    return dest


def run_install(
    source: Path, root: Path | None, *args: str, model: str | None = None, test_mode: bool = True
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The stubbed venv links to the python and nightswitch this test runs with.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("NIGHTSWITCH_INSTALL_TEST", None)
    if test_mode:
        env["NIGHTSWITCH_INSTALL_TEST"] = "1"
    if model:
        env["NIGHTSWITCH_TEST_MODEL"] = model
    command = ["bash", str(source / "install.sh")]
    if root is not None:
        command += ["--root", str(root)]
    return subprocess.run(
        command + list(args),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def tree(root: Path) -> dict[str, tuple]:
    """Every path under *root* with its type, mode and content hash (or link target)."""
    result = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == TEST_LOG:
            continue  # one run's stubbed calls: differs on purpose (enable vs restart)
        info = path.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if path.is_symlink():
            result[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            result[rel] = ("dir", oct(mode))
        else:
            result[rel] = ("file", oct(mode), hashlib.sha256(path.read_bytes()).hexdigest())
    return result


def stub_log(root: Path) -> list[str]:
    return (root / TEST_LOG).read_text().splitlines()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def admin_password(stdout: str) -> str | None:
    for line in stdout.splitlines():
        if "Log in as 'admin' with password:" in line:
            return line.split()[-1]
    return None


# ---------------------------------------------------------------------------------------


def test_shellcheck_is_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail(
            "shellcheck is not installed; ./dev test installs it (apt-get install shellcheck)"
        )
    result = subprocess.run(
        [shellcheck, "--severity=style", "install.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_help_explains_every_option_and_the_test_switch(source):
    result = run_install(source, None, "--help", test_mode=False)
    assert result.returncode == 0
    assert result.stderr == ""
    for word in (
        "--unattended",
        "--uninstall",
        "--purge",
        "--root DIR",
        "--prefix DIR",
        "NIGHTSWITCH_INSTALL_TEST=1",
        "/opt/nightswitch",
    ):
        assert word in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--purge"], "--purge only goes with --uninstall"),
        (["--prefix", "relative/dir"], "must be an absolute path"),
        (["--prefix"], "--prefix needs a directory"),
        (["--root", "/nonexistent/scratch"], "--root /nonexistent/scratch: no such directory"),
    ],
)
def test_bad_options_exit_2_with_one_clear_line(source, args, message):
    result = run_install(source, None, *args, test_mode=False)
    assert result.returncode == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith("install.sh: error: ") and message in first
    assert rest == ["Try 'install.sh --help'."]
    assert "Traceback" not in result.stderr


def test_test_switch_refuses_the_real_root(source):
    result = run_install(source, None, "--unattended")
    assert result.returncode == 2
    assert "needs --root DIR" in result.stderr


def test_install_lays_out_the_files_as_on_a_pi(installed):
    root, result = installed

    # the command is on PATH for `sudo nightswitch status`
    link = root / "usr/local/bin/nightswitch"
    assert link.is_symlink() and os.readlink(link) == "/opt/nightswitch/venv/bin/nightswitch"

    # config: the pin map plus [site], root:nightswitch 0640, in a 0750 directory
    conf_dir = root / "etc/nightswitch"
    config = conf_dir / "nightswitch.toml"
    assert mode_of(conf_dir) == 0o750
    assert mode_of(conf_dir / "profiles") == 0o750
    assert mode_of(config) == 0o640
    text = config.read_text()
    assert '[site]\nname = "reception-pi"\ntimezone = "Europe/Vienna"\n' in text
    assert (REPO / "hardware/pinmap.toml").read_text() in text
    from appliance.config import load_config

    loaded = load_config(config)
    assert loaded.timezone == "Europe/Vienna"
    assert loaded.site_name == "reception-pi"

    # data directory, 0750
    assert mode_of(root / "var/lib/nightswitch") == 0o750

    # system files, byte for byte from the checkout
    for installed, shipped in [
        ("etc/systemd/system/nightswitch.service", "systemd/nightswitch.service"),
        ("etc/udev/rules.d/90-nightswitch.rules", "systemd/90-nightswitch.rules"),
        ("etc/modules-load.d/nightswitch.conf", "systemd/nightswitch-modules.conf"),
        (
            "etc/systemd/system.conf.d/nightswitch-watchdog.conf",
            "systemd/nightswitch-watchdog.conf",
        ),
    ]:
        assert (root / installed).read_bytes() == (REPO / shipped).read_bytes(), installed
        assert mode_of(root / installed) == 0o644

    # boot config: the original, then the marked block holding the fragment
    boot = root / "boot/firmware"
    fragment = (REPO / "firmware/config.txt").read_text()
    assert (boot / "config.txt").read_text() == f"{ORIGINAL_CONFIG_TXT}{BEGIN}\n{fragment}{END}\n"
    assert (boot / "config.txt.nightswitch-backup").read_text() == ORIGINAL_CONFIG_TXT

    # no raspi-config in this root: the serial console is taken out of cmdline.txt
    assert (boot / "cmdline.txt").read_text() == (
        "console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
    )
    assert (boot / "cmdline.txt.nightswitch-backup").read_text() == ORIGINAL_CMDLINE

    # the program, with its source kept for repairs and --uninstall
    assert (root / "opt/nightswitch/src/install.sh").is_file()
    assert (root / "opt/nightswitch/src/hardware/pinmap.toml").is_file()
    assert (root / "opt/nightswitch/venv/bin/nightswitch").is_symlink()

    # what would have changed the machine, in order
    log = stub_log(root)
    expected = [
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "python3-venv python3-lgpio avahi-daemon",
        "python3 -m venv --system-site-packages /opt/nightswitch/venv",
        "/opt/nightswitch/venv/bin/python -m pip install --upgrade /opt/nightswitch/src",
        "chown root:nightswitch /etc/nightswitch/nightswitch.toml",
        "chown nightswitch:nightswitch /var/lib/nightswitch",
        "udevadm control --reload-rules",
        "systemctl daemon-reexec",
        "systemctl daemon-reload",
        "systemctl enable --now nightswitch.service",
    ]
    positions = [log.index(line) for line in expected]
    assert positions == sorted(positions)
    useradd = next(line for line in log if line.startswith("useradd "))
    assert "--system" in useradd and "--groups gpio,dialout" in useradd
    assert useradd.endswith(" nightswitch")
    assert not any(line.startswith("raspi-config") for line in log)

    # the first admin: printed once, and it really logs in
    password = admin_password(result.stdout)
    assert password
    from appliance.store import Store

    store = Store(root / "var/lib/nightswitch")
    try:
        user = store.check_password("admin", password)
        assert user is not None and user["role"] == "admin"
        # issue 13, finding 12: the printed password works once, then must be replaced
        assert store.users_to_change_password() == {"admin"}
    finally:
        store.close()
    assert "http://reception-pi.local:8080/" in result.stdout
    assert "REBOOT" in result.stdout


def test_running_again_changes_nothing_and_keeps_site_edits(source, installed, tmp_path):
    root = clone(installed[0], tmp_path / "root")
    before = tree(root)

    second = run_install(source, root, "--unattended")
    assert second.returncode == 0, second.stdout + second.stderr
    assert tree(root) == before
    # an upgrade restarts the running service instead of enabling it again
    assert "systemctl restart nightswitch.service" in stub_log(root)
    # no second admin, no password, no reboot needed
    assert admin_password(second.stdout) is None
    assert "an administrator exists already" in second.stdout
    assert "REBOOT" not in second.stdout
    assert (root / "boot/firmware/config.txt.nightswitch-backup").read_text() == ORIGINAL_CONFIG_TXT

    # the site's own config and its own config.txt lines survive an upgrade
    config = root / "etc/nightswitch/nightswitch.toml"
    edited = config.read_text().replace('timezone = "Europe/Vienna"', 'timezone = "Europe/Berlin"')
    config.write_text(edited)
    boot_config = root / "boot/firmware/config.txt"
    boot_config.write_text(boot_config.read_text() + "gpio=7=op,dh\n")
    third = run_install(source, root, "--unattended")
    assert third.returncode == 0, third.stdout + third.stderr
    assert config.read_text() == edited
    assert boot_config.read_text().endswith(f"{END}\ngpio=7=op,dh\n")
    assert boot_config.read_text().splitlines().count(BEGIN) == 1


def test_uninstall_removes_what_it_added_and_keeps_config_and_data(source, installed, tmp_path):
    root = clone(installed[0], tmp_path / "root")
    config = (root / "etc/nightswitch/nightswitch.toml").read_bytes()
    database = root / "var/lib/nightswitch/nightswitch.db"
    assert database.is_file()

    result = run_install(source, root, "--uninstall")
    assert result.returncode == 0, result.stdout + result.stderr
    for gone in (
        "opt/nightswitch",
        "etc/systemd/system/nightswitch.service",
        "usr/local/bin/nightswitch",
        "etc/udev/rules.d/90-nightswitch.rules",
        "etc/modules-load.d/nightswitch.conf",
        "etc/systemd/system.conf.d/nightswitch-watchdog.conf",
        "boot/firmware/config.txt.nightswitch-backup",
    ):
        assert not (root / gone).exists(), gone
    assert (root / "boot/firmware/config.txt").read_text() == ORIGINAL_CONFIG_TXT
    assert (root / "etc/nightswitch/nightswitch.toml").read_bytes() == config
    assert database.is_file()
    log = stub_log(root)
    assert "systemctl disable --now nightswitch.service" in log
    assert not any(line.startswith("userdel") for line in log)
    assert "--uninstall --purge deletes them" in result.stdout

    # installing again after an uninstall keeps the old config and users
    again = run_install(source, root, "--unattended")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (root / "etc/nightswitch/nightswitch.toml").read_bytes() == config
    assert admin_password(again.stdout) is None


def test_uninstall_purge_removes_config_data_and_user(source, installed, tmp_path):
    root = clone(installed[0], tmp_path / "root")
    result = run_install(source, root, "--uninstall", "--purge")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (root / "etc/nightswitch").exists()
    assert not (root / "var/lib/nightswitch").exists()
    assert not (root / "opt/nightswitch").exists()
    assert (root / "boot/firmware/config.txt").read_text() == ORIGINAL_CONFIG_TXT
    assert "userdel nightswitch" in stub_log(root)


def test_raspi_config_and_bluetooth_on_a_pi4(source, tmp_path):
    root = make_root(tmp_path / "root")
    raspi_config = root / "usr/bin/raspi-config"
    raspi_config.parent.mkdir(parents=True)
    raspi_config.write_text("#!/bin/sh\nexit 1\n")  # must never actually run
    raspi_config.chmod(0o755)
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/hciuart.service").write_text("[Service]\n")
    result = run_install(source, root, "--unattended", model="Raspberry Pi 4 Model B Rev 1.4")
    assert result.returncode == 0, result.stdout + result.stderr
    log = stub_log(root)
    assert "raspi-config nonint do_serial_cons 1" in log
    assert "raspi-config nonint do_serial_hw 0" in log
    assert "systemctl disable hciuart.service" in log
    # raspi-config did the console, so cmdline.txt is not touched by install.sh
    assert (root / "boot/firmware/cmdline.txt").read_text() == ORIGINAL_CMDLINE
    assert not (root / "boot/firmware/cmdline.txt.nightswitch-backup").exists()


def test_pi5_with_legacy_boot_path_and_another_prefix(source, tmp_path):
    root = make_root(tmp_path / "root", legacy_boot=True)
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/hciuart.service").write_text("[Service]\n")
    result = run_install(
        source,
        root,
        "--unattended",
        "--prefix",
        "/srv/nightswitch",
        model="Raspberry Pi 5 Model B Rev 1.0",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # a Pi 5's Bluetooth is not on the header UART: its service is left alone
    log = stub_log(root)
    assert "pi-detect: Raspberry Pi 5 Model B Rev 1.0" in log
    assert "systemctl disable hciuart.service" not in log
    assert "dtparam=uart0=on" in result.stdout
    # before Bookworm the boot partition was /boot
    assert BEGIN in (root / "boot/config.txt").read_text().splitlines()
    assert (root / "boot/config.txt.nightswitch-backup").read_text() == ORIGINAL_CONFIG_TXT
    assert "console=serial0" not in (root / "boot/cmdline.txt").read_text()
    # --prefix moves the program and the unit follows it
    unit = (root / "etc/systemd/system/nightswitch.service").read_text()
    assert "ExecStart=/srv/nightswitch/venv/bin/nightswitch run " in unit
    assert "/opt/nightswitch" not in unit
    assert (root / "srv/nightswitch/src/install.sh").is_file()
    assert "python3 -m venv --system-site-packages /srv/nightswitch/venv" in log
    assert not (root / "opt").exists()


def test_a_damaged_block_is_refused_and_nothing_is_lost(source, tmp_path):
    root = make_root(tmp_path / "root")
    damaged = ORIGINAL_CONFIG_TXT + BEGIN + "\ngpio=17=op,dl\ndtoverlay=site-thing\n"
    (root / "boot/firmware/config.txt").write_text(damaged)
    result = run_install(source, root, "--unattended")
    assert result.returncode == 1
    assert "damaged nightswitch block" in result.stderr
    assert "repair it by hand" in result.stderr
    assert (root / "boot/firmware/config.txt").read_text() == damaged


def test_a_missing_boot_config_is_reported_not_invented(source, tmp_path):
    root = make_root(tmp_path / "root")
    (root / "boot/firmware/config.txt").unlink()
    result = run_install(source, root, "--unattended")
    assert result.returncode == 1
    assert "relay pins are NOT held off at boot" in result.stderr
    assert not (root / "boot/firmware/config.txt").exists()
    # everything else was still installed
    assert (root / "etc/systemd/system/nightswitch.service").is_file()


# -- the HTTPS front (issue 13, finding 14) ---------------------------------------------------


def test_tls_puts_nginx_in_front_with_a_self_signed_certificate(source, tmp_path):
    root = make_root(tmp_path / "root")
    result = run_install(source, root, "--unattended", "--tls")
    assert result.returncode == 0, result.stdout + result.stderr
    site = root / "etc/nginx/sites-available/nightswitch"
    text = site.read_text()
    assert "listen 443 ssl;" in text and "listen 80;" in text
    assert "proxy_pass http://127.0.0.1:8080;" in text
    assert "ssl_certificate /etc/nightswitch/tls/nightswitch.crt;" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "return 301 https://$host$request_uri;" in text
    assert "@" not in "".join(line.split("#")[0] for line in text.splitlines())
    assert (
        os.readlink(root / "etc/nginx/sites-enabled/nightswitch")
        == "/etc/nginx/sites-available/nightswitch"
    )
    tls = root / "etc/nightswitch/tls"
    assert mode_of(tls / "nightswitch.key") == 0o600
    assert mode_of(tls / "nightswitch.crt") == 0o644
    san = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(tls / "nightswitch.crt"),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
        capture_output=True,
        text=True,
    ).stdout
    assert "DNS:reception-pi.local" in san
    # the appliance itself now listens on this machine only
    from appliance.config import load_config

    config = load_config(root / "etc/nightswitch/nightswitch.toml")
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 8080)
    log = stub_log(root)
    assert (
        "env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
        "nginx openssl"
    ) in log
    assert log.index("nginx -t -q") < log.index("systemctl reload-or-restart nginx.service")
    fingerprint = (
        subprocess.run(
            [
                "openssl",
                "x509",
                "-in",
                str(tls / "nightswitch.crt"),
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
            capture_output=True,
            text=True,
        )
        .stdout.split("=")[1]
        .strip()
    )
    assert "https://reception-pi.local/" in result.stdout and fingerprint in result.stdout
    assert "http://reception-pi.local:8080/" not in result.stdout
    # run again: the certificate and the config are kept, nothing is added twice
    again = run_install(source, root, "--unattended", "--tls")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (root / "etc/nightswitch/nightswitch.toml").read_text().count("[web]") == 1
    assert "certificate: /etc/nightswitch/tls/nightswitch.crt (kept)" in again.stdout
    assert fingerprint in again.stdout
    # and uninstall takes the site away, keeping the certificate with the config
    gone = run_install(source, root, "--uninstall")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not site.exists() and not (root / "etc/nginx/sites-enabled/nightswitch").exists()
    assert (tls / "nightswitch.crt").exists()


def test_tls_with_a_given_certificate(source, tmp_path):
    root = make_root(tmp_path / "root")
    cert, key = tmp_path / "site.crt", tmp_path / "site.key"
    subprocess.run(
        ["bash", str(source / "tls/make-cert.sh"), str(cert), str(key), "pbx-office"], check=True
    )
    result = run_install(
        source, root, "--unattended", "--tls", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tls = root / "etc/nightswitch/tls"
    assert (tls / "nightswitch.crt").read_bytes() == cert.read_bytes()
    assert (tls / "nightswitch.key").read_bytes() == key.read_bytes()
    assert mode_of(tls / "nightswitch.key") == 0o600


def test_tls_leaves_a_listen_address_the_installer_chose_and_says_so(source, tmp_path):
    root = make_root(tmp_path / "root")
    (root / "etc/nightswitch").mkdir(parents=True)
    config = root / "etc/nightswitch/nightswitch.toml"
    config.write_text(
        (REPO / "hardware/pinmap.toml").read_text()
        + '\n[site]\nname = "x"\ntimezone = "Europe/Vienna"\n'
        '\n[web]\nlisten = "0.0.0.0:8080"\n'
    )
    result = run_install(source, root, "--unattended", "--tls")
    assert result.returncode == 1
    assert 'set [web] listen = "127.0.0.1:8080"' in result.stderr
    assert config.read_text().count("[web]") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("--tls-cert", "/etc/hostname"), "--tls-cert and --tls-key go together, with --tls"),
        (("--tls", "--tls-key", "/etc/hostname"), "--tls-cert and --tls-key go together"),
        (("--tls", "--tls-cert", "/nonexistent.crt"), "--tls-cert /nonexistent.crt: no such file"),
    ],
)
def test_tls_options_are_checked(source, tmp_path, args, message):
    result = run_install(source, tmp_path, *args)
    assert result.returncode == 2 and message in result.stderr
