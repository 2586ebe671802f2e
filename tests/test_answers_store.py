"""Answers kept in the store (SQLite and PostgreSQL): offers per draft, remembered and learned replies,
and the `frontrow answers` commands that list, test, learn and forget them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.model import Account, Mention, NewDraft, Offer, Status
from bot.service import answering
from bot.store import Store
from tests.conftest import to_toml
from tests.test_cli import EXAMPLE, frontrow

NOW = datetime(2026, 5, 3, 12, 0, tzinfo=UTC)
RITA = Account(id="7", acct="rita@example.social", username="rita", display_name="Rita")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def answering_draft(store: Store, question: str = "do you ship to Canada?", number: int = 1) -> int:
    """A mention recorded and drafted by an answering rule: the holding line and one knowledge answer."""
    event = Mention(
        id=f"n{number}",
        created_at=NOW,
        account=RITA,
        status=Status(id=f"s{number}", text=f"@bookshop {question}", language="en"),
    )
    store.record_events([event], NOW)
    ((event_id, _),) = store.unhandled_events(now=NOW)
    offers = (
        Offer(0, "template", "answer-questions", 0.0, "Good question, Rita."),
        Offer(1, "knowledge", "shipping", 0.7, "We ship worldwide, Rita.", "knowledge:shipping", chosen=True),
    )
    draft = NewDraft(
        "answer-questions", RITA.id, RITA.acct, "Rita", offers[1].text, "t", "public", "s1", offers=offers
    )
    draft_id = store.finish_event(event_id, draft, NOW)
    assert draft_id is not None
    return draft_id


def test_offers_are_saved_with_the_draft_and_use_switches_the_text(store: Store) -> None:
    draft_id = answering_draft(store)
    assert [(o.rank, o.chosen) for o in store.offers(draft_id)] == [(0, False), (1, True)]
    draft, why = answering.use(store, draft_id, 0)
    assert draft is None and why == f"#{draft_id} has no answer 0: use 1"
    assert store.choose_offer(draft_id, 0)  # the store can go back to the rule's own text
    assert store.draft(draft_id).text == "Good question, Rita."
    assert [o.chosen for o in store.offers(draft_id)] == [True, False]
    assert answering.use(store, 99, 1) == (None, "#99: no such draft")
    store.decide(draft_id, "rejected", now=NOW, by="alice")
    assert answering.use(store, draft_id, 1) == (None, f"#{draft_id} is already rejected")
    assert not store.choose_offer(draft_id, 1)


def test_an_approved_answer_is_remembered_with_its_question_and_a_holding_line_is_not(store: Store) -> None:
    draft_id = answering_draft(store)
    answer_id = answering.remember(store, draft_id, "Yes Rita, {we} ship to Canada.", NOW)
    (kept,) = store.stored_answers()
    assert (kept.id, kept.kind, kept.person, kept.language) == (answer_id, "reply", "Rita", "en")
    assert kept.question == "@bookshop do you ship to Canada?"
    assert kept.text == "Yes {name}, {{we}} ship to Canada."

    other = answering_draft(store, "do you sell gift cards?", number=2)
    store.choose_offer(other, 0)
    assert answering.remember(store, other, "Good question, Rita.", NOW) is None
    assert len(store.stored_answers()) == 1


def test_learn_keeps_a_decided_answer_and_forget_drops_it(store: Store) -> None:
    draft_id = answering_draft(store)
    assert (
        answering.learn(store, draft_id, [], NOW)
        == f"#{draft_id} is pending: approve or edit it first, then learn it"
    )
    store.decide(draft_id, "approved", now=NOW, by="alice", text="Yes Rita, Canada too.\n^Alice")
    told = answering.learn(store, draft_id, ["^Alice"], NOW)
    assert told.startswith(f"Learned #{draft_id} as answer #") and "@bookshop" not in told
    (kept,) = store.stored_answers()
    assert (kept.kind, kept.text) == ("learned", "Yes {name}, Canada too.")
    assert answering.learn(store, 404, [], NOW) == "#404: no such draft"
    assert store.forget_answer(kept.id) and not store.forget_answer(kept.id)
    assert store.stored_answers() == []


def test_answers_belong_to_their_account(store: Store, store_url: str) -> None:
    store.owner = "bot@one.example"
    draft_id = answering_draft(store)
    answering.remember(store, draft_id, "Yes.", NOW)
    other = Store(store_url, owner="bot@two.example")
    assert other.stored_answers() == [] and other.offers(draft_id) == []
    other.close()


def config_with_store(tmp_path: Path, store_url: str) -> Path:
    text = EXAMPLE.read_text().replace('url = "sqlite:///frontrow.db"', f"url = {json.dumps(store_url)}")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_answers_commands_list_test_learn_and_forget(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'frontrow.db'}"
    config = config_with_store(tmp_path, store_url)
    db = Store.open(store_url)
    draft_id = answering_draft(db)
    db.decide(draft_id, "approved", now=NOW, by=None, text="Yes Rita, we ship to Canada.")
    db.close()

    learned = frontrow("--config", str(config), "answers", "learn", str(draft_id))
    assert learned.returncode == 0, learned.stderr
    assert learned.stdout.startswith(f"Learned #{draft_id} as answer #1")

    listed = frontrow("--config", str(config), "answers", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["kind"]) for r in rows] == [("opening-hours", "knowledge"), ("#1", "learned")]
    assert rows[1]["text"] == "Yes {name}, we ship to Canada." and rows[1]["answered"]["person"] == "Rita"

    tried = frontrow("--config", str(config), "answers", "test", "Do you ship to Canada?", "--name", "Fran")
    assert tried.returncode == 0, tried.stderr
    assert "1. learned #1: " in tried.stdout and "Yes Fran, we ship to Canada." in tried.stdout
    nothing = frontrow("--config", str(config), "answers", "test", "how are you?")
    assert "No answer: nothing in its language shares a word" in nothing.stdout

    assert frontrow("--config", str(config), "answers", "forget", "#1").stdout == "Forgot #1.\n"
    again = frontrow("--config", str(config), "answers", "forget", "1")
    assert again.returncode == 1 and "#1: no such answer" in again.stderr
    entry = frontrow("--config", str(config), "answers", "forget", "opening-hours")
    assert entry.returncode == 1 and "is an entry of the config" in entry.stderr


def test_learning_a_draft_that_is_not_decided_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        to_toml(
            {
                "mastodon": {"base_url": "https://mastodon.example"},
                "store": {"url": f"sqlite:///{tmp_path / 'f.db'}"},
                "approval": {"approvers": ["alice"]},
            }
        )
    )
    Store.open(f"sqlite:///{tmp_path / 'f.db'}").close()  # a store without that draft
    result = frontrow("--config", str(config), "answers", "learn", "12")
    assert result.returncode == 1 and result.stderr.strip() == "#12: no such draft"


def test_check_config_warns_of_a_question_that_can_never_match(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'questions = ["When are you open?",', 'questions = ["How are you?", "When are you open?",'
    )
    config = tmp_path / "config.toml"
    config.write_text(text)
    result = frontrow("--config", str(config), "check-config", env={"FRONTROW_ACCESS_TOKEN": "t0k3n"})
    assert result.returncode == 0, result.stderr
    assert "answers: 1 entry (en 1), min_score 0.45; used by: answer-questions" in result.stdout
    assert (
        'warning: answers "opening-hours": the question "How are you?" is only common words' in result.stderr
    )


def test_rules_test_drafts_the_knowledge_answer() -> None:
    args = ["--config", str(EXAMPLE), "rules", "test", "--event", "mention", "--from", "rita@example.social"]
    asked = frontrow(*args, "--text", "are you open on sundays?", "--name", "Rita")
    assert asked.returncode == 0, asked.stderr
    assert "answer: knowledge opening-hours (" in asked.stdout
    assert "@rita@example.social We're open Tuesday to Saturday, 9:00-18:00, Rita." in asked.stdout
    other = frontrow(*args, "--text", "how does this work?")
    assert "answer: none from knowledge (the rule's own text)" in other.stdout
    assert "Good question, rita." in other.stdout


def test_the_knowledge_is_read_again_after_a_refresh(store: Store) -> None:
    from bot.config import settings_from_dict

    def config(*names: str) -> Any:
        entries = [{"name": n, "questions": [f"do you sell {n}?"], "text": f"Yes, {n}."} for n in names]
        return settings_from_dict(
            {
                "mastodon": {"base_url": "https://x.example"},
                "approval": {"approvers": ["a"]},
                "answers": entries,
            }
        )

    current = [config("stamps")]
    knowledge = answering.Knowledge(store, lambda: current[0])
    assert [s.entry.label for s in knowledge.index(NOW).rank("do you sell stamps?", "en")] == ["stamps"]
    current[0] = config("stamps", "maps")  # a reloaded config
    answering.remember(store, answering_draft(store), "Yes Rita, maps too.", NOW)
    assert len(knowledge.index(NOW).entries) == 1  # the same index until the next round
    knowledge.refresh()
    assert [e.key for e in knowledge.index(NOW).entries] == ["knowledge:stamps", "knowledge:maps", "reply:1"]
