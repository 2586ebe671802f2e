"""`frontrow events`: the events the service set aside, as a table or JSON, and `--retry` putting one back."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.model import Account, Follow
from bot.service.app import open_store
from bot.store import Store, utcnow
from tests.conftest import Community
from tests.test_cli import frontrow


def set_aside(store: Store, notification_id: str, acct: str) -> int:
    """Record a follow, fail it once, then quarantine it as the dispatcher would; returns its event id."""
    now = utcnow()
    account = Account(id=f"acct-{notification_id}", acct=acct, username=acct.split("@")[0])
    assert store.record_event(Follow(id=notification_id, created_at=now, account=account), now)
    event_id, _ = next((i, e) for i, e in store.unhandled_events(now=now) if e.id == notification_id)
    store.fail_event(event_id, "RuntimeError: x", now, lambda attempts: timedelta(seconds=attempts))
    store.quarantine_event(event_id, "RuntimeError: x", now)
    return event_id


def test_events_lists_what_was_set_aside_and_retry_puts_it_back(community: Community) -> None:
    config = str(community.write_config())
    assert frontrow("--config", config, "db", "upgrade").returncode == 0  # an empty store
    empty = frontrow("--config", config, "events")
    assert empty.returncode == 0, empty.stderr
    assert "Nothing set aside" in empty.stdout
    assert json.loads(frontrow("--config", config, "events", "--json").stdout) == []

    app = community.app()  # the store as the service opens it, so the rows carry this account's owner
    try:
        event_id = set_aside(app.store, "n-900", "fan@elsewhere.example")
    finally:
        app.store.close()

    shown = frontrow("--config", config, "events", "--quarantined")
    assert shown.returncode == 0, shown.stderr
    assert "n-900" in shown.stdout and "fan@elsewhere.example" in shown.stdout
    assert "RuntimeError: x" in shown.stdout and "follow" in shown.stdout
    assert frontrow("--config", config, "events").stdout == shown.stdout  # --quarantined is the default

    listed = frontrow("--config", config, "events", "--json")
    assert listed.returncode == 0, listed.stderr
    [event] = json.loads(listed.stdout)
    assert set(event) == {
        "id",
        "notification_id",
        "kind",
        "acct",
        "attempts",
        "last_error",
        "quarantined_at",
    }
    assert event["id"] == event_id and event["notification_id"] == "n-900"
    assert event["kind"] == "follow" and event["acct"] == "fan@elsewhere.example"
    assert event["attempts"] == 1 and event["last_error"] == "RuntimeError: x"
    assert event["quarantined_at"].startswith(str(utcnow().year))

    retried = frontrow("--config", config, "events", "--retry", str(event_id))
    assert retried.returncode == 0, retried.stderr
    assert f"#{event_id}" in retried.stdout and "back in the queue" in retried.stdout
    assert "Nothing set aside" in frontrow("--config", config, "events").stdout

    store = open_store(community.settings())  # offline, as the commands open it
    try:
        assert [e.id for _, e in store.unhandled_events()] == ["n-900"]  # due again, with a clean slate
    finally:
        store.close()

    again = frontrow("--config", config, "events", "--retry", str(event_id))
    assert again.returncode == 1
    assert again.stderr.strip() == f"#{event_id}: no such event set aside" and again.stdout == ""


def test_retry_goes_alone(community: Community) -> None:
    config = str(community.write_config())
    both = frontrow("--config", config, "events", "--retry", "1", "--json")
    assert both.returncode == 2 and "--retry" in both.stderr
    assert frontrow("--config", config, "events", "--retry", "x").returncode == 2
