"""Breadcrumbs against mastodon_mock: a stranger boosted by someone we trust comes into the digest."""

from __future__ import annotations

from typing import Any

from bot.listening.digest import digest_item
from bot.store import ledger
from bot.text import html_to_text
from tests.conftest import Community


def digest_texts(community: Community) -> list[str]:
    return [
        html_to_text(n["status"]["content"])
        for n in community.approver.api.notifications(types=["mention"])
        if "Listening digest" in n["status"]["content"]
    ]


def follows_from_bot(community: Community, person: Any) -> int:
    return sum(
        1 for n in person.api.notifications(types=["follow"]) if str(n["account"]["id"]) == community.bot.id
    )


def test_a_trusted_boost_recommends_a_stranger_and_follow_n_follows_them_once(community: Community) -> None:
    bot = community.bot.api
    guide = community.person("guide", display_name="Guide")
    stranger = community.person("stranger", display_name="Stranger")
    known = community.person("known", display_name="Known")
    bot.account_follow(guide.id)
    post = stranger.api.status_post("My new essay on river ecology", visibility="public")
    guide.api.status_reblog(post["id"])
    other = known.api.status_post("Something else", visibility="public")
    guide.api.status_reblog(other["id"])
    app = community.app(listen={"trusted": ["guide"], "max_recommendations": 1})
    bot.status_favourite(other["id"])  # we engaged `known` before: no recommendation needed
    ledger.record_ours(app.store, known.id, "favourite", str(other["id"]), app.clock())

    sent = app.send_digest(app.clock())
    recommended = [i for i in sent.items if i.source == "recommended"]
    assert [i.acct for i in recommended] == ["stranger"]
    (text,) = digest_texts(community)
    number = recommended[0].number
    assert f"[{number}] Stranger (stranger@" in text
    assert "recommended by Guide (guide) (boosted their post …)" in text
    assert "follow N" in text
    assert "@stranger" not in text and "@guide" not in text
    assert digest_item(app.store, number).status_id == str(post["id"])  # type: ignore[union-attr]

    community.approver.api.status_post(f"@bot follow {number}", visibility="direct")
    app.cycle()
    assert follows_from_bot(community, stranger) == 1
    assert app.store.interaction_counts(stranger.id)["ours"] == {"follow": 1}
    community.approver.api.status_post(f"@bot follow #{number}", visibility="direct")
    app.cycle()
    assert follows_from_bot(community, stranger) == 1  # once: the second asks first and finds we follow
    assert bot.account_relationships([stranger.id])[0]["following"]
