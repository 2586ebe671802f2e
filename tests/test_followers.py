"""Who left, and after what: follower scans against mastodon_mock, told by the ledger, CLI and summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from mastodon_mock.config import RateLimitConfig
from mastodon_mock.testing import MockServer
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from bot.cli import cli
from bot.listening.digest import weekly_summary
from bot.listening.followers import SCAN_REQUESTS, scan_budget
from bot.store import followers as saved
from tests.conftest import Clock, Community, Person, mock_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MockServer]:
    """The instance counts every request per token (a limit no test reaches), so tests can read the count."""
    limits = RateLimitConfig(enabled=True, limit=1_000_000, window_seconds=86_400)
    with MockServer(config=mock_config(tmp_path, ratelimit=limits)) as running:
        yield running


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


def requests_so_far(community: Community, person: Person) -> int:
    """How many requests the server has counted for this person's token (this one included)."""
    answer = httpx.get(
        f"{community.server.base_url}/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {community.token(person)}"},
    )
    return int(answer.headers["X-RateLimit-Limit"]) - int(answer.headers["X-RateLimit-Remaining"])


def test_three_who_leave_after_our_post_are_told_with_that_post(community: Community) -> None:
    clock = Clock()
    fans = [community.person(name, display_name=name.title()) for name in ("ann", "ben", "cy", "dee")]
    for fan in fans:
        fan.api.account_follow(community.bot.id)
    fans[0].api.status_post(f"@bot love it, {fans[0].username}", visibility="public")
    app = community.app(clock=clock)
    app.cycle()  # the follows are recorded; the first snapshot is the baseline
    assert saved.departures(app.store) == []
    community.bot.api.status_post("We are now selling gift cards at the counter", visibility="public")
    for fan in fans[:3]:
        fan.api.account_unfollow(community.bot.id)
    clock.advance(timedelta(hours=6, minutes=1))
    app.cycle()

    gone = saved.departures(app.store)
    assert sorted(d.acct for d in gone) == ["ann", "ben", "cy"]
    assert all(d.cause == "unfollow" and d.days_following == 0 for d in gone)
    assert app.store.interaction_counts(fans[0].id)["theirs"]["unfollow"] == 1
    assert app.store.person("ann").follows_us_since is None  # type: ignore[union-attr]
    assert app.store.person("dee").follows_us_since is not None  # type: ignore[union-attr]

    config = community.write_config()
    who = run(config, "who", "ann")
    assert f"stopped following us on {clock():%Y-%m-%d}, 0 days after following, last engaged" in who
    assert "(mention)" in who
    assert "never engaged with us" in run(config, "who", "ben")
    left = json.loads(run(config, "people", "--left", "--json"))
    assert sorted(d["acct"] for d in left) == ["ann", "ben", "cy"]
    assert "dee" not in run(config, "people", "--left")
    stats = json.loads(run(config, "stats", "--json"))
    assert stats["followers_lost_7d"] == 3
    assert stats["followers_by_week"][-1]["lost"] == 3
    assert "followers per week" in run(config, "stats")

    summary = weekly_summary(app.store, clock(), app.facts.domain)
    assert "Left this week: 3: " in summary
    assert "3 left within 24 h of your post of " in summary
    assert "'We are now selling gift cards at the counter'" in summary
    assert "@" not in summary.replace(f"@{app.facts.domain}", "")


def test_a_scan_waits_for_followers_every_and_a_rejoin_is_no_departure(community: Community) -> None:
    clock = Clock()
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    app = community.app(clock=clock, listen={"followers_every": "1h"})
    app.cycle()
    fan.api.account_unfollow(community.bot.id)
    clock.advance(timedelta(minutes=30))
    app.snapshot_followers()
    assert saved.departures(app.store) == []  # not due yet
    clock.advance(timedelta(minutes=31))
    app.snapshot_followers()
    assert [d.acct for d in saved.departures(app.store)] == ["fan"]
    fan.api.account_follow(community.bot.id)
    clock.advance(timedelta(hours=1))
    app.snapshot_followers()
    assert len(saved.departures(app.store)) == 1
    assert app.store.person("fan").follows_us_since is not None  # type: ignore[union-attr]


def add_followers(community: Community, count: int) -> None:
    """Bulk-load followers into the mock's own database (its seeding takes minutes for thousands)."""
    from mastodon_mock.db.models import Account, Relationship, utcnow

    engine = create_engine(f"sqlite:///{community.tmp / 'instance.sqlite'}")
    with Session(engine) as session:
        bot = session.scalar(select(Account).where(Account.username == "bot"))
        assert bot is not None
        accounts = [
            Account(username=f"f{i}", display_name=f"F{i}", note="", created_at=utcnow(), fields=[])
            for i in range(count)
        ]
        session.add_all(accounts)
        session.flush()
        session.add_all(
            Relationship(source_account_id=a.id, target_account_id=bot.id, following=True) for a in accounts
        )
        session.commit()
    engine.dispose()


def test_a_diff_on_5000_followers_keeps_to_its_request_budget(community: Community) -> None:
    """Counted at the server: one scan costs a request per page (40 on the mock, 80 on Mastodon) plus one,
    never more than SCAN_REQUESTS in five minutes."""
    add_followers(community, 5_000)
    clock = Clock()
    app = community.app(clock=clock)

    def scan() -> list[int]:
        per_step = []
        while True:
            before = requests_so_far(community, community.bot)
            app.snapshot_followers()
            per_step.append(requests_so_far(community, community.bot) - before - 1)
            if saved.open_scan(app.store) is None:
                return per_step
            clock.advance(timedelta(minutes=5))

    first = scan()
    assert sum(first) == scan_budget(5_000, 40)
    assert max(first) <= SCAN_REQUESTS
    mock = community.server.base_url
    for i in range(3):
        leaver = httpx.post(f"{mock}/api/v1/_mock/login", json={"username": f"f{i}"})
        token = leaver.json()["access_token"]
        httpx.post(
            f"{mock}/api/v1/accounts/{community.bot.id}/unfollow",
            headers={"Authorization": f"Bearer {token}"},
        )
    clock.advance(timedelta(hours=6))
    second = scan()
    assert 4_997 // 40 <= sum(second) <= scan_budget(4_997, 40)
    assert max(second) <= SCAN_REQUESTS
    assert sorted(d.acct for d in saved.departures(app.store)) == ["f0", "f1", "f2"]


def test_a_severed_relationships_notification_names_the_servers_whose_departures_are_no_choice(
    store_url: str,
) -> None:
    from bot.model import Account, SeveredRelationships
    from bot.store import Store, utcnow

    store = Store(store_url)
    store.upgrade()
    now = utcnow()
    me = Account(id="1", acct="bot", username="bot")
    store.record_event(
        SeveredRelationships(
            id="n1",
            created_at=now,
            account=me,
            cause="domain_block",
            target_name="Cut.example",
            followers_count=2,
        ),
        now,
    )
    assert saved.severed_domains(store, now - timedelta(days=1)) == {"cut.example"}
    assert saved.severed_domains(store, now + timedelta(seconds=1)) == set()
