"""The mention → draft DM path does only the work the DM needs (issue 15, target 4: latency within
1.15 × two plain hops). Work is bounded by SQL statements counted on the store's engine, not timed:
bench/latency.py times it against a two-hop baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.model import Account
from bot.service.app import App
from bot.store import InteractionRow, Store
from bot.store.state import LAST_DRAFT_DM
from tests.conftest import Community

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Statements:
    """The SQL statements the store runs inside a `with` block (and their parameters, in `params`)."""

    def __init__(self, app: App) -> None:
        self.engine = app.store.engine
        self.seen: list[str] = []
        self.params: list[Any] = []

    def _seen(self, conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        self.seen.append(" ".join(statement.split()))
        self.params.append(parameters)

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def drafted_question(community: Community, **sections: Any) -> App:
    """A service that has recorded and drafted one question, its draft DM not sent yet."""
    app = community.app(**sections)
    app.cycle()  # the first run: from now on
    fan = community.person("fan", display_name="Fan")
    fan.api.status_post("@bot how does this work?")
    app.catch_up()  # recorded and drafted page by page
    assert [d.rule for d in app.store.drafts_to_announce()] == ["answer-questions"]
    return app


def test_announcing_a_draft_counts_the_budget_once_and_marks_it_once(community: Community) -> None:
    app = drafted_question(community)
    with Statements(app) as statements:
        app.announcer.announce(force=True)
    assert app.store.drafts_to_announce() == []
    budget = [s for s in statements if s.startswith("SELECT") and "dm_log" in s]
    # One look at the DM budget (the last hour's DMs, the last 3 hours' statuses): the DM sent is
    # within what was allowed, so sending it does not count again.
    assert len(budget) == 1, budget
    assert budget[0].count(".owner = ") == 3, budget  # each count sees only this account's rows
    # The drafts shown are marked in one UPDATE; none were left over to mark as summarised.
    marks = [s for s in statements if s.startswith("UPDATE drafts SET dm_sent_at")]
    assert len(marks) == 1, marks


def test_the_draft_dm_reads_a_persons_counts_ever_and_recent_in_one_statement(community: Community) -> None:
    app = drafted_question(community)
    with Statements(app) as statements:
        app.announcer.announce(force=True)
    reads = [s for s in statements if s.startswith("SELECT") and "FROM interactions" in s]
    assert len(reads) == 1, reads


def test_counts_ever_and_since_are_the_two_separate_counts(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        for owner in ("other@else.example", "bot@one.example"):  # two accounts share the store
            store.claim(owner, f"https://{owner.split('@')[1]}", "token", NOW)
            store.remember_person(Account(id="7", acct="fan", username="fan", display_name="Fan"), NOW)
            with store.session() as session:
                for days, direction, kind in (
                    (40, "theirs", "mention"),
                    (2, "theirs", "mention"),
                    (50, "theirs", "favourite"),
                    (1, "ours", "boost"),
                    (45, "ours", "reply"),
                ):
                    session.add(
                        InteractionRow(
                            account_id="7", direction=direction, kind=kind, at=NOW - timedelta(days=days)
                        )
                    )
                session.commit()
        since = NOW - timedelta(days=30)
        ever, recent = store.interaction_counts_ever_and_since(["7"], since)["7"]
        assert ever == store.interaction_counts("7")
        assert recent == store.interaction_counts("7", since=since)
        assert recent == {"theirs": {"mention": 1}, "ours": {"boost": 1}}
        assert ever["theirs"] == {"mention": 2, "favourite": 1}
        empty = store.interaction_counts_ever_and_since(["nobody"], since)
        assert empty == {"nobody": ({"theirs": {}, "ours": {}}, {"theirs": {}, "ours": {}})}
    finally:
        store.close()


def test_without_a_batch_window_the_last_draft_dm_time_is_not_read(community: Community) -> None:
    app = drafted_question(community, approval={"batch_window": "0s"})
    recorder = Statements(app)
    with recorder:
        app.announcer.announce(force=False)
    assert app.store.drafts_to_announce() == []  # sent at once
    sent = next(i for i, s in enumerate(recorder.seen) if s.startswith("INSERT INTO dm_log"))
    read = [  # before the DM went out (writing the time afterwards reads its row)
        s
        for s, p in zip(recorder.seen[:sent], recorder.params[:sent], strict=True)
        if "FROM state" in s and "last_draft_dm_at" in str(p)
    ]
    assert read == []
    assert app.store.get(LAST_DRAFT_DM) is not None  # still written: a window set later counts from it


def test_inside_a_batch_window_a_new_draft_waits(community: Community) -> None:
    app = drafted_question(community, approval={"batch_window": "10m"})
    app.store.put(LAST_DRAFT_DM, app.clock())
    app.announcer.announce(force=False)
    assert [d.rule for d in app.store.drafts_to_announce()] == ["answer-questions"]


def test_reads_by_a_key_that_names_the_owner_carry_no_second_owner_condition(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        for owner in ("other@else.example", "bot@one.example"):  # two accounts share the store
            store.claim(owner, f"https://{owner.split('@')[1]}", "token", NOW)
            store.remember_person(Account(id="7", acct="fan", username="fan", display_name=owner), NOW)
            store.put(LAST_DRAFT_DM, NOW if owner.startswith("bot") else NOW - timedelta(days=1))
        seen: list[str] = []

        def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
            seen.append(" ".join(text.split()))

        event.listen(store.engine, "before_cursor_execute", statement)
        try:
            assert store.get(LAST_DRAFT_DM) == NOW  # still this account's own row
            person = store.person("7")
            assert person is not None and person.display_name == "bot@one.example"
        finally:
            event.remove(store.engine, "before_cursor_execute", statement)
        assert len(seen) == 2, seen
        assert all(s.count(".owner = ") == 1 for s in seen), seen
    finally:
        store.close()
