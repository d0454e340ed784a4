"""The boot fragment (firmware/config.txt) agrees with the pin map (hardware/pinmap.toml).

The relays' safe state is set in three places
(docs/design.md#the-safe-relay-state-in-three-places): the firmware fragment for the
seconds before Linux runs, device construction, and shutdown.  These tests keep the
first one honest: every relay pin the pin map names is driven to its OFF level at boot,
every input gets the pull the pin map asks for, and no pin is used twice or taken from
the reserved set.  The same pin checks run over every example config in
hardware/examples/.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PINMAP = REPO / "hardware" / "pinmap.toml"
FRAGMENT = REPO / "firmware" / "config.txt"
EXAMPLES = REPO / "hardware" / "examples"

#: Pins whose power-on default is a pull-down (BCM2835 datasheet table 6-31, via
#: docs/raspberry-pi.md#boot-pin-states; the same on a Pi 5 per `pinctrl` dumps): an
#: active-high relay here is OFF even before the firmware runs.
PULL_DOWN_AT_RESET = range(9, 28)

#: BCM GPIO number -> 40-pin header position (the pin map's comments use both).
HEADER_PIN = {
    2: 3,
    3: 5,
    4: 7,
    14: 8,
    15: 10,
    17: 11,
    18: 12,
    27: 13,
    22: 15,
    23: 16,
    24: 18,
    10: 19,
    9: 21,
    25: 22,
    11: 23,
    8: 24,
    7: 26,
    0: 27,
    1: 28,
    5: 29,
    6: 31,
    12: 32,
    13: 33,
    19: 35,
    16: 36,
    26: 37,
    20: 38,
    21: 40,
}


# ---------------------------------------------------------------------------------------
# config.txt model: the firmware's own rules (gpio.adoc): settings apply in order, later
# ones override earlier ones, and [filter] lines select which models a line applies to.
# ---------------------------------------------------------------------------------------


@dataclass
class PinState:
    function: str | None = None  # "ip", "op", "a0".."a5"
    level: str | None = None  # "dh", "dl"
    pull: str | None = None  # "pu", "pd", "pn"


def parse_pin_set(spec: str) -> list[int]:
    """``3``, ``3-4``, ``3-4,6,8`` -> a list of GPIO numbers."""
    pins: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            low, high = (int(x) for x in part.split("-"))
            pins.extend(range(low, high + 1))
        else:
            pins.append(int(part))
    return pins


def boot_states(text: str, model_filter: str = "all") -> dict[int, PinState]:
    """The pin states the firmware sets for a model.

    :param model_filter: ``"all"`` gives what every model gets; ``"pi5"`` what a Pi 5
        gets (lines under ``[all]`` and ``[pi5]``).
    """
    states: dict[int, PinState] = {}
    section = "all"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section not in ("all", model_filter):
            continue
        if not line.startswith("gpio="):
            continue
        _, pins, attrs = line.split("=", 2)
        for gpio in parse_pin_set(pins):
            state = states.setdefault(gpio, PinState())
            for attr in attrs.split(","):
                if attr in ("ip", "op") or re.fullmatch(r"a[0-5]", attr):
                    state.function = attr
                elif attr in ("dh", "dl"):
                    state.level = attr
                elif attr in ("pu", "pd"):
                    state.pull = attr
                elif attr in ("pn", "np"):
                    state.pull = "pn"
                else:
                    raise AssertionError(f"config.txt: unknown gpio attribute {attr!r} in {line!r}")
    return states


# ---------------------------------------------------------------------------------------
# Pin uses, read the same way from the pin map and from every example config.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinUse:
    gpio: int
    role: str  # "relay" | "led" | "input"
    where: str  # the TOML path, for messages
    active_high: bool = True  # relays and LEDs
    pull_up: bool = True  # inputs


def _as_pin_list(value, where: str) -> list[tuple[int, str]]:
    if isinstance(value, bool):
        raise AssertionError(f"{where}: a pin must be a GPIO number, not {value!r}")
    if isinstance(value, int):
        return [(value, where)]
    if isinstance(value, list):
        return [pair for i, v in enumerate(value) for pair in _as_pin_list(v, f"{where}[{i}]")]
    raise AssertionError(f"{where}: a pin must be a GPIO number, not {value!r}")


def pin_uses(doc: dict) -> list[PinUse]:
    """Every pin a config (or the pin map) drives or reads, with its role."""
    uses: list[PinUse] = []
    panel_pins = doc.get("front_panel", {}).get("pins", {})
    panel_pull_up = doc.get("front_panel", {}).get("pull_up", True)
    for name, value in panel_pins.items():
        for gpio, where in _as_pin_list(value, f"front_panel.pins.{name}"):
            if name.startswith("key") or name.startswith("button"):
                uses.append(PinUse(gpio, "input", where, pull_up=panel_pull_up))
            else:
                uses.append(PinUse(gpio, "led", where))
    for index, act in enumerate(doc.get("actuators", [])):
        base = f"actuators[{index}]"
        active_high = act.get("active_high", True)
        for key, value in act.items():
            if key == "sense" and isinstance(value, dict):
                for gpio, where in _as_pin_list(value.get("pin", []), f"{base}.sense.pin"):
                    uses.append(PinUse(gpio, "input", where, pull_up=value.get("pull_up", True)))
            elif key == "keys" and isinstance(value, dict):
                for label, pin in value.items():
                    for gpio, where in _as_pin_list(pin, f"{base}.keys.{label!r}"):
                        uses.append(PinUse(gpio, "relay", where, active_high=active_high))
            elif key == "pin" or key.endswith("_pin") or key.endswith("_pins"):
                for gpio, where in _as_pin_list(value, f"{base}.{key}"):
                    uses.append(PinUse(gpio, "relay", where, active_high=active_high))
    spare = doc.get("spare", {})
    for gpio, where in _as_pin_list(spare.get("relays", []), "spare.relays"):
        uses.append(PinUse(gpio, "relay", where, active_high=True))
    for gpio, where in _as_pin_list(spare.get("sense", []), "spare.sense"):
        uses.append(PinUse(gpio, "input", where, pull_up=True))
    return uses


def reserved_pins(pinmap: dict) -> dict[int, str]:
    return {
        gpio: f"reserved.{name}"
        for name, value in pinmap.get("reserved", {}).items()
        for gpio, _ in _as_pin_list(value, f"reserved.{name}")
    }


def pin_problems(uses: list[PinUse], reserved: dict[int, str]) -> list[str]:
    """Duplicate pins, reserved pins and impossible GPIO numbers, one message each."""
    problems = []
    seen: dict[int, str] = {}
    for use in uses:
        if use.gpio not in HEADER_PIN:
            problems.append(f"{use.where} = {use.gpio}: not a GPIO on the 40-pin header")
        if use.gpio in reserved:
            problems.append(f"{use.where} = {use.gpio}: reserved ({reserved[use.gpio]})")
        if use.gpio in seen:
            problems.append(f"{use.where} = {use.gpio}: already used by {seen[use.gpio]}")
        else:
            seen[use.gpio] = use.where
    return problems


def boot_problems(uses: list[PinUse], states: dict[int, PinState]) -> list[str]:
    """Pins whose boot-time state from config.txt is not the safe one."""
    problems = []
    for use in uses:
        state = states.get(use.gpio)
        if use.role in ("relay", "led"):
            off = "dl" if use.active_high else "dh"
            if state is None or state.function != "op" or state.level != off:
                got = "nothing" if state is None else f"{state.function},{state.level}"
                problems.append(
                    f"{use.where} = GPIO{use.gpio}: config.txt must set op,{off} "
                    f"(OFF for an active-{'high' if use.active_high else 'low'} "
                    f"output), it sets {got}"
                )
        else:
            pull = "pu" if use.pull_up else "pd"
            if state is None or state.function != "ip" or state.pull != pull:
                got = "nothing" if state is None else f"{state.function},{state.pull}"
                problems.append(
                    f"{use.where} = GPIO{use.gpio}: config.txt must set ip,{pull}, it sets {got}"
                )
    return problems


# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pinmap() -> dict:
    with PINMAP.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def fragment() -> str:
    return FRAGMENT.read_text(encoding="utf-8")


def test_every_relay_and_led_is_driven_off_at_boot(pinmap, fragment):
    uses = [u for u in pin_uses(pinmap) if u.role in ("relay", "led")]
    relays = {u.gpio for u in uses if u.role == "relay"}
    # the default actuator and all eight spare channels
    assert {17, 27, 22, 23, 16, 20, 21, 12, 18} <= relays
    assert boot_problems(uses, boot_states(fragment)) == []


def test_every_input_gets_the_pull_the_pin_map_asks_for(pinmap, fragment):
    inputs = [u for u in pin_uses(pinmap) if u.role == "input"]
    assert {u.gpio for u in inputs} >= {5, 6, 24, 25, 8}
    assert boot_problems(inputs, boot_states(fragment)) == []


def test_a_pi5_gets_the_same_safe_levels(pinmap, fragment):
    # The [pi5] section must not undo anything the [all] section does for the pins.
    assert boot_problems(pin_uses(pinmap), boot_states(fragment, "pi5")) == []


def test_config_txt_sets_no_pin_the_pin_map_does_not_know(pinmap, fragment):
    known = {u.gpio for u in pin_uses(pinmap)}
    assert set(boot_states(fragment)) - known == set()


def test_no_pin_used_twice_and_none_reserved(pinmap):
    uses = pin_uses(pinmap)
    reserved = reserved_pins(pinmap)
    assert reserved.keys() == {0, 1, 2, 3, 14, 15}
    assert pin_problems(uses, reserved) == []
    # the reserved pins themselves must not overlap either
    flat = [g for v in pinmap["reserved"].values() for g in v]
    assert len(flat) == len(set(flat))


def test_active_high_relays_sit_on_pins_pulled_down_at_reset(pinmap):
    wrong = [
        f"{u.where} = GPIO{u.gpio}"
        for u in pin_uses(pinmap)
        if u.role == "relay" and u.active_high and u.gpio not in PULL_DOWN_AT_RESET
    ]
    assert wrong == [], "active-high relays need a GPIO 9-27 (pulled down at power-on)"


def test_the_pin_maps_header_pin_comments_are_right():
    # "key_day = 5       # header pin 29": an installer wires by header position.
    wrong = []
    for line in PINMAP.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*(\w+)\s*=\s*(\[[\d, ]+\]|\d+)\s*#\s*header pins? ([\d, ]+)", line)
        if not match:
            continue
        gpios = [int(g) for g in re.findall(r"\d+", match.group(2))]
        headers = [int(h) for h in re.findall(r"\d+", match.group(3))]
        if [HEADER_PIN[g] for g in gpios] != headers:
            wrong.append(line.strip())
    assert wrong == []


def test_uart_watchdog_and_optional_lines(fragment):
    lines = [line.strip() for line in fragment.splitlines()]
    sections = []
    section = "all"
    for line in lines:
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#"):
            sections.append((section, line))
    assert ("all", "enable_uart=1") in sections
    assert ("all", "dtoverlay=disable-bt") in sections
    assert ("all", "dtparam=watchdog=on") in sections
    assert ("pi5", "dtparam=uart0=on") in sections
    # the file starts and ends with "all models", so it neither inherits nor leaks a filter
    settings = [line for line in lines if line and not line.startswith("#")]
    assert settings[0] == "[all]" and settings[-1] == "[all]"
    # optional hardware is offered, commented out
    assert "#dtoverlay=i2c-rtc,ds3231" in lines
    assert any(line.startswith("#dtoverlay=gpio-shutdown,") for line in lines)


def test_shutdown_button_pin_clashes_with_nothing(pinmap, fragment):
    line = next(
        text for text in fragment.splitlines() if text.startswith("#dtoverlay=gpio-shutdown,")
    )
    params = dict(p.split("=", 1) for p in line.split(",")[1:])
    gpio = int(params["gpio_pin"])
    used = {u.gpio for u in pin_uses(pinmap)} | set(reserved_pins(pinmap))
    assert gpio not in used
    assert gpio not in (2, 3), "GPIO2/3 carry the RTC's I2C bus"
    assert gpio in HEADER_PIN


def test_every_setting_has_a_comment_and_obeys_the_file_format(fragment):
    lines = fragment.splitlines()
    for number, line in enumerate(lines):
        if not line.strip() or line.startswith("#") or line.startswith("["):
            continue
        # the firmware reads "key=value # text" as part of the value
        assert "#" not in line, f"line {number + 1}: comments must be on their own line"
        assert len(line) <= 98, f"line {number + 1}: the firmware ignores text past 98 chars"
        assert lines[number - 1].startswith("#"), f"line {number + 1} has no comment above it"


def test_examples_use_no_reserved_or_duplicate_pin(pinmap, fragment):
    examples = sorted(EXAMPLES.glob("*.toml"))
    reserved = reserved_pins(pinmap)
    states = boot_states(fragment)
    default_panel = {"front_panel": pinmap["front_panel"]}
    problems = []
    for path in examples:
        with path.open("rb") as f:
            doc = tomllib.load(f)
        if "front_panel" not in doc:
            # an example with actuators only is added to the default config, whose
            # front panel keeps its pins
            doc = {**default_panel, **doc}
        uses = pin_uses(doc)
        problems += [f"{path.name}: {p}" for p in pin_problems(uses, reserved)]
        # the firmware fragment must hold every relay of every example OFF at boot
        problems += [
            f"{path.name}: {p}"
            for p in boot_problems([u for u in uses if u.role == "relay"], states)
        ]
    assert problems == []
    # the checks above must also run on the pin map itself, so this test always proves
    # something even before any example exists
    assert pin_problems(pin_uses(pinmap), reserved) == []


def test_the_checker_catches_reserved_duplicate_and_unsafe_pins(pinmap, fragment):
    bad = tomllib.loads("""
        [front_panel.pins]
        key_day = 5
        led_day = 5
        [[actuators]]
        name = "console-key"
        type = "pulse"
        pin = 14
        active_high = false
        [actuators.sense]
        pin = 2
        [[actuators]]
        name = "keypad"
        type = "keypad"
        hook_pin = 27
        keys = { "1" = 27, "2" = 40 }
    """)
    uses = pin_uses(bad)
    problems = "\n".join(pin_problems(uses, reserved_pins(pinmap)))
    assert "front_panel.pins.led_day = 5: already used by front_panel.pins.key_day" in problems
    assert "actuators[0].pin = 14: reserved (reserved.uart_pbx)" in problems
    assert "actuators[0].sense.pin = 2: reserved (reserved.i2c_rtc)" in problems
    assert "actuators[1].keys.'1' = 27: already used by actuators[1].hook_pin" in problems
    assert "actuators[1].keys.'2' = 40: not a GPIO on the 40-pin header" in problems
    unsafe = boot_problems([u for u in uses if u.gpio == 14], boot_states(fragment))
    assert unsafe and "op,dh" in unsafe[0]


# -- nightswitch check compares a site's relays with the boot config ---------------------------


def test_check_parses_gpio_lines_as_the_firmware_does():
    from appliance.commands.check import boot_levels

    levels = boot_levels(
        "[all]\ngpio=17=op,dl\ngpio=4-6,9=op,dh\n# gpio=2=op,dl\n"
        "gpio=5=ip,pu\ngpio=17=op,dh\ngpio=x=op,dl\n"
    )
    assert levels == {17: "dh", 4: "dh", 6: "dh", 9: "dh"}


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_check_finds_every_example_relay_held_off_by_the_fragment(example):
    from appliance.commands.check import boot_warnings
    from appliance.config import load_config

    assert boot_warnings(load_config(example), str(FRAGMENT)) == [
        f"boot levels: every relay is held off at boot by {FRAGMENT}"
    ]


def test_check_warns_of_a_moved_or_active_low_relay(tmp_path):
    from appliance.commands.check import boot_warnings
    from appliance.config import load_config_text

    site = '[site]\nname = "x"\ntimezone = "Europe/Berlin"\n'
    config = load_config_text(
        site + '[[actuators]]\nname = "moved"\ntype = "contact"\npin = 4\n'
        'modes = { day = "open", night = "closed" }\n'
        '[[actuators]]\nname = "inverted"\ntype = "contact"\npin = 27\nactive_high = false\n'
        'role = "fallback"\nmodes = { day = "open", night = "closed" }\n',
        "site.toml",
    )
    warnings = boot_warnings(config, str(FRAGMENT))
    assert warnings == [
        f"warning: actuator moved relay GPIO4 is not held LOW (off) at boot by {FRAGMENT}: "
        "add gpio=4=op,dl below the nightswitch block, or the relay may close while the Pi "
        "starts (firmware/README.md)",
        f"warning: actuator inverted relay GPIO27 is not held HIGH (off) at boot by "
        f"{FRAGMENT}: add gpio=27=op,dh below the nightswitch block, or the relay may close "
        "while the Pi starts (firmware/README.md)",
    ]
