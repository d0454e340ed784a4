"""The guides agree with the code they describe.

An installer types what the installer guide says, on a Pi in a cupboard, with nobody to
ask. So every relative link must lead somewhere, every ``nightswitch`` command line must
parse as the real command line does (subcommand, action and every option), every PBX
profile and SMDR format the guide names must exist, the family table must say exactly
what the shipped profiles say, every config key the code accepts must be documented, and
every TOML and JSON example must load through the same validation the appliance uses.

Markers in the Markdown (HTML comments, invisible when rendered) say how an example is
checked; the line before a fenced block may be:

``<!-- check: config-fragment -->``
    a ```toml block that is part of a config; it must still load on its own through
    :func:`appliance.config.load_config_text`. A ```toml block without a marker is a
    complete config and is loaded the same way.
``<!-- check: profile-fragment -->``
    a ```toml block that is part of a site PBX profile: written into a site profile that
    extends the test fixture ``mitel-3300-login``, it must load through
    :func:`appliance.pbx.profiles.load_profiles` with no problem.
``<!-- check: schedule -->``
    a ```json block that must parse with :func:`appliance.decision.schedule.parse_schedule`.
``<!-- check: output -->``
    a ```text block that must be, line for line, what the ``nightswitch`` command in the
    ```sh block before it prints (run in-process, with the guide's own schedule file).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from appliance.actuators import ACTUATOR_TYPES, actuator_module
from appliance.cli import build_parser, main
from appliance.config import load_config_text, validate_config
from appliance.decision.schedule import parse_schedule
from appliance.errors import ValidationError
from appliance.pbx.port_settings import KEYS as SERIAL_SETTING_KEYS
from appliance.pbx.profiles import load_profiles
from appliance.smdr.formats import load_all

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
INSTALLER = DOCS / "installer-guide.md"
FACILITIES = DOCS / "facilities-guide.md"
GUIDES = (INSTALLER, FACILITIES)
#: Documents whose relative links must resolve.
LINKED_DOCS = sorted(
    [
        REPO / "README.md",
        *DOCS.glob("*.md"),
        *(REPO / "hardware").glob("*.md"),
        *(REPO / "firmware").glob("*.md"),
    ]
)
#: Documents whose ``nightswitch ...`` command lines must parse (CONTRACTS.md is for
#: developers and quotes Python signatures, not command lines).
COMMAND_DOCS = sorted(
    [REPO / "README.md", *(p for p in DOCS.glob("*.md") if p.name != "CONTRACTS.md")]
)
SHIPPED_PROFILES = sorted(p.stem for p in (REPO / "appliance/pbx/profiles").glob("*.toml"))
SHIPPED_FORMATS = sorted(p.stem for p in (REPO / "appliance/smdr/formats").glob("*.toml"))
#: The family table's method columns and the profile methods they report.
METHOD_COLUMNS = {
    "contact input": "contact",
    "toggle key + lamp": "toggle_key",
    "keypad feature code": "keypad",
    "serial port": "serial",
}


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# -- reading Markdown -----------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text (dedented), the ``check`` marker on
    the line before it, and the line it starts on."""

    lang: str
    text: str
    check: str | None
    line: int


FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>```+)(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*check:\s*(?P<kind>[\w-]+)\s*-->\s*$")


def blocks_and_prose(text: str) -> tuple[list[Block], str]:
    """The fenced blocks of a document, and the rest of it with each block blanked out
    (so links and code spans are read from the prose only)."""
    lines = text.splitlines()
    blocks, prose = [], []
    i = 0
    while i < len(lines):
        opened = FENCE_OPEN.match(lines[i])
        if not opened:
            prose.append(lines[i])
            i += 1
            continue
        indent, fence = len(opened["indent"]), opened["fence"]
        previous = next((line for line in reversed(prose) if line.strip()), "")
        marker = MARKER.match(previous)
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i].lstrip())
            i += 1
        blocks.append(
            Block(
                opened["lang"],
                "\n".join(body) + "\n",
                marker["kind"] if marker else None,
                i - len(body),
            )
        )
        prose.extend([""] * (len(body) + 2))
        i += 1
    return blocks, "\n".join(prose)


def code_spans(prose: str) -> list[str]:
    """Inline code spans, with Markdown table escapes (``\\|``) undone and line breaks
    inside a span turned into spaces."""
    return [
        m.group(1).replace("\\|", "|").replace("\n", " ") for m in re.finditer(r"`([^`]+)`", prose)
    ]


def read(path: Path) -> tuple[list[Block], str]:
    return blocks_and_prose(path.read_text(encoding="utf-8"))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (but not ``-``
    and ``_``), spaces to hyphens."""
    text = re.sub(
        r"`|\*\*|\*|_(?=\w)|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip()
    ).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 for repeats."""
    _, prose = read(path)
    seen: dict[str, int] = {}
    found = set()
    for line in prose.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        found.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return found


LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\((?P<target><[^>]+>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
REF_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(?P<target>\S+)", re.M)


def links(path: Path) -> list[str]:
    _, prose = read(path)
    prose = re.sub(r"`[^`]*`", "", prose)  # a link inside a code span is not a link
    found = [m["target"].strip("<>") for m in LINK.finditer(prose)]
    return found + [m["target"] for m in REF_LINK.finditer(prose)]


# -- links ------------------------------------------------------------------------------------


def test_the_link_reader_finds_what_markdown_renders():
    text = (
        "See [the card](reception-card.md), ![a diagram](diagrams/leds.svg) and\n"
        "[a section](WIRING.md#e-leds), not `[code](nowhere.md)`.\n"
        "```\n[in a block](nowhere-either.md)\n```\n[ref]: ../README.md\n"
    )
    blocks, prose = blocks_and_prose(text)
    assert len(blocks) == 1 and "nowhere-either" in blocks[0].text
    assert [m["target"] for m in LINK.finditer(re.sub(r"`[^`]*`", "", prose))] == [
        "reception-card.md",
        "diagrams/leds.svg",
        "WIRING.md#e-leds",
    ]
    assert [m["target"] for m in REF_LINK.finditer(prose)] == ["../README.md"]


def test_heading_anchors_follow_github():
    assert (
        github_slug("(a) A relay on the PBX's night-service input")
        == "a-a-relay-on-the-pbxs-night-service-input"
    )
    assert github_slug("Testing `install.sh` off a Pi") == "testing-installsh-off-a-pi"
    assert github_slug("6. Time and the clock") == "6-time-and-the-clock"
    assert (
        github_slug("Exceptions: early closes, closures, special openings")
        == "exceptions-early-closes-closures-special-openings"
    )


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=rel)
def test_every_relative_link_points_at_something_that_exists(doc):
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # http:, https:, mailto:, file:
        file_part, _, anchor = target.partition("#")
        destination = (doc.parent / unquote(file_part)).resolve() if file_part else doc
        if not destination.exists():
            broken.append(f"{target}: no such file or directory")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: {rel(destination)} has no heading #{anchor}")
    assert not broken, f"{rel(doc)}: " + "; ".join(broken)


# -- command lines -------------------------------------------------------------------------------


def _subparsers(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            return action.choices
    return None


PARSER = build_parser()
COMMAND = re.compile(r"(?:(?<![\w./-])|(?<=/bin/))(?<!-u )nightswitch(?=[ \t])")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_.:-]*$|^\.\.\.$")


def command_lines(doc: Path) -> list[str]:
    """Every ``nightswitch ...`` invocation in the code of a document: in shell blocks
    line by line, in code spans whole; cut at ``&&``, ``;``, redirections and comments."""
    blocks, prose = read(doc)
    texts = code_spans(prose)
    for block in blocks:
        if block.lang in ("", "sh", "shell", "bash", "console"):
            texts.extend(block.text.splitlines())
    found = []
    for text in texts:
        for match in COMMAND.finditer(text):
            rest = re.split(r"&&|;|\s>|\s<|\s#|\|\|", text[match.end() :])[0].strip()
            if rest and not rest.startswith("/"):
                found.append(rest)
    return found


def check_command(rest: str) -> list[str]:
    """What is wrong with ``nightswitch REST`` (an empty list when it parses): unknown
    subcommands or actions (``a|b`` alternatives each checked) and unknown options
    (checked against every alternative, since the docs share a row only when they take
    the same options)."""
    problems = []
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    tokens = [t.strip("[]") for t in tokens]
    while tokens and tokens[0].startswith("-"):
        if tokens[0].split("=")[0] not in PARSER._option_string_actions:
            problems.append(f"unknown option {tokens[0]!r} before the subcommand")
        tokens.pop(0)
    parsers = [PARSER]
    for level in ("subcommand", "action"):
        choices = _subparsers(parsers[0])
        if choices is None or not tokens or PLACEHOLDER.match(tokens[0]):
            break
        names = tokens.pop(0).split("|")
        unknown = [n for n in names if n not in choices]
        if unknown:
            return problems + [
                f"{', '.join(unknown)} is not a {level} of "
                f"'{parsers[0].prog}' (it has {', '.join(choices)})"
            ]
        parsers = [choices[n] for n in names]
    for token in tokens:
        if re.match(r"^--?[a-zA-Z]", token):
            option = token.split("=")[0]
            problems += [
                f"'{p.prog}' has no option {option}"
                for p in parsers
                if option not in p._option_string_actions
            ]
    return problems


def test_the_command_checker_catches_mistakes():
    assert check_command("day --until 19:30") == []
    assert check_command("schedule export|import|history|rollback") == []
    assert check_command("test leds|relays|key|pbx [--yes]") == []
    assert check_command("calls import FILE --format NAME --dry-run") == []
    assert check_command("-v run --config PATH") == []
    assert check_command("dya") and "dya is not a subcommand" in check_command("dya")[0]
    assert "nope is not a action" in check_command("schedule nope")[0]
    assert check_command("day|night --yes") == [
        "'nightswitch day' has no option --yes",
        "'nightswitch night' has no option --yes",
    ]
    assert check_command("day --untill 19:30") == ["'nightswitch day' has no option --untill"]
    assert check_command("day|night --zone sales") == []
    assert command_lines(INSTALLER), "the installer guide shows no command at all"


def test_the_command_finder_skips_the_service_and_user_names():
    blocks, _ = blocks_and_prose(
        "```sh\nsudo systemctl stop nightswitch\njournalctl -u nightswitch -f\n"
        "sudo ln -sf /opt/nightswitch/venv/bin/nightswitch /usr/local/bin\n"
        "sudo nightswitch check && sudo systemctl restart nightswitch\n```\n"
    )
    texts = blocks[0].text.splitlines()
    found = [re.split(r"&&|;", t[m.end() :])[0].strip() for t in texts for m in COMMAND.finditer(t)]
    assert [f for f in found if f and not f.startswith("/")] == ["check"]


@pytest.mark.parametrize("doc", COMMAND_DOCS, ids=rel)
def test_every_nightswitch_command_in_the_docs_is_a_real_one(doc):
    problems = [
        f"nightswitch {line}: {p}" for line in command_lines(doc) for p in check_command(line)
    ]
    assert not problems, f"{rel(doc)}:\n" + "\n".join(problems)


# -- PBX profiles and SMDR formats -------------------------------------------------------------


def markdown_tables(prose: str) -> list[list[dict[str, str]]]:
    """Every table of a document as a list of rows, each ``{header: cell}``."""
    tables, current, header = [], None, None
    for line in prose.splitlines() + [""]:
        if line.strip().startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if header is None:
                header, current = cells, []
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(dict(zip(header, cells)))
            continue
        if header is not None:
            tables.append(current)
        header, current = None, None
    return tables


def table_with(doc: Path, *columns: str) -> list[dict[str, str]]:
    _, prose = read(doc)
    for table in markdown_tables(prose):
        if table and all(c in table[0] for c in columns):
            return table
    raise AssertionError(f"{rel(doc)} has no table with the columns {columns}")


def code_name(cell: str) -> str | None:
    match = re.fullmatch(r"`([a-z0-9][a-z0-9_-]*)`", cell.strip())
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def profiles():
    # the shipped profiles only: a site directory on this machine must not change the answer
    return load_profiles(REPO / "tests" / "no-such-site-dir")


def test_every_profile_the_installer_guide_names_is_shipped():
    blocks, prose = read(INSTALLER)
    text = prose + "\n".join(b.text for b in blocks)
    named = set(re.findall(r'\bprofile\s*=\s*"([^"]+)"', text))
    named |= set(re.findall(r'\bextends\s*=\s*"([^"]+)"', text))
    named |= set(re.findall(r"--profile[ =]([a-z0-9][a-z0-9_-]*)", text))
    named |= {code_name(row["profile"]) for row in table_with(INSTALLER, "profile", "models")}
    assert named, "the guide names no profile at all"
    assert not named - set(SHIPPED_PROFILES), (
        f"not shipped: {sorted(named - set(SHIPPED_PROFILES))}; shipped: {SHIPPED_PROFILES}"
    )


def test_the_family_table_lists_every_shipped_profile_once():
    rows = [code_name(r["profile"]) for r in table_with(INSTALLER, "profile", "models")]
    assert sorted(rows) == SHIPPED_PROFILES


def test_the_family_table_says_what_each_profile_says(profiles):
    problems = []
    for row in table_with(INSTALLER, "profile", "models"):
        name = code_name(row["profile"])
        profile = profiles[name]
        for column, method in METHOD_COLUMNS.items():
            said = row[column].split()[0].strip(",:;").lower()
            if said not in ("yes", "no"):
                problems.append(f"{name} / {column}: starts with {said!r}, not yes or no")
            elif (said == "yes") != profile.method(method).supported:
                problems.append(
                    f"{name} / {column}: the guide says {said}, the profile says "
                    f"supported = {profile.method(method).supported}"
                )
        verified = row["verified on a real unit"].split()[0].lower()
        nothing = profile.verified.startswith("Nothing verified")
        if (verified == "no") != nothing:
            problems.append(f"{name}: verified {verified!r}, the profile says {profile.verified!r}")
        fmt = getattr(profile, "smdr_format", None) or None
        cell = row["SMDR format"]
        if (code_name(cell) if fmt else cell) != (fmt or "—"):
            problems.append(f"{name}: SMDR format cell {cell!r}, the profile says {fmt!r}")
        if f"(../hardware/examples/{name}.toml)" not in row["example"]:
            problems.append(
                f"{name}: the example column does not link hardware/examples/{name}.toml"
            )
    assert not problems, "\n".join(problems)


def test_the_guide_says_plainly_that_nothing_is_verified(profiles):
    unverified = [
        n for n in SHIPPED_PROFILES if profiles[n].verified.startswith("Nothing verified")
    ]
    text = " ".join(INSTALLER.read_text(encoding="utf-8").split())
    claims_none = "nothing in the shipped PBX profiles has been verified against a real" in text
    assert claims_none == (unverified == SHIPPED_PROFILES), (
        "the guide's opening warning must match the profiles' own verified notes"
    )


def test_every_smdr_format_the_guides_name_is_shipped_and_the_table_is_complete():
    good, bad = load_all(REPO / "tests" / "no-such-site-dir")
    assert not bad
    rows = table_with(INSTALLER, "format", "port settings in the format")
    assert sorted(code_name(r["format"]) for r in rows) == SHIPPED_FORMATS
    for row in rows:
        fmt = good[code_name(row["format"])]
        cell = row["port settings in the format"]
        if fmt.serial is None:
            assert cell.startswith("none"), f"{fmt.name}: the format sets no port settings"
        else:
            assert str(fmt.serial.baudrate) in cell, f"{fmt.name}: {fmt.serial.describe()}"
    for doc in GUIDES:
        blocks, prose = read(doc)
        text = prose + "\n".join(b.text for b in blocks)
        named = set(re.findall(r'\bformat\s*=\s*"([^"]+)"', text))
        named |= set(re.findall(r"--format[ =]([a-z0-9][a-z0-9-]*)", text))
        assert not named - set(SHIPPED_FORMATS), f"{rel(doc)}: {named - set(SHIPPED_FORMATS)}"


# -- config keys --------------------------------------------------------------------------------


def allowed_keys(data: dict, unknown_at: str) -> set[str]:
    """The keys the config accepts at one place, as its own "unknown key" error lists
    them: the code is the only source of the list."""
    try:
        validate_config(data)
    except ValidationError as exc:
        for error in exc.errors:
            if error.field == unknown_at and "allowed keys are" in error.message:
                return set(error.message.split("allowed keys are ")[1].split(", "))
    raise AssertionError(f"the config did not report {unknown_at} as an unknown key")


PROBE = "zz_not_a_key"
SECTIONS = {
    "[site]": ({"site": {PROBE: 1}}, f"site.{PROBE}"),
    "[clock]": ({"clock": {PROBE: 1}}, f"clock.{PROBE}"),
    "[web]": ({"web": {PROBE: 1}}, f"web.{PROBE}"),
    "[verify]": ({"verify": {PROBE: 1}}, f"verify.{PROBE}"),
    "[profiles]": ({"profiles": {PROBE: 1}}, f"profiles.{PROBE}"),
    "[front_panel]": ({"front_panel": {"key_switch": "none", PROBE: 1}}, f"front_panel.{PROBE}"),
    "[front_panel.pins]": (
        {"front_panel": {"key_switch": "none", "pins": {PROBE: 1}}},
        f"front_panel.pins.{PROBE}",
    ),
    "[[zones]]": ({"zones": [{"name": "main", PROBE: 1}]}, f"zones[0].{PROBE}"),
    "[smdr]": (
        {"smdr": {"port": "/dev/ttyUSB0", "format": SHIPPED_FORMATS[0], PROBE: 1}},
        f"smdr.{PROBE}",
    ),
    "[[calendars]]": (
        {"calendars": [{"name": "x", "url": "https://x.example/a.ics", PROBE: 1}]},
        f"calendars[0].{PROBE}",
    ),
    "[mqtt]": (
        {"mqtt": {"broker": "mqtt://192.0.2.10", "site_id": "a", PROBE: 1}},
        f"mqtt.{PROBE}",
    ),
    "[alerts]": ({"alerts": {PROBE: 1}}, f"alerts.{PROBE}"),
    "[[alerts.targets]]": (
        {"alerts": {"targets": [{"url": "https://h.example.com/x", PROBE: 1}]}},
        f"alerts.targets[0].{PROBE}",
    ),
    "": ({PROBE: 1}, PROBE),
}


def documented_names(doc: Path) -> set[str]:
    """Every name an installer can see as a key: code spans, first cells of tables, and
    ``key =`` in TOML examples (comments included)."""
    blocks, prose = read(doc)
    names = {span.strip() for span in code_spans(prose)}
    names |= {re.sub(r"[\[\]]", "", n) for n in names}
    for block in blocks:
        if block.lang == "toml":
            names |= set(re.findall(r"(?<![\w.\"])([A-Za-z_][\w-]*)\s*=", block.text))
            names |= set(re.findall(r"^\s*\[\[?([\w.]+)\]\]?\s*(?:#.*)?$", block.text, re.M))
    for table in markdown_tables(prose):
        for row in table:
            first = next(iter(row.values()), "")
            names |= set(re.findall(r"`([^`]+)`", first))
    return names


def section_tables(doc: Path) -> dict[str, list[str]]:
    """``{"[site]": [keys in its table]}`` for each bold section heading with a table."""
    _, prose = read(doc)
    found = {}
    # the heading's paragraph (no table rows, no blank line), one blank line, the table
    for match in re.finditer(
        r"^\*\*`(\[\[?[\w.]+\]\]?)`\*\*[^\n]*\n(?:[^\n|][^\n]*\n)*\n"
        r"(\|[^\n]*\n(?:\|[^\n]*\n)+)",
        prose,
        re.M,
    ):
        rows = markdown_tables(match.group(2))[0]
        found[match.group(1)] = [code_name(row["key"]) for row in rows if "key" in row]
    return found


def test_every_config_key_the_code_accepts_is_in_the_installer_guide():
    documented = documented_names(INSTALLER)
    missing = []
    for section, (data, where) in SECTIONS.items():
        for key in sorted(allowed_keys(data, where)):
            if (
                key not in documented
                and f"[{key}]" not in documented
                and f"[[{key}]]" not in documented
            ):
                missing.append(f"{section} {key}".strip())
    for type_name in ACTUATOR_TYPES:
        for key in sorted(actuator_module(type_name).ALLOWED | {"name", "type", "zone", "role"}):
            if key not in documented:
                missing.append(f"[[actuators]] type {type_name}: {key}")
    for key in SERIAL_SETTING_KEYS:
        if key not in documented:
            missing.append(f"serial settings: {key}")
    assert not missing, "undocumented config keys: " + ", ".join(missing)


def test_every_key_in_the_guides_section_tables_is_one_the_code_accepts():
    tables = section_tables(INSTALLER)
    assert {"[site]", "[clock]", "[web]", "[verify]", "[front_panel]", "[smdr]"} <= set(tables)
    problems = []
    for section, keys in tables.items():
        if section == "[[actuators]]":
            allowed = {"name", "type", "zone", "role"}  # the keys every actuator has
        elif section in SECTIONS:
            allowed = allowed_keys(*SECTIONS[section])
        else:
            problems.append(f"{section}: a section the test does not know")
            continue
        problems += [f"{section} {key}" for key in keys if key not in allowed]
    assert not problems, "the guide documents keys the config rejects: " + ", ".join(problems)


# -- examples that must load ----------------------------------------------------------------------


def examples(lang: str) -> list:
    """``(doc, block)`` for every fenced block in *lang* in the guides, with readable ids."""
    return [
        pytest.param(doc, block, id=f"{doc.name}:{block.line}")
        for doc in GUIDES
        for block in read(doc)[0]
        if block.lang == lang
    ]


@pytest.mark.parametrize("doc,block", examples("toml"))
def test_every_toml_example_is_a_config_that_loads(doc, block, tmp_path):
    assert block.check in (None, "config-fragment", "profile-fragment"), (
        f"{rel(doc)} line {block.line}: unknown marker {block.check!r} on a TOML block"
    )
    if block.check == "profile-fragment":
        fixture = REPO / "tests/fixtures/pbx/site/mitel-3300-login.toml"
        (tmp_path / fixture.name).write_text(fixture.read_text())
        (tmp_path / "from-the-guide.toml").write_text(
            'extends = "mitel-3300-login"\nname = "from-the-guide"\n' + block.text
        )
        found = load_profiles(tmp_path)
        assert not found.problems, "\n".join(p.render() for p in found.problems)
        assert "from-the-guide" in found
        return
    try:
        config = load_config_text(block.text, f"{rel(doc)} line {block.line}", site_dir=tmp_path)
    except ValidationError as exc:
        pytest.fail(exc.render())
    if block.check is None:
        # a complete config: a site, and something that switches the PBX
        assert config.raw.get("site"), f"{rel(doc)} line {block.line}: no [site] section"
        assert config.actuators, f"{rel(doc)} line {block.line}: no [[actuators]]"


@pytest.mark.parametrize("doc,block", examples("json"))
def test_every_json_example_parses_and_schedules_are_valid(doc, block):
    data = json.loads(block.text)
    if block.check == "schedule":
        try:
            parse_schedule(data)
        except ValidationError as exc:
            pytest.fail(f"{rel(doc)} line {block.line}: " + exc.render())


def test_the_guides_show_their_examples_checked():
    kinds = [b.check for doc in GUIDES for b in read(doc)[0]]
    assert "schedule" in kinds and "output" in kinds and "config-fragment" in kinds
    complete = [b for b in read(INSTALLER)[0] if b.lang == "toml" and b.check is None]
    assert complete, "the installer guide has no complete config example"


def test_printed_output_in_the_guides_is_what_the_command_prints(tmp_path, capsys):
    checked = 0
    for doc in GUIDES:
        blocks, _ = read(doc)
        schedules = [b for b in blocks if b.check == "schedule"]
        for i, block in enumerate(blocks):
            if block.check != "output":
                continue
            command = next(b for b in reversed(blocks[:i]) if b.lang == "sh")
            line = next(text for text in command.text.splitlines() if "nightswitch " in text)
            args = shlex.split(line.split("nightswitch ", 1)[1])
            for j, arg in enumerate(args):
                if arg.endswith(".json"):
                    assert schedules, f"{rel(doc)}: the command reads {arg}, the guide has none"
                    path = tmp_path / arg
                    path.write_text(schedules[0].text, encoding="utf-8")
                    args[j] = str(path)
            capsys.readouterr()
            assert main(args) == 0
            printed = capsys.readouterr().out
            assert printed.rstrip("\n").splitlines() == block.text.rstrip("\n").splitlines(), (
                f"{rel(doc)} line {block.line}: the output shown differs from what "
                f"`nightswitch {' '.join(args)}` prints"
            )
            checked += 1
    assert checked >= 1


# -- the web page's own words -------------------------------------------------------------

#: Buttons, headings and messages of the web page that the facilities guide tells people to
#: look for. Renaming one on the page without the guide leaves a reader searching for a
#: button that is not there.
UI_WORDS = (
    "Change the mode",
    "Cancel the override: back to the schedule",
    "or until cancelled",
    "Are you sure?",
    "Switched and confirmed by the PBX",
    "Switching the PBX now, not yet confirmed",
    "Not confirmed: the PBX has not switched yet",
    "Switched (this PBX cannot report its mode back)",
    "The key switch at reception is in",
    "Turn it to AUTO to change the mode here",
    "Copy Monday to Tuesday–Friday",
    "Tick the ones you work on anyway",
    "Your own holidays",
    "State or region",
    "Mode on a holiday",
    "+ Add an exception",
    "Download the schedule as JSON",
    "Discard changes",
    "as edited, not saved",
    "As a list",
    "Download CSV",
    "before the appliance kept a history",
    "Create a token",
    "Too many failed logins",
    "Using the fallback switch",
    "Clock not synchronized",
    "Switching failed",
    "PBX link failed",
    "Configuration problem",
    "Key switch wiring fault",
    "There are no holidays and no exceptions in the next 12 months",
)


def test_the_words_the_facilities_guide_quotes_are_on_the_web_page():
    # The pages' own words, and the fault titles they show (from the vocabulary).
    sources = [p for p in sorted((REPO / "web").rglob("*")) if p.suffix in (".html", ".py")]
    sources.append(REPO / "appliance" / "vocabulary.py")
    web = " ".join(" ".join(p.read_text(encoding="utf-8").split()) for p in sources)
    web = web.replace('" "', "")  # messages split over two string literals in Python
    guide = " ".join(FACILITIES.read_text(encoding="utf-8").split())
    assert [w for w in UI_WORDS if w not in guide] == [], "the guide no longer quotes these"
    assert [w for w in UI_WORDS if w not in web] == [], "the web page no longer says these"


# -- the repository stands alone ------------------------------------------------------------------

#: The documents the project started from, kept outside this repository: a file here that
#: cites them sends the reader somewhere they cannot follow. Their content lives in
#: docs/design.md, docs/pbx-families.md and docs/raspberry-pi.md.
OUTSIDE_DOCS = re.compile(
    r"\b(?:SPEC|PI_NOTES|FIELD_NOTES|DESIGN|ANCHORS|STYLE_ANCHORS)\b"
    r"|(?<![\w.-])shared/"
)
#: Directories that are not the project's text: tools' caches and build output.
NOT_OURS = {
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
}
#: Test fixtures are data captured or invented for tests, quoted as they are.
FIXTURES = REPO / "tests" / "fixtures"
#: A reference to one of the project's documents in any text: ``docs/design.md`` or
#: ``docs/design.md#the-clock-hold`` (a Markdown link such as ``../docs/...`` too).
DOC_REFERENCE = re.compile(
    r"(?<![\w./-])(?:\.\./)*docs/(?P<file>[\w.-]+\.md)"
    r"(?:#(?P<anchor>[\w-]+))?"
)


def project_text_files() -> list[Path]:
    """Every text file of the project (what git would ship), outside tool directories."""
    found = []
    for path in sorted(REPO.rglob("*")):
        parts = path.relative_to(REPO).parts
        if (
            not path.is_file()
            or any(p in NOT_OURS or p.endswith(".egg-info") for p in parts)
            or path.suffix in (".png", ".jpg", ".pdf", ".db", ".pyc", ".gz")
        ):
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found.append(path)
    return found


def without_history(path: Path, text: str) -> str:
    """*text* less the one place allowed to name the outside documents: the section of
    docs/design.md that tells where the project's docs came from."""
    if path != DOCS / "design.md":
        return text
    return re.sub(r"^## History of these documents\n.*?(?=^## |\Z)", "", text, flags=re.M | re.S)


def test_the_history_section_that_may_name_the_outside_documents_exists():
    design = (DOCS / "design.md").read_text(encoding="utf-8")
    assert "## History of these documents" in design
    assert OUTSIDE_DOCS.search(design) and not OUTSIDE_DOCS.search(
        without_history(DOCS / "design.md", design)
    )


def test_no_file_cites_documents_outside_the_repository():
    """SPEC, DESIGN, PI_NOTES, FIELD_NOTES and ANCHORS are not in the repository: a comment,
    docstring, data file or document that cites them points nowhere. Cite the section of
    docs/design.md, docs/pbx-families.md or docs/raspberry-pi.md that holds the fact."""
    me = Path(__file__).resolve()
    cited = []
    for path in project_text_files():
        if path == me or FIXTURES in path.parents:
            continue
        text = without_history(path, path.read_text(encoding="utf-8"))
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DOCS.search(line):
                cited.append(f"{rel(path)}:{number}: {line.strip()[:100]}")
    assert not cited, "cite the project's own docs instead:\n" + "\n".join(cited)


def test_the_stand_alone_check_catches_a_citation():
    for line in (
        "# lgpio claims LOW first (PI_NOTES 1.4)",
        "see SPEC 2",
        "FIELD_NOTES 1.2:",
        "(DESIGN: three places)",
        "/work/shared/pbx",
        "ANCHORS.md",
    ):
        assert OUTSIDE_DOCS.search(line), line
    for line in (
        "SPEC_EXAMPLE = {",
        "SPEC9 = [",
        "test_golden_year_of_the_spec_example",
        "/usr/share/zoneinfo",
        "a design decision",
    ):
        assert not OUTSIDE_DOCS.search(line), line


def test_every_docs_reference_names_a_document_and_heading_that_exist():
    """``docs/X.md#anchor`` in a comment, a docstring, a profile's source or a document must
    lead to an existing file and heading: a renamed heading breaks every citation of it."""
    broken = []
    headings: dict[str, set[str]] = {}
    for path in project_text_files():
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in DOC_REFERENCE.finditer(line):
                target = DOCS / match["file"]
                where = f"{rel(path)}:{number}: docs/{match['file']}"
                if not target.is_file():
                    broken.append(f"{where}: no such document")
                    continue
                anchor = match["anchor"]
                if anchor:
                    known = headings.setdefault(target.name, anchors(target))
                    if anchor not in known:
                        broken.append(f"{where}#{anchor}: no such heading")
    assert not broken, "\n".join(broken)


def test_the_reference_finder_reads_what_comments_write():
    found = [
        (m["file"], m["anchor"])
        for m in DOC_REFERENCE.finditer(
            "(docs/design.md#the-clock-hold), docs/API.md; [x](../docs/raspberry-pi.md#uarts). "
            "see docs/pbx-families.md#nec-neax."
        )
    ]
    assert found == [
        ("design.md", "the-clock-hold"),
        ("API.md", None),
        ("raspberry-pi.md", "uarts"),
        ("pbx-families.md", "nec-neax"),
    ]
    assert not list(DOC_REFERENCE.finditer("mydocs/design.md and tests/docs/x.md"))


def test_every_shipped_profile_and_format_has_its_family_section():
    """Each shipped PBX profile, SMDR format and SMDR login is listed in
    docs/pbx-families.md, and its ``source`` starts with the section its facts come from."""
    from appliance.smdr.login import load_login

    families = (DOCS / "pbx-families.md").read_text(encoding="utf-8")
    sections = anchors(DOCS / "pbx-families.md")
    good, bad = load_all(REPO / "tests" / "no-such-site-dir")
    assert not bad
    shipped = [
        (f"appliance/pbx/profiles/{n}.toml", p.source)
        for n, p in load_profiles(REPO / "tests" / "no-such-site-dir").items()
    ]
    shipped += [(f"appliance/smdr/formats/{n}.toml", f.source) for n, f in good.items()]
    shipped += [
        (rel(p), load_login(p.stem).source)
        for p in sorted((REPO / "appliance/smdr/logins").glob("*.toml"))
    ]
    problems = []
    for path, source in shipped:
        if f"(../{path})" not in families:
            problems.append(f"{path}: not linked from docs/pbx-families.md")
        match = re.match(r"docs/pbx-families\.md#([\w-]+)", source)
        if match is None:
            problems.append(f"{path}: source does not start with docs/pbx-families.md#...")
        elif match[1] not in sections:
            problems.append(f"{path}: docs/pbx-families.md has no heading #{match[1]}")
    assert not problems, "\n".join(problems)


def test_the_pi_notes_say_why_not_rpi_gpio():
    """Issue 12: the docs say why the appliance uses gpiozero with lgpio, not RPi.GPIO."""
    _, prose = read(DOCS / "raspberry-pi.md")
    section = prose.split("## Why gpiozero with lgpio, and not RPi.GPIO", 1)[1].split("\n## ")[0]
    assert "cannot run on a Pi 5" in section
    assert "6.6" in section and "Failed to add edge detection" in section
    assert "why-gpiozero-with-lgpio-and-not-rpigpio" in anchors(DOCS / "raspberry-pi.md")
