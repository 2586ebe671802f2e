"""The ledger: who engaged how (both directions), people rankings, stats and the link-love ratio."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from bot.cli import cli
from bot.instance.reader import Reader
from bot.listening.digest import sync_our_posts, weekly_summary
from bot.model import Account, Favourite, Follow, Mention, NewDraft, Reblog, Status
from bot.model import Event as BotEvent
from bot.store import Store, ledger, utcnow
from tests.conftest import Community


def run_cli(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


# --- end to end against mastodon_mock --------------------------------------------------------------


def test_follower_engagement_in_who_and_people_owed(community: Community) -> None:
    ours = community.bot.api.status_post("Spring meetup notes are up", visibility="public")
    fan = community.person("fan", display_name="Fan")
    fan.api.account_follow(community.bot.id)
    fan.api.status_post("@bot loved the meetup")
    fan.api.status_post("@bot the notes helped a lot")
    fan.api.status_reblog(ours["id"])
    fan.api.status_favourite(ours["id"])
    once = community.person("once", display_name="Once [/x]")  # "[/x]" is rich markup: shown, not parsed
    once.api.status_favourite(ours["id"])

    app = community.app()
    app.cycle()
    config = str(community.write_config())

    who = json.loads(run_cli("--config", config, "who", "fan", "--json").stdout)
    assert who["follows_us"] is True and who["follows_us_since"]
    assert who["theirs"] == {
        "follow": 1,
        "follow_request": 0,
        "mention": 2,
        "reply": 0,
        "boost": 1,
        "favourite": 1,
    }
    assert sum(who["ours"].values()) == 0

    owed = json.loads(run_cli("--config", config, "people", "--owed", "--json").stdout)
    assert [p["acct"] for p in owed] == ["fan"]  # "once" engaged only once: not owed yet
    assert owed[0] == {
        "rank": 1,
        "display_name": "Fan",
        "acct": "fan",
        "score": 10.0,
        "theirs_total": 5,
        "ours_total": 0,
        "followers_count": owed[0]["followers_count"],
        "follows_us": True,
    }

    everyone = json.loads(run_cli("--config", config, "people", "--json").stdout)
    assert [p["acct"] for p in everyone] == ["fan", "once"]
    table = run_cli("--config", config, "people", "--owed").stdout
    assert "fan" in table and "once" not in table
    assert "Once [/x]" in run_cli("--config", config, "people").stdout
    assert run_cli("--config", config, "people", "--connectors").exit_code == 0
    both = CliRunner().invoke(cli, ["--config", config, "people", "--owed", "--connectors"])
    assert both.exit_code == 2 and "choose one" in both.stderr


def test_link_love_ratio_from_our_posts(community: Community) -> None:
    fan = community.person("fan", display_name="Fan")
    theirs = fan.api.status_post("A thing worth sharing", visibility="public")
    bot = community.bot.api
    first = bot.status_post("Original one", visibility="public")
    bot.status_post("Original two", visibility="unlisted")
    bot.status_post("Continuing my own thread", in_reply_to_id=first["id"], visibility="public")
    bot.status_post("Followers only", visibility="private")  # not public: not counted
    bot.status_post("@alice a draft DM", visibility="direct")  # approval traffic: not counted
    bot.status_reblog(theirs["id"])
    bot.status_post("@fan good point", in_reply_to_id=theirs["id"], visibility="public")

    store = Store(community.store_url)
    store.upgrade()
    assert sync_our_posts(Reader(bot), store, community.bot.id, utcnow()) == 6  # the DM is never stored
    config = str(community.write_config())

    stats = json.loads(run_cli("--config", config, "stats", "--json").stdout)
    # 5 public or unlisted statuses of ours (the boost included); the boost and the reply are link-love.
    assert stats["posts_30d"] == 5
    assert stats["boosts_30d"] == 1 and stats["replies_30d"] == 1
    assert stats["link_love_ratio"] == pytest.approx(2 / 5)
    assert stats["link_love_target"] == 0.5
    table = run_cli("--config", config, "stats").stdout
    assert "40%" in table and "50%" in table

    # Our boost and reply enter the ledger as ours, once, however often we sync.
    who = json.loads(run_cli("--config", config, "who", "fan", "--json").stdout)
    assert who["ours"]["boost"] == 1 and who["ours"]["reply"] == 1

    # Later syncs page forward from a cursor and only add what is new.
    other = fan.api.status_post("Another one", visibility="public")
    bot.status_reblog(other["id"])
    later = utcnow() + timedelta(minutes=10)
    assert sync_our_posts(Reader(bot), store, community.bot.id, later) == 1
    assert sync_our_posts(Reader(bot), store, community.bot.id, later) == 0  # within the interval: no request
    assert ledger.stats(store, later).link_love_ratio == pytest.approx(3 / 6)
    who = json.loads(run_cli("--config", config, "who", "fan", "--json").stdout)
    assert who["ours"]["boost"] == 2


# --- store-level ------------------------------------------------------------------------------------


@pytest.fixture
def store(store_url: str) -> Store:
    made = Store(store_url)
    made.upgrade()
    return made


def account(name: str, *, followers: int = 10, bot: bool = False) -> Account:
    username = name.split("@")[0]
    return Account(
        id=f"id-{name}",
        acct=name,
        username=username,
        display_name=username.title(),
        followers_count=followers,
        bot=bot,
    )


class Feed:
    """Makes events for the store, with fresh notification ids."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.count = 0

    def __call__(self, cls: type[BotEvent], who: Account, at: datetime, **extra: Any) -> None:
        self.count += 1
        if cls is not Follow:
            extra.setdefault("status", Status(id=f"s{self.count}", text="hi"))
        assert self.store.record_event(cls(id=f"n{self.count}", created_at=at, account=who, **extra), at)


def test_owed_connectors_and_giving_back(store: Store) -> None:
    now = utcnow()
    record = Feed(store)
    generous, thanked, robot, old = (
        account("generous"),
        account("thanked"),
        account("robot", bot=True),
        account("old"),
    )
    star = account("star", followers=50_000)
    for who in (generous, thanked, robot):
        record(Mention, who, now - timedelta(days=2))
        record(Favourite, who, now - timedelta(days=1))
    record(Mention, generous, now - timedelta(hours=1))
    record(Reblog, star, now - timedelta(days=3))
    record(Favourite, old, now - timedelta(days=60))
    record(Favourite, old, now - timedelta(days=59))

    assert ledger.record_ours(store, thanked.id, "favourite", "their-status", now)
    assert not ledger.record_ours(store, thanked.id, "favourite", "their-status", now)  # once

    owed = ledger.people(store, now, "owed", 10)
    # Bots are never owed; thanked got something back; old engaged outside the 30 days.
    assert [p.acct for p in owed] == ["generous"]
    assert owed[0].score == 7 and owed[0].theirs_total == 3

    connectors = ledger.people(store, now, "connectors", 10)
    assert connectors[0].acct == "star"  # 50k followers × one boost outweighs 10 followers × 7

    everyone = ledger.people(store, now, "all", 10)
    assert everyone[0].acct == "generous"
    thanked_score = next(p for p in everyone if p.acct == "thanked")
    assert (thanked_score.theirs_total, thanked_score.ours_total) == (2, 1)

    assert ledger.record_ours(store, star.id, "follow", None, now)
    person = store.person("star")
    assert person is not None and person.we_follow


def test_stats_counts_and_approval_rate(store: Store) -> None:
    now = utcnow()
    record = Feed(store)
    record(Follow, account("a"), now - timedelta(days=1))
    record(Follow, account("b"), now - timedelta(days=10))
    record(Mention, account("a"), now - timedelta(days=2))
    for state in ("approved", "sent", "rejected", "expired", "pending"):
        draft_id = store.save_draft(
            NewDraft(
                rule="r",
                account_id="id-a",
                acct="a",
                display_name="A",
                text="t",
                template="t",
                visibility="unlisted",
            ),
            now,
        )
        if state != "pending":
            with store.engine.begin() as connection:
                connection.execute(
                    text("UPDATE drafts SET state = :s WHERE id = :i"), {"s": state, "i": draft_id}
                )

    result = ledger.stats(store, now)
    assert result.week.theirs["follow"] == 1 and result.month.theirs["follow"] == 2
    assert result.approval_rate == pytest.approx(2 / 3)  # approved and sent over approved, sent, rejected
    assert result.link_love_ratio is None  # no posts of ours yet
    data = result.as_json()
    assert data["link_love_ratio"] is None and data["posts_30d"] == 0 and data["new_followers_30d"] == 2
    assert data["theirs_7d"]["mention"] == 1 and data["drafts_30d"]["expired"] == 1
    json.dumps(data)  # serialisable as it is
    short = result.short_text()
    assert "Link-love n/a" in short and "50%" in short and "67%" in short


def test_weekly_summary_nudges_under_half(store: Store) -> None:
    now = utcnow()
    record = Feed(store)
    fan = account("fan@social.example")
    record(Follow, fan, now - timedelta(days=2))
    record(Mention, fan, now - timedelta(days=1))
    ledger.record_our_posts(
        store,
        [
            ledger.OurPost(
                status_id="p1", created_at=now - timedelta(days=1), visibility="public", kind="post"
            ),
            ledger.OurPost(
                status_id="p2", created_at=now - timedelta(days=2), visibility="public", kind="post"
            ),
            ledger.OurPost(
                status_id="p3",
                created_at=now - timedelta(days=3),
                visibility="unlisted",
                kind="boost",
                reblog_of_account_id=fan.id,
                reblog_of_status_id="their-1",
                person=fan,
            ),
        ],
        now,
    )
    summary = weekly_summary(store, now, "bot.example")
    assert "New followers this week: 1: Fan (fan@social.example)" in summary
    assert "Engaged most: Fan (fan@social.example)" in summary and "@fan" not in summary
    assert "Owed attention: " in summary and "33%" in summary
    assert "Nudge:" in summary
    # One more boost lifts the ratio to 50%: no nudge.
    ledger.record_our_posts(
        store,
        [
            ledger.OurPost(
                status_id="p4",
                created_at=now,
                visibility="public",
                kind="reply",
                in_reply_to_account_id=fan.id,
            )
        ],
        now,
    )
    assert "Nudge:" not in weekly_summary(store, now, "bot.example")


def test_ledger_queries_use_indexes(tmp_path: Any) -> None:
    """At 100k people / 1M interactions a table scan per query would not do; SQLite shows the plan.

    Every store query carries its account (owner), so the indexes lead with it.
    """
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    store.upgrade()
    with store.engine.connect() as connection:
        plan = " ".join(
            str(row[-1])
            for row in connection.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT account_id, kind FROM interactions "
                    "WHERE owner = 'bot@example' AND direction = 'theirs' AND at >= '2024-01-01'"
                )
            )
        )
        assert "COVERING INDEX ix_interactions_direction_at" in plan
        plan = " ".join(
            str(row[-1])
            for row in connection.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT account_id, direction, count(*) FROM interactions "
                    "WHERE owner = 'bot@example' GROUP BY account_id, direction"
                )
            )
        )
        assert "COVERING INDEX ix_interactions_person_kind" in plan


# --- at scale: the tallies and the windows (bench/store.py) -----------------------------------------

TALLIED = ("follow", "follow_request", "mention", "reply", "boost", "favourite", "share")


def tallies(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                f"SELECT owner, account_id, {', '.join(f'theirs_{k}' for k in TALLIED)}, theirs_total, "
                "ours_total, last_theirs_at FROM person_tallies"
            )
        ).all()
    # A tally counted down to nothing is as good as none.
    return {(r[0], r[1]): tuple(r[2:]) for r in rows if any(r[2:-1]) or r[-1] is not None}


def counted(store: Store) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The tallies as they should be: counted from the interactions themselves."""
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT owner, account_id, direction, kind, at FROM interactions")
        ).all()
    out: dict[tuple[str, str], list[Any]] = {}
    for owner, who, direction, kind, at in rows:
        tally = out.setdefault((owner, who), [0] * (len(TALLIED) + 2) + [None])
        if direction == "theirs":
            if kind in TALLIED:
                tally[TALLIED.index(kind)] += 1
            tally[-3] += 1
            tally[-1] = at if tally[-1] is None else max(tally[-1], at)
        elif direction == "ours":
            tally[-2] += 1
    return {key: tuple(tally) for key, tally in out.items() if any(tally[:-1]) or tally[-1] is not None}


def test_tallies_follow_every_write_to_the_ledger(store: Store) -> None:
    """person_tallies (migration 0011) is kept by the database: inserts from any code, updates (claim
    moving rows to an account, a kind corrected by hand), deletes (the latest time read again)."""
    now = utcnow()
    feed = Feed(store)
    fan, friend = account("fan"), account("friend@remote.example")
    feed(Follow, fan, now - timedelta(days=3))
    feed(Mention, fan, now - timedelta(days=2))
    feed(Favourite, fan, now - timedelta(days=1))
    feed(Reblog, friend, now - timedelta(hours=5))
    ledger.record_ours(store, fan.id, "boost", "s2", now)
    store.record_stop(friend.id, "s9", now)  # consent: counted in neither direction
    assert tallies(store) == counted(store) and tallies(store)
    store.claim("bot@example.social", "https://example.social", "token", now)  # "" → the account
    assert tallies(store) == counted(store)
    assert {owner for owner, _ in tallies(store)} == {"bot@example.social"}
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE interactions SET kind = 'reply' WHERE kind = 'mention'"))
        latest = connection.execute(
            text("SELECT max(at) FROM interactions WHERE kind = 'favourite'")
        ).scalar()
        connection.execute(text("DELETE FROM interactions WHERE kind = 'favourite'"))
    assert tallies(store) == counted(store)
    assert all(t[-1] != latest for t in tallies(store).values())  # the deleted one was fan's latest


def test_people_ranks_from_the_tallies_ties_and_all(store: Store) -> None:
    """`people` reads no interaction (1M of them take seconds); ties at the cut go by acct, as before,
    and a tally without a people row does not take anyone's place."""
    now = utcnow()
    feed = Feed(store)
    at = now - timedelta(days=1)
    for name in ("cara", "abe", "bea"):  # equal engagement, equal latest time
        feed(Mention, account(name), at)
    feed(Mention, account("dan"), at - timedelta(days=1))
    with store.engine.begin() as connection:  # someone the ledger counts but never met: no people row
        connection.execute(
            text(
                "INSERT INTO interactions (owner, account_id, direction, kind, at) "
                "VALUES ('', 'ghost', 'theirs', 'mention', :at), ('', 'ghost', 'theirs', 'reply', :at)"
            ),
            {"at": at.replace(tzinfo=None)},
        )
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        assert [p.acct for p in ledger.people(store, now, "all", 2)] == ["abe", "bea"]
        assert [p.acct for p in ledger.people(store, now, "all", 1)] == ["abe"]
        ranked = ledger.people(store, now, "all", 50)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert [(p.acct, p.score, p.theirs_total, p.ours_total) for p in ranked] == [
        ("abe", 3.0, 1, 0),
        ("bea", 3.0, 1, 0),
        ("cara", 3.0, 1, 0),
        ("dan", 3.0, 1, 0),
    ]
    assert statements and not [s for s in statements if "interactions" in s]


def test_stats_reads_only_the_windows_of_the_ledger(tmp_path: Any) -> None:
    """Each of the stats' ledger queries is a range of an index on `at` (a window), never the whole
    ledger (SQLite's plan for the statements `stats` runs)."""
    store = Store(f"sqlite:///{tmp_path / 'stats.db'}")
    store.upgrade()
    now = utcnow()
    Feed(store)(Mention, account("fan"), now - timedelta(days=2))
    ran: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if "FROM interactions" in statement:
            ran.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        result = ledger.stats(store, now)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert result.week.theirs == {"mention": 1} and result.month.theirs == {"mention": 1}
    assert ran
    with store.engine.connect() as connection:
        for statement, parameters in ran:
            plan = " ".join(
                str(row[-1])
                for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "COVERING INDEX" in plan and "at>?" in plan, (statement, plan)


def test_the_tallies_count_every_kind_the_engagement_weighs() -> None:
    from bot.store import ledger, tally_sql

    assert set(tally_sql.KINDS) == set(ledger.THEIR_WEIGHTS)
