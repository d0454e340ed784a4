"""``nightswitch pbx-sim``: a simulated PBX on a pseudo-terminal.

It prints the path of its maintenance port (and of its SMDR output, when the profile
has an SMDR format), answers the profile's dialogue at the profile's baud rate, keeps
the PBX's mode, and takes commands on stdin to change it or inject faults. Point an
actuator, ``nightswitch console`` or ``python -m serial.tools.miniterm`` at the printed
path. Without a terminal on stdin it just runs until stopped (Ctrl+C or SIGTERM).
"""

from __future__ import annotations

import signal
import sys
import threading

from appliance.errors import FieldError, NightswitchError, ValidationError

HELP = """commands:
  mode MODE            put the PBX in MODE (as if changed at its console)
  fault FAULT [S]      inject silence | garbage | slow [S] | wrong_password | drop [S] | cut
                       (S: slow = extra seconds per answer; drop = seconds away; cut =
                       the next line typed while logged in arrives half, then nothing)
  terminal PLACE [TEXT]  leave the maintenance terminal at login | password | logged_in,
                       with TEXT typed but not ended (as a cut session leaves it)
  powercut [S] [MODE]  power off for S seconds (default 0), back in the profile's
                       power-up mode, or MODE
  call                 print one SMDR record now
  clear                end every fault (a dropped port comes back now)
  status               show the mode, faults and ports
  help                 this text
  quit                 stop the simulator"""


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "pbx-sim",
        help="run a simulated PBX on a pseudo-terminal",
        description="Open a pseudo-terminal that answers like a PBX of the given profile: "
        "its maintenance dialogue at its baud rate, SMDR records, and faults on "
        "request. Type 'help' for the commands it takes on stdin.",
    )
    p.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help="the PBX profile to simulate (shipped or in --profiles-dir)",
    )
    p.add_argument(
        "--profiles-dir",
        metavar="DIR",
        default=None,
        help="site profile directory (default /etc/nightswitch/profiles)",
    )
    p.add_argument("--baud", type=int, metavar="N", help="the port speed, instead of the profile's")
    p.add_argument(
        "--smdr-every",
        type=float,
        metavar="S",
        help="print a generated call record every S seconds",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="F",
        help="start with fault F (silence, garbage, slow, wrong_password, drop, "
        "cut); may be repeated",
    )
    p.add_argument("--mode", metavar="MODE", help="the mode the PBX starts in")
    p.add_argument("--username", metavar="NAME", help="the login's user (profile default)")
    p.add_argument(
        "--password",
        metavar="PW",
        default=None,
        help="the login's password, for profiles whose login asks one (default: nightswitch)",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        default="UTC",
        help="time zone for SMDR record times (default UTC)",
    )
    p.set_defaults(func=run)


def _check_args(args, profile) -> list[FieldError]:
    from appliance.pbx.port_settings import BAUD_RATES

    errors = []
    if args.baud is not None and args.baud not in BAUD_RATES:
        errors.append(
            FieldError(
                "--baud",
                f"{args.baud} is not allowed; use one of " + ", ".join(map(str, BAUD_RATES)),
            )
        )
    if args.smdr_every is not None and not 0.05 <= args.smdr_every <= 86400:
        errors.append(
            FieldError(
                "--smdr-every", f"{args.smdr_every:g} is not allowed; use 0.05 to 86400 seconds"
            )
        )
    if args.mode is not None and args.mode not in profile.modes:
        errors.append(
            FieldError(
                "--mode",
                f"{args.mode!r} is not one of the PBX's modes: " + ", ".join(profile.modes),
            )
        )
    from appliance.sim.pty_pbx import FAULTS

    for fault in args.fault:
        if fault not in FAULTS or fault in ("clear", "power_cut"):
            errors.append(
                FieldError(
                    "--fault",
                    f"{fault!r} is not allowed; use silence, "
                    "garbage, slow, wrong_password, drop or cut",
                )
            )
    return errors


def _timezone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            [
                FieldError(
                    "--timezone",
                    f"{name!r} is not a time zone; use an IANA name such as Europe/Berlin",
                )
            ]
        ) from None


def build_simulator(args, out=print):
    """The :class:`~appliance.sim.pty_pbx.PbxSimulator` the arguments describe (not
    started)."""
    from appliance.pbx.profiles import DEFAULT_SITE_DIR, load_profiles
    from appliance.sim.pbx_model import PbxModel
    from appliance.sim.pty_pbx import PbxSimulator

    profiles = load_profiles(args.profiles_dir or DEFAULT_SITE_DIR)
    for problem in profiles.problems:
        out(f"pbx-sim: warning: {problem.render()}")
    profile = profiles.require(args.profile, "--profile")
    errors = _check_args(args, profile)
    if errors:
        raise ValidationError(errors)
    password = args.password
    needs = profile.has_serial and profile.serial.needs_password
    if needs and password is None:
        password = "nightswitch"
    username = args.username
    if username is None:
        username = profile.serial.username if profile.has_serial else ""
    model = PbxModel.from_profile(
        profile, mode=args.mode, username=username, password=password or ""
    )
    return PbxSimulator(
        profile,
        model=model,
        baud=args.baud,
        username=username,
        password=password or "",
        smdr_every=args.smdr_every,
        tz=_timezone(args.timezone),
        on_event=lambda m: out(f"pbx-sim: {m}"),
    )


def describe(sim) -> list[str]:
    p = sim.profile
    lines = [f"pbx-sim: {p.name} ({p.title}), mode {sim.model.mode}"]
    if sim.port is not None:
        lines.append(
            f"pbx-sim: maintenance port at {sim.device} ({sim.settings.describe()}; "
            f"stable path {sim.port_path})"
        )
        if p.serial.needs_password:
            lines.append(
                f"pbx-sim: login {sim.username or '(any)'} with password "
                "as given (--password, default nightswitch)"
            )
    else:
        lines.append(f"pbx-sim: no maintenance port: {p.serial.note}")
    if sim.smdr_port is not None:
        every = f", a call every {sim.smdr_every:g} s" if sim.smdr_every else ""
        lines.append(
            f"pbx-sim: SMDR output at {sim.smdr_device} (format {p.smdr_format}"
            f"{every}; stable path {sim.smdr_path})"
        )
    if sim.terminal is not None:
        pending = sim.terminal.session.pending
        lines.append(
            f"pbx-sim: terminal at {sim.terminal.where}"
            + (f", {pending!r} typed without Enter" if pending else "")
        )
    if sim.faults:
        lines.append("pbx-sim: faults: " + ", ".join(sorted(sim.faults)))
    return lines


def execute(sim, line: str, out=print) -> bool:
    """Carry out one stdin command; False when it asks to quit."""
    from appliance.errors import SimError

    words = line.split()
    if not words:
        return True
    cmd, rest = words[0].lower(), words[1:]
    try:
        if cmd in ("quit", "exit"):
            return False
        if cmd == "help":
            out(HELP)
        elif cmd == "status":
            for text in describe(sim):
                out(text)
        elif cmd == "mode" and len(rest) == 1:
            sim.model.set_mode(rest[0], by="console")
        elif cmd == "fault" and rest:
            seconds = _seconds(rest[1]) if len(rest) > 1 else None
            sim.inject(rest[0], seconds=seconds)
            out(f"pbx-sim: fault {rest[0]} on")
        elif cmd in ("powercut", "power_cut"):
            seconds = _seconds(rest[0]) if rest else 0.0
            sim.inject("power_cut", seconds=seconds, mode=rest[1] if len(rest) > 1 else None)
        elif cmd == "terminal" and rest:
            sim.put_terminal(rest[0], pending=" ".join(rest[1:]))
        elif cmd == "call":
            out(f"pbx-sim: SMDR {sim.call()}")
        elif cmd == "clear":
            sim.clear()
            out("pbx-sim: faults cleared")
        else:
            out(f"pbx-sim: unknown command {line.strip()!r}; type 'help'")
    except (SimError, ValueError) as exc:
        out(f"pbx-sim: {exc}")
    return True


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise ValueError(f"{text!r} is not allowed; use 0 to 3600 seconds")
    return value


def run(args) -> int:
    from appliance.errors import SimError

    out = _printer()
    try:
        sim = build_simulator(args, out)
        sim.start()
    except SimError as exc:
        raise NightswitchError(str(exc)) from None
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        sim.model.subscribe(lambda c: out(f"pbx-sim: mode {c.old} -> {c.new} (by {c.by})"))
        for fault in args.fault:
            sim.inject(fault)
        for text in describe(sim):
            out(text)
        out("pbx-sim: type 'help' for commands, 'quit' to stop")
        reader = threading.Thread(target=_read_stdin, args=(sim, stop, out), daemon=True)
        reader.start()
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.close()
    return 0


def _read_stdin(sim, stop: threading.Event, out) -> None:
    try:
        for line in sys.stdin:
            if not execute(sim, line, out):
                stop.set()
                return
    except (OSError, ValueError):
        pass
    # End of input (stdin is /dev/null, or a pipe closed): keep serving until stopped.


def _printer():
    lock = threading.Lock()

    def out(text: str) -> None:
        with lock:
            print(text, flush=True)

    return out
