"""The fault kinds are strings first: their titles for people must not hide str's own."""

from appliance.vocabulary import FaultKind, fault_title


def test_a_fault_kind_keeps_str_title_and_has_its_title_for_people():
    # A ``title`` property used to hide str.title(): calling it raised TypeError.
    assert FaultKind.CLOCK.title() == "Clock"
    assert FaultKind.CLOCK.display_title == "Clock not synchronized"
    assert fault_title("smdr") == "Call records (SMDR) not arriving"
    assert fault_title("something-new") == "Something-new"
