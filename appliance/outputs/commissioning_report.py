"""The commissioning report: one HTML file to hand to the customer, and its JSON twin.

``nightswitch test all`` writes ``DATA/reports/commissioning-YYYY-MM-DD-HHMM.html``
(the site's local time) from the template ``templates/commissioning_report.html``: the
site, its wiring, the versions, each step's result with what the installer answered,
and lines to sign. It is self-contained (its styles inside, no script, no link to the
appliance), so it can be mailed or opened from a USB stick, and it prints on A4 with
each part on a page of its own (a browser's "Print, Save as PDF").

Beside it, ``commissioning-...json`` holds the same facts for programs: the Installer
page reads the newest one to link the last report.

Nothing secret can reach it: :func:`~appliance.control.site_facts.wiring` picks each
value by name, and :func:`render` refuses to write a report in which a configured
password appears anyway.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from appliance.store.files import (
    DATA_FILE_MODE,
    adopt_owner,
    ensure_dir,
    fsync_dir,
    temp_path_beside,
)

#: The reports' folder inside the data directory.
REPORTS_DIR = "reports"
PREFIX = "commissioning-"
#: What a report's file name may be (the web page serves only these).
NAME_RE = re.compile(r"^commissioning-\d{4}-\d{2}-\d{2}-\d{4}(?:-\d+)?\.html$")
TEMPLATES = Path(__file__).resolve().parent / "templates"

RESULT_WORDS = {
    "passed": "Passed",
    "failed": "Failed",
    "skipped": "Skipped",
    "unconfirmed": "Done, not confirmed",
}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["result_word"] = lambda r: RESULT_WORDS.get(r, r)
    return env


def render(report: dict, *, secrets=()) -> str:
    """The report as HTML.

    :param dict report: what :func:`appliance.commands.test_all.report_data` gathers.
    :param secrets: values that must not appear in it (the config's passwords).
    :raises ValueError: when one of *secrets* would appear in the report.
    """
    html = (
        _environment()
        .get_template("commissioning_report.html")
        .render(r=report, words=RESULT_WORDS)
    )
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 3 and secret in html:
            raise ValueError(
                "a configured secret would appear in the commissioning report; it was not written"
            )
    return html


def _write(path: Path, text: str) -> None:
    tmp = temp_path_beside(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, DATA_FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save(data_dir, report: dict, *, at: datetime, secrets=()) -> Path:
    """Write the report and its JSON twin into ``DATA/reports``; returns the HTML's path.

    :param datetime at: when the run ended, in the site's time zone (names the file).
    """
    data_dir = Path(data_dir)
    folder = data_dir / REPORTS_DIR
    ensure_dir(folder)
    stem = f"{PREFIX}{at:%Y-%m-%d-%H%M}"
    n = 1
    while (folder / f"{stem}.html").exists() or (folder / f"{stem}.json").exists():
        n += 1
        stem = f"{PREFIX}{at:%Y-%m-%d-%H%M}-{n}"
    html_path = folder / f"{stem}.html"
    report = dict(report, file=html_path.name)
    _write(html_path, render(report, secrets=secrets))
    _write(folder / f"{stem}.json", json.dumps(report, indent=1, default=str) + "\n")
    fsync_dir(folder)
    adopt_owner(data_dir, folder, html_path, folder / f"{stem}.json")
    return html_path


def latest(data_dir) -> dict | None:
    """The newest report in ``DATA/reports``: ``{"name", "path", "finished", "installer",
    "overall", "site", "simulated"}``, or None when there is none (a twin that cannot be
    read is passed over)."""
    folder = Path(data_dir) / REPORTS_DIR
    best = None
    try:
        twins = list(folder.glob(f"{PREFIX}*.json"))
    except OSError:
        return None
    for twin in twins:
        html = twin.with_suffix(".html")
        if not NAME_RE.match(html.name) or not html.is_file():
            continue
        try:
            data = json.loads(twin.read_text(encoding="utf-8"))
            finished = str(data["finished"])
            when = datetime.fromisoformat(finished)
            if when.tzinfo is None:
                continue
            found = {
                "name": html.name,
                "path": str(html),
                "finished": finished,
                "installer": str(data.get("installer", "?")),
                "overall": str(data.get("summary", {}).get("overall", "?")),
                "site": str(data.get("site", {}).get("name", "")),
                "simulated": bool(data.get("simulated")),
                "_at": when,
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if best is None or _order(found) > _order(best):
            best = found
    if best is not None:
        del best["_at"]
    return best


def _order(found: dict) -> tuple:
    """Newest first by the end of the run; two in the same minute by their number."""
    stem = found["name"][: -len(".html")]
    number = int(stem.rsplit("-", 1)[1]) if stem.count("-") > 4 else 1
    return found["_at"], number


def report_file(data_dir, name: str) -> Path | None:
    """The path of report *name* in ``DATA/reports``, or None when *name* is not a
    report's name or no such file exists."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        return None
    path = Path(data_dir) / REPORTS_DIR / name
    return path if path.is_file() else None


__all__ = ["REPORTS_DIR", "latest", "render", "report_file", "save"]
