"""End to end against mastodon_mock: follow or mention → draft → DM → approve → posted once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from mastodon import MastodonNetworkError

from bot.text import html_to_text
from tests.conftest import Clock, Community, Person


def draft_dms(person: Person) -> list[str]:
    """The texts of the direct messages a person received that carry drafts."""
    return [
        html_to_text(n["status"]["content"])
        for n in person.api.notifications(types=["mention"])
        if n["status"] and n["status"]["visibility"] == "direct" and "Draft #" in n["status"]["content"]
    ]


def bot_posts(community: Community) -> list[dict]:
    return list(community.bot.api.account_statuses(community.bot.id, limit=40))


def public_posts(community: Community) -> list[dict]:
    return [s for s in bot_posts(community) if s["visibility"] != "direct"]


def test_follow_and_question_reach_the_approver_not_the_follower(community: Community) -> None:
    fan = community.person("fan", display_name="Fan")
    fan.api.account_follow(community.bot.id)
    fan.api.status_post("@bot how does this work?")

    app = community.app()
    app.cycle()

    drafts = app.store.drafts()
    assert sorted(d.rule for d in drafts) == ["answer-questions", "thank-new-followers"]
    assert all(d.state == "pending" for d in drafts)
    dms = "\n".join(draft_dms(community.approver))
    for draft in drafts:
        assert f"Draft #{draft.id}" in dms
    assert "fan@" in dms and "@fan" not in dms
    # The follower is never told about drafts: nothing mentions them yet.
    assert fan.api.notifications(types=["mention"]) == []
    # The bot follows its approver, so their DMs are not filtered (Mastodon 4.3+).
    assert community.bot.api.account_relationships([community.approver.id])[0]["following"]
    assert public_posts(community) == []


def test_no_drafts_for_nobot_bots_blocked_muted_or_unmatched_mentions(community: Community) -> None:
    shy = community.person("shy", note="Reading quietly. #NoBot please")
    robot = community.person("robot", bot=True)
    troll = community.person("troll")
    bore = community.person("bore")
    chatty = community.person("chatty")
    community.bot.api.account_block(troll.id)
    community.bot.api.account_mute(bore.id)
    for person in (shy, robot, troll, bore):
        person.api.account_follow(community.bot.id)
        person.api.status_post("@bot how does this work?")
    chatty.api.status_post("@bot lovely weather today")

    app = community.app()
    app.cycle()

    assert app.store.drafts() == []
    assert draft_dms(community.approver) == []
    # Everything was still recorded.
    assert app.store.person("shy") is not None and app.store.person("robot") is not None


def test_commands_count_only_from_approvers_in_direct_messages(community: Community) -> None:
    fan = community.person("fan")
    fan.api.status_post("@bot what is this?")
    app = community.app()
    app.cycle()
    (draft,) = app.store.drafts()

    stranger = community.person("stranger")
    stranger.api.status_post(f"@bot approve {draft.id}", visibility="direct")
    community.approver.api.status_post(f"@bot approve {draft.id}", visibility="public")
    app.cycle()

    assert app.store.draft(draft.id).state == "pending"
    assert public_posts(community) == []


def test_edit_and_approve_post_once_with_confirmations(community: Community) -> None:
    fan = community.person("fan", display_name="Fan")
    fan.api.account_follow(community.bot.id)
    question = fan.api.status_post("@bot how does this work?")
    app = community.app()
    app.cycle()
    drafts = {d.rule: d for d in app.store.drafts()}
    answer, thanks = drafts["answer-questions"], drafts["thank-new-followers"]

    alice = community.approver.api
    alice.status_post(f"@bot edit #{answer.id} It works by magic, mostly.", visibility="direct")
    alice.status_post(f"@bot APPROVE {thanks.id}", visibility="direct")
    app.cycle()

    posts = public_posts(community)
    assert len(posts) == 2
    reply = next(p for p in posts if p["in_reply_to_id"])
    assert str(reply["in_reply_to_id"]) == str(question["id"])
    assert html_to_text(reply["content"]) == "@fan It works by magic, mostly."
    thank_post = next(p for p in posts if not p["in_reply_to_id"])
    assert thank_post["visibility"] == "unlisted"
    assert [m["acct"] for m in thank_post["mentions"]] == ["fan"]
    assert "Thanks for the follow, Fan!" in html_to_text(thank_post["content"])

    confirmations = [
        html_to_text(n["status"]["content"])
        for n in alice.notifications(types=["mention"])
        if "Posted #" in n["status"]["content"]
    ]
    assert any(f"Posted #{answer.id}:" in c for c in confirmations)
    assert any(f"Posted #{thanks.id}:" in c for c in confirmations)
    assert {d.state for d in app.store.drafts()} == {"sent"}

    # More cycles and a restart post nothing again and draft nothing new.
    app.cycle()
    app.cycle()
    restarted = community.app()
    restarted.cycle()
    assert len(public_posts(community)) == 2
    assert len(restarted.store.drafts()) == 2
    # The follower was notified of exactly the two posts, never of a DM.
    fan_mentions = fan.api.notifications(types=["mention"])
    assert len(fan_mentions) == 2
    assert all(n["status"]["visibility"] != "direct" for n in fan_mentions)


def test_reply_forms_and_reject(community: Community) -> None:
    fan = community.person("fan")
    fan.api.status_post("@bot does it scale?")
    app = community.app()
    app.cycle()
    (draft,) = app.store.drafts()
    draft_dm = next(
        n["status"]
        for n in community.approver.api.notifications(types=["mention"])
        if "Draft #" in n["status"]["content"]
    )
    community.approver.api.status_reply(draft_dm, "no", visibility="direct")
    community.approver.api.status_post("@bot approve 999", visibility="direct")
    app.cycle()

    assert app.store.draft(draft.id).state == "rejected"
    replies = [
        html_to_text(n["status"]["content"]) for n in community.approver.api.notifications(types=["mention"])
    ]
    assert any(f"Rejected #{draft.id}" in r for r in replies)
    assert any("#999: no such draft" in r for r in replies)
    assert public_posts(community) == []


def test_spammy_display_name_is_cleaned_in_drafts(community: Community) -> None:
    spammer = community.person("spammer", display_name="Fan @everyone https://spam.example")
    spammer.api.account_follow(community.bot.id)
    app = community.app()
    app.cycle()

    (draft,) = app.store.drafts()
    assert "@everyone" not in draft.text and "spam.example" not in draft.text
    assert "Fan" in draft.text
    dms = "\n".join(draft_dms(community.approver))
    assert "@everyone" not in dms and "https://spam.example" not in dms


def test_dry_run_never_posts_publicly(community: Community) -> None:
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    app = community.app(dry_run=True)
    app.cycle()
    (draft,) = app.store.drafts()
    community.approver.api.status_post(f"@bot ok {draft.id}", visibility="direct")
    app.cycle()

    assert app.store.draft(draft.id).state == "approved"
    assert public_posts(community) == []
    assert draft_dms(community.approver)


def two_pages_of_follows(community: Community) -> list[Person]:
    """45 new followers: two pages of notifications (the mock serves 40 a page)."""
    fans = [community.person(f"fan{number:02d}") for number in range(45)]
    for fan in fans:
        fan.api.account_follow(community.bot.id)
    return fans


def test_a_backlog_of_several_pages_is_read_once_and_drafted_in_order(community: Community) -> None:
    app = community.app(limits={"spike_threshold": 100})  # each follow gets its own thanks
    app.catch_up()  # the service ran before: the backlog came while it was away
    fans = two_pages_of_follows(community)
    cursors: list[str] = []

    def seen(response: requests.Response, **_: Any) -> None:
        url = urlparse(response.request.url or "")
        if url.path == "/api/v1/notifications":
            cursors.append(parse_qs(url.query)["min_id"][0])

    app.api.session.hooks["response"].append(seen)

    assert app.catch_up() == 45
    # The mock serves 40 a page: two pages and the empty read that ends the catch-up, even though each
    # next page is requested while the one before is being drafted.
    assert len(cursors) == 3 and len(set(cursors)) == 3
    assert [d.acct for d in app.store.drafts()] == [fan.username for fan in fans]
    assert app.store.get_cursor() == cursors[-1]
    assert app.catch_up() == 0 and cursors[-1] == cursors[-2]


@pytest.mark.parametrize("failure", [RuntimeError("a bug in drafting"), MastodonNetworkError("gone")])
def test_a_failure_while_drafting_a_page_does_not_stop_the_catch_up(
    community: Community, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    clock = Clock()
    app = community.app(clock=clock, limits={"spike_threshold": 100})  # each follow gets its own thanks
    app.catch_up()  # the service ran before: the backlog came while it was away
    fans = two_pages_of_follows(community)
    draft_for = app.drafter.draft_for
    failures = iter([failure])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        once = next(failures, None)
        if once is not None:
            raise once
        return draft_for(*args, **kwargs)

    monkeypatch.setattr(app.drafter, "draft_for", flaky)

    assert app.catch_up() == 45  # both pages recorded, the cursor past them
    assert app.catch_up() == 0
    # The failed event waits for its retry; every other one was drafted meanwhile.
    assert len(app.store.drafts()) == 44
    clock.advance(timedelta(minutes=1))
    app.work()
    assert sorted(d.acct for d in app.store.drafts()) == sorted(fan.username for fan in fans)
