"""The answer ranking (pure): a table of questions against a 12-entry knowledge base, and its guards."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, settings_from_dict
from bot.core import answers
from bot.core.answers import Entry, Index
from bot.core.commands import Command, help_text, parse_command
from bot.core.render import draft_block
from bot.model import Account, Draft, NewDraft, Offer, Status, StatusEvent

TABLE = tomllib.loads((Path(__file__).parent / "fixtures" / "knowledge.toml").read_text())
MIN_SCORE = settings_from_dict(
    {"mastodon": {"base_url": "https://x.example"}, "approval": {"approvers": ["a"]}}
).answers.min_score
RITA = Account(id="1", acct="rita@example.social", username="rita", display_name="Rita :blob:")


def knowledge(entries: list[dict[str, Any]]) -> Index:
    return Index(
        Entry(
            f"knowledge:{e['name']}",
            "knowledge",
            e["name"],
            tuple(e["questions"]),
            e["text"],
            e.get("language", "en"),
        )
        for e in entries
    )


INDEX = knowledge(TABLE["answers"])


def best(question: str, language: str | None, index: Index = INDEX) -> str:
    """The entry the draft would carry, or "" for no answer."""
    offers = index.offers(question, language, MIN_SCORE, RITA, 480)
    return offers[0].label if offers else ""


def test_the_table_is_large_enough() -> None:
    assert len(TABLE["answers"]) == 12
    assert len(TABLE["cases"]) >= 40
    assert sum(not case["expected"] for case in TABLE["cases"]) >= 10  # off-topic, other languages


@pytest.mark.parametrize(
    "case", [c for c in TABLE["cases"] if "miss" not in c], ids=lambda c: c["question"][:40]
)
def test_each_question_gets_the_expected_entry_or_no_answer(case: dict[str, str]) -> None:
    assert best(case["question"], case["language"] or None) == case["expected"]


def test_precision_and_recall_on_the_whole_table() -> None:
    offered = correct = 0
    for case in TABLE["cases"]:
        got = best(case["question"], case["language"] or None)
        offered += bool(got)
        correct += bool(got) and got == case["expected"]
    expected = sum(bool(case["expected"]) for case in TABLE["cases"])
    assert correct / offered >= 0.9
    assert correct / expected >= 0.7


@pytest.mark.parametrize(
    "question", ["what?", "can you do it?", "how are you?", "is it you?", "@bookshop ??"]
)
def test_a_question_of_common_words_only_gets_no_answer(question: str) -> None:
    assert answers.terms(question, "en") == []
    assert INDEX.rank(question, "en") == []


def test_never_across_languages() -> None:
    # The German entries answer German posts only; an English question in a German post gets nothing.
    assert best("Versendet ihr ins Ausland?", "de") == "versand"
    assert best("Versendet ihr ins Ausland?", "en") == ""
    assert best("Do you ship abroad?", "de") == ""
    assert best("Do you ship abroad?", "fr") == ""  # no entry in French at all
    assert best("Do you ship abroad?", "en-GB") == "shipping"


def test_an_unknown_language_is_guessed_from_common_words() -> None:
    assert answers.guess_language("wann habt ihr am sonntag offen", ["en", "de"]) == "de"
    assert answers.guess_language("are you open on sunday", ["en", "de"]) == "en"
    assert answers.guess_language("sunday", ["en", "de"]) is None
    assert best("Habt ihr sonntags offen?", None) == "oeffnungszeiten"


def test_a_typo_one_letter_away_still_matches() -> None:
    assert best("do you shipp abroad?", "en") == "shipping"
    assert best("refnud policy?", "en") == "returns"
    # …but short words are not bent to a neighbour: "shop" is no typo of "ship".
    assert INDEX.groups["en"].closest("shop") is None


def test_below_the_threshold_the_best_is_ranked_but_not_offered() -> None:
    ranked = INDEX.rank("can I return a book I bought last week?", "en")
    assert ranked and ranked[0].score < MIN_SCORE
    assert INDEX.offers("can I return a book I bought last week?", "en", MIN_SCORE, RITA, 480) == []


def test_offers_are_filled_for_the_person_and_never_repeat_a_text() -> None:
    twin = dict(TABLE["answers"][1], name="shipping-again")
    index = knowledge([*TABLE["answers"], twin])
    offers = index.offers("do you ship abroad?", "en", MIN_SCORE, RITA, 480)
    assert [o.label for o in offers] == ["shipping"]
    assert offers[0].text.startswith("We ship worldwide, Rita:")
    assert "{name}" not in offers[0].text and ":blob:" not in offers[0].text


def test_the_rules_draft_becomes_the_best_answer_with_every_offer() -> None:
    event = StatusEvent(
        id="n1",
        created_at=datetime(2026, 5, 3, tzinfo=UTC),
        account=RITA,
        status=Status(id="s1", text="@bookshop are you open on sundays?", language="en"),
    )
    holding = NewDraft("answer-questions", "1", RITA.acct, "Rita", "Good question, Rita.", "t", "public")
    drafted = answers.answer(holding, event, INDEX, MIN_SCORE, 500)
    assert drafted.text.startswith("We're open Tuesday to Saturday")
    assert [(o.rank, o.source, o.chosen) for o in drafted.offers][:2] == [
        (0, "template", False),
        (1, "knowledge", True),
    ]
    off_topic = StatusEvent(
        id="n2", created_at=event.created_at, account=RITA, status=Status(id="s2", text="how are you?")
    )
    kept = answers.answer(holding, off_topic, INDEX, MIN_SCORE, 500)
    assert kept.text == "Good question, Rita." and [o.chosen for o in kept.offers] == [True]


def test_a_posted_answer_becomes_a_template_again() -> None:
    template = answers.as_template("Yes Rita, {we} ship to Canada. Ritalin is not for sale.", "Rita")
    assert template == "Yes {name}, {{we}} ship to Canada. Ritalin is not for sale."
    assert answers.fill(template, Account(id="2", acct="fran", username="fran", display_name="Fran")) == (
        "Yes Fran, {we} ship to Canada. Ritalin is not for sale."
    )


def test_a_past_reply_is_labelled_with_whom_and_when() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert (
        answers.reply_label("Rita", datetime(2026, 5, 3, tzinfo=UTC), now) == "as you answered Rita on 3 May"
    )
    assert answers.reply_label("Rita", datetime(2025, 5, 3, tzinfo=UTC), now).endswith("3 May 2025")


def test_the_draft_line_names_the_source_the_score_and_the_runner_up() -> None:
    offers = [
        Offer(0, "template", "answer-questions", 0.0, "Good question."),
        Offer(1, "knowledge", "shipping", 0.7154, "We ship.", "knowledge:shipping", chosen=True),
        Offer(2, "reply", "as you answered @Rita on 3 May", 0.61, "Yes.", "reply:4"),
    ]
    line = answers.offers_line(12, offers)
    assert line == (
        'answer: knowledge shipping (0.72) · or 2: as you answered Rita on 3 May (0.61), send "use 12 2"'
    )
    assert answers.offers_line(12, offers[:1]) == "answer: none from knowledge (the rule's own text)"


@given(st.text(max_size=300), st.sampled_from([None, "en", "de", "xx", "", "EN-us"]))
def test_hostile_text_never_raises(text: str, language: str | None) -> None:
    for scored in INDEX.rank(text, language):
        assert scored.score > 0


def _config(answers_section: Any, **rule: Any) -> dict[str, Any]:
    return {
        "mastodon": {"base_url": "https://x.example"},
        "approval": {"approvers": ["a"]},
        "answers": answers_section,
        "rules": [{"name": "answer", "on": "mention", "templates": ["Hm."], **rule}],
    }


def test_config_takes_answers_as_a_list_or_a_table_with_min_score() -> None:
    entry = {"name": "hours", "questions": ["when are you open?"], "text": "9 to 5, {name}."}
    listed = settings_from_dict(_config([entry], answer_from="knowledge"))
    assert listed.answers.entries[0].name == "hours" and listed.answers.min_score == MIN_SCORE
    assert listed.rules[0].answer_from == "knowledge"
    tabled = settings_from_dict(_config({"min_score": 0.8, "entries": [entry]}))
    assert tabled.answers.min_score == 0.8 and tabled.answers.entries[0].language == "en"


@pytest.mark.parametrize(
    ("answers_section", "rule", "error"),
    [
        (
            [{"name": "x", "questions": ["a?"], "text": "{nom}"}],
            {},
            'answers[1].text ("x"): {nom} is not a template',
        ),
        ([{"name": "x", "text": "t"}], {}, 'answers[1].questions ("x"): missing'),
        ({"min_score": "high"}, {}, 'answers.min_score: "high" is not a number'),
        ({"min_score": 0}, {}, "answers.min_score: 0 is out of range"),
        ({"min_score": 0.5, "typo": 1}, {}, "answers.typo: unknown key"),
        ([{"name": "x", "questions": ["a"], "text": "t"}] * 2, {}, 'answers: "x" is the name of two'),
        ([], {"answer_from": "wiki"}, 'rules[1].answer_from ("answer"): "wiki" is not an answer source'),
        ([], {"answer_from": "knowledge", "on": "follow"}, 'rules[1] ("answer"): answer_from needs'),
    ],
)
def test_config_errors_name_the_key(answers_section: Any, rule: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_dict(_config(answers_section, **rule))
    assert any(line.startswith(error) for line in raised.value.errors), raised.value.errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("use 12 2", Command("use", ids=(12, 2))),
        ("USE #12 #2", Command("use", ids=(12, 2))),
        ("use 2", Command("use", ids=(2,))),
        ("use", Command("use", error="usage: use 12 2")),
        ("use 12 two", Command("use", error="usage: use 12 2")),
        ("learn 12", Command("learn", ids=(12,))),
        ("learn #12 13", Command("learn", ids=(12, 13))),
    ],
)
def test_use_and_learn_are_commands(text: str, expected: Command) -> None:
    assert parse_command(text) == expected
    assert "use 12 2" in help_text() and "learn 12" in help_text()


def test_the_answer_line_sits_under_the_draft_line_and_notifies_nobody() -> None:
    draft = Draft(
        id=12, state="pending", rule="answer-questions", account_id="7", acct="fran", display_name="Fran",
        in_reply_to_id="s1", visibility="public", spoiler_text="", text="We ship.", template="",
        action="post", triage=0, thread_key=None, created_at=datetime(2026, 5, 3, tzinfo=UTC),
        sending_at=None, sent_at=None,
        dm_sent_at=None, shown_at=None, decided_by=None,
        command_status_id=None, status_id=None, status_url=None, error=None,
        event_id=1,
    )  # fmt: skip
    block = draft_block(draft, "example.social", "answer: as you answered @rita@example.social on 3 May")
    assert block.split("\n") == [
        "Draft #12 · answer-questions · for Fran (fran@example.social) · reply, public",
        "answer: as you answered rita@example.social on 3 May",
        "We ship.",
    ]
    assert draft_block(draft, "example.social").split("\n")[1] == "We ship."


def test_a_very_long_word_is_no_typo_and_costs_no_deletions() -> None:
    # A remembered question is someone's post: a 5,000-letter "word" must not make 5,000 copies of itself.
    long_word = "a" + "b" * 5000
    index = Index(
        [Entry("reply:1", "reply", "as you answered Rita on 3 May", (f"is {long_word} in stock?",), "Yes.")]
    )
    (group,) = index._by_language["en"]
    assert "stock" in group.near and max(len(key) for key in group.near) <= answers.FUZZY_MAX_LENGTH
    assert group.closest(long_word + "c") is None
    assert index.rank(f"is {long_word} in stock?", "en")[0].score == 1.0
