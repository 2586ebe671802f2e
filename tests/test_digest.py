"""Listening digest: followers' own posts, ranked and numbered, DMed to the approvers and nobody else."""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import cli
from bot.config import Settings, settings_from_dict
from bot.instance.reader import Reader
from bot.listening.digest import (
    collect_digest,
    digest_item,
    digest_message_blocks,
    digest_messages,
    resolve_item,
)
from bot.model import Account, Favourite, Mention, Reblog, Status
from bot.store import Store, ledger, utcnow
from bot.store.ledger import DigestItem
from bot.text import html_to_text, status_length
from tests.conftest import Clock, Community, Person
from tests.mastodon_rules import mastodon_mentions

FIXTURES = Path(__file__).parent / "fixtures"
# A real remote status (see fixtures/README.md); the tests vary its id, author, time and flags.
REAL_STATUS = json.loads((FIXTURES / "status_with_links_hashtags.json").read_text())


def digest_dms(person: Person) -> list[dict[str, Any]]:
    return [
        n["status"]
        for n in person.api.notifications(types=["mention"])
        if n["status"]
        and n["status"]["visibility"] == "direct"
        and "Listening digest" in n["status"]["content"]
    ]


def from_bot(community: Community, person: Person) -> list[Any]:
    """Mentions from the bot (its follows of the people it listens to are no messages)."""
    mentions = person.api.notifications(types=["mention"])
    return [n for n in mentions if str(n["account"]["id"]) == community.bot.id]


def run_digest(config: str) -> str:
    result = CliRunner().invoke(cli, ["--config", config, "digest"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


# --- end to end against mastodon_mock --------------------------------------------------------------


def test_digest_dm_brings_followed_posts_to_the_approvers_only(community: Community) -> None:
    bot = community.bot.api
    carol = community.person("carol", display_name="Carol")
    victim = community.person("victim")
    followed: dict[str, Person] = {}
    for name, profile in {
        "friend": {"display_name": "Friend"},
        "chatty": {"display_name": "Chatty @everyone"},
        "robot": {"bot": True},
        "shy": {"note": "Here to read. #nobot"},
        "booster": {},
        "asker": {},
    }.items():
        followed[name] = community.person(name, **profile)
        bot.account_follow(followed[name].id)
    sunset = followed["friend"].api.status_post("Lovely sunset over the harbour tonight", visibility="public")
    tides = followed["chatty"].api.status_post(
        "@carol have you seen the new tide tables? thanks to ²@victim", visibility="public"
    )
    followed["robot"].api.status_post("Automated weather report", visibility="public")
    followed["shy"].api.status_post("Quiet thoughts", visibility="public")
    followed["booster"].api.status_reblog(sunset["id"])
    # A mention comes as a notification (and maybe a draft), never in the digest.
    followed["asker"].api.status_post("@bot are you there", visibility="public")
    bot.status_post("Our own news", visibility="public")
    store = (
        community.app().store
    )  # signed in: the store reads the bot's rows, as `frontrow digest` writes them
    config = str(community.write_config())

    assert "Digest #1 sent: 2 item(s) in 1 message(s)" in run_digest(config)

    (dm,) = digest_dms(community.approver)
    assert [m["acct"] for m in dm["mentions"]] == ["alice"]
    text = html_to_text(dm["content"])
    assert "Friend (friend@mock.local): Lovely sunset over the harbour tonight" in text
    assert "Chatty (chatty@mock.local): carol have you seen the new tide tables? thanks to ²victim" in text
    assert mastodon_mentions(text) == ["alice"]
    assert re.findall(r"\[\d+\]", text) == ["[1]", "[2]"]
    assert re.findall(r"(?<!\w)@\w+", text) == ["@alice"]  # no other handle keeps its @
    for absent in ("robot", "shy", "booster", "asker", "Our own news", "weather"):
        assert absent not in text
    # Nobody but the approver hears of the digest, the account mentioned in a digested post included.
    for person in (carol, victim, *followed.values()):
        assert from_bot(community, person) == []

    numbered = {n: digest_item(store, n) for n in (1, 2, 3)}
    assert numbered[3] is None
    assert {item.status_id for item in (numbered[1], numbered[2]) if item} == {
        str(sunset["id"]),
        str(tides["id"]),
    }

    # Nothing new: no DM, and the numbers stay those of the last digest.
    assert "Nothing new" in run_digest(config)
    assert len(digest_dms(community.approver)) == 1
    assert digest_item(store, 1) == numbered[1]

    # The next digest renumbers from 1.
    fresh = followed["booster"].api.status_post("My own post at last", visibility="unlisted")
    assert "Digest #2 sent: 1 item(s)" in run_digest(config)
    latest = digest_item(store, 1)
    assert latest is not None and latest.status_id == str(fresh["id"]) and digest_item(store, 2) is None


def test_boost_fav_and_reply_act_on_the_latest_digest(community: Community) -> None:
    bot = community.bot.api
    friends = [community.person(name, display_name=name.title()) for name in ("ann", "ben", "cat")]
    posts = {}
    for friend in friends:
        bot.account_follow(friend.id)
        posts[friend.username] = friend.api.status_post(f"News from {friend.username}", visibility="public")
    app = community.app()
    assert "Digest #1 sent: 3 item(s)" in run_digest(str(community.write_config()))
    numbered = {n: digest_item(app.store, n) for n in (1, 2, 3)}
    by_number = {n: item.status_id for n, item in numbered.items() if item}

    alice = community.approver.api
    alice.status_post("@bot boost 1", visibility="direct")
    alice.status_post("@bot fav 2", visibility="direct")
    alice.status_post("@bot reply 3 Lovely, thank you!", visibility="direct")
    alice.status_post("@bot boost 9", visibility="direct")
    app.cycle()

    assert bot.status(by_number[1])["reblogged"]
    assert bot.status(by_number[2])["favourited"]
    ours = bot.account_statuses(community.bot.id)
    (answer,) = [s for s in ours if s["in_reply_to_id"] and s["visibility"] != "direct"]
    assert str(answer["in_reply_to_id"]) == by_number[3]
    assert "Lovely, thank you!" in html_to_text(answer["content"])
    counts = {
        n: app.store.interaction_counts(item.account_id or "")["ours"] for n, item in numbered.items() if item
    }
    assert counts[1].get("boost") == 1 and counts[2].get("favourite") == 1 and counts[3].get("reply") == 1
    replies = [html_to_text(n["status"]["content"]) for n in alice.notifications(types=["mention"])]
    assert any("9" in r and "digest" in r.lower() for r in replies)  # no item 9: said so, nothing done


# --- collection against recorded-shape statuses --------------------------------------------------------


def status(number: int, who: dict[str, Any], at: datetime, **changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(REAL_STATUS)
    status_id = f"{int(at.timestamp())}{number:03d}"  # like snowflakes: later posts, larger ids
    raw.update(
        id=status_id,
        url=f"https://ruby.social/@{who['username']}/{status_id}",
        created_at=at.isoformat(),
        account=who,
        content=f"<p>Post {number} by {who['username']}</p>",
        reblogged=False,
        favourited=False,
        filtered=[],
        mentions=[],
    )
    raw.update(changes)
    return raw


def author(name: str, *, followers: int = 40, **changes: Any) -> dict[str, Any]:
    who = copy.deepcopy(REAL_STATUS["account"])
    who.update(
        id=f"id-{name}",
        username=name,
        acct=f"{name}@ruby.social",
        display_name=name.title(),
        followers_count=followers,
        note="<p>i mash keys</p>",
    )
    who.update(changes)
    return who


class TimelineApi:
    """Serves a home timeline newest first, in pages, like Mastodon; counts the requests."""

    def __init__(self, statuses: list[dict[str, Any]]) -> None:
        self.statuses = sorted(statuses, key=lambda s: int(s["id"]), reverse=True)
        self.calls: list[dict[str, Any]] = []

    def timeline_home(self, limit: int = 20, max_id: Any = None) -> list[dict[str, Any]]:
        self.calls.append({"limit": limit, "max_id": max_id})
        older = [s for s in self.statuses if max_id is None or int(s["id"]) < int(max_id)]
        return older[:limit]


def settings(**listen: Any) -> Settings:
    return settings_from_dict(
        {
            "mastodon": {"base_url": "https://bot.example", "access_token": "x"},
            "approval": {"approvers": ["alice"]},
            "listen": listen,
        },
        env={},
    )


@pytest.fixture
def store(store_url: str) -> Store:
    made = Store(store_url)
    made.upgrade()
    return made


def remember(store: Store, who: dict[str, Any], kinds: list[type[Any]], at: datetime) -> None:
    account = Account(
        id=who["id"], acct=who["acct"], username=who["username"], followers_count=who["followers_count"]
    )
    for index, cls in enumerate(kinds):
        event = cls(
            id=f"n-{who['id']}-{index}", created_at=at, account=account, status=Status(id="ours", text="")
        )
        assert store.record_event(event, at)


def test_owed_then_connectors_first_one_post_each_and_frugal_paging(store: Store) -> None:
    now = utcnow()
    owed, star, thanked, twice = (
        author("owed"),
        author("star", followers=9000),
        author("thanked"),
        author("twice"),
    )
    remember(store, owed, [Mention, Favourite], now - timedelta(days=3))
    remember(store, star, [Reblog], now - timedelta(days=3))
    remember(store, thanked, [Mention, Favourite], now - timedelta(days=3))
    ledger.record_ours(store, thanked["id"], "reply", "our-reply", now - timedelta(days=1))

    minute = timedelta(minutes=1)
    statuses = [status(n, author(f"plain{n}"), now - n * minute) for n in range(1, 31)]
    statuses += [
        status(100, owed, now - 50 * minute),
        status(101, star, now - 55 * minute),
        status(102, thanked, now - 2 * minute),  # we answered them yesterday: they can wait
        twice_newest := status(103, twice, now - timedelta(seconds=90)),
        status(104, twice, now - 4 * minute),
        status(105, author("robot", bot=True), now),
        status(106, author("shy", note="<p>#NoBot please</p>"), now),
        status(107, author("me", id="me"), now),
        status(108, author("private"), now, visibility="private"),
        status(109, author("replier"), now, in_reply_to_id="1", in_reply_to_account_id="id-someone"),
        status(110, author("faved"), now, favourited=True),
        status(111, author("mentioner"), now, mentions=[{"id": "me", "acct": "bot", "username": "bot"}]),
        status(112, author("booster"), now, reblog=copy.deepcopy(REAL_STATUS)),
        status(113, author("filtered"), now, filtered=[{"filter": {"title": "spoilers"}}]),
    ]
    statuses += [status(n, author(f"old{n}"), now - timedelta(days=2)) for n in range(200, 260)]
    api = TimelineApi(statuses)

    items = collect_digest(Reader(api), store, settings(max_items=4), "me", now)  # type: ignore[arg-type]

    assert [item.acct.split("@")[0] for item in items] == ["owed", "star", "plain1", "twice"]
    assert [item.number for item in items] == [1, 2, 3, 4]
    assert items[3].status_id == twice_newest["id"]  # their newest post only
    assert len(api.calls) == 2 and all(call["limit"] == 40 for call in api.calls)  # stops at the window
    assert digest_item(store, 1) == items[0]

    # Shown once: the next digest brings the next people.
    again = collect_digest(Reader(api), store, settings(max_items=2), "me", now)  # type: ignore[arg-type]
    assert [item.acct.split("@")[0] for item in again] == ["plain2", "plain3"]
    assert digest_item(store, 1) == again[0]


def test_blocks_defang_every_handle_and_messages_fit() -> None:
    now = utcnow()
    items = [
        DigestItem(
            number=n,
            status_id=str(n),
            account_id=f"id-{n}",
            acct="eve@social.example" if n % 2 else "local",
            display_name="Eve @everyone :blobcat: https://spam.example",
            url=f"https://social.example/@eve/{n}",
            excerpt="Thanks @carol@other.example, ²@victim and ＠bob for https://social.example/@eve/1 "
            + "words " * 40,
            source="home",
            created_at=now,
        )
        for n in range(1, 9)
    ]
    blocks = digest_message_blocks(items, "bot.example")
    assert blocks[0].startswith("[1] Eve (eve@social.example): Thanks carol@other.example, ²victim and bob")
    assert blocks[1].startswith("[2] Eve (local@bot.example): ")
    assert all(mastodon_mentions(block) == [] for block in blocks)
    assert "https://social.example/@eve/1" in blocks[0]  # a profile link stays a working link

    messages = digest_messages(items, ["alice", "bob@team.example"], "bot.example", 500)
    assert len(messages) > 1
    for message in messages:
        assert message.startswith("@alice @bob@team.example Listening digest")
        assert status_length(" " + message) <= 500
    assert "[8]" in messages[-1]


class SearchApi:
    def __init__(self, found: dict[str, Any]) -> None:
        self.found = found
        self.queries: list[str] = []

    def search_v2(self, q: str, resolve: bool = False, result_type: str | None = None) -> dict[str, Any]:
        self.queries.append(q)
        return self.found


def test_resolve_item_finds_a_feed_entry_on_our_instance(store: Store) -> None:
    now = utcnow()
    (item,) = ledger.save_digest(
        store,
        [
            DigestItem(0, None, None, "chrismo@ruby.social", "chrismo", REAL_STATUS["url"], "x", "feed", now),
        ],
        now,
    )
    api = SearchApi({"statuses": [REAL_STATUS], "accounts": [], "hashtags": []})
    resolved = resolve_item(Reader(api), store, item, now)  # type: ignore[arg-type]
    assert resolved is not None and resolved.status_id == REAL_STATUS["id"]
    assert resolved.account_id == REAL_STATUS["account"]["id"]
    assert digest_item(store, 1) == resolved  # stored: the next command needs no search
    assert store.person("chrismo@ruby.social") is not None
    assert resolve_item(Reader(api), store, resolved, now) == resolved and len(api.queries) == 1
    assert resolve_item(Reader(SearchApi({"statuses": []})), store, item, now) is None  # type: ignore[arg-type]


def test_the_digest_never_offers_the_approvers_our_own_posts_or_quotes_of_ours(community: Community) -> None:
    bot = community.bot.api
    app = community.app()  # follows the approver, so that their DMs reach us: home shows their posts
    friend = community.person("friend", display_name="Friend")
    fan = community.person("fan", display_name="Fan")
    for person in (friend, fan):
        bot.account_follow(person.id)
    ours = bot.status_post("Our own news", visibility="public")
    community.approver.api.status_post("Alice's own news from the shop", visibility="public")
    fan.api.status_post("Look at this", quoted_status_id=ours["id"], visibility="public")
    sunset = friend.api.status_post("Lovely sunset over the harbour tonight", visibility="public")

    sent = app.send_digest(app.clock())
    assert [item.status_id for item in sent.items] == [str(sunset["id"])]


def test_what_the_outbox_boosts_and_answers_counts_in_the_link_love_ratio_at_once(
    community: Community,
) -> None:
    bot = community.bot.api
    friends = [community.person(name, display_name=name.title()) for name in ("ann", "ben")]
    for friend in friends:
        bot.account_follow(friend.id)
        friend.api.status_post(f"News from {friend.username}", visibility="public")
    clock = Clock()
    app = community.app(clock=clock)
    bot.status_post("Our own news", visibility="public")
    app.cycle()  # reads our profile (the link-love sync): one original post
    assert len(app.send_digest(app.clock()).items) == 2
    community.approver.api.status_post("@bot boost 1", visibility="direct")
    community.approver.api.status_post("@bot reply 2 Lovely, thank you!", visibility="direct")
    app.cycle()  # the commands are executed and the outbox acts; our profile is not read again yet

    month = ledger.stats(app.store, app.clock()).month
    assert (month.posts, month.boosts, month.replies) == (3, 1, 1)
    assert ledger.percent(month.link_love_ratio) == "67%"
    clock.advance(timedelta(minutes=6))
    app.cycle()  # now the sync reads them back: the same posts, counted once
    month = ledger.stats(app.store, app.clock()).month
    assert (month.posts, month.boosts, month.replies, sum(month.ours.values())) == (3, 1, 1, 2)
