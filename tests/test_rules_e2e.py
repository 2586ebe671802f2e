"""Rules end to end against mastodon_mock: replies without a mention, and hot reload of the config."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.config import load_settings
from bot.service.app import build_app
from bot.service.serve import ConfigWatch, serve
from tests.conftest import Community, wait_for
from tests.test_budget import dms_to

REPLY_RULE = {"name": "thank-replies", "on": "reply", "templates": ["Thanks for answering, {name}!"]}


def test_a_reply_that_does_not_mention_us_is_a_reply_event(community: Community) -> None:
    ours = community.bot.api.status_post("We just opened our new reading room.")
    fan = community.person("fan", display_name="Fan")
    reply = fan.api.status_post("Congratulations, looks lovely", in_reply_to_id=ours["id"])
    assert "@bot" not in reply["content"]

    app = community.app(rules=[REPLY_RULE])
    app.cycle()

    (draft,) = app.store.drafts()
    assert draft.rule == "thank-replies"
    assert draft.in_reply_to_id == str(reply["id"])
    assert draft.text == "Thanks for answering, Fan!"
    app.cycle()  # checked again within the hour: nothing new
    assert len(app.store.drafts()) == 1


def test_hot_reload_takes_a_good_config_and_refuses_a_broken_one(community: Community) -> None:
    path = community.write_config(listener={"streaming": True, "poll_interval": "1h"})
    app = build_app(load_settings(path, {}))
    watch = ConfigWatch(path, lambda p: load_settings(p, {}))
    thread = threading.Thread(target=serve, args=(app, watch), daemon=True)
    thread.start()
    try:
        wait_for(lambda: app.store.last_beat() is not None, what="the service")
        community.person("one", display_name="One").api.account_follow(community.bot.id)
        wait_for(lambda: len(app.store.drafts()) == 1, what="the first draft")

        edit(path, "Thanks for the follow, {name}!", "Welcome aboard, {name}!")
        watch.requested.set()  # as SIGHUP would; the file's mtime alone may not have ticked yet
        wait_for(
            lambda: app.rules[0].templates == ("Welcome aboard, {name}! Glad you're here.",), what="reload"
        )
        community.person("two", display_name="Two").api.account_follow(community.bot.id)
        wait_for(lambda: len(app.store.drafts()) == 2, what="the second draft")
        assert app.store.drafts()[1].text == "Welcome aboard, Two! Glad you're here."

        edit(path, 'cooldown = "180d"', 'cooldown = "3 dayz"')
        watch.requested.set()
        wait_for(
            lambda: any("Config reload refused" in dm for dm in dms_to(community.approver, community.bot)),
            what="the refusal DM",
        )
        community.person("three", display_name="Three").api.account_follow(community.bot.id)
        wait_for(lambda: len(app.store.drafts()) == 3, what="the third draft")
        assert app.store.drafts()[2].text == "Welcome aboard, Three! Glad you're here."
        refusal = next(dm for dm in dms_to(community.approver, community.bot) if "refused" in dm)
        assert "rules[1].cooldown" in refusal
    finally:
        app.stopping.set()
        thread.join(timeout=10)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
