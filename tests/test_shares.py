"""Trackbacks against mastodon_mock: posts linking to our sites or naming us become share drafts."""

from __future__ import annotations

from datetime import timedelta

from bot.store import ledger
from tests.conftest import Clock, Community


def test_a_hashtag_post_linking_to_our_site_is_a_share_and_a_word_inside_another_is_not(
    community: Community,
) -> None:
    bot = community.bot.api
    reader_fan = community.person("reader", display_name="Reader")
    punster = community.person("punster")
    friend = community.person("friend")
    bot.account_follow(friend.id)
    bot.status_post("Our own sale at https://riverside-books.example/sale #bookstodon", visibility="public")
    clock = Clock()
    app = community.app(
        clock=clock,
        listen={
            "our_sites": ["riverside-books.example"],
            "our_names": ["Riverside"],
            "hashtags": ["bookstodon"],
        },
        rules=[
            {"name": "thank-shares", "on": "share", "templates": ["Thank you for sharing, {name}!"]},
        ],
    )
    app.find_shares()  # the first read only sets where each timeline starts
    link = reader_fan.api.status_post(
        "Great finds at https://www.riverside-books.example/sale today #bookstodon", visibility="public"
    )
    punster.api.status_post("The Riversideville fair is on #bookstodon", visibility="public")
    friend.api.status_post("Coffee by the river, then Riverside for a new novel", visibility="public")
    reader_fan.api.status_post(
        "@bot is https://riverside-books.example open? #bookstodon", visibility="public"
    )
    clock.advance(timedelta(minutes=6))
    app.cycle()

    drafts = {d.acct: d for d in app.store.drafts_for(reader_fan.id) + app.store.drafts_for(friend.id)}
    assert set(drafts) == {"reader", "friend"}
    assert drafts["reader"].rule == "thank-shares"
    assert drafts["reader"].in_reply_to_id == str(link["id"])
    assert app.store.drafts_for(punster.id) == []
    assert app.store.drafts_for(community.bot.id) == []
    assert app.store.interaction_counts(reader_fan.id)["theirs"]["share"] == 1
    assert ledger.stats(app.store, app.clock()).week.theirs["share"] == 2
    clock.advance(timedelta(minutes=6))
    app.cycle()
    clock.advance(timedelta(minutes=6))
    assert app.find_shares() == 0  # nothing new; each post is one share, whichever timeline showed it
    assert len(app.store.drafts_for(reader_fan.id)) == 1  # their mention of us is a mention, not a share
    assert app.store.interaction_counts(reader_fan.id)["theirs"] == {"share": 1, "mention": 1}
