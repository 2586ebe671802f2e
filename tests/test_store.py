"""The store on its own: typed small state, event attempts and quarantine, and errors that say what broke."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.store import Store
from bot.store.state import (
    CURSOR,
    EXPIRED_UNTOLD,
    HEARTBEAT,
    KEYS,
    LAST_DRAFT_DM,
    OUR_POSTS_BACKFILL,
    OUR_POSTS_CURSOR,
    OUR_POSTS_SYNCED,
    PAUSED,
    SPIKE_LAST_ACTIVE,
    SPIKE_NOTICE,
    SPIKE_SINCE,
    STARTED_AT,
    UNHEALTHY,
    Key,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


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
    for name, text in written_before.items():
        store.set_state(name, text)
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
