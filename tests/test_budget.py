"""The attention budget, end to end: stadium mode, post caps, quiet hours, expiry, thread caps, pause."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from bot.service.app import App, build_app
from bot.service.serve import serve
from bot.text import html_to_text
from tests.conftest import Clock, Community, Person, until_taken, wait_for
from tests.test_approval_loop import public_posts


def dms_to(person: Person, bot: Person) -> list[str]:
    """Every direct message `person` received from the bot, oldest first."""
    return [
        html_to_text(n["status"]["content"])
        for n in reversed(person.api.notifications(types=["mention"], limit=40))
        if n["status"] and n["status"]["visibility"] == "direct" and str(n["account"]["id"]) == bot.id
    ]


def crowd(community: Community, count: int, prefix: str = "fan") -> list[Person]:
    people = []
    for number in range(count):
        person = community.person(f"{prefix}{number}")
        until_taken(lambda api=person.api: api.account_follow(community.bot.id))
        people.append(person)
    return people


def welcome_drafts(app: App) -> list:
    return [d for d in app.store.drafts() if d.acct == ""]


def test_a_burst_of_follows_gets_one_welcome_and_the_question_its_own_draft(community: Community) -> None:
    app = community.app()
    app.catch_up()  # the service ran before the crowd came (a first run would start from the newest page)
    crowd(community, 120)
    asker = community.person("asker")
    asker.api.status_post("@bot is there a newsletter?")

    app.cycle()

    dms = dms_to(community.approver, community.bot)
    assert 1 <= len(dms) <= 5
    assert any("120 people followed" in dm for dm in dms)
    assert 1 <= len(welcome_drafts(app)) <= 2
    question = [d for d in app.store.drafts() if d.rule == "answer-questions"]
    assert len(question) == 1 and question[0].acct == "asker"
    individual_thanks = [d for d in app.store.drafts() if d.acct.startswith("fan") and d.state == "pending"]
    assert individual_thanks == []
    # The question is shown first: questions lead the triage.
    joined = "\n".join(dms)
    assert joined.index(f"Draft #{question[0].id}") < joined.index(f"Draft #{welcome_drafts(app)[0].id}")


@contextmanager
def running(community: Community, clock: Clock, **sections: object) -> Iterator[App]:
    """`frontrow run` in a thread, streaming, with the injected clock; stopped like SIGTERM would."""
    settings = community.settings(listener={"streaming": True, "poll_interval": "1h"}, **sections)
    app = build_app(settings, clock=clock)
    thread = threading.Thread(target=serve, args=(app,), daemon=True)
    thread.start()
    wait_for(lambda: app.store.last_beat() is not None, what="the service to start")
    try:
        yield app
    finally:
        app.stopping.set()
        thread.join(timeout=10)
        assert not thread.is_alive()


def test_stadium_mode_over_the_stream_and_across_a_restart(community: Community) -> None:
    clock = Clock()
    with running(community, clock) as app:
        crowd(community, 60, prefix="early")
        wait_for(lambda: app.store.follows_since(clock() - timedelta(hours=1))[0] >= 60, what="60 follows")
    # Restart in the middle of the spike.
    with running(community, clock) as app:
        crowd(community, 60, prefix="late")
        asker = community.person("asker")
        asker.api.status_post("@bot is there a newsletter?")
        wait_for(
            lambda: any(d.rule == "answer-questions" for d in app.store.drafts()), what="the question's draft"
        )
        wait_for(lambda: app.store.follows_since(clock() - timedelta(hours=1))[0] >= 120, what="120 follows")
        clock.advance(timedelta(minutes=3))  # the batch window ends
        wait_for(
            lambda: any("120 people followed" in dm for dm in dms_to(community.approver, community.bot)),
            what="the stadium notice",
        )
        wait_for(lambda: app.store.drafts_to_announce() == [], what="every draft announced")
    dms = dms_to(community.approver, community.bot)
    assert len(dms) <= 5
    assert 1 <= len(welcome_drafts(app)) <= 2
    pending_thanks = [d for d in app.store.pending_drafts() if d.rule == "thank-new-followers" and d.acct]
    assert len(pending_thanks) <= 1  # at most the very first follow, thanked before the crowd came


def approve_all(community: Community, app: App) -> list[int]:
    ids = [d.id for d in app.store.pending_drafts()]
    community.approver.api.status_post("@bot ok " + " ".join(map(str, ids)), visibility="direct")
    return ids


def test_post_cap_posts_the_rest_later_in_order(community: Community) -> None:
    crowd(community, 5)
    clock = Clock()
    app = community.app(clock=clock, limits={"max_posts_per_hour": 2})
    app.cycle()
    ids = approve_all(community, app)
    app.cycle()
    assert [d.id for d in app.store.drafts("sent")] == ids[:2]
    app.cycle()
    assert len(public_posts(community)) == 2

    clock.advance(timedelta(minutes=61))
    app.cycle()
    clock.advance(timedelta(minutes=61))
    app.cycle()
    sent = app.store.drafts("sent")
    assert [d.id for d in sorted(sent, key=lambda d: (d.sent_at, d.id))] == ids
    assert len(public_posts(community)) == 5


def test_quiet_hours_hold_approved_posts_until_morning(community: Community) -> None:
    clock = Clock()
    now = clock()
    # Quiet hours from one hour ago to one hour ahead, whatever the time of day.
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    app = community.app(clock=clock, limits={"quiet_hours": f"{start}-{end}"})
    app.cycle()
    approve_all(community, app)
    app.cycle()
    assert app.store.drafts("approved") and public_posts(community) == []

    clock.advance(timedelta(hours=1, minutes=5))
    app.cycle()
    assert len(public_posts(community)) == 1


def test_pending_drafts_expire_and_the_approver_is_told(community: Community) -> None:
    clock = Clock()
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    app = community.app(clock=clock, approval={"expire_after": "1h"})
    app.cycle()
    (draft,) = app.store.drafts()

    clock.advance(timedelta(hours=2))
    app.cycle()
    community.approver.api.status_post(f"@bot ok {draft.id}", visibility="direct")
    app.cycle()

    assert app.store.draft(draft.id).state == "expired"
    assert public_posts(community) == []
    dms = dms_to(community.approver, community.bot)
    assert any(f"Expired without a decision: #{draft.id}" in dm for dm in dms)
    assert any(f"#{draft.id} is already expired" in dm for dm in dms)


def test_the_fourth_reply_in_a_thread_is_not_drafted(community: Community) -> None:
    fan = community.person("fan")
    app = community.app(etiquette={"max_replies_per_thread": 3})
    status = fan.api.status_post("@bot how does it start?")
    for _ in range(3):
        app.cycle()
        (draft,) = app.store.pending_drafts()
        community.approver.api.status_post(f"@bot ok {draft.id}", visibility="direct")
        app.cycle()
        # The fan answers our reply: the same thread goes on.
        status = fan.api.status_post(
            "@bot and then what?", in_reply_to_id=app.store.draft(draft.id).status_id
        )
    app.cycle()
    assert app.store.pending_drafts() == []
    assert len(app.store.drafts("sent")) == 3
    assert str(status["id"]) not in {d.in_reply_to_id for d in app.store.drafts()}


def test_pause_records_but_neither_drafts_nor_posts_until_resume(community: Community) -> None:
    fan = community.person("fan")
    fan.api.account_follow(community.bot.id)
    app = community.app()
    app.cycle()
    (thanks,) = app.store.drafts()
    alice = community.approver.api
    alice.status_post("@bot pause", visibility="direct")
    app.cycle()
    alice.status_post(f"@bot ok {thanks.id}", visibility="direct")
    fan.api.status_post("@bot are you there?")
    app.cycle()

    assert app.store.is_paused()
    assert [d.id for d in app.store.drafts()] == [thanks.id]  # no new draft
    assert app.store.person("fan") is not None and len(app.store.unhandled_events()) == 1  # recorded
    assert public_posts(community) == []

    alice.status_post("@bot resume", visibility="direct")
    app.cycle()
    assert len(public_posts(community)) == 1
    assert any(d.rule == "answer-questions" for d in app.store.drafts())
