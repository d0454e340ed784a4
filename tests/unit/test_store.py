"""The Store façade on real SQLite files in tmp_path: every method, and its validation."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from appliance.decision.schedule import default_schedule_json
from appliance.errors import StoreError, ValidationError
from appliance.smdr.record import CallRecord
from appliance.store import SCHEMA_VERSION, Store

UTC = timezone.utc
T0 = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def store(data_dir):
    with Store(data_dir) as s:
        yield s


def raw_rows(data_dir, sql, params=()):
    conn = sqlite3.connect(data_dir / "nightswitch.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def fields_of(excinfo) -> set[str]:
    return {e.field for e in excinfo.value.errors}


# -- opening ---------------------------------------------------------------------------


def test_store_creates_directory_0750_and_database(tmp_path):
    data = tmp_path / "var" / "lib" / "nightswitch"
    with Store(data) as store:
        assert (data / "nightswitch.db").is_file()
        assert stat.S_IMODE(data.stat().st_mode) == 0o750
        assert not stat.S_IMODE((data / "nightswitch.db").stat().st_mode) & 0o007
        assert store.schema_version == SCHEMA_VERSION
        assert store.quarantined is None
        assert repr(store) == f"<Store {data / 'nightswitch.db'}>"


def test_store_pragmas_are_in_force(store):
    with store._db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_store_wal_is_recorded_in_the_file(data_dir):
    Store(data_dir).close()
    assert raw_rows(data_dir, "PRAGMA journal_mode") == [("wal",)]


def test_store_closed_raises_store_error(data_dir):
    store = Store(data_dir)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.get_setting("x")
    with pytest.raises(StoreError, match="closed"):
        store.backup_to(data_dir / "copy.db")


def test_store_reopens_with_data_kept(data_dir):
    with Store(data_dir) as s:
        s.set_setting("site", "HQ")
    with Store(data_dir) as s:
        assert s.get_setting("site") == "HQ"


# -- schedules -------------------------------------------------------------------------


def test_schedule_versions_and_history(store):
    assert store.get_schedule("main") is None
    assert store.schedule_history("main") == []
    first = default_schedule_json()
    second = dict(first, default_mode="day")
    assert store.save_schedule("main", first, by="anna", at=at(0)) == 1
    assert store.save_schedule("main", second, by="ben", at=at(5)) == 2
    assert store.get_schedule("main") == second
    assert store.get_schedule_version("main", 1) == first
    assert store.get_schedule_version("main", 9) is None
    assert store.schedule_history("main") == [
        {"version": 2, "saved_at": "2026-12-24T17:05:00+00:00", "by": "ben"},
        {"version": 1, "saved_at": "2026-12-24T17:00:00+00:00", "by": "anna"},
    ]
    assert [h["version"] for h in store.schedule_history("main", limit=1)] == [2]
    assert store.schedule_zones() == ["main"]


def test_schedule_zones_are_separate(store):
    store.save_schedule("sales", {"a": 1}, by="x", at=at(0))
    store.save_schedule("service", {"b": 2}, by="x", at=at(0))
    assert store.save_schedule("sales", {"a": 3}, by="x", at=at(1)) == 2
    assert store.get_schedule("service") == {"b": 2}
    assert store.schedule_zones() == ["sales", "service"]


def test_schedule_rollback_is_a_new_version(store):
    store.save_schedule("main", {"v": 1}, by="anna", at=at(0))
    store.save_schedule("main", {"v": 2}, by="anna", at=at(1))
    assert store.rollback_schedule("main", 1, by="ben", at=at(2)) == 3
    assert store.get_schedule("main") == {"v": 1}
    history = store.schedule_history("main")
    assert history[0] == {
        "version": 3,
        "saved_at": "2026-12-24T17:02:00+00:00",
        "by": "ben",
        "restored_from": 1,
    }
    assert store.get_schedule_version("main", 2) == {"v": 2}  # never rewritten


def test_schedule_rollback_to_unknown_version_names_what_exists(store):
    store.save_schedule("main", {"v": 1}, by="anna", at=at(0))
    with pytest.raises(ValidationError, match="versions 1 to 1 exist") as exc:
        store.rollback_schedule("main", 4, by="ben", at=at(1))
    assert fields_of(exc) == {"version"}
    with pytest.raises(ValidationError, match="no saved schedule yet"):
        store.rollback_schedule("other", 1, by="ben", at=at(1))
    assert len(store.schedule_history("main")) == 1


def test_schedule_is_stored_as_canonical_json(store, data_dir):
    store.save_schedule("main", {"b": [1, 2], "a": "ü"}, by="x", at=at(0))
    assert raw_rows(data_dir, "SELECT data FROM schedules") == [('{"a":"ü","b":[1,2]}',)]


@pytest.mark.parametrize(
    "data, message",
    [
        ([1, 2], "must be a JSON object"),
        ({"when": datetime(2026, 1, 1)}, "not plain JSON"),
        ({"x": float("nan")}, "not plain JSON"),
    ],
)
def test_schedule_save_rejects_non_json(store, data, message):
    with pytest.raises(ValidationError, match=message):
        store.save_schedule("main", data, by="x", at=at(0))
    assert store.get_schedule("main") is None


def test_schedule_save_reports_every_bad_argument_at_once(store):
    with pytest.raises(ValidationError) as exc:
        store.save_schedule("Main Office", {}, by="", at=datetime(2026, 1, 1))
    assert fields_of(exc) == {"zone", "by", "at"}
    assert "timezone-aware" in str(exc.value)


# -- overrides -------------------------------------------------------------------------


def test_override_set_get_replace_clear(store):
    assert store.get_override("main") is None
    store.set_override("main", "day", at(60), by="anna", at=at(0))
    assert store.get_override("main") == {
        "mode": "day",
        "until": "2026-12-24T18:00:00+00:00",
        "by": "anna",
        "set_at": "2026-12-24T17:00:00+00:00",
    }
    store.set_override("main", "night", None, by="ben", at=at(1))
    assert store.get_override("main") == {
        "mode": "night",
        "until": None,
        "by": "ben",
        "set_at": "2026-12-24T17:01:00+00:00",
    }
    assert store.clear_override("main") is True
    assert store.clear_override("main") is False
    assert store.get_override("main") is None


def test_override_instants_are_stored_in_utc(store):
    berlin = timezone(timedelta(hours=1))
    store.set_override(
        "main", "day", datetime(2026, 12, 24, 19, 30, tzinfo=berlin), by="anna", at=at(0)
    )
    assert store.get_override("main")["until"] == "2026-12-24T18:30:00+00:00"


def test_override_validation(store):
    with pytest.raises(ValidationError) as exc:
        store.set_override("main", "Day!", "tonight", by="anna", at=at(0))
    assert fields_of(exc) == {"mode", "until"}
    assert "lower-case word" in str(exc.value)
    assert store.get_override("main") is None


# -- users -----------------------------------------------------------------------------


def test_users_add_check_list_role_password_delete(store, data_dir):
    store.add_user("anna", "admin", "correct horse")
    store.add_user("ben", "viewer", "battery staple")
    assert store.get_user("anna") == {"name": "anna", "role": "admin"}
    assert store.get_user("zoe") is None
    assert store.list_users() == [
        {"name": "anna", "role": "admin"},
        {"name": "ben", "role": "viewer"},
    ]
    assert store.check_password("anna", "correct horse") == {"name": "anna", "role": "admin"}
    assert store.check_password("anna", "wrong horse") is None
    assert store.check_password("zoe", "correct horse") is None
    assert store.check_password("anna", None) is None
    store.set_role("ben", "operator")
    store.set_password("ben", "new password")
    assert store.check_password("ben", "new password") == {"name": "ben", "role": "operator"}
    assert store.check_password("ben", "battery staple") is None
    store.delete_user("ben")
    assert store.get_user("ben") is None
    (stored,) = raw_rows(data_dir, "SELECT password_hash FROM users WHERE name = 'anna'")
    assert stored[0].startswith(("scrypt:", "pbkdf2:")) and "correct horse" not in stored[0]


def test_user_validation_names_fields(store):
    with pytest.raises(ValidationError) as exc:
        store.add_user("anna smith", "boss", "short")
    assert fields_of(exc) == {"name", "role", "password"}
    text = str(exc.value)
    assert "without spaces" in text and "viewer, operator, admin" in text
    assert "at least 8 characters (got 5)" in text
    with pytest.raises(ValidationError, match="at most 64 characters"):
        store.add_user("x" * 65, "viewer", "long enough")
    with pytest.raises(ValidationError, match="printable"):
        store.add_user("a\x07b", "viewer", "long enough")
    assert store.list_users() == []


def test_user_password_never_echoed_in_errors(store):
    with pytest.raises(ValidationError) as exc:
        store.add_user("anna", "admin", "hunter2")
    assert "hunter2" not in str(exc.value)


def test_user_duplicate_and_unknown(store):
    store.add_user("anna", "admin", "correct horse")
    with pytest.raises(ValidationError, match="already exists"):
        store.add_user("anna", "viewer", "other password")
    for call in (
        lambda: store.delete_user("zoe"),
        lambda: store.set_role("zoe", "viewer"),
        lambda: store.set_password("zoe", "long enough"),
    ):
        with pytest.raises(ValidationError, match="no user named 'zoe'"):
            call()


def test_the_only_admin_cannot_be_deleted_or_demoted(store):
    store.add_user("anna", "admin", "correct horse")
    with pytest.raises(ValidationError, match="only admin"):
        store.delete_user("anna")
    with pytest.raises(ValidationError, match="only admin"):
        store.set_role("anna", "operator")
    store.add_user("ben", "admin", "battery staple")
    store.set_role("anna", "operator")
    assert store.get_user("anna")["role"] == "operator"


# -- tokens ----------------------------------------------------------------------------


def test_token_created_once_only_hash_stored(store, data_dir):
    token = store.create_token("operator", label="wallboard", by="anna", at=at(0))
    assert token.startswith("ns_") and len(token) > 40
    rows = raw_rows(data_dir, "SELECT * FROM tokens")
    assert len(rows) == 1
    assert token not in json.dumps(rows)
    assert token[3:] not in json.dumps(rows)
    import hashlib

    assert hashlib.sha256(token.encode()).hexdigest() in rows[0]
    assert store.check_token(token) == {
        "id": 1,
        "role": "operator",
        "label": "wallboard",
        "owner": None,
        "expires_at": None,
        "last_used_at": None,
    }
    assert store.list_tokens() == [
        {
            "id": 1,
            "label": "wallboard",
            "role": "operator",
            "created_at": "2026-12-24T17:00:00+00:00",
            "created_by": "anna",
            "owner": None,
            "expires_at": None,
            "last_used_at": None,
        }
    ]
    assert token not in json.dumps(store.list_tokens())


def test_token_check_rejects_wrong_and_junk(store):
    token = store.create_token("viewer", label=None, by="anna", at=at(0))
    other = store.create_token("admin", label="backup script", by="anna", at=at(0))
    assert store.check_token(other)["role"] == "admin"
    assert store.check_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    for junk in (None, "", "ns_", 12, "Bearer " + token, token + "x", "x" * 5000):
        assert store.check_token(junk) is None


def test_token_revoke(store):
    token = store.create_token("viewer", label="", by="anna", at=at(0))
    store.revoke_token(1)
    assert store.check_token(token) is None
    assert store.list_tokens() == []
    with pytest.raises(ValidationError, match="no token with id 1"):
        store.revoke_token(1)
    with pytest.raises(ValidationError, match="whole number"):
        store.revoke_token("1")


def test_token_validation(store):
    with pytest.raises(ValidationError) as exc:
        store.create_token("root", label="x" * 101, by="anna", at=None)
    assert fields_of(exc) == {"role", "label", "at"}
    assert store.list_tokens() == []


# -- audit -----------------------------------------------------------------------------


def test_audit_add_and_query_newest_first(store):
    ids = [
        store.add_audit(
            "main",
            at=at(i),
            who="anna" if i % 2 else "schedule",
            source="web" if i % 2 else "weekly",
            old_mode="night",
            new_mode="day",
            reason=f"row {i}",
        )
        for i in range(6)
    ]
    assert ids == sorted(ids)
    rows = store.audit()
    assert [r["reason"] for r in rows] == [f"row {i}" for i in range(5, -1, -1)]
    assert rows[0] == {
        "id": ids[5],
        "zone": "main",
        "at": "2026-12-24T17:05:00+00:00",
        "who": "anna",
        "source": "web",
        "old_mode": "night",
        "new_mode": "day",
        "reason": "row 5",
    }


def test_audit_filters_and_paging(store):
    for i in range(10):
        store.add_audit(
            "sales" if i < 4 else "main",
            at=at(i),
            who=f"u{i % 3}",
            source="key" if i % 2 else "web",
            old_mode=None,
            new_mode="night",
            reason="",
        )
    assert len(store.audit("sales")) == 4
    assert {r["who"] for r in store.audit(who="u1")} == {"u1"}
    assert {r["source"] for r in store.audit(source="key")} == {"key"}
    window = store.audit(since=at(2), until=at(5))
    assert [r["at"][11:16] for r in window] == ["17:04", "17:03", "17:02"]
    page1 = store.audit(limit=3)
    page2 = store.audit(limit=3, offset=3)
    assert [r["id"] for r in page1 + page2] == [r["id"] for r in store.audit(limit=6)]
    assert store.audit_count() == 10
    assert store.audit_count("main", source="web") == 3
    assert store.audit(zone="main", who="u0", source="web", since=at(0), until=at(10))


def test_audit_validation(store):
    with pytest.raises(ValidationError) as exc:
        store.add_audit(
            "main", at="now", who="", source="Web UI", old_mode="DAY", new_mode="night", reason=None
        )
    assert fields_of(exc) == {"at", "who", "source", "old_mode"}
    with pytest.raises(ValidationError) as exc:
        store.audit(limit=0, offset=-1, since="yesterday")
    assert fields_of(exc) == {"limit", "offset", "since"}
    assert store.audit_count() == 0


def test_audit_prune(store):
    for days in (800, 400, 1):
        store.add_audit(
            "main",
            at=T0 - timedelta(days=days),
            who="x",
            source="web",
            old_mode=None,
            new_mode="day",
            reason="",
        )
    assert store.prune_audit(T0 - timedelta(days=731)) == 1
    assert store.audit_count() == 2


# -- applied mode and history ----------------------------------------------------------


def test_applied_mode_and_history(store):
    assert store.get_applied("main") is None
    assert store.mode_history("main", at(0), at(100)) == []
    assert store.set_applied("main", "night", at=at(-600)) is True
    assert store.set_applied("main", "day", at=at(10)) is True
    assert store.set_applied("main", "day", at=at(11)) is False  # no change, no row
    assert store.set_applied("main", "night", at=at(60)) is True
    assert store.set_applied("sales", "day", at=at(20)) is True
    assert store.get_applied("main") == {"mode": "night", "at": "2026-12-24T18:00:00+00:00"}
    assert store.mode_history("main", at(0), at(120)) == [
        {"at": "2026-12-24T07:00:00+00:00", "mode": "night"},  # in force at start
        {"at": "2026-12-24T17:10:00+00:00", "mode": "day"},
        {"at": "2026-12-24T18:00:00+00:00", "mode": "night"},
    ]
    assert store.mode_history("main", at(10), at(60)) == [
        {"at": "2026-12-24T17:10:00+00:00", "mode": "day"}
    ]
    assert store.mode_history("main", at(-700), at(-650)) == []


def test_mode_history_prune_keeps_the_entry_in_force(store):
    store.set_applied("main", "night", at=at(-10000))
    store.set_applied("main", "day", at=at(-5000))
    store.set_applied("main", "night", at=at(-100))
    store.set_applied("main", "day", at=at(100))
    store.set_applied("sales", "day", at=at(-9000))
    assert store.prune_mode_history(at(0)) == 2
    assert store.mode_history("main", at(0), at(200)) == [
        {"at": "2026-12-24T15:20:00+00:00", "mode": "night"},
        {"at": "2026-12-24T18:40:00+00:00", "mode": "day"},
    ]
    assert store.mode_history("sales", at(0), at(1))[0]["mode"] == "day"


def test_applied_validation(store):
    with pytest.raises(ValidationError) as exc:
        store.set_applied("", "night", at=at(0))
    assert fields_of(exc) == {"zone"}
    with pytest.raises(ValidationError) as exc:
        store.mode_history("main", at(0), datetime(2026, 1, 1))
    assert fields_of(exc) == {"end"}


# -- settings --------------------------------------------------------------------------


def test_settings(store):
    assert store.get_setting("web.secret_key") is None
    store.set_setting("web.secret_key", "abc")
    store.set_setting("web.secret_key", "def")
    assert store.get_setting("web.secret_key") == "def"
    with pytest.raises(ValidationError) as exc:
        store.set_setting("Bad Key", 5)
    assert fields_of(exc) == {"key", "value"}


# -- SMDR ------------------------------------------------------------------------------


def call(minutes, **kw) -> CallRecord:
    values = dict(
        started_at=at(minutes),
        duration_s=42,
        extension="201",
        trunk="01",
        direction="in",
        answered=True,
        ring_s=5,
        number="0301234567",
        fmt="panasonic-kx-td",
        raw=f"raw line {minutes}",
    )
    values.update(kw)
    return CallRecord(**values)


def test_calls_add_and_query(store):
    id1 = store.add_call("main", call(0))
    store.add_call("main", call(30, answered=None, duration_s=None, direction=None))
    store.add_call("sales", call(10))
    store.add_call("main", call(90))
    rows = store.calls("main", at(0), at(90))
    assert [r["raw"] for r in rows] == ["raw line 0", "raw line 30"]
    assert rows[0] == {
        "id": id1,
        "zone": "main",
        "started_at": "2026-12-24T17:00:00+00:00",
        "duration_s": 42,
        "extension": "201",
        "trunk": "01",
        "direction": "in",
        "answered": True,
        "ring_s": 5,
        "number": "0301234567",
        "fmt": "panasonic-kx-td",
        "raw": "raw line 0",
    }
    assert rows[1]["answered"] is None and rows[1]["direction"] is None
    assert len(store.calls("sales", at(-1), at(100))) == 1


def test_calls_accept_any_object_with_the_attributes(store):
    class Plain:
        started_at = at(0)
        duration_s = ring_s = None
        extension = trunk = number = None
        direction = "out"
        answered = False
        fmt = "nec-sv"
        raw = "x"

    store.add_call("main", Plain())
    assert store.calls("main", at(0), at(1))[0]["answered"] is False


def test_call_validation_names_every_bad_attribute(store):
    good = vars(call(0))
    bad = SimpleNamespace(
        **dict(
            good,
            started_at=datetime(2026, 1, 1),
            duration_s=-1,
            direction="sideways",
            answered="yes",
            fmt="",
        )
    )
    with pytest.raises(ValidationError) as exc:
        store.add_call("main", bad)
    assert fields_of(exc) == {
        "record.started_at",
        "record.duration_s",
        "record.direction",
        "record.answered",
        "record.fmt",
    }
    with pytest.raises(ValidationError, match="record.raw: is missing"):
        store.add_call("main", object())
    assert store.calls("main", at(-1e6), at(1e6)) == []


def test_unparsed_lines_kept_counted_listed(store):
    assert store.unparsed_count() == 0
    for i in range(3):
        store.add_unparsed(at=at(i), fmt="nec-sv", raw=f"\x02junk {i}", reason="no date")
    assert store.unparsed_count() == 3
    recent = store.unparsed(limit=2)
    assert [r["raw"] for r in recent] == ["\x02junk 2", "\x02junk 1"]
    assert recent[0]["reason"] == "no date" and recent[0]["fmt"] == "nec-sv"
    assert store.unparsed(limit=2, offset=2)[0]["raw"] == "\x02junk 0"
    with pytest.raises(ValidationError) as exc:
        store.add_unparsed(at=at(0), fmt="", raw="x" * 9000, reason="")
    assert fields_of(exc) == {"fmt", "raw", "reason"}


def test_prune_calls_and_unparsed(store):
    store.add_call("main", call(-60 * 24 * 500))
    store.add_call("main", call(0))
    store.add_unparsed(at=at(-60 * 24 * 500), fmt="x", raw="old", reason="r")
    store.add_unparsed(at=at(0), fmt="x", raw="new", reason="r")
    assert store.prune_calls(at(-60 * 24 * 400)) == 2
    assert len(store.calls("main", at(-1e7), at(1e7))) == 1
    assert store.unparsed_count() == 1


# -- backup_to -------------------------------------------------------------------------


def test_backup_to_makes_a_consistent_standalone_copy(store, tmp_path):
    store.add_user("anna", "admin", "correct horse")
    store.save_schedule("main", {"v": 1}, by="anna", at=at(0))
    copy = tmp_path / "copy.db"
    store.backup_to(copy)
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT name FROM users").fetchall() == [("anna",)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
    assert not list(tmp_path.glob(".copy.db.*"))  # no temporary left behind
