"""Mastodon 4.3+: notifications the policy holds back, approvers who do not follow the bot, and a first
run that starts from now with the older history backfilled — against mastodon_mock."""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from mastodon_mock.testing import MockServer
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.cli import cli
from bot.core.render import FILTERED_NOTE
from bot.instance.client import Pacer, ShuttingDown, _api_version
from bot.instance.convert import to_event
from bot.instance.writer import Writer
from bot.service.app import build_app
from bot.service.backfill import HISTORY_SHARE
from bot.store.state import HISTORY_DONE
from bot.text import html_to_text
from tests.conftest import Community, Person, mock_config

FIXTURES = Path(__file__).parent / "fixtures"
# Real Mastodon's defaults (app/models/notification_policy.rb): private mentions and limited accounts
# are filtered. The mock has no policy row until one is written, and then filters without exemptions.
REAL_DEFAULTS = {
    "for_not_following": "accept",
    "for_not_followers": "accept",
    "for_new_accounts": "accept",
    "for_private_mentions": "filter",
    "for_limited_accounts": "filter",
}


def set_policy(community: Community, person: Person, **policy: str) -> None:
    answer = httpx.patch(
        f"{community.server.base_url}/api/v2/notifications/policy",
        json=policy,
        headers={"Authorization": f"Bearer {community.token(person)}"},
    )
    answer.raise_for_status()


def dms_to(person: Person) -> list[str]:
    return [
        html_to_text(n["status"]["content"])
        for n in person.api.notifications(types=["mention"])
        if n["status"] and n["status"]["visibility"] == "direct"
    ]


def requests_to(community: Community, person: Person) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{community.server.base_url}/api/v1/notifications/requests",
        headers={"Authorization": f"Bearer {community.token(person)}"},
    )
    answer.raise_for_status()
    return list(answer.json())


# --- point 1: filtered notifications ------------------------------------------------------------------


def test_a_fans_dm_question_held_back_by_the_policy_is_drafted_and_marked(community: Community) -> None:
    set_policy(community, community.bot, **REAL_DEFAULTS)
    fan = community.person("fan", display_name="Fan")
    fan.api.status_post("@bot do you ship to Norway?", visibility="direct")
    neighbour = community.person("neighbour", display_name="Neighbour")
    neighbour.api.status_post("@bot are you open on Sunday?", visibility="public")
    # The account's own apps do not show it: it waits in the notification requests.
    assert [n["account"]["username"] for n in community.bot.api.notifications()] == ["neighbour"]
    assert len(requests_to(community, community.bot)) == 1

    app = community.app()
    app.cycle()

    drafts = {d.acct: d for d in app.store.drafts()}
    assert set(drafts) == {"fan", "neighbour"}
    blocks = [block for dm in dms_to(community.approver) for block in dm.split("\n\n")]
    fan_block, neighbour_block = (
        next(block for block in blocks if f"Draft #{drafts[name].id} " in block)
        for name in ("fan", "neighbour")
    )
    assert FILTERED_NOTE in fan_block
    assert FILTERED_NOTE not in neighbour_block
    # Never accepted or dismissed for the account: the request is still there for its people to decide.
    assert len(requests_to(community, community.bot)) == 1


def test_on_a_server_before_4_3_notifications_are_read_plainly(tmp_path: Path, store_url: str) -> None:
    with MockServer(config=mock_config(tmp_path, mocked_version="4.2.10")) as server:
        community = Community(server, tmp_path, store_url)
        fan = community.person("fan")
        fan.api.status_post("@bot are you open on Sunday?")
        app = community.app()
        assert app.facts.api_version < 2 and not app.reader.include_filtered
        queries: list[str] = []

        def seen(response: requests.Response, **_: Any) -> None:
            if "/notifications" in (response.request.url or ""):
                queries.append(response.request.url or "")

        app.api.session.hooks["response"].append(seen)
        app.cycle()
        assert [d.acct for d in app.store.drafts()] == ["fan"]
        assert queries and not any("include_filtered" in q or "policy" in q for q in queries)


def test_the_instance_version_says_whether_notifications_are_filtered() -> None:
    real = json.loads((FIXTURES / "instance_v2.json").read_text())
    assert _api_version(real) == real["api_versions"]["mastodon"] >= 2
    assert _api_version({"version": "4.2.8"}) == 0  # before 4.3 there was no api_versions
    assert _api_version({"api_versions": {"mastodon": "x"}}) == 0


def test_mastodons_own_filtered_flag_marks_the_event() -> None:
    # Mastodon's REST::NotificationSerializer: `attribute :filtered, if: :filtered?` (4.3+).
    dm = json.loads((FIXTURES / "notification_mention_direct.json").read_text())
    marked = copy.deepcopy(dm) | {"filtered": True}
    assert to_event(marked, self_id="0", approver_ids=frozenset()).filtered  # type: ignore[union-attr]
    assert not to_event(dm, self_id="0", approver_ids=frozenset()).filtered  # type: ignore[union-attr]


@pytest.mark.parametrize("fixture", ["notification_mention_direct.json", "notification_quote.json"])
def test_every_event_kind_carries_mastodons_filtered_flag(fixture: str) -> None:
    marked = json.loads((FIXTURES / fixture).read_text()) | {"filtered": True}
    event = to_event(marked, self_id="0", approver_ids=frozenset())
    assert event is not None and event.kind != "other" and event.filtered


# --- point 2: approvers who do not follow the bot ------------------------------------------------------


def test_an_approver_who_does_not_follow_the_bot_is_warned_once_in_the_log_and_the_first_dm(
    community: Community, caplog: pytest.LogCaptureFixture
) -> None:
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    with caplog.at_level(logging.WARNING, logger="bot.service.app"):
        app = community.app()
        app.cycle()
    warnings = [r.getMessage() for r in caplog.records if "does not follow" in r.getMessage()]
    assert len(warnings) == 1 and "alice" in warnings[0]
    (first,) = dms_to(community.approver)
    assert "you do not follow bot@" in first and "Draft #" in first
    assert "@bot" not in first.replace("@alice", "")  # named without @: the DM notifies nobody else

    community.person("fan2").api.account_follow(community.bot.id)
    app.cycle()
    assert len(dms_to(community.approver)) == 2
    assert not any("you do not follow" in dm for dm in dms_to(community.approver)[:1])


def test_an_approver_who_follows_the_bot_gets_no_warning(community: Community) -> None:
    community.approver.api.account_follow(community.bot.id)
    fan = community.person("fan")
    fan.api.status_post("@bot are you open on Sunday?")
    app = community.app()
    app.cycle()
    assert app.unfollowing == {}
    assert not any("you do not follow" in dm for dm in dms_to(community.approver))


# --- point 6: a first run starts from now ----------------------------------------------------------------


@pytest.fixture
def counted(community: Community) -> Iterator[dict[str, Any]]:
    """A do-nothing fault rule on the notification endpoints: the server counts what it matched."""
    start = 10**9
    rule = httpx.post(
        f"{community.server.base_url}/api/v1/_mock/faults",
        json={
            "match": {"path_regex": r"^/api/v[12]/notifications"},
            "effect": {"type": "latency"},
            "count": start,
        },
    ).json()

    def so_far() -> int:
        rules = httpx.get(f"{community.server.base_url}/api/v1/_mock/faults").json()
        return start - next(r["remaining"] for r in rules if r["id"] == rule["id"])

    yield {"so_far": so_far}


def seed_history(community: Community, count: int) -> None:
    """`count` follow notifications of the last hour, written into the mock's own database (its API would
    take minutes): recent enough that drafting any of them would show."""
    from mastodon_mock.db.models import Account, Notification
    from mastodon_mock.db.models import utcnow as mock_now

    engine = create_engine(f"sqlite:///{community.tmp / 'instance.sqlite'}")
    with Session(engine) as session:
        bot = session.scalar(select(Account).where(Account.username == "bot"))
        assert bot is not None
        accounts = [
            Account(username=f"old{i}", display_name=f"Old {i}", note="", created_at=mock_now(), fields=[])
            for i in range(count)
        ]
        session.add_all(accounts)
        session.flush()
        an_hour_ago = mock_now() - timedelta(hours=1)
        session.add_all(
            Notification(account_id=bot.id, from_account_id=a.id, type="follow", created_at=an_hour_ago)
            for a in accounts
        )
        session.commit()
    engine.dispose()


def test_a_first_run_drafts_the_newest_first_and_backfills_5000_old_notifications_without_drafting(
    community: Community, counted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_policy(community, community.bot, **REAL_DEFAULTS)
    # An approver's old DM, in the history: never run as a command against this store's drafts.
    community.approver.api.status_post("@bot ok 1", visibility="direct")
    seed_history(community, 5_000)
    fan = community.person("fan")
    fan.api.status_post("@bot is the shop open today?")
    app = build_app(community.settings(limits={"spike_threshold": 10_000}))
    # The backfill's share of a pacer no test waits on (its 20% bound is tested on the pacer itself).
    app.api.session.pacer = Pacer(limit=100_000)
    before = counted["so_far"]()
    at_first_dm: list[int] = []
    send = Writer.dm

    def dm(writer: Writer, *args: Any, **kwargs: Any) -> Any:
        at_first_dm.append(counted["so_far"]() - before)
        return send(writer, *args, **kwargs)

    monkeypatch.setattr(Writer, "dm", dm)
    app.start()

    app.cycle()

    # The policy, the newest page and the same page without the filtered ones (the mock does not mark).
    assert at_first_dm and at_first_dm[0] <= 3
    assert any("is the shop open today?" in dm for dm in dms_to(community.approver))
    newest_page = {"fan"} | {f"old{i}" for i in range(5_000 - 39, 5_000)}  # the mock serves 40 a page
    assert {d.acct for d in app.store.drafts()} == newest_page
    assert app.store.get(HISTORY_DONE) is None  # still backfilling

    while app.history.due():
        app.backfill_history(50)
    progress = app.store.history_progress()
    assert progress is not None and progress.done_at is not None
    assert progress.recorded == 5_002 - 40  # all but the first run's newest page (the mock serves 40)
    assert app.store.count_events() == 5_002  # 5,000 follows, the old DM, the new question
    app.work()
    drafts = app.store.drafts()
    assert {d.acct for d in drafts} == newest_page and {d.state for d in drafts} == {"pending"}
    assert app.store.count_unhandled() == 0
    shown = CliRunner().invoke(cli, ["--config", str(community.write_config()), "stats"])
    assert "Older history: complete, 4962 notifications recorded" in shown.stdout
    as_json = CliRunner().invoke(cli, ["--config", str(community.write_config()), "stats", "--json"])
    assert json.loads(as_json.stdout)["history"]["recorded"] == 4962


def test_the_backfill_share_of_the_pacer_is_a_fifth_of_the_rate_limit() -> None:
    stop = threading.Event()
    whole = Pacer(limit=300, window=300.0, stop=stop, clock=lambda: 0.0)
    history = whole.share(HISTORY_SHARE)
    for _ in range(60):
        history.wait()
    stop.set()  # from here a request that would have to wait raises instead
    with pytest.raises(ShuttingDown):
        history.wait()
    for _ in range(240):  # the foreground keeps the rest of the window
        whole.wait()
    with pytest.raises(ShuttingDown):
        whole.wait()
