"""systemd/nightswitch.service: systemd itself accepts it, and it says what the appliance needs.

``systemd-analyze verify`` runs for real on a copy of the unit whose ExecStart points at an
executable that exists here (verify refuses a missing one); every other line is verified
as shipped.  It must print nothing at all: verify exits 0 even for an unknown directive,
so a warning is a failure here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "nightswitch.service"
EXEC = "/opt/nightswitch/venv/bin/nightswitch"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file as {section: [(key, value), ...]}; keys may repeat (DeviceAllow)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None, f"{line!r} before any section"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def values(unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit[section] if k == key]


def value(unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= appears {len(found)} times"
    return found[0]


@pytest.fixture(scope="module")
def unit():
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail(
            "systemd-analyze is not installed; ./dev test installs it (apt-get install systemd)"
        )
    return path


def verify(tmp_path: Path, text: str, name: str = "nightswitch.service"):
    """Run systemd-analyze verify on *text* with ExecStart pointing at a real script."""
    program = tmp_path / "bin" / "nightswitch"
    program.parent.mkdir(exist_ok=True)
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    copy = tmp_path / name
    copy.write_text(text.replace(EXEC, str(program)))
    return subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_systemd_analyze_verify_accepts_the_unit_without_a_word(tmp_path):
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(EXEC) == 1
    result = verify(tmp_path, text)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_verify_would_catch_a_mistake(tmp_path):
    # proves the check above has teeth: the same run flags a misspelt directive and a
    # wrong device right that systemd would silently ignore at boot
    broken = (
        UNIT.read_text(encoding="utf-8")
        .replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
        .replace("DeviceAllow=char-ttyACM rw", "DeviceAllow=char-ttyACM rx")
    )
    result = verify(tmp_path, broken)
    assert "Unknown key 'NoNewPrivilege'" in result.stderr
    assert "Invalid device rights 'rx'" in result.stderr


def test_systemd_rates_the_sandbox_well(tmp_path):
    # systemd's own exposure score (0 = locked down, 10 = unprotected): the hardening
    # must stay strong while GPIO and serial remain reachable
    program = tmp_path / "nightswitch"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    copy = tmp_path / "nightswitch.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(EXEC, str(program)))
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for nightswitch.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    # 2.1 before issue 13's hardening, 1.5 after it (RELIABILITY.md)
    assert float(match.group(1)) <= 1.5


def test_issue_13_hardening_is_in_place(unit):
    # finding 15: what systemd-analyze flagged where it costs nothing
    assert value(unit, "Service", "ProtectProc") == "invisible"
    assert value(unit, "Service", "RemoveIPC") == "yes"
    assert value(unit, "Service", "PrivateMounts") == "yes"
    assert values(unit, "Service", "SystemCallFilter") == [
        "@system-service",
        "~@privileged @resources",
    ]
    assert value(unit, "Service", "SystemCallErrorNumber") == "EPERM"
    assert value(unit, "Service", "MemoryMax") == "256M"
    assert value(unit, "Service", "TasksMax") == "128"
    # ProcSubset=pid would hide /proc/cpuinfo and /proc/device-tree, where gpiozero reads
    # the board revision: it costs the GPIO, so it is left out (and said so in the unit)
    assert not values(unit, "Service", "ProcSubset")
    import inspect

    import gpiozero.pins.local as local

    source = inspect.getsource(local.get_pi_revision)
    assert "/proc/device-tree/system/linux,revision" in source and "/proc/cpuinfo" in source
    assert "ProcSubset=pid: it hides" in UNIT.read_text(encoding="utf-8")


def test_notify_watchdog_and_restart_forever(unit):
    assert value(unit, "Service", "Type") == "notify"
    assert value(unit, "Service", "NotifyAccess") == "main"
    assert value(unit, "Service", "WatchdogSec") == "30"
    assert value(unit, "Service", "Restart") == "always"
    assert value(unit, "Service", "RestartSec") == "3"
    # the start limit lives in [Unit]; 0 = never give up
    assert value(unit, "Unit", "StartLimitIntervalSec") == "0"
    assert value(unit, "Install", "WantedBy") == "multi-user.target"


def test_the_daemon_pets_the_watchdog_well_inside_watchdogsec(unit):
    # sd_watchdog_enabled(3): notify every half of WATCHDOG_USEC or more often
    from appliance.control.controller import WATCHDOG_S

    assert WATCHDOG_S <= int(value(unit, "Service", "WatchdogSec")) / 2


def test_user_directories_and_environment(unit):
    assert value(unit, "Service", "User") == "nightswitch"
    assert value(unit, "Service", "Group") == "nightswitch"
    assert value(unit, "Service", "SupplementaryGroups").split() == ["gpio", "dialout"]
    assert value(unit, "Service", "RuntimeDirectory") == "nightswitch"
    assert value(unit, "Service", "WorkingDirectory") == "/run/nightswitch"
    assert value(unit, "Service", "StateDirectory") == "nightswitch"
    assert value(unit, "Service", "ConfigurationDirectory") == "nightswitch"
    # install.sh makes these 0750; systemd must not set them back to its 0755 default
    assert value(unit, "Service", "StateDirectoryMode") == "0750"
    assert value(unit, "Service", "ConfigurationDirectoryMode") == "0750"
    env = value(unit, "Service", "Environment").split()
    assert "LG_WD=/run/nightswitch" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "GPIOZERO_PIN_FACTORY=lgpio" in env  # no silent fallback to RPi.GPIO
    assert value(unit, "Service", "LimitMEMLOCK") == "infinity"  # daemon.lock_touched_pages


def test_execstart_is_a_command_the_cli_accepts(unit):
    command = value(unit, "Service", "ExecStart").split()
    assert command == [
        EXEC,
        "run",
        "--config",
        "/etc/nightswitch/nightswitch.toml",
        "--data",
        "/var/lib/nightswitch",
    ]
    from appliance.cli import build_parser

    args = build_parser().parse_args(command[1:])
    assert args.command == "run"
    assert args.config == "/etc/nightswitch/nightswitch.toml"
    assert args.data == "/var/lib/nightswitch"


def test_it_never_waits_for_ntp(unit):
    after = " ".join(values(unit, "Unit", "After")).split()
    assert "network.target" in after and "time-set.target" in after
    every_value = " ".join(v for section in unit.values() for _, v in section)
    assert "time-sync.target" not in every_value
    assert "systemd-time-wait-sync" not in every_value


def test_hardening_leaves_gpio_and_serial_reachable(unit):
    for key, expected in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("DevicePolicy", "closed"),
    ]:
        assert value(unit, "Service", key) == expected
    # PrivateDevices=yes would hide /dev/gpiochip* and /dev/ttyAMA0
    assert values(unit, "Service", "PrivateDevices") == []
    allowed = values(unit, "Service", "DeviceAllow")
    assert sorted(allowed) == sorted(
        ["char-gpiochip rw", "char-ttyAMA rw", "char-ttyUSB rw", "char-ttyACM rw"]
    )
    # systemd owns /dev/watchdog (RuntimeWatchdogSec); the daemon must not open it
    assert not any("watchdog" in a for a in allowed)


def test_no_capabilities_because_the_web_port_is_unprivileged(unit):
    from appliance.config import Config

    port = Config(source="default").listen_port
    assert port >= 1024, "a port below 1024 needs AmbientCapabilities=CAP_NET_BIND_SERVICE"
    assert value(unit, "Service", "CapabilityBoundingSet") == ""
    assert values(unit, "Service", "AmbientCapabilities") in ([], [""])


def test_usb_serial_groups_exist_before_the_service_starts(unit):
    # DeviceAllow=char-GROUP is resolved against /proc/devices at start; the module list
    # makes sure the USB serial groups are registered by then.
    modules = [
        line.strip()
        for line in (REPO / "systemd/nightswitch-modules.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert modules == ["usbserial", "cdc_acm"]  # register ttyUSB and ttyACM


def test_watchdog_dropin_stays_within_the_hardware_limit():
    text = (REPO / "systemd/nightswitch-watchdog.conf").read_text()
    dropin = parse_unit(text)
    seconds = int(value(dropin, "Manager", "RuntimeWatchdogSec"))
    # the BCM283x/BCM2711 watchdog's maximum (docs/raspberry-pi.md#the-hardware-watchdog)
    assert 0 < seconds <= 15


def test_udev_rule_is_well_formed():
    # udevadm verify only exists from systemd 253; check the grammar ourselves: every
    # rule is comma-separated KEY op "value" pairs, and both ModemManager tags are set.
    token = re.compile(r'\s*([A-Z_]+(?:\{[^}]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(,|$)')
    rules = [
        line
        for line in (REPO / "systemd/90-nightswitch.rules").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for rule in rules:
        position = 0
        while position < len(rule):
            match = token.match(rule, position)
            assert match, f"cannot parse {rule[position:]!r} in {rule!r}"
            position = match.end()
    text = "\n".join(rules)
    assert 'ENV{ID_MM_PORT_IGNORE}="1"' in text
    assert 'ENV{ID_MM_DEVICE_IGNORE}="1"' in text
    assert 'GOTO="nightswitch_end"' in text and 'LABEL="nightswitch_end"' in text
