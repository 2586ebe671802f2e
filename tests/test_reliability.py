"""Reliability against mastodon_mock's fault injection: nothing lost, nothing posted twice, whatever fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from mastodon_mock.testing import MockServer

from bot.service.app import build_app
from bot.service.outbox import idempotency_key
from bot.store import Store
from tests.conftest import Clock, Community, mock_config, wait_for
from tests.test_approval_loop import public_posts
from tests.test_budget import running


def fault(server: MockServer, **rule: object) -> str:
    response = httpx.post(f"{server.base_url}/api/v1/_mock/faults", json=rule)
    response.raise_for_status()
    return str(response.json()["id"])


def clear_faults(server: MockServer) -> None:
    httpx.delete(f"{server.base_url}/api/v1/_mock/faults").raise_for_status()


def statuses_posted_for(community: Community, draft_ids: list[int], app_store: Store) -> dict[int, int]:
    """How many of the bot's public posts each draft produced (by its text)."""
    posts = public_posts(community)
    counts = {}
    for draft_id in draft_ids:
        draft = app_store.draft(draft_id)
        assert draft is not None
        counts[draft_id] = sum(1 for p in posts if draft.text.split("!")[0] in p["content"])
    return counts


def approved_thanks(community: Community, followers: int) -> tuple[object, list[int]]:
    for number in range(followers):
        community.person(f"fan{number}", display_name=f"Fan{number}").api.account_follow(community.bot.id)
    app = community.app()
    app.cycle()
    ids = [d.id for d in app.store.pending_drafts()]
    community.approver.api.status_post("@bot ok " + " ".join(map(str, ids)), visibility="direct")
    return app, ids


def test_502s_on_posting_are_retried_and_each_draft_is_posted_once(community: Community) -> None:
    app, _ = approved_thanks(community, 3)
    fault(
        community.server,
        match={"methods": ["POST"], "path": "/api/v1/statuses"},
        effect={"type": "status", "status": 502},
        count=3,
    )
    app.cycle()
    app.cycle()
    assert {d.state for d in app.store.drafts()} == {"sent"}
    assert len(public_posts(community)) == 3
    assert sorted(str(p["id"]) for p in public_posts(community)) == sorted(
        d.status_id for d in app.store.drafts()
    )


def test_a_429_with_a_reset_time_waits_then_posts(community: Community) -> None:
    app, ids = approved_thanks(community, 1)
    reset = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    fault(
        community.server,
        match={"methods": ["POST"], "path": "/api/v1/statuses"},
        effect={
            "type": "status",
            "status": 429,
            "headers": {"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"},
        },
        count=1,
    )
    started = time.monotonic()
    app.cycle()
    assert time.monotonic() - started >= 1.0  # it waited for the reset instead of hammering
    assert app.store.draft(ids[0]).state == "sent"
    assert len(public_posts(community)) == 1


def test_a_post_that_reached_the_server_unheard_is_not_made_twice(community: Community) -> None:
    fan = community.person("fan")
    question = fan.api.status_post("@bot how do I join?")
    app = community.app()
    app.cycle()
    (draft,) = app.store.pending_drafts()
    # The post reached the server, but the service never heard back.
    community.bot.api.status_post(
        f"@fan {draft.text}",
        in_reply_to_id=question["id"],
        visibility="public",
        idempotency_key=idempotency_key(app.outbox.store_id, draft.id),
    )
    community.approver.api.status_post(f"@bot ok {draft.id}", visibility="direct")
    app.cycle()
    replies = [p for p in public_posts(community) if str(p["in_reply_to_id"]) == str(question["id"])]
    assert len(replies) == 1
    assert app.store.draft(draft.id).status_id == str(replies[0]["id"])


def frontrow(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sigkill_while_posting_then_restart_posts_each_draft_once(community: Community) -> None:
    app, ids = approved_thanks(community, 2)
    config = community.write_config()
    fault(
        community.server,
        match={"methods": ["POST"], "path": "/api/v1/statuses"},
        effect={"type": "latency", "delay_ms": 1500},
    )
    process = frontrow(config, "run", "--once")
    try:
        wait_for(lambda: app.store.drafts("sending"), timeout=30, what="a draft in state sending")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
    clear_faults(community.server)
    restarted = frontrow(config, "run", "--once")
    assert restarted.wait(timeout=60) == 0, restarted.stderr.read() if restarted.stderr else ""
    assert {d.state for d in app.store.drafts()} == {"sent"}
    assert statuses_posted_for(community, ids, app.store) == dict.fromkeys(ids, 1)


def test_sigkill_during_catch_up_then_restart_drafts_each_question_once(community: Community) -> None:
    store = community.app().store  # signed in: the store reads the bot's rows, as the service writes them
    # The service ran before the backlog came (a first run would start from the newest page).
    assert frontrow(community.write_config(), "run", "--once").wait(timeout=60) == 0
    for number in range(30):
        asker = community.person(f"asker{number}")
        asker.api.account_follow(community.bot.id)
        asker.api.status_post(f"@bot question number {number}?")
    config = community.write_config()
    fault(
        community.server,
        match={"methods": ["GET"], "path": "/api/v1/notifications"},
        effect={"type": "latency", "delay_ms": 700},
    )
    process = frontrow(config, "run", "--once")
    try:
        # The mock serves 40 a page: kill while the second page is on its way.
        wait_for(lambda: store.count_events() >= 40, timeout=30, what="the first page")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        process.kill()
    clear_faults(community.server)
    restarted = frontrow(config, "run", "--once")
    assert restarted.wait(timeout=60) == 0
    answers = [d for d in store.drafts() if d.rule == "answer-questions"]
    thanks = [d for d in store.drafts() if d.rule == "thank-new-followers"]
    assert len(answers) == 30 and len({d.in_reply_to_id for d in answers}) == 30
    assert len(thanks) == 30 and len({d.account_id for d in thanks}) == 30


def test_notifications_missed_while_the_stream_was_cut_are_caught_up(community: Community) -> None:
    with running(community, Clock()) as app:
        assert app.stream is not None
        wait_for(
            lambda: app.stream.handle is not None and app.stream.handle.is_receiving(), what="the stream"
        )
        # Cut the stream and keep it down while notifications arrive.
        stream_fault = fault(
            community.server,
            match={"methods": ["GET"], "path_regex": "^/api/v1/streaming"},
            effect={"type": "status", "status": 502},
        )
        app.stream.handle.connection.close()
        wait_for(lambda: not app.stream.handle.is_receiving(), what="the stream to drop")
        for number in range(5):
            community.person(f"late{number}").api.status_post(f"@bot did I miss it, {number}?")
        httpx.delete(f"{community.server.base_url}/api/v1/_mock/faults/{stream_fault}").raise_for_status()
        wait_for(lambda: len(app.store.drafts()) == 5, timeout=30, what="the catch-up after reconnecting")


def test_sigterm_exits_cleanly_with_nothing_left_sending(community: Community) -> None:
    app, _ = approved_thanks(community, 2)
    config = community.write_config(listener={"streaming": True})
    process = frontrow(config, "run")
    try:
        wait_for(lambda: app.store.last_beat() is not None, timeout=30, what="the service to beat")
        wait_for(lambda: len(app.store.drafts("sent")) == 2, timeout=30, what="the approved drafts")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        process.kill()
    assert app.store.drafts("sending") == []


def test_a_rate_limited_instance_gets_no_429_and_loses_nothing(tmp_path: Path, store_url: str) -> None:
    limited = mock_config(tmp_path, ratelimit={"enabled": True, "limit": 30, "window_seconds": 6})
    with MockServer(config=limited) as server:
        community = Community(server, tmp_path, store_url)
        app = build_app(community.settings())
        app.start()
        app.catch_up()  # the service ran before the talkers came (a first run starts from the newest page)
        talkers = [community.person(f"talker{n}") for n in range(20)]
        for talker in talkers:
            talker.api.account_follow(community.bot.id)
            for number in range(9):
                talker.api.status_post(f"@bot hello number {number}")
        app.cycle()
        ids = [d.id for d in app.store.pending_drafts()]
        assert len(ids) == 20
        community.approver.api.status_post("@bot ok " + " ".join(map(str, ids)), visibility="direct")
        app.cycle()
        pacer = app.api.session.pacer
        assert pacer.throttled == 0
        assert len(app.store.drafts("sent")) == 20
        assert app.store.count_events() == 20 + 180 + 1  # follows, mentions, and the approver's "ok"


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_service_within_2s_saying_so(community: Community, sig: signal.Signals) -> None:
    """Docker's stop waits 10 s before SIGKILL: the service must be gone well before, streaming or not."""
    app = community.app()
    config = community.write_config(listener={"streaming": True})
    process = frontrow(config, "run")
    try:
        wait_for(lambda: app.store.last_beat() is not None, timeout=30, what="the service to beat")
        process.send_signal(sig)
        process.wait(timeout=2)  # the deadline: TimeoutExpired fails the test
        assert process.returncode == 0
    finally:
        process.kill()
    assert process.stderr is not None
    said = process.stderr.read()
    assert "stopping…" in said and "stopped" in said and "Traceback" not in said
