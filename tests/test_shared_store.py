"""Two bot accounts, two Frontrow processes, one database: each sees and acts on its own rows only."""

from __future__ import annotations

from bot.service.app import build_app, open_store
from tests.conftest import Community
from tests.test_budget import dms_to


def test_two_accounts_share_one_store_without_seeing_each_other(community: Community) -> None:
    second = community.person("shop", display_name="The Shop")
    fan = community.person("fan", display_name="Fan")
    for bot in (community.bot, second):
        fan.api.account_follow(bot.id)
    fan.api.status_post("@bot how does this work?")
    fan.api.status_post("@shop are you open today?")

    first_app = community.app()
    second_settings = community.settings(mastodon={"access_token": community.token(second)})
    second_app = build_app(second_settings)
    second_app.start()
    first_app.cycle()
    second_app.cycle()

    mine = {d.id: d for d in first_app.store.drafts()}
    theirs = {d.id: d for d in second_app.store.drafts()}
    assert len(mine) == 2 and len(theirs) == 2 and not set(mine) & set(theirs)
    assert {d.in_reply_to_id for d in mine.values() if d.in_reply_to_id} != {
        d.in_reply_to_id for d in theirs.values() if d.in_reply_to_id
    }
    # Offline commands find their own account's rows from the config alone.
    assert {d.id for d in open_store(community.settings()).drafts()} == set(mine)
    assert {d.id for d in open_store(second_settings).drafts()} == set(theirs)

    # An approval sent to one bot never reaches the other bot's drafts.
    other = next(iter(theirs))
    community.approver.api.status_post(f"@bot ok {other}", visibility="direct")
    first_app.cycle()
    second_app.cycle()
    assert second_app.store.draft(other).state == "pending"
    assert first_app.store.draft(other) is None
    assert any(f"#{other}: no such draft" in dm for dm in dms_to(community.approver, community.bot))
