"""The service under faults: nothing blocks the approvers' commands, nothing stops it, idle is free."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.config import load_settings
from bot.model import Account, Follow, NewDraft
from bot.service.app import App, build_app
from bot.service.serve import ConfigWatch, Service, TokenRevoked
from bot.store import utcnow
from bot.store.state import UNHEALTHY
from tests.conftest import Clock, Community, wait_for
from tests.test_budget import dms_to
from tests.test_cli import frontrow


class Running(Service):
    """A Service run in a thread, remembering what ended it."""

    ended: list[BaseException]
    thread: threading.Thread


@contextmanager
def service(app: App, watch: ConfigWatch | None = None, **options: Any) -> Iterator[Running]:
    """`frontrow run` in a thread; stopped as SIGTERM would stop it. Re-raises what ended it."""
    running = Running(app, watch, **options)
    running.ended = []

    def run() -> None:
        try:
            running.run()
        except BaseException as exc:
            running.ended.append(exc)

    running.thread = threading.Thread(target=run, daemon=True)
    running.thread.start()
    wait_for(lambda: app.store.last_beat() is not None or running.ended, what="the service to start")
    try:
        yield running
    finally:
        app.stopping.set()
        running.thread.join(timeout=10)
        assert not running.thread.is_alive()
    if running.ended:
        raise running.ended[0]


def test_an_event_whose_drafting_raises_does_not_block_a_later_pause(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    community.person("asker").api.status_post("@bot what time do you open?")
    app = community.app()
    calls: list[int] = []

    def broken(event_id: int, *args: Any, **kwargs: Any) -> None:
        calls.append(event_id)
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(app.drafter, "draft_for", broken)
    app.cycle()  # the question fails once and waits for its retry
    community.approver.api.status_post("@bot pause", visibility="direct")
    app.cycle()

    assert app.store.is_paused()
    assert any(
        dm.endswith('Paused: events are recorded, nothing is drafted or posted until "resume".')
        for dm in dms_to(community.approver, community.bot)
    )
    assert len(calls) == 1  # not retried before its time


def test_an_event_that_keeps_failing_is_quarantined_and_the_approvers_are_told(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    community.person("asker").api.status_post("@bot what time do you open?")
    clock = Clock()
    app = community.app(clock=clock)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in a rule")

    monkeypatch.setattr(app.drafter, "draft_for", broken)
    for _ in range(3):
        app.cycle()
        clock.advance(timedelta(hours=1))
    (quarantined,) = app.store.quarantined_events()
    assert quarantined.kind == "mention" and quarantined.attempts == 3
    assert "RuntimeError: a bug in a rule" in quarantined.last_error
    assert any("Set aside after 3 failures" in dm for dm in dms_to(community.approver, community.bot))
    app.cycle()  # never tried again
    assert app.store.unhandled_events(now=clock()) == []

    config = str(community.write_config())
    listed = json.loads(frontrow("--config", config, "events", "--quarantined", "--json").stdout)
    assert [(e["id"], e["kind"], e["attempts"]) for e in listed] == [(quarantined.id, "mention", 3)]
    assert frontrow("--config", config, "events", "--retry", str(quarantined.id)).returncode == 0
    assert app.store.quarantined_events() == [] and app.store.count_unhandled() == 1
    assert frontrow("--config", config, "events", "--retry", str(quarantined.id)).returncode == 1


def test_a_hanging_rule_regex_does_not_block_the_approvers(community: Community) -> None:
    rule = {"name": "greedy", "on": "mention", "regex": "(a|aa)+$", "templates": ["Hello {name}"]}
    community.person("hums").api.status_post("@bot " + "a" * 60 + "!")
    app = community.app(rules=[rule])
    community.approver.api.status_post("@bot pause", visibility="direct")
    app.cycle()
    assert app.store.is_paused()
    # And once resumed, the pattern runs in linear time: the event is handled, not stuck.
    community.approver.api.status_post("@bot resume", visibility="direct")
    app.cycle()
    assert app.store.count_unhandled() == 0


def test_a_paused_backlog_of_620_answers_resume_in_one_round_then_drafts(community: Community) -> None:
    app = community.app(limits={"spike_threshold": 1000, "max_drafts_per_day": 1000})
    app.store.set_paused(True)
    now = utcnow()
    follows = [
        Follow(
            id=f"backlog-{n}", created_at=now, account=Account(id=f"9{n:04d}", acct=f"f{n}", username=f"f{n}")
        )
        for n in range(620)
    ]
    app.store.record_events(follows, now)
    community.approver.api.status_post("@bot resume", visibility="direct")

    app.cycle()

    assert not app.store.is_paused()
    assert any(dm.endswith("Resumed.") for dm in dms_to(community.approver, community.bot))
    assert len(app.store.drafts()) == 620
    assert app.store.count_unhandled() == 0


def test_list_with_200_pending_drafts_stays_within_the_hourly_dm_cap(community: Community) -> None:
    app = community.app(approval={"max_dms_per_hour": 12})
    now = utcnow()
    ids = []
    for n in range(200):
        draft = NewDraft(
            rule="thank-new-followers",
            account_id=f"9{n:04d}",
            acct=f"fan{n}@example.social",
            display_name=f"Fan {n}",
            text=f"Thanks for the follow, Fan {n}! Glad you're here.",
            template="",
            visibility="unlisted",
        )
        ids.append(app.store.save_draft(draft, now))
    app.store.mark_announced(ids, None, now, shown_at=now)  # as if announced earlier: only `list` speaks now
    app.unfollowing.clear()  # told earlier that alice does not follow the bot (tests/test_filtered.py)
    community.approver.api.status_post("@bot list", visibility="direct")
    app.cycle()

    dms = dms_to(community.approver, community.bot)
    assert 1 <= len(dms) <= 3
    assert 'send "list 2"' in dms[-1]
    assert app.store.count_dms_since(now - timedelta(hours=1)) <= 12
    community.approver.api.status_post("@bot list 2", visibility="direct")
    app.cycle()
    assert "Draft #" in dms_to(community.approver, community.bot)[-1]


def test_a_reload_naming_an_unknown_approver_is_refused_and_the_service_goes_on(community: Community) -> None:
    path = community.write_config(listener={"streaming": False, "poll_interval": "1h"})
    app = build_app(load_settings(path, {}))
    watch = ConfigWatch(path, lambda p: load_settings(p, {}))
    with service(app, watch) as running:
        path.write_text(path.read_text().replace('approvers = ["alice"]', 'approvers = ["alcie"]'))
        watch.requested.set()
        wait_for(
            lambda: any("alcie was not found" in dm for dm in dms_to(community.approver, community.bot)),
            what="the refusal DM",
        )
        assert [a.acct for a in app.approvers.values()] == ["alice"]
        community.approver.api.status_post("@bot pause", visibility="direct")
        running.inbox.put(("poll", None))
        running.wake.set()
        wait_for(app.store.is_paused, what="the pause, after the refused reload")


def test_a_reload_applies_the_poll_interval_and_the_digest_time(community: Community) -> None:
    path = community.write_config(listener={"streaming": False, "poll_interval": "1h"})
    app = build_app(load_settings(path, {}))
    watch = ConfigWatch(path, lambda p: load_settings(p, {}))
    with service(app, watch) as running:
        jobs = running.scheduler._scheduler  # the APScheduler underneath, to read the triggers
        assert jobs.get_job("catch-up poll").trigger.interval == timedelta(hours=1)
        path.write_text(path.read_text().replace('poll_interval = "1h"', 'poll_interval = "2m"'))
        watch.requested.set()
        wait_for(
            lambda: jobs.get_job("catch-up poll").trigger.interval == timedelta(minutes=2),
            what="the poll rescheduled",
        )


def revoke(community: Community) -> None:
    token = community.token(community.bot)
    httpx.post(f"{community.server.base_url}/oauth/revoke", data={"token": token}).raise_for_status()


def test_a_revoked_token_fails_health_and_ends_the_service_after_a_bounded_time(community: Community) -> None:
    config = community.write_config(listener={"streaming": False, "poll_interval": "1h"})
    app = build_app(load_settings(config, {}))
    with (
        pytest.raises(TokenRevoked, match=r"mastodon\.access_token"),
        service(app, auth_grace=1.0, auth_recheck=0.2) as running,
    ):
        revoke(community)
        running.inbox.put(("poll", None))
        running.wake.set()
        wait_for(lambda: app.store.get(UNHEALTHY), what="the problem recorded")
        result = frontrow("--config", str(config), "health")
        assert result.returncode == 1 and "refused the access token" in result.stderr
        # The grace period is over: the service ends by itself (the CLI turns this into exit 2).
        wait_for(lambda: not running.thread.is_alive(), what="the service to end")


def test_a_full_disk_loses_nothing_and_the_service_recovers(community: Community) -> None:
    app = community.app(listener={"streaming": True, "poll_interval": "1h"})
    full = threading.Event()

    def disk_full(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if full.is_set() and statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise OperationalError(statement, {}, Exception("database or disk is full"))

    event.listen(app.store.engine, "before_cursor_execute", disk_full)
    with service(app, heartbeat_every=0.2) as running:
        full.set()
        community.person("asker").api.status_post("@bot do you deliver?")
        wait_for(lambda: running._store_down, what="the store failing")
        beat = app.store.last_beat()  # reads still work: only writes fail
        full.clear()
        wait_for(lambda: any(d.rule == "answer-questions" for d in app.store.drafts()), what="the draft")
        wait_for(lambda: app.store.last_beat() != beat, what="the heartbeat again")


def test_an_idle_service_runs_no_sql_but_the_heartbeat_and_sends_no_request(community: Community) -> None:
    app = community.app(listener={"streaming": True, "poll_interval": "1h"})
    statements: list[str] = []
    requests: list[str] = []
    test_thread = threading.get_ident()

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() != test_thread:  # the test's own reads below do not count
            statements.append(" ".join(statement.split()))

    with service(app, heartbeat_every=0.5) as running:
        stream = app.stream
        assert stream is not None
        # The stream's first connection counts as a reconnect (one catch-up): wait until it is behind us.
        wait_for(lambda: stream.inbox._connection is not None and running.inbox.empty(), what="the stream")
        beat = app.store.last_beat()
        wait_for(lambda: app.store.last_beat() != beat and running._due is None, what="the rounds to finish")
        event.listen(app.store.engine, "before_cursor_execute", seen)

        def heard(response: Any, **_: Any) -> None:
            requests.append(response.url)

        app.api.session.hooks["response"].append(heard)
        for _ in range(4):  # two seconds of idling, told by the heartbeat
            beat = app.store.last_beat()
            wait_for(lambda beat=beat: app.store.last_beat() != beat, what="a heartbeat")
        event.remove(app.store.engine, "before_cursor_execute", seen)
        app.api.session.hooks["response"].remove(heard)  # the stop (closing the stream) is no idling
    assert statements, "the heartbeat is written"
    # Each beat: the heartbeat and the renewal of the service's lease, one UPDATE each.
    assert all(s.startswith("UPDATE state SET value=") for s in statements), statements
    assert len(statements) <= 12
    assert requests == []


def test_a_store_that_is_no_database_is_one_clear_line_and_exit_2(
    tmp_path: Path, community: Community
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database, just some bytes " * 100)
    config = community.write_config(store={"url": f"sqlite:///{broken}"})
    for command in (["drafts"], ["run", "--once"]):
        result = frontrow("--config", str(config), *command)
        assert result.returncode == 2, result.stderr
        assert "store.url" in result.stderr and "Traceback" not in result.stderr


def test_a_draft_dm_reaches_every_approver_even_when_their_mentions_fill_half_the_limit(
    community: Community,
) -> None:
    approvers = [community.person(f"approver_with_a_rather_long_name_{n}") for n in range(9)]
    community.person("asker").api.status_post("@bot are you open on Sundays?")
    app = community.app(approval={"approvers": [a.username for a in approvers]})
    app.cycle()
    for approver in approvers:
        dms = dms_to(approver, community.bot)
        assert any("Draft #" in dm for dm in dms), approver.username
        assert all(len(dm) <= 500 for dm in dms)
