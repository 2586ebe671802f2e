"""Catch-up work per page (issue 15): a page of notifications is recorded in one transaction and drafted
in one more, whatever its size; what a later event of the page needs of an earlier one's draft is seen
before both are written; one event whose draft the database refuses costs that event an attempt only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DataError

from bot.model import NewDraft
from bot.service.app import App
from bot.store import Store
from bot.store.tables import EventRow
from tests.conftest import Community, Person

RULES = [
    {
        "name": "thank-new-followers",
        "on": "follow",
        "templates": ["Thanks for the follow, {name}! Glad you're here."],
        "visibility": "unlisted",
        "cooldown": "180d",
    },
    {
        "name": "answer-questions",
        "on": "mention",
        "contains_any": ["?"],
        "templates": ["Good question, {name}. Let me think about it and come back to you."],
        "cooldown": "1d",
    },
]
PAGE = 40  # mastodon_mock's largest page of notifications (Mastodon's is 80)


def started(community: Community) -> App:
    """An app whose first run is behind it: its cursor lies before what the test sends next."""
    app = community.app(limits={"spike_threshold": 1000, "max_drafts_per_day": 1000}, rules=RULES)
    app.catch_up()
    assert app.store.get_cursor() is not None
    return app


def backlog(community: Community, people: int) -> list[Person]:
    """Each person follows the bot and asks it a question twice: 3 notifications a person."""
    crowd = [community.person(f"fan{n:03d}", display_name=f"Fan {n}") for n in range(people)]
    for person in crowd:
        person.api.account_follow(community.bot.id)
        person.api.status_post("@bot do you open on Sundays?")
        person.api.status_post("@bot and on Mondays?")
    return crowd


@contextmanager
def counted(store: Store) -> Iterator[dict[str, int]]:
    """Commits and SQL statements on the store's engine while the block runs."""
    seen = {"commits": 0, "statements": 0}

    def commit(_conn: Any) -> None:
        seen["commits"] += 1

    def statement(*_: Any) -> None:
        seen["statements"] += 1

    event.listen(store.engine, "commit", commit)
    event.listen(store.engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(store.engine, "commit", commit)
        event.remove(store.engine, "before_cursor_execute", statement)


def test_a_catch_up_records_and_drafts_a_page_in_two_transactions(community: Community) -> None:
    app = started(community)
    backlog(community, 30)  # 90 notifications: three pages
    pages = -(-90 // PAGE)

    with counted(app.store) as seen:
        assert app.catch_up() == 90

    drafts = app.store.drafts()
    # A follow thanked and one question answered per person: the second is inside the rule's cooldown,
    # which the drafter knows before the first draft is written.
    assert sorted(d.rule for d in drafts) == ["answer-questions"] * 30 + ["thank-new-followers"] * 30
    assert len({(d.rule, d.acct) for d in drafts}) == 60
    assert app.store.count_unhandled() == 0
    # Per page: the events and the cursor, then the drafts and the handled marks. One per event before.
    assert seen["commits"] <= 2 * pages + 2, seen
    # A few reads a page (the batch's histories, threads, the state), no statement per event.
    assert seen["statements"] <= 25 * pages, seen


def test_an_event_whose_draft_the_database_refuses_costs_that_event_an_attempt_only(
    community: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = started(community)
    crowd = backlog(community, 5)
    refused = crowd[2].id  # the database refuses the drafts for this person (as PostgreSQL a NUL byte)
    finish_events, finish_event = app.store.finish_events, app.store.finish_event
    events_of: dict[int, str] = {}

    def refusing_many(finished: Sequence[tuple[int, NewDraft | None]], now: datetime) -> list[int | None]:
        if any(draft is not None and draft.account_id == refused for _, draft in finished):
            raise DataError("INSERT INTO drafts", {}, Exception("invalid byte sequence"))
        return finish_events(finished, now)

    def refusing_one(event_id: int, draft: NewDraft | None, now: datetime) -> int | None:
        if draft is not None and draft.account_id == refused:
            events_of[event_id] = draft.rule
            raise DataError("INSERT INTO drafts", {}, Exception("invalid byte sequence"))
        return finish_event(event_id, draft, now)

    monkeypatch.setattr(app.store, "finish_events", refusing_many)
    monkeypatch.setattr(app.store, "finish_event", refusing_one)

    assert app.catch_up() == 15

    drafts = app.store.drafts()
    # Everyone else thanked and answered; the refused person's events wait for a retry.
    assert len(drafts) == 8 and refused not in {d.account_id for d in drafts}
    assert app.store.count_unhandled() == 2 == len(events_of)
    with app.store.session() as session:
        for event_id in events_of:
            row = session.get(EventRow, event_id)
            assert row is not None and row.attempts == 1 and row.handled_at is None
            assert "invalid byte sequence" in (row.last_error or "")


def test_the_draft_dms_after_a_catch_up_read_the_drafts_context_in_a_few_queries(
    community: Community,
) -> None:
    app = started(community)
    backlog(community, 20)
    app.catch_up()
    assert len(app.store.drafts_to_announce()) == 40

    with counted(app.store) as seen:
        app.announcer.announce(force=True)

    assert app.store.drafts_to_announce() == []
    # What the person wrote, who they are to us: four reads for all forty drafts, not four per draft.
    assert seen["statements"] <= 40, seen
