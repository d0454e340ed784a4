"""The installer's documents in hardware/ agree with the pin map and with each other.

An installer wires from WIRING.md, its diagrams and bom.csv, never from the code, so a
pin number that drifts in any of them is a relay wired to the wrong pin.  These tests hold
every GPIO number, header position and component reference to hardware/pinmap.toml.
"""

from __future__ import annotations

import csv
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_firmware_pinmap import HEADER_PIN, pin_uses, reserved_pins

REPO = Path(__file__).resolve().parents[2]
HARDWARE = REPO / "hardware"
WIRING = HARDWARE / "WIRING.md"
DIAGRAMS = HARDWARE / "diagrams"
BOM = HARDWARE / "bom.csv"
SVG_NS = "{http://www.w3.org/2000/svg}"
BOM_COLUMNS = ["ref", "qty", "part", "manufacturer", "mpn", "supplier_sku", "notes"]


@pytest.fixture(scope="module")
def pinmap() -> dict:
    with (HARDWARE / "pinmap.toml").open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def wiring() -> str:
    return WIRING.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def svg_texts() -> dict[str, str]:
    """Every diagram's visible text (title, desc and labels), by file name."""
    texts = {}
    for path in sorted(DIAGRAMS.glob("*.svg")):
        root = ET.parse(path).getroot()
        texts[path.name] = "\n".join(
            " ".join(el.itertext())
            for el in root.iter()
            if el.tag in (f"{SVG_NS}text", f"{SVG_NS}title", f"{SVG_NS}desc")
        )
    return texts


def pinmap_entries(pinmap: dict) -> dict[str, list[int]]:
    """Pin map entry path (as WIRING.md names it) -> its GPIO numbers."""
    entries = {f"front_panel.pins.{k}": [v] for k, v in pinmap["front_panel"]["pins"].items()}
    for i, act in enumerate(pinmap.get("actuators", [])):
        if "pin" in act:
            entries[f"actuators[{i}].pin"] = [act["pin"]]
        if "pin" in act.get("sense", {}):
            entries[f"actuators[{i}].sense.pin"] = [act["sense"]["pin"]]
    for key, value in pinmap.get("spare", {}).items():
        entries[f"spare.{key}"] = list(value)
    for key, value in pinmap.get("reserved", {}).items():
        entries[f"reserved.{key}"] = list(value)
    return entries


def all_pinmap_gpios(pinmap: dict) -> set[int]:
    return {g for gpios in pinmap_entries(pinmap).values() for g in gpios}


def shutdown_pin() -> int:
    text = (REPO / "firmware" / "config.txt").read_text(encoding="utf-8")
    return int(re.search(r"gpio-shutdown,gpio_pin=(\d+)", text).group(1))


def expand_refs(field: str) -> list[str]:
    """``"R1-R9"`` / ``"U3 U5 U6"`` / ``"LED1"`` -> the individual references."""
    refs = []
    for part in field.split():
        match = re.fullmatch(r"([A-Z]+)(\d+)-\1(\d+)", part)
        if match:
            prefix, low, high = match.group(1), int(match.group(2)), int(match.group(3))
            assert low < high, f"bad range {part!r}"
            refs += [f"{prefix}{n}" for n in range(low, high + 1)]
        else:
            assert re.fullmatch(r"[A-Z]+\d+", part), f"bad reference {part!r}"
            refs.append(part)
    return refs


@pytest.fixture(scope="module")
def bom() -> list[dict]:
    with BOM.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == BOM_COLUMNS
        return list(reader)


# --- diagrams ---------------------------------------------------------------------------


def test_every_diagram_is_well_formed_svg_with_a_title():
    paths = sorted(DIAGRAMS.glob("*.svg"))
    assert len(paths) >= 6  # (a) to (f) in WIRING.md
    for path in paths:
        root = ET.parse(path).getroot()  # raises on malformed XML
        assert root.tag == f"{SVG_NS}svg", path.name
        assert root.get("viewBox"), f"{path.name}: no viewBox, it will not scale"
        title = root.find(f"{SVG_NS}title")
        assert title is not None and title.text and len(title.text.strip()) > 10, path.name
        # a labelled schematic, not an empty frame
        assert len(root.findall(f".//{SVG_NS}text")) >= 10, path.name


def test_wiring_references_exactly_the_diagrams_that_exist(wiring):
    referenced = set(re.findall(r"\]\((diagrams/[\w.-]+\.svg)\)", wiring))
    assert referenced, "WIRING.md shows no diagram"
    for ref in referenced:
        assert (HARDWARE / ref).is_file(), f"WIRING.md shows {ref}, which does not exist"
    on_disk = {f"diagrams/{p.name}" for p in DIAGRAMS.glob("*.svg")}
    assert on_disk - referenced == set(), "a diagram nobody links to"


def test_every_link_in_wiring_points_at_a_file(wiring):
    for target in re.findall(r"\]\(([^)#]+)\)", wiring):
        if target.startswith(("http://", "https://")):
            continue
        assert (HARDWARE / target).exists(), f"WIRING.md links to missing {target}"


# --- pin numbers ------------------------------------------------------------------------


def test_wiring_pin_table_matches_the_pin_map(pinmap, wiring):
    rows = {}
    for line in wiring.splitlines():
        match = re.match(r"\| `([^`]+)`[^|]*\| ([^|]+) \| ([^|]+) \|", line)
        if match:
            gpios = [int(g) for g in re.findall(r"GPIO(\d+)", match.group(2))]
            headers = [int(h) for h in re.findall(r"\d+", match.group(3))]
            rows[match.group(1)] = (gpios, headers)
    entries = pinmap_entries(pinmap)
    assert rows.keys() == entries.keys()
    for path, gpios in entries.items():
        assert rows[path][0] == gpios, (
            f"{path}: WIRING.md says GPIO{rows[path][0]}, pin map {gpios}"
        )
        assert rows[path][1] == [HEADER_PIN[g] for g in gpios], f"{path}: header pins"


def test_every_gpio_named_anywhere_is_in_the_pin_map(pinmap, wiring, svg_texts):
    known = all_pinmap_gpios(pinmap) | {shutdown_pin()}
    sources = {"WIRING.md": wiring, **svg_texts}
    for name, text in sources.items():
        # single pins, not ranges such as "GPIO 9-27"
        named = {int(g) for g in re.findall(r"GPIO\s?(\d+)(?![-–]\d)", text)}
        assert named - known == set(), f"{name} names GPIOs the pin map does not have"
        # "GPIO 27, 22, 23" lists too
        for listed in re.findall(r"GPIO ((?:\d+, )+\d+)", text):
            assert {int(g) for g in listed.split(", ")} <= known, f"{name}: {listed}"


def test_header_positions_next_to_gpio_numbers_are_right(wiring, svg_texts):
    sources = {"WIRING.md": wiring, **svg_texts}
    checked = 0
    for name, text in sources.items():
        for header, gpio in re.findall(r"pin (\d+)\s+GPIO(\d+)", text):
            assert HEADER_PIN[int(gpio)] == int(header), f"{name}: pin {header} is not GPIO{gpio}"
            checked += 1
        for gpio, header in re.findall(r"\| GPIO(\d+) \| (\d+) \|", text):
            assert HEADER_PIN[int(gpio)] == int(header), f"{name}: GPIO{gpio} is not pin {header}"
            checked += 1
    assert checked >= 20


def test_the_keypad_and_console_examples_use_spare_relays(pinmap, wiring):
    spare_relays = set(pinmap["spare"]["relays"])
    spare_sense = set(pinmap["spare"]["sense"])
    blocks = re.findall(r"```toml\n(.*?)```", wiring, re.S)
    examples = [tomllib.loads(block) for block in blocks]
    relays, senses = set(), set()
    for doc in examples:
        for use in pin_uses(doc):
            (relays if use.role == "relay" else senses).add(use.gpio)
    default = pinmap["actuators"][0]
    assert relays - {default["pin"]} <= spare_relays
    assert senses - {default["sense"]["pin"]} <= spare_sense
    assert not relays & set(reserved_pins(pinmap))


# --- bill of materials ------------------------------------------------------------------


def test_bom_rows_are_complete(bom):
    seen = set()
    for number, row in enumerate(bom, start=2):
        where = f"bom.csv line {number}"
        assert row["mpn"].strip(), f"{where}: empty MPN"
        assert row["manufacturer"].strip(), f"{where}: no manufacturer"
        assert row["part"].strip(), f"{where}: no description"
        assert row["qty"].isdigit() and int(row["qty"]) > 0, f"{where}: qty {row['qty']!r}"
        refs = expand_refs(row["ref"])
        assert not seen & set(refs), f"{where}: reference used twice"
        seen |= set(refs)


def test_bom_counts_follow_the_pin_map(pinmap, bom):
    uses = pin_uses(pinmap)
    relays = [u for u in uses if u.role == "relay"]
    inputs = [u for u in uses if u.role == "input" and not u.where.startswith("front_panel")]
    leds = [u for u in uses if u.role == "led"]

    def rows(mpn_start: str) -> list[dict]:
        return [r for r in bom if r["mpn"].startswith(mpn_start)]

    def qty(mpn_start: str) -> int:
        return sum(int(r["qty"]) for r in rows(mpn_start))

    assert qty("G5V-2") == len(relays)  # one relay per relay pin
    assert qty("ULN2803") * 8 >= len(relays)  # eight channels each
    assert len(expand_refs(rows("MFR-25FBF52-10K")[0]["ref"])) == len(relays)  # pull-downs
    assert qty("PC817") == len(inputs)  # one opto per sense input
    assert qty("WP7113") == len(leds)
    assert qty("XB4BG33") == 1


def test_every_part_in_a_diagram_is_in_the_bom(bom, svg_texts):
    in_bom = {ref for row in bom for ref in expand_refs(row["ref"])}
    for name, text in svg_texts.items():
        # R1, C12, K5, U4, J1, D10, X1 ... but not MAX3232 pin names such as C1+ or C2−
        named = set(re.findall(r"\b((?:R|C|D|K|U|J|S|X|LED)\d+)\b(?![+−])", text))
        assert named - in_bom == set(), f"{name} shows parts that bom.csv lacks"
