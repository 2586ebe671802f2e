"""What the instance says about the account (4.3+), fed from recorded real-shaped JSON through the edge."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.service.app import App
from bot.store import utcnow
from tests.conftest import Community
from tests.test_budget import dms_to

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str, **changes: Any) -> dict[str, Any]:
    """A recorded notification, dated now (the recording is older than listener.max_event_age)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    data["created_at"] = utcnow().isoformat()
    data.update(changes)
    return data


def as_ours(app: App, data: dict[str, Any]) -> dict[str, Any]:
    """The recording's own account (moderation warnings and severances come from it) is our bot."""
    assert app.me is not None
    data["account"] = {**data["account"], "id": app.me.id, "username": "bot", "acct": "bot"}
    return data


def test_a_moderation_warning_pauses_and_tells_the_approvers_its_text(community: Community) -> None:
    app = community.app()
    warning = as_ours(app, recorded("notification_moderation_warning.json"))
    warning["moderation_warning"]["text"] = "<p>Automated replies to @carol@other.example were reported.</p>"
    assert app.listener.record("notification", warning)
    community.person("asker").api.status_post("@bot when do you open?")
    app.cycle()

    assert app.store.is_paused()
    assert app.store.drafts() == []  # the question waits: nothing is drafted while paused
    told = [dm for dm in dms_to(community.approver, community.bot) if "moderators warned" in dm]
    assert len(told) == 1
    assert "the account is limited" in told[0]
    assert '"Automated replies to carol@other.example were reported."' in told[0]  # no one else notified
    assert '"resume"' in told[0]

    community.approver.api.status_post("@bot resume", visibility="direct")
    app.cycle()
    assert not app.store.is_paused()
    assert [d.rule for d in app.store.drafts()] == ["answer-questions"]


def test_an_old_moderation_warning_is_recorded_without_pausing(community: Community) -> None:
    app = community.app()
    old = as_ours(app, recorded("notification_moderation_warning.json"))
    old["created_at"] = (utcnow() - timedelta(days=30)).isoformat()
    assert app.listener.record("notification", old)
    app.work()
    assert not app.store.is_paused()
    assert app.store.unhandled_events() == []


def test_severed_relationships_are_told_with_their_counts(community: Community) -> None:
    app = community.app()
    severed = as_ours(app, recorded("notification_severed_relationships.json"))
    assert app.listener.record("notification", severed)
    app.work()
    told = [dm for dm in dms_to(community.approver, community.bot) if "relationships were cut" in dm]
    assert len(told) == 1
    assert "suspended the domain spam.example" in told[0]
    assert "12 follower(s) lost, 3 account(s) we no longer follow" in told[0]
    assert not app.store.is_paused()
    assert app.store.unhandled_events() == []


def test_unknown_types_are_recorded_and_nothing_breaks(community: Community) -> None:
    app = community.app()
    base = recorded("notification_follow.json")
    kinds = ["annual_report", "added_to_collection", "quoted_update", "brand_new_type"]
    for number, kind in enumerate(kinds):
        assert app.listener.record("notification", {**base, "id": f"90{number}", "type": kind})
    community.person("asker").api.status_post("@bot is this still on?")
    app.cycle()
    assert app.store.count_events() == 5
    assert app.store.unhandled_events() == []
    assert app.store.quarantined_events() == []
    assert [d.rule for d in app.store.drafts()] == ["answer-questions"]
