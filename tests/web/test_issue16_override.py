"""Issue 16 on the status page without JavaScript: override errors stay with what was
typed, an end date and time with quick ends from the schedule, tolerant times, "until
cancelled" as a warning, and the Day and Night groups in fixed places. The API takes the
same ends (docs/API.md#post-override)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest

from tests.web.webhelp import bearer, settle, turn_key

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class Node:
    """An element of the page, enough to ask what a person sees and what a form holds."""

    def __init__(self, tag: str, attrs):
        self.tag, self.attrs, self.children = tag, dict(attrs), []

    def __getitem__(self, name):
        return self.attrs[name]

    def get(self, name, default=None):
        return self.attrs.get(name, default)

    def has_attr(self, name) -> bool:
        return name in self.attrs

    def get_text(self, sep: str = " ") -> str:
        return sep.join(c if isinstance(c, str) else c.get_text(sep) for c in self.children)

    def words(self) -> str:
        return " ".join(self.get_text().split())

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def select(self, tag=None, cls=None, **attrs):
        """Elements by tag, class and attributes (``data_mode_choice="day"``; True: has it)."""
        found = []
        for node in self.walk():
            if tag and node.tag != tag or cls and cls not in (node.get("class") or "").split():
                continue
            if all(
                (k.replace("_", "-") in node.attrs)
                if v is True
                else node.get(k.replace("_", "-")) == v
                for k, v in attrs.items()
            ):
                found.append(node)
        return found

    def one(self, tag=None, cls=None, **attrs):
        found = self.select(tag, cls, **attrs)
        return found[0] if found else None


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def soup(response) -> Node:
    tree = _Tree()
    tree.feed(response.get_data(as_text=True))
    return tree.root


def text(response) -> str:
    page = soup(response)
    for script in page.select("script") + page.select("style"):
        script.children = []
    return page.words()


def until_of(appliance) -> datetime:
    return datetime.fromisoformat(appliance.store.get_override("main")["until"])


def berlin(appliance, y, mo, d, h, mi=0):
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Europe/Berlin"))


# -- bug 1: errors stay, with the value typed ----------------------------------------------


def test_a_bad_time_answers_400_keeping_what_was_typed(as_user, appliance):
    r = as_user("operator").post("/override", {"mode": "day", "until": "at", "at": "25:00"})
    assert r.status_code == 400
    page = soup(r)
    problem = page.one(id="override-problem")
    assert problem is not None and problem.has_attr("data-hold")
    assert "Not changed: '25:00' is not a time of day: hours go from 0 to 23" in problem.words()
    field = page.one(id="at-day")
    assert field["value"] == "25:00" and field["aria-invalid"] == "true"
    assert field.has_attr("autofocus")
    assert page.one(id="problem-day").has_attr("data-hold")
    # the other group's field is left alone
    assert not page.one(id="at-night").get("value")
    assert appliance.store.get_override("main") is None


def test_a_409_with_the_key_in_night_says_why_and_can_be_dismissed(as_user, appliance):
    turn_key(appliance, "night")
    r = as_user("operator").post("/override", {"mode": "day", "until": "1h"})
    assert r.status_code == 409
    problem = soup(r).one(id="override-problem")
    assert problem.has_attr("data-hold")
    words = problem.words()
    assert "Not changed: the key switch at reception is in NIGHT" in words
    assert [a["href"] for a in problem.select("a") if a.words() == "dismiss this message"] == ["/"]


@pytest.mark.parametrize(
    "typed, hour, minute",
    [("8:00", 8, 0), ("0800", 8, 0), ("17.30", 17, 30), ("17h30", 17, 30), (" 12:30 ", 12, 30)],
)
def test_times_are_read_as_people_type_them(as_user, appliance, typed, hour, minute):
    r = as_user("operator").post(
        "/override", {"mode": "night", "until": "at", "at": typed, "confirm": "1"}
    )
    assert r.status_code == 302, text(r)
    end = until_of(appliance).astimezone(berlin(appliance, 2026, 3, 2, 0).tzinfo)
    assert (end.hour, end.minute) == (hour, minute)
    # it is Monday 10:00: 08:00 is tomorrow's, 12:30 and 17:30 today's
    assert end.date().day == (3 if hour < 10 else 2)


# -- an end date and time, and quick ends ---------------------------------------------------


def test_night_until_tomorrow_morning_with_a_date(as_user, appliance):
    # 06:00 on Monday: "night until 08:00" alone would be today's; the date says tomorrow
    appliance.clock.set(datetime(2026, 3, 2, 5, 0, tzinfo=timezone.utc))
    settle(appliance)
    browser = as_user("operator")
    form = {"mode": "night", "until": "at", "at": "8:00", "on": "2026-03-03"}
    r = browser.post("/override", form)
    assert r.status_code == 200 and "Are you sure?" in text(r)  # 26 h: asked first
    assert "until Tue 3 Mar 08:00" in text(r)
    hidden = {i["name"]: i.get("value") for i in soup(r).select("input", type="hidden")}
    assert hidden["on"] == "2026-03-03" and hidden["at"] == "8:00"
    r = browser.post("/override", dict(form, confirm="1"))
    assert r.status_code == 302
    assert until_of(appliance) == berlin(appliance, 2026, 3, 3, 8)


@pytest.mark.parametrize(
    "on, says",
    [
        ("2026-03-01", "has passed; choose a later date or time"),
        ("2026-13-40", "'2026-13-40' is not a date"),
        ("2029-01-01", "must be within 400 days"),
    ],
)
def test_a_bad_date_is_named(as_user, appliance, on, says):
    r = as_user("operator").post(
        "/override", {"mode": "night", "until": "at", "at": "08:00", "on": on, "confirm": "1"}
    )
    assert r.status_code == 400 and says in text(r)
    page = soup(r)
    assert page.one(id="on-night")["value"] == on
    assert page.one(id="on-night")["aria-invalid"] == "true"
    assert appliance.store.get_override("main") is None


def test_quick_ends_come_from_the_schedule(as_user, appliance):
    page = soup(as_user("operator").get("/"))
    ends = [
        (b.words(), b["value"])
        for b in page.one(data_mode_choice="day").select("button", cls="quick-end")
    ]
    # Monday 10:00: closing at 18:00, then Tuesday's opening
    assert ends == [
        ("Tonight's closing Mon 2 Mar 18:00", "2026-03-02 18:00"),
        ("Tomorrow's opening Tue 3 Mar 08:00", "2026-03-03 08:00"),
    ]


def test_after_closing_on_friday_the_quick_end_is_monday(as_user, appliance):
    appliance.clock.set(datetime(2026, 3, 6, 18, 30, tzinfo=timezone.utc))  # Fri 19:30
    settle(appliance)
    browser = as_user("operator")
    page = soup(browser.get("/"))
    ends = [
        (b.words(), b["value"])
        for b in page.one(data_mode_choice="night").select("button", cls="quick-end")
    ]
    assert ends == [("Monday's opening Mon 9 Mar 08:00", "2026-03-09 08:00")]
    r = browser.post("/override", {"mode": "day", "until": "2026-03-09 08:00"})
    assert r.status_code == 200 and "Are you sure?" in text(r)
    r = browser.post("/override", {"mode": "day", "until": "2026-03-09 08:00", "confirm": "1"})
    assert r.status_code == 302
    assert until_of(appliance) == berlin(appliance, 2026, 3, 9, 8)


def test_a_made_up_until_is_refused(as_user, appliance):
    r = as_user("operator").post("/override", {"mode": "day", "until": "tomorrow-ish"})
    assert r.status_code == 400 and "choose next, 1h, 2h, at (with a time)" in text(r)


# -- reception: the warning, fixed places -------------------------------------------------------


def test_day_until_cancelled_looks_like_the_warning_it_is(as_user, appliance):
    browser = as_user("operator")
    assert (
        browser.post("/override", {"mode": "day", "until": "never", "confirm": "1"}).status_code
        == 302
    )
    r = browser.get("/")
    page = soup(r)
    assert "no change scheduled" not in text(r)
    assert "Next change: none: it stays so until someone cancels the override" in text(r)
    warning = page.one(id="until-cancelled")
    assert warning["role"] == "alert"
    words = warning.words()
    assert words.startswith("⚠ DAY until someone cancels it")
    assert "nobody gets the night message" in words
    assert [b for b in warning.select("button") if b.words() == "Back to the schedule now"]
    # a viewer sees the warning too, without the button
    page = soup(as_user("viewer").get("/"))
    assert page.one(id="until-cancelled") and not page.one(id="until-cancelled").select("form")


def test_day_and_night_keep_their_places_whatever_the_mode(as_user, appliance):
    browser = as_user("operator")
    order = [g["data-mode-choice"] for g in soup(browser.get("/")).select(data_mode_choice=True)]
    assert order == ["day", "night"]
    browser.post("/override", {"mode": "night", "until": "1h"})
    order = [g["data-mode-choice"] for g in soup(browser.get("/")).select(data_mode_choice=True)]
    assert order == ["day", "night"]


# -- the API takes the same ends --------------------------------------------------------------


@pytest.mark.parametrize(
    "until, local",
    [
        ("2026-03-03 08:00", (2026, 3, 3, 8, 0)),
        ("0800", (2026, 3, 3, 8, 0)),
        ("17.30", (2026, 3, 2, 17, 30)),
    ],
)
def test_api_override_takes_a_local_date_and_time_and_tolerant_times(
    client, tokens, appliance, until, local
):
    r = client.post(
        "/api/v1/override",
        json={"mode": "night", "until": until},
        headers=bearer(tokens["operator"]),
    )
    assert r.status_code == 200, r.get_json()
    assert until_of(appliance) == berlin(appliance, *local)


def test_api_override_names_a_bad_time(client, tokens):
    r = client.post(
        "/api/v1/override",
        json={"mode": "night", "until": "25:00"},
        headers=bearer(tokens["operator"]),
    )
    assert r.status_code == 400
    assert r.get_json()["errors"] == [
        {"field": "until", "message": "'25:00' is not a time of day: hours go from 0 to 23"}
    ]


def test_a_long_override_end_reads_one_way(as_user, appliance):
    """Bug 9: the same end on the button, in the question and in the status line."""
    appliance.clock.set(datetime(2026, 3, 2, 18, 30, tzinfo=timezone.utc))  # 19:30
    settle(appliance)
    browser = as_user("operator")
    page = soup(browser.get("/"))
    button = page.one(data_mode_choice="day").one("button", value="next")
    assert "until Tue 3 Mar 08:00" in button.get_text(" ")
    assert "until Tue 3 Mar 08:00?" in button["data-confirm"]
    browser.post("/override", {"mode": "day", "until": "next", "confirm": "1"})
    words = text(browser.get("/"))
    assert "override by operator until Tue 3 Mar 08:00" in words
    assert not re.search(r"\d{4}-\d{2}-\d{2}", words.replace("2026-03-0", ""))
    assert timedelta(0) < until_of(appliance) - appliance.clock.now()
