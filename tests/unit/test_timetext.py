"""appliance.timetext: the one way times are written for people, and read from them."""

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from appliance import timetext
from appliance.errors import ValidationError

TZ = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8:00", time(8, 0)),
        ("08:00", time(8, 0)),
        ("0800", time(8, 0)),
        ("17.30", time(17, 30)),
        ("17h30", time(17, 30)),
        ("8", time(8, 0)),
        (" 23:59 ", time(23, 59)),
        ("0:00", time(0, 0)),
        ("930", time(9, 30)),
    ],
)
def test_parse_time_of_day_reads_what_people_type(text, expected):
    assert timetext.parse_time_of_day(text) == expected
    assert timetext.read_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text, says",
    [
        ("25:00", "hours go from 0 to 23"),
        ("12:75", "minutes go from 00 to 59"),
        ("24:00", "00:00 (midnight, the day after)"),
        ("noon", "such as 8:00, 08:00, 0800 or 17.30"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("123456", "is not a time of day"),
    ],
)
def test_parse_time_of_day_says_what_is_wrong(text, says):
    with pytest.raises(ValidationError) as caught:
        timetext.parse_time_of_day(text, field="until_time")
    (error,) = caught.value.errors
    assert error.field == "until_time"
    assert says in error.message
    assert timetext.read_time_of_day(text) is None


def test_parse_time_of_day_rejects_non_text():
    with pytest.raises(ValidationError):
        timetext.parse_time_of_day(None)
