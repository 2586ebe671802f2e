"""Quotes (Mastodon 4.5+): a quote of our post is an event rules thank (`on = "quote"`), read from the
`quote` notification (recorded real-shaped JSON: mastodon_mock raises none) and, as the safety net, from
the quotes of our recent posts (mastodon_mock's `GET /api/v1/statuses/:id/quotes`); our own quotes of
other people's posts are link-love."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.core import rules
from bot.model import Account, Quote, Status
from bot.store import ledger, utcnow
from tests.conftest import Clock, Community, Person
from tests.test_budget import dms_to
from tests.test_instance_notices import recorded

THANK_QUOTES = {
    "name": "thank-quotes",
    "on": "quote",
    "contains_any": ["list"],
    "templates": ["Thank you for passing it on, {name}: “{text}”"],
}


def as_from(person: Person, data: dict[str, Any]) -> dict[str, Any]:
    """A notification's envelope around the person's account, as the instance would send it."""
    account = person.api.account(person.id)
    return {**data, "account": account}


def test_a_quote_of_our_post_drafts_a_thank_you_through_an_on_quote_rule(community: Community) -> None:
    bot = community.bot.api
    fan = community.person("fan", display_name="Fan")
    other = community.person("other", display_name="Other")
    ours = bot.status_post("Our autumn reading list is out", visibility="public")
    quoting = fan.api.status_post("A lovely list @alice, worth a read", quoted_status_id=ours["id"])
    other.api.status_post("Hmm, not for me", quoted_status_id=ours["id"])  # contains_any does not hold
    clock = Clock()
    app = community.app(clock=clock, rules=[THANK_QUOTES])
    app.cycle()  # no notification: the quotes of our post are read (the safety net)

    drafts = app.store.drafts_for(fan.id)
    assert [d.rule for d in drafts] == ["thank-quotes"]
    assert drafts[0].in_reply_to_id == str(quoting["id"])  # thanked where they quoted us
    # Their words are available to the template, made safe (no @ that would notify anyone).
    assert drafts[0].text == "Thank you for passing it on, Fan: “A lovely list alice, worth a read”"
    assert app.store.drafts_for(other.id) == []
    assert app.store.interaction_counts(fan.id)["theirs"] == {"quote": 1}
    assert ledger.stats(app.store, app.clock()).week.theirs["quote"] == 2
    told = [dm for dm in dms_to(community.approver, community.bot) if "thank-quotes" in dm]
    assert len(told) == 1 and "A lovely list alice, worth a read" in told[0]  # what they wrote, shown

    # The notification of the same quote, where the instance sends one, is the same event.
    notification = as_from(fan, recorded("notification_quote.json", status=fan.api.status(quoting["id"])))
    assert not app.listener.record("notification", notification)
    clock.advance(timedelta(hours=2))
    assert app.listener.check_quotes() == 0  # read again an hour later: nothing new
    app.cycle()
    assert len(app.store.drafts_for(fan.id)) == 1


def test_a_revoked_quote_is_never_thanked(community: Community) -> None:
    bot = community.bot.api
    fan = community.person("fan")
    ours = bot.status_post("Our autumn reading list is out", visibility="public")
    quoting = fan.api.status_post("This list, again", quoted_status_id=ours["id"])
    bot.status_quote_revoke(ours["id"], quoting["id"])
    app = community.app(rules=[THANK_QUOTES])
    app.cycle()
    assert app.store.drafts_for(fan.id) == []
    assert app.store.interaction_counts(fan.id)["theirs"] == {}


def test_a_recorded_quote_notification_is_drafted_and_a_quoted_update_only_recorded(
    community: Community,
) -> None:
    app = community.app(rules=[{**THANK_QUOTES, "contains_any": ["sort codes"]}])
    quote = recorded("notification_quote.json")
    assert app.listener.record("notification", quote)
    assert app.listener.record("notification", recorded("notification_quoted_update.json"))
    app.work()

    drafts = app.store.drafts()
    assert [(d.rule, d.acct, d.in_reply_to_id) for d in drafts] == [
        ("thank-quotes", "admin", "115000000000000042")
    ]
    assert "best explanation of sort codes" in drafts[0].text
    # The quoted_update (a post we quoted was edited) is recorded and handled, never drafted.
    assert app.store.count_events() == 2 and app.store.unhandled_events() == []


def test_our_quote_of_someone_elses_post_counts_as_link_love_and_quoting_ourselves_does_not(
    community: Community,
) -> None:
    bot = community.bot.api
    friend = community.person("friend", display_name="Friend")
    theirs = friend.api.status_post("Our library opens on Sundays now", visibility="public")
    ours = bot.status_post("Something of our own", visibility="public")
    bot.status_post("Good news for readers", quoted_status_id=theirs["id"], visibility="public")
    bot.status_post("As we said", quoted_status_id=ours["id"], visibility="public")
    app = community.app(rules=[])
    app.sync_our_posts()

    month = ledger.stats(app.store, app.clock()).month
    assert (month.posts, month.quotes, month.boosts, month.replies) == (3, 1, 0, 0)
    assert month.link_love_ratio == 1 / 3
    assert app.store.interaction_counts(friend.id)["ours"] == {"quote": 1}
    assert ledger.stats(app.store, app.clock()).as_json()["quotes_30d"] == 1


def test_a_quote_rule_sees_the_quoting_posts_text() -> None:
    now = utcnow()
    fan = Account(id="7", acct="fan@example.social", username="fan", display_name="Fan")
    said = "@someone@else.example read this list " + "very " * 40
    event = Quote(
        id="quote:9",
        created_at=now,
        account=fan,
        status=Status(id="9", text=said, visibility="unlisted"),
        quoted_status_id="1",
    )
    compiled = rules.compile_rules(
        [_rule(contains_none=["spam"]), _rule(name="unused", on="mention")]  # a mention rule never matches
    )
    draft = rules.match(compiled, event, rules.Context(now=now, self_id="1"))
    assert draft is not None and draft.rule == "thank-quotes"
    assert draft.visibility == "unlisted" and draft.in_reply_to_id == "9" and draft.triage == 3
    # Leading mentions dropped, the rest made safe and cut to TEXT_FIELD_CHARS.
    assert draft.text.startswith("Thank you for passing it on, Fan: “read this list very")
    assert "@" not in draft.text and draft.text.endswith("…”")
    spam = Quote(**{**event.__dict__, "status": Status(id="9", text="spam spam")})
    assert rules.match(compiled, spam, rules.Context(now=now, self_id="1")) is None


def _rule(**changes: Any) -> Any:
    from bot.config import settings_from_dict

    rule = {**THANK_QUOTES, **changes}
    rule.pop("contains_any")
    data = {
        "mastodon": {"base_url": "http://localhost", "access_token": "x"},
        "approval": {"approvers": ["alice"]},
        "rules": [rule],
    }
    return settings_from_dict(data, env={}).rules[0]
