"""``nightswitch test all``: the whole commissioning walk and its report.

It builds the appliance in this process as ``run`` does (the config, the store, the
actuators, the panels and the controller with its workers), so the service must be
stopped, as for the other tests. Only the controller runs: no web page, MQTT, SMDR
intake or alert engine, so a fault the walk causes on purpose (the fallback test) sends
nobody a real alert; the alerts step sends each target a test message instead.

The steps are :class:`~appliance.control.commissioning_run.CommissioningRun`'s; the
report is written by :mod:`appliance.outputs.commissioning_report`.
"""

from __future__ import annotations

import signal
import tempfile
import time
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from appliance.errors import NightswitchError

if TYPE_CHECKING:
    from appliance.control.onsite_installer import OnSiteInstaller
    from appliance.sim.installer import SimulatedInstaller

#: The longest installer's name the report and the audit log take.
MAX_NAME = 80


def installer_name(args, asker) -> str:
    """The installer's name from ``--installer``, or asked for."""
    name = args.installer
    if name is None:
        if asker.yes:
            raise NightswitchError(
                "--installer NAME is needed with --yes: the report names who commissioned the site"
            )
        name = asker.prompt("Your name, for the report and the log: ")
    name = " ".join(str(name).split())
    if not name:
        raise NightswitchError('the installer\'s name is empty; give --installer "First Last"')
    if len(name) > MAX_NAME or not name.isprintable():
        raise NightswitchError(
            f"the installer's name must be printable text of at most {MAX_NAME} characters"
        )
    return name


def secret_values(value, *, secret=False) -> list[str]:
    """Every value in the config's tables kept under a secret-looking key (passwords,
    tokens, keys): the report is checked against them before it is written."""
    from appliance.control.facade import SECRET_WORDS

    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += secret_values(
                item,
                secret=secret
                or (isinstance(key, str) and any(w in key.lower() for w in SECRET_WORDS)),
            )
    elif isinstance(value, list):
        for item in value:
            found += secret_values(item, secret=secret)
    elif secret and isinstance(value, str) and value:
        found.append(value)
    return found


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def report_data(
    config, run, *, installer: str, simulated: bool, started: datetime, finished: datetime
) -> dict:
    """Everything the report shows, as plain data (the JSON twin holds the same)."""
    from appliance.control.commissioning_results import summary
    from appliance.control.site_facts import versions, wiring

    return {
        "site": {"name": config.site_name, "timezone": config.timezone},
        "installer": installer,
        "date": f"{finished:%a} {finished.day} {finished:%b %Y}, {finished:%H:%M %Z}",
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration": _duration((finished - started).total_seconds()),
        "simulated": simulated,
        "config_source": config.source,
        "versions": versions(simulated),
        "wiring": wiring(config),
        "steps": [step.as_dict() for step in run.steps],
        "summary": summary(run.steps),
        "stopped": run.stopped,
    }


def _build(config, data, simulate: bool):
    from gpiozero.exc import GPIOZeroError

    from appliance.daemon import Appliance, simulated_clock
    from appliance.inputs.clock import system_clock_from_env

    if simulate:
        from gpiozero.pins.mock import MockFactory

        config.clock_sync = "always"
        return Appliance(
            config,
            data,
            pin_factory=MockFactory(),
            clock=simulated_clock(),
            simulate=True,
            web=False,
        )
    try:
        return Appliance(config, data, clock=system_clock_from_env(config.clock_sync), web=False)
    except GPIOZeroError as exc:
        raise NightswitchError(
            f"cannot open the GPIO pins ({exc}); on a Raspberry Pi check that python3-lgpio "
            "is installed and the user is in the gpio group; on a PC rehearse with "
            "nightswitch test all --simulate"
        ) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args, asker) -> int:
    """Run the walk and write the report. Exit 0 when no step failed."""
    from appliance.cli import DEFAULT_DATA
    from appliance.commands.hwtest import _ensure_daemon_stopped
    from appliance.config import load_config
    from appliance.control.commissioning_results import FAILED, summary
    from appliance.control.commissioning_run import CommissioningRun
    from appliance.control.onsite_installer import OnSiteInstaller
    from appliance.outputs import commissioning_report

    config = load_config(args.config)
    name = installer_name(args, asker)
    data = args.data
    if args.simulate and str(data) == DEFAULT_DATA:
        # A rehearsal on a PC has no /var/lib/nightswitch: a scratch directory of its own.
        data = tempfile.mkdtemp(prefix="nightswitch-commission-")
    _ensure_daemon_stopped(data)
    # systemd or a closed ssh session stops it as Ctrl+C does: the walk puts the site back
    # on its schedule and the relays are released before the process ends.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    tz = ZoneInfo(config.timezone)
    started, t0 = datetime.now(tz), time.monotonic()
    appliance = _build(config, data, args.simulate)
    installer: SimulatedInstaller | OnSiteInstaller
    try:
        if args.simulate:
            from appliance.sim.installer import SimulatedInstaller

            installer = SimulatedInstaller(appliance)
        else:
            installer = OnSiteInstaller(asker)
        # Only the controller and its workers: see the module docstring.
        appliance.controller.start()
        walk = CommissioningRun(appliance, installer, by=name, seconds=args.seconds, out=asker.out)
        steps = walk.run()
    finally:
        appliance.stop()
    finished = datetime.now(tz)
    data_report = report_data(
        config, walk, installer=name, simulated=args.simulate, started=started, finished=finished
    )
    data_report["duration"] = _duration(time.monotonic() - t0)
    try:
        path = commissioning_report.save(
            data, data_report, at=finished, secrets=secret_values(config.raw or {})
        )
    except (OSError, ValueError) as exc:
        raise NightswitchError(f"the commissioning report could not be written: {exc}") from None
    counts = summary(steps)
    asker.out(f"commissioning report: {path}")
    failed = [s.title for s in steps if s.result == FAILED]
    if walk.stopped:
        raise NightswitchError(
            f"test all stopped: {walk.stopped}; the report of what was done is in {path}"
        )
    if failed:
        raise NightswitchError(
            f"test all: {len(failed)} step(s) failed: {', '.join(failed)}; see {path}"
        )
    asker.out(
        f"test all: {counts['passed']} step(s) passed, {counts['unconfirmed']} done "
        f"but not confirmed, {counts['skipped']} skipped"
    )
    return 0


__all__ = ["installer_name", "report_data", "run", "secret_values"]
