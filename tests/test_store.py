"""The store on its own: typed small state, event attempts and quarantine, and errors that say what broke."""

from __future__ import annotations

import random
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.model import Account, DirectCommand, Event, Follow, Mention, Status
from bot.store import EventRow, NoStore, QuarantinedEvent, Store, StoreError, StoreOpenError
from bot.store.state import (
    COMMANDS_SINCE,
    CURSOR,
    EXPIRED_UNTOLD,
    HEARTBEAT,
    HISTORY_BEFORE,
    HISTORY_DONE,
    HISTORY_OLDEST,
    HISTORY_RECORDED,
    KEYS,
    LAST_DRAFT_DM,
    LEASE,
    OUR_POSTS_BACKFILL,
    OUR_POSTS_CURSOR,
    OUR_POSTS_SYNCED,
    PAUSED,
    SPIKE_LAST_ACTIVE,
    SPIKE_NOTICE,
    SPIKE_SINCE,
    STARTED_AT,
    STORE_ID,
    UNHEALTHY,
    Key,
    Lease,
)
from tests.conftest import PG_URL

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAN = Account(id="7", acct="fan@elsewhere.example", username="fan", display_name="Fan")
ALICE = Account(id="2", acct="alice", username="alice", display_name="Alice")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store(store_url, owner="bot@example.social")
    opened.upgrade()
    yield opened
    opened.close()


# --- typed small state --------------------------------------------------------------------------

SAMPLES: dict[str, Any] = {
    CURSOR.name: "113000000000000042",
    PAUSED.name: True,
    HEARTBEAT.name: NOW,
    STARTED_AT.name: NOW - timedelta(hours=3),
    UNHEALTHY.name: "the instance refused the access token (401)",
    LAST_DRAFT_DM.name: NOW - timedelta(minutes=5),
    EXPIRED_UNTOLD.name: (3, 4, 17),
    SPIKE_SINCE.name: NOW - timedelta(minutes=20),
    SPIKE_LAST_ACTIVE.name: NOW - timedelta(minutes=1),
    SPIKE_NOTICE.name: "pending",
    OUR_POSTS_CURSOR.name: "113000000000000007",
    OUR_POSTS_SYNCED.name: NOW - timedelta(minutes=4),
    OUR_POSTS_BACKFILL.name: "112999999999999990",
    STORE_ID.name: "5f1c0a9e2b7d",
    COMMANDS_SINCE.name: NOW - timedelta(days=30),
    LEASE.name: Lease("a1b2", 4242, "host.example", NOW, NOW + timedelta(minutes=5)).dump(),
    HISTORY_BEFORE.name: "112999999999999001",
    HISTORY_RECORDED.name: 4962,
    HISTORY_OLDEST.name: NOW - timedelta(days=400),
    HISTORY_DONE.name: NOW - timedelta(hours=1),
}


def test_every_key_has_its_own_name_and_a_sample_here() -> None:
    names = [key.name for key in KEYS]
    assert len(set(names)) == len(names)
    assert set(names) == set(SAMPLES)


@pytest.mark.parametrize("key", KEYS, ids=lambda key: key.name)
def test_each_key_reads_back_what_was_put_until_it_is_cleared(store: Store, key: Key[Any]) -> None:
    assert store.get(key) is None
    store.put(key, SAMPLES[key.name])
    assert store.get(key) == SAMPLES[key.name]
    assert type(store.get(key)) is type(SAMPLES[key.name])
    store.clear(key)
    assert store.get(key) is None
    store.clear(key)  # clearing an unset key is harmless


def test_moments_come_back_aware_and_in_utc(store: Store) -> None:
    paris = NOW.astimezone(ZoneInfo("Europe/Paris"))
    store.put(LAST_DRAFT_DM, paris)
    back = store.get(LAST_DRAFT_DM)
    assert back == NOW and back is not None and back.utcoffset() == timedelta(0)


def test_values_written_by_the_string_keys_of_earlier_versions_read_the_same(store: Store) -> None:
    written_before = {
        "notifications_cursor": "42",
        "paused": "1",
        "heartbeat": NOW.isoformat(),
        "expired_untold": "#3 #4",
        "spike_since": (NOW - timedelta(minutes=20)).isoformat(),
        "spike_notice": "sent",
        "last_draft_dm_at": "2026-03-01T11:55:00",  # naive: read as UTC
        "our_posts_synced_at": NOW.isoformat(),
        "our_posts_backfill_before": "",  # the backfill reached the window's start
    }
    for name, value in written_before.items():
        store.set_state(name, value)
    assert store.get(CURSOR) == store.get_cursor() == "42"
    assert store.get(PAUSED) is True and store.is_paused()
    assert store.get(HEARTBEAT) == store.last_beat() == NOW
    assert store.get(EXPIRED_UNTOLD) == (3, 4)
    assert store.get(SPIKE_SINCE) == NOW - timedelta(minutes=20)
    assert store.get(SPIKE_NOTICE) == "sent"
    assert store.get(LAST_DRAFT_DM) == NOW - timedelta(minutes=5)
    assert store.get(OUR_POSTS_SYNCED) == NOW
    assert store.get(OUR_POSTS_BACKFILL) is None
    store.set_state("paused", "0")
    assert store.get(PAUSED) is False and not store.is_paused()


def test_an_older_version_reads_what_the_typed_keys_write(store: Store) -> None:
    store.set_paused(True)
    store.beat(NOW)
    store.put(SPIKE_SINCE, NOW)
    store.set_cursor("77")
    assert store.get_state("paused") == "1"
    assert datetime.fromisoformat(store.get_state("heartbeat") or "") == NOW
    assert store.get_state("spike_since") == NOW.isoformat()
    assert store.get_state("notifications_cursor") == "77"
    store.set_paused(False)
    assert store.get_state("paused") == "0"


def test_text_a_key_cannot_read_counts_as_unset(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    store.set_state(HEARTBEAT.name, "not a moment")
    assert store.get(HEARTBEAT) is None and store.last_beat() is None
    assert "heartbeat" in caplog.text
    store.beat(NOW)  # the next heartbeat repairs it
    assert store.last_beat() == NOW


def test_the_heartbeat_and_the_cursor_move_forward(store: Store) -> None:
    assert store.last_beat() is None and store.get_cursor() is None and not store.is_paused()
    store.beat(NOW)
    store.beat(NOW + timedelta(seconds=10))
    assert store.last_beat() == NOW + timedelta(seconds=10)
    store.set_cursor("1")
    store.set_cursor("2")
    assert store.get_cursor() == "2"


def test_each_account_sharing_a_store_has_its_own_state(store: Store, store_url: str) -> None:
    other = Store(store_url, owner="shop@example.social")
    try:
        store.set_paused(True)
        store.put(UNHEALTHY, "token refused")
        assert not other.is_paused() and other.get(UNHEALTHY) is None
        other.put(UNHEALTHY, "another reason")
        store.clear(UNHEALTHY)
        assert store.get(UNHEALTHY) is None and other.get(UNHEALTHY) == "another reason"
    finally:
        other.close()


# --- event attempts and quarantine --------------------------------------------------------------


def follow(n: int) -> Follow:
    return Follow(id=f"n{n}", created_at=NOW - timedelta(minutes=60 - n), account=FAN)


def mention(n: int) -> Mention:
    status = Status(id=f"s{n}", text="@bot how does this work?", visibility="public")
    return Mention(id=f"n{n}", created_at=NOW - timedelta(minutes=60 - n), account=FAN, status=status)


def command(n: int) -> DirectCommand:
    status = Status(id=f"s{n}", text="@bot ok 1", visibility="direct")
    return DirectCommand(id=f"n{n}", created_at=NOW - timedelta(minutes=60 - n), account=ALICE, status=status)


def record(store: Store, *events: Event) -> dict[str, int]:
    """Record `events`; their store ids by notification id."""
    assert store.record_events(events, NOW, cursor=events[-1].id) == len(events)
    return {event.id: event_id for event_id, event in store.unhandled_events()}


def ids(pairs: list[tuple[int, Event]]) -> list[str]:
    return [event.id for _, event in pairs]


def test_the_old_call_still_gives_every_unhandled_event_oldest_first(store: Store) -> None:
    got = record(store, follow(1), mention(2), command(3))
    assert list(got) == ["n1", "n2", "n3"]
    assert store.get_cursor() == "n3"
    assert [type(event) for _, event in store.unhandled_events()] == [Follow, Mention, DirectCommand]
    assert ids(store.unhandled_events(2)) == ["n1", "n2"]
    store.finish_event(got["n1"], None, NOW)
    assert ids(store.unhandled_events()) == ["n2", "n3"] and store.count_unhandled() == 2


def test_commands_have_a_lane_of_their_own(store: Store) -> None:
    record(store, follow(1), command(2), mention(3), command(4))
    assert ids(store.unhandled_events(now=NOW, kinds=("command",))) == ["n2", "n4"]
    assert ids(store.unhandled_events(now=NOW, exclude_kinds=("command",))) == ["n1", "n3"]
    assert ids(store.unhandled_events(1, now=NOW, exclude_kinds=("command",))) == ["n1"]
    assert store.has_unhandled_events(NOW, kinds=("command",))
    assert not store.has_unhandled_events(NOW, kinds=("reblog",))


def test_a_failed_event_waits_for_its_retry_and_counts_its_attempts(store: Store) -> None:
    got = record(store, mention(1), follow(2))
    first = got["n1"]
    assert store.next_event_due_at() is None
    assert store.fail_event(first, "RuntimeError: a bug in a rule", NOW, NOW + timedelta(seconds=30)) == 1
    assert ids(store.unhandled_events(now=NOW)) == ["n2"]  # the other event is not held up
    assert ids(store.unhandled_events()) == ["n1", "n2"]  # without `now`: every waiting one
    assert store.next_event_due_at() == NOW + timedelta(seconds=30)
    assert store.count_unhandled() == 2
    later = NOW + timedelta(seconds=30)
    assert ids(store.unhandled_events(now=later)) == ["n1", "n2"]  # due again, still first in line

    def backoff(attempts: int) -> timedelta:
        return timedelta(minutes=2) * attempts

    assert store.fail_event(first, "x" * 2000, later, backoff) == 2
    assert store.next_event_due_at() == later + timedelta(minutes=4)
    assert not store.has_unhandled_events(later, kinds=("mention",))
    assert store.has_unhandled_events(later + timedelta(minutes=4), kinds=("mention",))
    store.quarantine_event(first, "x" * 2000, later)
    (quarantined,) = store.quarantined_events()
    assert len(quarantined.last_error) == 500 and quarantined.attempts == 2


def test_handled_and_quarantined_events_are_no_longer_due(store: Store) -> None:
    got = record(store, mention(1), follow(2))
    store.fail_event(got["n1"], "boom", NOW, NOW + timedelta(seconds=30))
    store.finish_event(got["n2"], None, NOW)
    store.quarantine_event(got["n1"], "boom, three times", NOW)
    later = NOW + timedelta(hours=1)
    assert store.unhandled_events(now=later) == [] and store.unhandled_events() == []
    assert not store.has_unhandled_events(later)
    assert store.next_event_due_at() is None and store.count_unhandled() == 0
    assert store.count_events() == 2  # kept, for the record


def test_a_quarantined_event_is_listed_and_can_be_released(store: Store) -> None:
    got = record(store, follow(1), mention(2))
    for attempt in range(3):
        store.fail_event(got["n2"], f"RuntimeError: attempt {attempt}", NOW, NOW + timedelta(minutes=1))
    store.quarantine_event(got["n2"], "RuntimeError: attempt 2", NOW + timedelta(seconds=5))
    assert store.quarantined_events() == [
        QuarantinedEvent(
            id=got["n2"],
            notification_id="n2",
            kind="mention",
            acct="fan@elsewhere.example",
            attempts=3,
            last_error="RuntimeError: attempt 2",
            quarantined_at=NOW + timedelta(seconds=5),
        )
    ]
    assert not store.release_event(got["n1"])  # not set aside: nothing to release
    assert store.release_event(got["n2"])
    assert store.quarantined_events() == []
    assert ids(store.unhandled_events(now=NOW)) == ["n1", "n2"]  # due at once, no backoff left
    assert store.fail_event(got["n2"], "again", NOW, NOW) == 1  # attempts start over


def test_attempts_belong_to_the_account_whose_event_it_is(store: Store, store_url: str) -> None:
    ours = record(store, mention(1))["n1"]
    other = Store(store_url, owner="shop@example.social")
    try:
        other.record_events([mention(1)], NOW)  # the same notification id, another account
        ((theirs, _),) = other.unhandled_events()
        store.quarantine_event(ours, "boom", NOW)
        other.quarantine_event(ours, "not theirs to set aside", NOW)
        assert [q.id for q in store.quarantined_events()] == [ours]
        assert other.quarantined_events() == [] and ids(other.unhandled_events(now=NOW)) == ["n1"]
        other.quarantine_event(theirs, "boom", NOW)
        assert not store.release_event(theirs) and store.count_unhandled() == 0
        assert other.release_event(theirs) and other.count_unhandled() == 1
    finally:
        other.close()


def test_failing_an_event_that_is_not_there_says_so(store: Store) -> None:
    with pytest.raises(LookupError):
        store.fail_event(12345, "boom", NOW, NOW)


def test_is_anything_due_is_one_indexed_read(store: Store, store_url: str) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("the plan is read from SQLite's EXPLAIN QUERY PLAN")
    record(store, follow(1), command(2))
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    assert store.has_unhandled_events(NOW)
    event.remove(store.engine, "before_cursor_execute", seen)
    ((statement, parameters),) = statements
    assert "LIMIT" in statement
    with store.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    assert any("USING INDEX ix_events_owner_unhandled" in str(row) for row in plan), plan


# --- errors that say what broke -----------------------------------------------------------------


def one_line(error: StoreError) -> str:
    """The message, checked to be what an operator can read: one line, no SQL."""
    message = str(error)
    assert "\n" not in message and "SELECT" not in message and "INSERT" not in message, message
    return message


def open_fails(url: str) -> str:
    with pytest.raises(StoreOpenError) as caught:
        Store.open(url)
    message = one_line(caught.value)
    assert message.startswith("store.url: "), message
    return message


def test_opening_a_good_store_migrates_it(store_url: str) -> None:
    opened = Store.open(store_url)
    try:
        assert opened.count_events() == 0 and opened.quarantined_events() == []
    finally:
        opened.close()


def test_a_file_that_is_no_database_is_one_clear_line(tmp_path: Path) -> None:
    garbage = tmp_path / "frontrow.db"
    garbage.write_bytes(random.Random(7).randbytes(64 * 1024))
    assert "file is not a database" in open_fails(f"sqlite:///{garbage}")
    assert garbage.read_bytes()[:16] != b"SQLite format 3\x00"  # left as it was


def test_a_folder_that_does_not_exist_is_named(tmp_path: Path) -> None:
    message = open_fails(f"sqlite:///{tmp_path / 'nowhere' / 'deeper' / 'frontrow.db'}")
    assert f"{tmp_path / 'nowhere' / 'deeper'} does not exist" in message
    assert not (tmp_path / "nowhere").exists()


def test_a_new_sqlite_store_and_its_folder_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "frontrow.db"
    opened = Store.open(f"sqlite:///{path}")
    try:
        opened.put(PAUSED, True)  # a write: the -wal file exists now
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        for extra in (path.with_name("frontrow.db-wal"), path.with_name("frontrow.db-shm")):
            assert not extra.exists() or extra.stat().st_mode & 0o777 == 0o600
    finally:
        opened.close()


def test_reading_where_there_is_no_store_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "frontrow.db"
    with pytest.raises(NoStore) as caught:
        Store.open(f"sqlite:///{path}", create=False)
    assert str(caught.value) == f"no store at {path}; run `frontrow run` or check `store.url`"
    assert not path.exists()
    path.touch()  # an empty file (no tables) is no store either
    with pytest.raises(NoStore):
        Store.open(f"sqlite:///{path}", create=False)


def test_the_head_revision_is_read_from_the_migration_files() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.store.base import HEAD

    config = Config()
    config.set_main_option("script_location", "bot:migrations")
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_a_store_at_the_newest_revision_is_opened_without_a_migration_run(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(store_url).close()

    def no_migration(self: Store) -> None:
        raise AssertionError("migrated again")

    monkeypatch.setattr(Store, "upgrade", no_migration)
    for migrate in (True, False):
        Store.open(store_url, migrate=migrate, create=False).close()


def test_a_folder_in_place_of_the_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "frontrow.db").mkdir()
    assert f"{tmp_path / 'frontrow.db'} is a folder" in open_fails(f"sqlite:///{tmp_path / 'frontrow.db'}")


def test_a_url_that_is_no_url_or_names_an_unknown_database(tmp_path: Path) -> None:
    assert "not a database URL" in open_fails("frontrow.db")
    assert "unknown kind of database 'nosuchdb'" in open_fails("nosuchdb://localhost/frontrow")


def test_a_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    message = open_fails("postgresql+psycopg://frontrow@127.0.0.1/frontrow")
    assert "driver psycopg is not installed" in message and 'pip install "frontrow[postgres]"' in message


def test_a_server_that_does_not_answer_is_one_line_without_the_password() -> None:
    message = open_fails("postgresql+psycopg://frontrow:s3cret-pw@127.0.0.1:1/frontrow")
    assert "cannot open the store" in message and "s3cret-pw" not in message


def test_a_store_migrated_by_a_newer_version_is_not_touched(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    assert "newer than this version" in open_fails(store_url)
    opened = Store.open(store_url, migrate=False)  # read-only commands may still look
    try:
        assert opened.count_events() == 0
    finally:
        opened.close()


def test_a_store_never_migrated_says_how_to_migrate_it(store_url: str) -> None:
    bare = Store.open(store_url, migrate=False)
    try:
        with pytest.raises(StoreError) as caught:
            bare.count_events()
        assert "frontrow db upgrade" in one_line(caught.value)
    finally:
        bare.close()


def sqlite_store(tmp_path: Path, query: str = "") -> tuple[Store, Path]:
    path = tmp_path / "frontrow.db"
    made = Store(f"sqlite:///{path}")
    made.upgrade()
    made.close()
    return Store(f"sqlite:///file:{path}?{query}&uri=true" if query else f"sqlite:///{path}"), path


def test_a_full_disk_is_a_store_error_and_nothing_half_written(tmp_path: Path) -> None:
    store, path = sqlite_store(tmp_path)
    with store.engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    store.close()
    full = Store(f"sqlite:///{path}")  # SQLite's own SQLITE_FULL, from a page limit instead of a disk

    def no_room(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(full.engine, "connect", no_room)
    try:
        with pytest.raises(StoreError) as caught:
            for n in range(1000):
                full.add_note("7", f"note {n} " + "x" * 4000, NOW)
        assert one_line(caught.value) == "database or disk is full"
        assert len(full.notes("7")) == n  # every note before the failing one, none of it
    finally:
        full.close()


def test_a_read_only_store_is_a_store_error_on_write_and_still_reads(tmp_path: Path) -> None:
    read_only, _ = sqlite_store(tmp_path, "mode=ro")
    try:
        assert read_only.count_events() == 0 and not read_only.is_paused()
        with pytest.raises(StoreError) as caught:
            read_only.set_paused(True)
        assert one_line(caught.value) == "attempt to write a readonly database"
    finally:
        read_only.close()


def test_a_locked_store_is_a_store_error(tmp_path: Path) -> None:
    store, path = sqlite_store(tmp_path)

    def no_waiting(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout = 0")

    event.listen(store.engine, "connect", no_waiting)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        with pytest.raises(StoreError) as caught:
            store.set_paused(True)
        assert one_line(caught.value) == "database is locked"
        writer.execute("ROLLBACK")
        store.set_paused(True)
        assert store.is_paused()
    finally:
        writer.close()
        store.close()


def test_an_engine_that_fails_is_a_store_error_from_any_method(store: Store) -> None:
    record(store, follow(1))

    def failing(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        raise OperationalError(statement, {}, Exception("disk I/O error"))

    event.listen(store.engine, "before_cursor_execute", failing)
    calls = [
        lambda: store.unhandled_events(now=NOW),
        lambda: store.has_unhandled_events(NOW),
        lambda: store.record_events([follow(2)], NOW, cursor="n2"),
        lambda: store.fail_event(1, "boom", NOW, NOW),
        lambda: store.beat(NOW),
        lambda: store.get(HEARTBEAT),
        lambda: store.drafts(),
        lambda: store.person("fan@elsewhere.example"),
        lambda: store.claim("bot@example.social", "https://example.social", "token", NOW),
        lambda: store.upgrade(),
    ]
    for call in calls:
        with pytest.raises(StoreError) as caught:
            call()
        assert one_line(caught.value) == "disk I/O error"
    event.remove(store.engine, "before_cursor_execute", failing)
    assert ids(store.unhandled_events()) == ["n1"]  # the failed record wrote nothing


def test_a_duplicate_key_is_still_an_integrity_error(store: Store) -> None:
    record(store, follow(1))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(EventRow(notification_id="n1", kind="follow", account_id="7", acct="fan", payload="{}"))
        session.commit()
    assert store.record_events([follow(1), follow(2)], NOW) == 1  # the page still records the new one


@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL server (set FRONTROW_TEST_PG_URL)")
def test_a_lost_database_connection_is_a_store_error_and_the_next_call_reconnects(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("a server connection to lose")
    store = Store(store_url)
    store.upgrade()
    with store.engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(StoreError) as caught:
            store.count_events()
        one_line(caught.value)
        assert store.count_events() == 0
    finally:
        admin.dispose()
        store.close()


@pytest.mark.parametrize(
    "written",
    [
        "alice",
        "@alice",
        "Alice@Example.Social",
        "@alice@example.social",
        "https://example.social/@alice",
        "https://example.social/users/alice",
    ],
)
def test_a_local_person_is_found_however_they_are_written(store: Store, written: str) -> None:
    store.remember_person(ALICE, NOW)
    found = store.person(written)
    assert found is not None and found.account_id == ALICE.id


@pytest.mark.parametrize(
    "written",
    [
        "fan@elsewhere.example",
        "@fan@elsewhere.example",
        "https://elsewhere.example/@fan",
        "https://elsewhere.example/users/fan",
        "https://example.social/@fan@elsewhere.example",  # the profile as our instance shows it
        " 7 ",  # the account id
    ],
)
def test_a_remote_person_is_found_however_they_are_written(store: Store, written: str) -> None:
    store.remember_person(FAN, NOW)
    found = store.person(written)
    assert found is not None and found.account_id == FAN.id
    assert store.person("fan") is None  # a local name is another person
