"""Consent: consent tags in profiles, a stop-word reply that ends drafting for a person, a daily post cap."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, LimitSettings, settings_from_dict
from bot.core import budget
from bot.core.rules import Context, compile_rules, consent_tag, explain, is_stop_reply
from bot.model import Account, Mention, PersonHistory, Reply, Status
from tests.conftest import Community
from tests.test_cli import frontrow

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SELF_ID = "999"
FAN = Account(id="101", acct="fan@example.social", username="fan", display_name="Fan")
STOPS = ("stop", "unsubscribe")


def reply(text: str, *, to: str | None = SELF_ID, kind: type[Mention] | type[Reply] = Mention) -> Mention:
    status = Status(id="5", text=text, in_reply_to_id="4" if to else None, in_reply_to_account_id=to)
    return kind(id="n1", created_at=NOW, account=FAN, status=status)


# --- pure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["stop", "STOP", "Stop.", "@bot stop", "@bot@example.social  Unsubscribe!", " stop ", "ｓｔｏｐ"]
)
def test_a_stop_word_alone_answering_us_is_a_stop(text: str) -> None:
    assert is_stop_reply(reply(text), SELF_ID, STOPS)
    assert is_stop_reply(reply(text, kind=Reply), SELF_ID, STOPS)


@pytest.mark.parametrize(
    ("text", "to"),
    [
        ("please don't stop", SELF_ID),  # not the whole reply
        ("stop the war", SELF_ID),
        ("stopping by to say hi", SELF_ID),
        ("", SELF_ID),
        ("stop", "someone-else"),  # answers another person's post
        ("stop", None),  # a mention that answers nothing
    ],
)
def test_other_replies_are_no_stop(text: str, to: str | None) -> None:
    assert not is_stop_reply(reply(text, to=to), SELF_ID, STOPS)


@given(st.text(max_size=40))
def test_stop_check_never_raises(text: str) -> None:
    is_stop_reply(reply(text), SELF_ID, STOPS)


@pytest.mark.parametrize(
    ("bio", "found"),
    [
        ("I love #NoBot", "#nobot"),
        ("reading only #nobots", "#nobots"),
        ("＃nobot please", "#nobot"),
        ("#nobotany is my field", None),
        ("no tags here", None),
    ],
)
def test_consent_tags_in_a_bio(bio: str, found: str | None) -> None:
    assert consent_tag((bio,)) == found


def test_configured_consent_tags_replace_the_default() -> None:
    assert consent_tag(("#noautomation",), ("#noautomation",)) == "#noautomation"
    assert consent_tag(("#nobot",), ("#noautomation",)) is None


def test_a_person_who_asked_us_to_stop_is_never_drafted_for() -> None:
    loaded = settings_from_dict(
        {
            "mastodon": {"base_url": "https://mastodon.example"},
            "approval": {"approvers": ["alice"]},
            "rules": [{"name": "any", "on": "mention", "templates": ["Hi {name}"]}],
        },
        env={},
    )
    history = PersonHistory(last_drafted={}, templates_used=frozenset(), engaged_before=True, stopped_at=NOW)
    ctx = Context(now=NOW, self_id=SELF_ID, history=history)
    assert explain(compile_rules(loaded.rules), reply("hello?"), ctx) == [
        ("any", "the person asked us to stop on 2026-06-01")
    ]
    tagged = replace(reply("hello?"), account=replace(FAN, fields=("about: #nobots",)))
    plain = Context(now=NOW, self_id=SELF_ID)
    assert explain(compile_rules(loaded.rules), tagged, plain) == [("any", "the account asks for #nobots")]


def test_max_posts_per_day_holds_posts_back_when_set() -> None:
    capped = LimitSettings(max_posts_per_day=5)
    assert budget.may_post(NOW, capped, posts_last_hour=0, statuses_last_3h=0, posts_last_day=5) == (
        "limits.max_posts_per_day reached"
    )
    assert budget.may_post(NOW, capped, posts_last_hour=0, statuses_last_3h=0, posts_last_day=4) is None
    assert (
        budget.may_post(NOW, LimitSettings(), posts_last_hour=0, statuses_last_3h=0, posts_last_day=10_000)
        is None
    )


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("etiquette", "consent_tags", ["nobot"]),
        ("etiquette", "consent_tags", ["#no bot"]),
        ("etiquette", "stop_words", [""]),
        ("limits", "max_posts_per_day", -1),
        ("limits", "max_posts_per_day", "10"),
    ],
)
def test_bad_consent_settings_name_the_key(section: str, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        settings_from_dict(
            {
                "mastodon": {"base_url": "https://mastodon.example"},
                "approval": {"approvers": ["alice"]},
                section: {key: value},
            },
            env={},
        )


# --- against the instance ----------------------------------------------------------------------


def test_a_stop_reply_ends_drafting_for_that_person(community: Community) -> None:
    fan = community.person("fan")
    app = community.app()
    ours = community.bot.api.status_post("We open at nine tomorrow.", visibility="public")
    fan.api.status_post("@bot what about sunday?", visibility="public")
    app.cycle()
    waiting = app.store.pending_drafts()
    assert [d.acct for d in waiting] == ["fan"]

    fan.api.status_post("@bot STOP", in_reply_to_id=ours["id"], visibility="public")
    app.cycle()
    assert app.store.pending_drafts() == []  # the waiting draft went too
    assert app.store.draft(waiting[0].id).state == "rejected"  # type: ignore[union-attr]
    fan.api.status_post("@bot and what about monday?", visibility="public")
    app.cycle()
    assert app.store.pending_drafts() == []

    config = community.write_config()
    shown = frontrow("--config", str(config), "who", "fan")
    assert shown.returncode == 0, shown.stderr
    assert f"asked us to stop on {datetime.now(UTC):%Y-%m-%d}" in shown.stdout
    as_json = json.loads(frontrow("--config", str(config), "who", "fan", "--json").stdout)
    assert as_json["stopped_at"] is not None


def test_max_posts_per_day_waits_posts_of_the_day(community: Community) -> None:
    app = community.app(limits={"max_posts_per_day": 1})
    fan = community.person("fan")
    fan.api.status_post("@bot first?", visibility="public")
    fan.api.status_post("@bot second?", visibility="public")
    app.cycle()
    for draft in app.store.pending_drafts():
        app.store.decide(draft.id, "approved", now=app.clock(), by="alice")
    app.cycle()
    assert len(app.store.drafts("sent")) == 1
    assert app.outbox.waiting_reason() == "limits.max_posts_per_day reached"
