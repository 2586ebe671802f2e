"""Pure tests of the rules engine: config → compiled rules → (event, context) → at most one draft.

Rules are built through the real config path (`settings_from_dict` then `compile_rules`); events are the
plain frozen dataclasses of bot.model; the time and the person's history travel in `Context`. No server,
no store, no clock.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import EVENTS, Settings, settings_from_dict
from bot.core.rules import Context, Rule, compile_rules, explain, match
from bot.model import (
    EVENT_TYPES,
    Account,
    Event,
    NewDraft,
    PersonHistory,
    Status,
    StatusEvent,
)
from bot.text import mentioned_handles, status_length

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SELF_ID = "999"
BASE_CONFIG: dict[str, Any] = {
    "mastodon": {"base_url": "https://mastodon.example"},
    "approval": {"approvers": ["alice"]},
}
FAN = Account(
    id="101",
    acct="fan@example.social",
    username="fan",
    display_name="Fan Person",
    followers_count=50,
)
STATUS_KINDS = ("mention", "reply", "reblog", "favourite")


# --- builders ----------------------------------------------------------------------------------


def rule(name: str = "r", on: str = "mention", templates: tuple[str, ...] = ("Hello {name}!",), **more: Any):
    """One [[rules]] table as the TOML file would hold it."""
    return {"name": name, "on": on, "templates": list(templates), **more}


def load(*rules: dict[str, Any], **sections: dict[str, Any]) -> tuple[tuple[Rule, ...], Settings]:
    """Rules through the real config path, plus the settings they came with."""
    loaded = settings_from_dict({**BASE_CONFIG, **sections, "rules": list(rules)}, env={})
    return compile_rules(loaded.rules), loaded


def compiled(*rules: dict[str, Any], **sections: dict[str, Any]) -> tuple[Rule, ...]:
    return load(*rules, **sections)[0]


def past(
    drafted: dict[str, datetime] | None = None, used: tuple[str, ...] = (), engaged: bool = False
) -> PersonHistory:
    return PersonHistory(last_drafted=drafted or {}, templates_used=frozenset(used), engaged_before=engaged)


def context(loaded: Settings | None = None, **fields: Any) -> Context:
    """A Context as the app builds it: the limits from the settings, the rest given."""
    values: dict[str, Any] = {"now": NOW, "self_id": SELF_ID}
    if loaded is not None:
        values |= {
            "max_event_age": loaded.listener.max_event_age,
            "skip_bots": loaded.etiquette.skip_bots,
            "respect_nobot": loaded.etiquette.respect_nobot,
            "max_replies_per_thread": loaded.etiquette.max_replies_per_thread,
        }
    return Context(**(values | fields))


def event(
    kind: str = "mention",
    text: str = "hello there",
    *,
    account: Account = FAN,
    age: timedelta = timedelta(minutes=5),
    event_id: str = "n1",
    **status_fields: Any,
) -> Event:
    """An event of `kind`; status kinds carry a status with `text` and `status_fields`."""
    cls = EVENT_TYPES[kind]
    if issubclass(cls, StatusEvent):
        status = Status(id="s1", text=text, **status_fields)
        return cls(id=event_id, created_at=NOW - age, account=account, status=status)
    return cls(id=event_id, created_at=NOW - age, account=account)


def drafted_rule(rules: tuple[Rule, ...], ev: Event, ctx: Context | None = None) -> str | None:
    draft = match(rules, ev, ctx or context())
    return None if draft is None else draft.rule


# --- 1. event types ----------------------------------------------------------------------------

OTHER_KIND_PAIRS = [(on, kind) for on in EVENTS for kind in EVENTS if on != kind]


@pytest.mark.parametrize("kind", EVENTS)
def test_a_rule_fires_for_its_own_event_kind(kind: str) -> None:
    rules = compiled(rule("only", on=kind))
    assert drafted_rule(rules, event(kind)) == "only"


@pytest.mark.parametrize(
    ("on", "kind"), OTHER_KIND_PAIRS, ids=[f"{on}-rule-vs-{k}" for on, k in OTHER_KIND_PAIRS]
)
def test_a_rule_never_fires_for_another_event_kind(on: str, kind: str) -> None:
    rules = compiled(rule("only", on=on))
    assert match(rules, event(kind), context()) is None


@pytest.mark.parametrize("kind", EVENTS)
def test_each_event_kind_goes_to_the_rule_for_it(kind: str) -> None:
    rules = compiled(*(rule(f"on-{on}", on=on) for on in EVENTS))
    assert drafted_rule(rules, event(kind)) == f"on-{kind}"


def test_a_mention_answering_our_post_counts_as_a_reply() -> None:
    rules = compiled(rule("replies", on="reply"))
    answering_us = event("mention", in_reply_to_id="ours-1", in_reply_to_account_id=SELF_ID)
    answering_someone_else = event("mention", in_reply_to_id="x-1", in_reply_to_account_id="555")
    assert drafted_rule(rules, answering_us) == "replies"
    assert drafted_rule(rules, answering_someone_else) is None


# --- 2. conditions -----------------------------------------------------------------------------

COOLDOWN = {"cooldown": "7d"}
CONDITION_CASES = [
    # contains_any: case-insensitive, whole words, phrases, punctuation
    pytest.param({"contains_any": ["hello"]}, {"text": "HeLLo everyone"}, {}, True, id="contains_any-case"),
    pytest.param(
        {"contains_any": ["hi"]}, {"text": "this is it"}, {}, False, id="contains_any-hi-not-in-this"
    ),
    pytest.param({"contains_any": ["hi"]}, {"text": "oh, hi!"}, {}, True, id="contains_any-hi-as-word"),
    pytest.param(
        {"contains_any": ["thank you"]}, {"text": "Thank You so much"}, {}, True, id="contains_any-phrase"
    ),
    pytest.param(
        {"contains_any": ["thank you"]},
        {"text": "thank everyone, you rock"},
        {},
        False,
        id="contains_any-split",
    ),
    pytest.param(
        {"contains_any": ["?"]}, {"text": "are you there?"}, {}, True, id="contains_any-question-mark"
    ),
    pytest.param(
        {"contains_any": ["?"]}, {"text": "no question here."}, {}, False, id="contains_any-no-mark"
    ),
    pytest.param(
        {"contains_any": ["bug", "crash"]},
        {"text": "it CRASHED? no: crash"},
        {},
        True,
        id="contains_any-any-one",
    ),
    # contains_none
    pytest.param({"contains_none": ["spam"]}, {"text": "nice post"}, {}, True, id="contains_none-absent"),
    pytest.param(
        {"contains_none": ["spam"]}, {"text": "Buy SPAM now"}, {}, False, id="contains_none-present"
    ),
    pytest.param(
        {"contains_none": ["hi"]}, {"text": "this works"}, {}, True, id="contains_none-hi-not-in-this"
    ),
    pytest.param(
        {"contains_none": ["buy now"]}, {"text": "Buy Now, cheap"}, {}, False, id="contains_none-phrase"
    ),
    # regex
    pytest.param({"regex": r"\bv\d+\.\d+\b"}, {"text": "released v2.1 today"}, {}, True, id="regex-match"),
    pytest.param({"regex": r"\bv\d+\.\d+\b"}, {"text": "no version here"}, {}, False, id="regex-no-match"),
    # languages
    pytest.param({"languages": ["en", "de"]}, {"language": "de"}, {}, True, id="languages-listed"),
    pytest.param({"languages": ["EN"]}, {"language": "en"}, {}, True, id="languages-config-case"),
    pytest.param({"languages": ["en"]}, {"language": "fr"}, {}, False, id="languages-other"),
    pytest.param({"languages": ["en"]}, {"language": None}, {}, False, id="languages-unknown"),
    # followers (bounds inclusive)
    pytest.param({"min_followers": 50}, {}, {}, True, id="min_followers-at-bound"),
    pytest.param({"min_followers": 51}, {}, {}, False, id="min_followers-under"),
    pytest.param({"max_followers": 50}, {}, {}, True, id="max_followers-at-bound"),
    pytest.param({"max_followers": 49}, {}, {}, False, id="max_followers-over"),
    # first_contact
    pytest.param(
        {"first_contact": True}, {}, {"engaged": False}, True, id="first_contact-true-never-engaged"
    ),
    pytest.param(
        {"first_contact": True}, {}, {"engaged": True}, False, id="first_contact-true-engaged-before"
    ),
    pytest.param(
        {"first_contact": False}, {}, {"engaged": True}, True, id="first_contact-false-engaged-before"
    ),
    pytest.param(
        {"first_contact": False}, {}, {"engaged": False}, False, id="first_contact-false-never-engaged"
    ),
    # visibility_in
    pytest.param(
        {"visibility_in": ["public", "unlisted"]},
        {"visibility": "unlisted"},
        {},
        True,
        id="visibility_in-listed",
    ),
    pytest.param(
        {"visibility_in": ["public", "unlisted"]},
        {"visibility": "direct"},
        {},
        False,
        id="visibility_in-other",
    ),
    # cooldown (per person, per rule)
    pytest.param(COOLDOWN, {}, {"drafted": {"r": NOW - timedelta(days=8)}}, True, id="cooldown-over"),
    pytest.param(COOLDOWN, {}, {"drafted": {"r": NOW - timedelta(days=6)}}, False, id="cooldown-inside"),
    pytest.param(
        COOLDOWN, {}, {"drafted": {"other": NOW - timedelta(hours=1)}}, True, id="cooldown-other-rule"
    ),
    pytest.param(COOLDOWN, {}, {}, True, id="cooldown-never-drafted"),
    # all conditions must hold
    pytest.param(
        {"contains_any": ["help"], "languages": ["en"]},
        {"text": "help please", "language": "de"},
        {},
        False,
        id="all-must-hold",
    ),
]


@pytest.mark.parametrize(("conditions", "status_fields", "history", "matches"), CONDITION_CASES)
def test_condition(
    conditions: dict[str, Any], status_fields: dict[str, Any], history: dict[str, Any], matches: bool
) -> None:
    rules = compiled(rule("r", **conditions))
    fields = {"text": "hello there", "language": "en"} | status_fields
    ctx = context(history=past(**history))
    assert (drafted_rule(rules, event("mention", **fields), ctx) == "r") is matches
    # explain agrees: a reason exactly when the rule does not match
    [(name, why)] = explain(rules, event("mention", **fields), ctx)
    assert name == "r"
    assert (why is None) is matches


def test_follow_events_have_no_text_for_contains_any() -> None:
    rules = compiled(rule("asks", on="follow", contains_any=["hello"]), rule("thanks", on="follow"))
    assert drafted_rule(rules, event("follow")) == "thanks"


@pytest.mark.parametrize("gap", ["\n", "\u00a0", "  "], ids=["line-break", "no-break-space", "two-spaces"])
def test_phrase_words_may_be_separated_by_any_whitespace(gap: str) -> None:
    rules = compiled(rule("r", contains_none=["buy now"]))
    assert match(rules, event("mention", f"BUY{gap}NOW, cheap"), context()) is None


# A regex runs on RE2, in time linear in the post: these return at once where Python's re never does.
@pytest.mark.parametrize("length", [60, 10_000])
def test_a_catastrophic_regex_still_gives_a_decision_on_a_long_post(length: int) -> None:
    rules = compiled(rule("greedy", regex="(a|aa)+$"), rule("fallback"))
    assert drafted_rule(rules, event("mention", "a" * length + "!")) == "fallback"
    assert drafted_rule(rules, event("mention", "a" * length)) == "greedy"
    assert explain(rules, event("mention", "a" * length + "!"), context())[0] == (
        "greedy",
        "the text does not match regex",
    )


def test_a_regex_is_case_sensitive_unless_it_says_otherwise() -> None:
    assert drafted_rule(compiled(rule("r", regex="how do (i|you)")), event("mention", "How do I?")) is None
    assert drafted_rule(compiled(rule("r", regex="(?i)how do (i|you)")), event("mention", "How do I?")) == "r"


def test_a_regex_class_shorthand_is_ascii_and_unicode_classes_are_spelled_out() -> None:
    # RE2's \d, \w, \s and \b are ASCII-only (README); \p{...} names a Unicode class.
    assert drafted_rule(compiled(rule("r", regex=r"\d")), event("mention", "٣")) is None
    assert drafted_rule(compiled(rule("r", regex=r"\p{Nd}")), event("mention", "٣")) == "r"
    assert drafted_rule(compiled(rule("r", regex=r"^\p{L}+$")), event("mention", "Grüße")) == "r"


def test_a_template_opening_after_several_fields_is_checked_in_linear_time() -> None:
    # With Python's backtracking this took time cubic in the post: seconds for one 500-character post.
    templates = ("{name} {username} {acct}: welcome!", "Glad you're here, {name}!")
    rules = compiled(rule("thanks", on="follow", templates=templates))
    long_post = "Thanks for the follow, I hope you enjoy the posts about gardening and code. " * 130
    long_posts = frozenset({long_post, " " * 10_000})
    assert templates_chosen(rules, context(recent_posts=long_posts)) == set(templates)
    just_posted = frozenset({"Ada Lovelace ada ada@example.social: welcome!"})
    assert templates_chosen(rules, context(recent_posts=just_posted)) == {templates[1]}


def _regex_grammar() -> st.SearchStrategy[str]:
    """Small patterns that mean the same in Python's re and in RE2: literals, classes, |, *, +, ?, {m,n}."""
    atoms = st.one_of(
        st.sampled_from("abcAB é.-1").map(re.escape),
        st.sampled_from(["[ab]", "[^a]", "[a-c]", "[A-Z]", r"[\d]", ".", r"\d", "^", "$"]),
        st.sampled_from([r"\141", r"[\142-\143]", r"\{", "[{,]"]),  # octal codes (a, b-c), braces as text
    )
    repeats = st.sampled_from(["*", "+", "?", "{2}", "{0,2}", "{1,}"])
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map("".join),
            st.tuples(inner, inner).map(lambda pair: f"(?:{pair[0]}|{pair[1]})"),
            st.tuples(inner, repeats).map(lambda rep: f"(?:{rep[0]}){rep[1]}"),
            st.tuples(inner, repeats).map(lambda rep: f"({rep[0]}){rep[1]}?"),
        ),
        max_leaves=8,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=_regex_grammar(),
    flags=st.sampled_from(["", "(?i)"]),
    # The posts' plain text is stripped: it never ends in a newline (where Python's `$` differs).
    text=st.text("aAbBcC é.É-1\nſK{,", max_size=24).map(lambda text: text.rstrip("\n")),
)
def test_a_regex_condition_agrees_with_pythons_re(pattern: str, flags: str, text: str) -> None:
    rules = compiled(rule("r", regex=flags + pattern))
    expected = re.search(flags + pattern, text) is not None
    assert (drafted_rule(rules, event("mention", text)) == "r") is expected


# --- 3. order ----------------------------------------------------------------------------------

ORDER_CASES = [
    pytest.param([rule("first"), rule("second")], "first", id="file-order"),
    pytest.param([rule("first"), rule("second", priority=10)], "second", id="priority-beats-file-order"),
    pytest.param(
        [rule("low", priority=1), rule("high", priority=5), rule("mid", priority=3)],
        "high",
        id="highest-priority",
    ),
    pytest.param(
        [rule("a", priority=2), rule("b", priority=2), rule("c")], "a", id="same-priority-file-order"
    ),
    pytest.param([rule("zero", priority=0), rule("none")], "zero", id="priority-0-is-default"),
    pytest.param([rule("picky", contains_any=["invoice"]), rule("plain")], "plain", id="first-that-matches"),
    pytest.param([rule("follows", on="follow"), rule("mentions")], "mentions", id="skips-other-kinds"),
    pytest.param(
        [rule("picky-high", priority=9, contains_any=["invoice"]), rule("plain")],
        "plain",
        id="priority-no-match",
    ),
]


@pytest.mark.parametrize(("rules", "winner"), ORDER_CASES)
def test_first_matching_rule_in_order_drafts(rules: list[dict[str, Any]], winner: str) -> None:
    engine = compiled(*rules)
    draft = match(engine, event("mention"), context())
    assert isinstance(draft, NewDraft)  # one draft, never a list of them
    assert draft.rule == winner
    # exactly one rule is the drafting one
    assert [name for name, why in explain(engine, event("mention"), context()) if why is None] == [winner]


def test_compile_rules_sorts_by_priority_then_file_order() -> None:
    engine = compiled(
        rule("a"), rule("b", priority=3), rule("c"), rule("d", priority=3), rule("e", priority=7)
    )
    assert [r.name for r in engine] == ["e", "b", "d", "a", "c"]


def test_no_rule_matches_no_draft() -> None:
    rules = compiled(rule("picky", contains_any=["invoice"]), rule("follows", on="follow"))
    assert match(rules, event("mention"), context()) is None
    assert match((), event("mention"), context()) is None


# --- 4. never drafted for ----------------------------------------------------------------------

ALL_KINDS_RULES = [rule(f"on-{on}", on=on) for on in EVENTS]

SKIP_CASES = [
    pytest.param({"account": replace(FAN, id=SELF_ID)}, {}, {}, id="our-own-account"),
    pytest.param({"account": replace(FAN, bot=True)}, {}, {}, id="bot-flag"),
    pytest.param(
        {"account": replace(FAN, note="Human. #NoBot please")}, {}, {}, id="nobot-in-bio-mixed-case"
    ),
    pytest.param({"account": replace(FAN, note="#nobot")}, {}, {}, id="nobot-bio-is-only-the-tag"),
    pytest.param(
        {"account": replace(FAN, fields=("Pronouns: they", "Bots: #NOBOT"))}, {}, {}, id="nobot-field"
    ),
    pytest.param({"age": timedelta(days=3)}, {}, {}, id="older-than-default-max-event-age"),
    pytest.param(
        {"age": timedelta(hours=2)}, {"listener": {"max_event_age": "1h"}}, {}, id="older-than-config"
    ),
    pytest.param(
        {},
        {"etiquette": {"max_replies_per_thread": 2}},
        {"thread_key": "t1", "thread_replies": 2},
        id="thread-cap",
    ),
    pytest.param({}, {}, {"thread_key": "t1", "thread_replies": 7}, id="thread-cap-exceeded"),
    pytest.param(
        {},
        {"etiquette": {"max_replies_per_thread": 0}},
        {"thread_key": "t1", "thread_replies": 0},
        id="thread-cap-0",
    ),
]


@pytest.mark.parametrize("kind", ["follow", "mention"])
@pytest.mark.parametrize(("event_args", "sections", "ctx_fields"), SKIP_CASES)
def test_never_drafted_for(
    kind: str, event_args: dict[str, Any], sections: dict[str, Any], ctx_fields: dict[str, Any]
) -> None:
    rules, loaded = load(*ALL_KINDS_RULES, **sections)
    ev = event(kind, **event_args)
    ctx = context(loaded, **ctx_fields)
    assert match(rules, ev, ctx) is None
    reasons = {why for _, why in explain(rules, ev, ctx)}
    assert len(reasons) == 1 and None not in reasons  # one skip reason, carried by every rule


@pytest.mark.parametrize("kind", ["command", "other"])
def test_commands_and_other_notifications_are_never_drafted_for(kind: str) -> None:
    rules = compiled(*ALL_KINDS_RULES)
    assert match(rules, event(kind), context()) is None


DRAFTED_CASES = [
    pytest.param(
        {"account": replace(FAN, bot=True)}, {"etiquette": {"skip_bots": False}}, {}, id="bot-allowed"
    ),
    pytest.param(
        {"account": replace(FAN, note="#nobot")},
        {"etiquette": {"respect_nobot": False}},
        {},
        id="nobot-ignored",
    ),
    pytest.param({"account": replace(FAN, note="I am nobot's fan")}, {}, {}, id="nobot-without-hash"),
    pytest.param({"account": replace(FAN, note="#nobotany lover")}, {}, {}, id="other-hashtag-nobotany"),
    pytest.param({"account": replace(FAN, display_name="Bot Fan")}, {}, {}, id="bot-in-name-only"),
    pytest.param({"age": timedelta(days=1)}, {}, {}, id="within-default-max-event-age"),
    pytest.param(
        {"age": timedelta(minutes=30)}, {"listener": {"max_event_age": "1h"}}, {}, id="within-config-age"
    ),
    pytest.param({}, {}, {"thread_key": "t1", "thread_replies": 2}, id="below-thread-cap"),
]


@pytest.mark.parametrize(("event_args", "sections", "ctx_fields"), DRAFTED_CASES)
def test_drafted_for(
    event_args: dict[str, Any], sections: dict[str, Any], ctx_fields: dict[str, Any]
) -> None:
    rules, loaded = load(*ALL_KINDS_RULES, **sections)
    assert drafted_rule(rules, event("mention", **event_args), context(loaded, **ctx_fields)) == "on-mention"


def test_full_width_nobot_hashtag_is_respected() -> None:
    rules = compiled(*ALL_KINDS_RULES)
    assert match(rules, event("follow", account=replace(FAN, note="＃nobot")), context()) is None


# --- 5. templates ------------------------------------------------------------------------------

THREE = ("Thanks for the follow, {name}!", "Welcome aboard, {name}!", "Glad you're here, {name}!")
SEEDS = [f"n{i}" for i in range(24)]  # the template choice is seeded by the event id


def templates_chosen(rules: tuple[Rule, ...], ctx: Context, kind: str = "follow") -> set[str]:
    chosen = set()
    for seed in SEEDS:
        draft = match(rules, event(kind, event_id=seed), ctx)
        assert draft is not None
        chosen.add(draft.template)
    return chosen


@pytest.mark.parametrize(
    ("used", "allowed"),
    [
        pytest.param((), set(THREE), id="none-used"),
        pytest.param(THREE[:1], set(THREE[1:]), id="one-used"),
        pytest.param(THREE[:2], {THREE[2]}, id="two-used"),
        pytest.param(THREE, set(THREE), id="all-used-still-one"),
    ],
)
def test_a_person_gets_a_template_they_have_not_had(used: tuple[str, ...], allowed: set[str]) -> None:
    rules = compiled(rule("thanks", on="follow", templates=THREE))
    chosen = templates_chosen(rules, context(history=past(used=used)))
    assert chosen and chosen <= allowed


def test_the_same_event_always_renders_the_same_draft() -> None:
    rules = compiled(rule("thanks", on="follow", templates=THREE))
    assert match(rules, event("follow"), context()) == match(rules, event("follow"), context())


TWO = ("Thanks for the follow, {name}!", "Welcome aboard, {name}!")


@pytest.mark.parametrize(
    ("recent", "allowed"),
    [
        pytest.param(set(), set(TWO), id="nothing-posted"),
        pytest.param({"Thanks for the follow, Ada!"}, {TWO[1]}, id="first-posted-lately"),
        pytest.param({"So: Welcome aboard, Bob! Enjoy."}, {TWO[0]}, id="second-posted-lately"),
        pytest.param({"Thanks for the follow, Ada!", "Welcome aboard, Bob!"}, set(TWO), id="both-still-one"),
    ],
)
def test_a_template_seen_in_our_recent_posts_is_avoided(recent: set[str], allowed: set[str]) -> None:
    rules = compiled(rule("thanks", on="follow", templates=TWO))
    chosen = templates_chosen(rules, context(recent_posts=frozenset(recent)))
    assert chosen and chosen <= allowed


def test_a_fresh_template_wins_over_one_not_posted_lately() -> None:
    rules = compiled(rule("thanks", on="follow", templates=TWO))
    ctx = context(history=past(used=TWO[1:]), recent_posts=frozenset({"Thanks for the follow, Ada!"}))
    assert templates_chosen(rules, ctx) == {TWO[0]}


def test_a_template_starting_with_a_field_is_avoided_when_just_posted() -> None:
    templates = ("{name}, thanks for the follow!", "Welcome aboard, {name}!")
    rules = compiled(rule("thanks", on="follow", templates=templates))
    ctx = context(recent_posts=frozenset({"Ada, thanks for the follow!"}))
    assert templates_chosen(rules, ctx) == {templates[1]}


def test_a_template_head_must_match_whole_words() -> None:
    templates = ("Hi {name}!", "Hello {name}!")
    rules = compiled(rule("hi", on="follow", templates=templates))
    ctx = context(recent_posts=frozenset({"Hiking this weekend, who is in?"}))
    assert templates_chosen(rules, ctx) == set(templates)


FIELD_CASES = [
    pytest.param(
        "Ada Lovelace", "ada", "ada@example.social", "Ada Lovelace|ada|ada@example.social", id="plain"
    ),
    pytest.param("Ada", "ada", "ada", "Ada|ada|ada", id="local-account"),
    pytest.param(
        "Ada :verified: @ada@evil.example https://spam.example Lovelace",
        "ada",
        "ada@example.social",
        "Ada Lovelace|ada|ada@example.social",
        id="name-cleaned",
    ),
    pytest.param("", "ada", "ada@example.social", "ada|ada|ada@example.social", id="empty-name-username"),
    pytest.param(":blob: @x https://x.example", "ada", "ada", "ada|ada|ada", id="junk-name-username"),
]


@pytest.mark.parametrize(("display_name", "username", "acct", "expected"), FIELD_CASES)
def test_template_fields_render(display_name: str, username: str, acct: str, expected: str) -> None:
    rules = compiled(rule("fields", on="follow", templates=("{name}|{username}|{acct}",)))
    person = replace(FAN, display_name=display_name, username=username, acct=acct)
    draft = match(rules, event("follow", account=person), context())
    assert draft is not None
    assert draft.text == expected
    assert draft.display_name == expected.split("|")[0]
    assert (draft.acct, draft.account_id, draft.rule) == (acct, FAN.id, "fields")


def test_an_at_sign_written_in_the_template_notifies_nobody() -> None:
    rules = compiled(
        rule("cc", on="follow", templates=("Hi @{username}, cc @{acct} and @someone@else.example",))
    )
    draft = match(rules, event("follow"), context())
    assert draft is not None
    assert mentioned_handles(draft.text) == []
    assert draft.text == "Hi fan, cc fan@example.social and someone@else.example"


VISIBILITY_CASES = [
    ("public", "private", "private"),
    ("public", "direct", "direct"),
    ("public", "unlisted", "unlisted"),
    ("public", "public", "public"),
    ("unlisted", "public", "unlisted"),
    ("private", "public", "private"),
    ("direct", "unlisted", "direct"),
]


@pytest.mark.parametrize("kind", ["mention", "reply"])
@pytest.mark.parametrize(
    ("rule_visibility", "post_visibility", "expected"),
    VISIBILITY_CASES,
    ids=[f"{r}-rule-on-{p}-post" for r, p, _ in VISIBILITY_CASES],
)
def test_an_answer_is_never_wider_than_the_post(
    kind: str, rule_visibility: str, post_visibility: str, expected: str
) -> None:
    rules = compiled(rule("answer", on=kind, visibility=rule_visibility))
    draft = match(rules, event(kind, visibility=post_visibility), context())
    assert draft is not None
    assert draft.visibility == expected


@pytest.mark.parametrize("kind", ["follow", "follow_request", "reblog", "favourite"])
def test_thanks_keep_the_rule_visibility_and_answer_no_post(kind: str) -> None:
    rules = compiled(rule("thanks", on=kind, visibility="public"))
    draft = match(rules, event(kind, visibility="direct", spoiler_text="cw"), context())
    assert draft is not None
    assert (draft.visibility, draft.in_reply_to_id, draft.spoiler_text) == ("public", None, "")


@pytest.mark.parametrize("kind", ["mention", "reply"])
def test_an_answer_keeps_the_content_warning_and_threads(kind: str) -> None:
    rules = compiled(rule("answer", on=kind))
    draft = match(
        rules, event(kind, "spoilers inside", spoiler_text="Film spoilers"), context(thread_key="s1")
    )
    assert draft is not None
    assert draft.spoiler_text == "Film spoilers"
    assert draft.in_reply_to_id == "s1"
    assert draft.thread_key == "s1"


# --- 6. properties -----------------------------------------------------------------------------

PROPERTY_TEMPLATES = (
    "Thanks for the follow, {name}! Glad you're here.",
    "Hi @{username} ({acct}), cc @{acct}: {name} ＠{username} https://example.com/@{username}",
    "{name} " * 12 + "{acct} {username}",
)
PROPERTY_RULES = compiled(
    *(
        rule(f"picky-{on}", on=on, templates=PROPERTY_TEMPLATES, contains_any=["?", "thank you"])
        for on in EVENTS
    ),
    *(rule(f"any-{on}", on=on, templates=PROPERTY_TEMPLATES, visibility="public") for on in EVENTS),
)
TRICKY_CHARS = "@＠﹫:/._-#? aZ09\u200b\u200d\u202e\n\t👩💻é"
names = st.one_of(st.text(max_size=80), st.text(alphabet=TRICKY_CHARS, max_size=80))
usernames = st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True)
domains = st.one_of(
    st.none(),
    st.from_regex(
        r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){1,3}", fullmatch=True
    ),
    st.text(alphabet=st.characters(categories=("L", "N")) | st.sampled_from(".-"), min_size=1, max_size=40),
)
texts = st.one_of(st.text(max_size=600), st.text(alphabet=TRICKY_CHARS, max_size=200))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    display_name=names,
    username=usernames,
    domain=domains,
    text=texts,
    kind=st.sampled_from(EVENTS),
    visibility=st.sampled_from(["public", "unlisted", "private", "direct"]),
    used=st.sets(st.sampled_from(PROPERTY_TEMPLATES)),
    char_limit=st.integers(min_value=60, max_value=1000),
)
def test_any_person_and_post_gives_a_safe_draft_that_fits(
    display_name: str,
    username: str,
    domain: str | None,
    text: str,
    kind: str,
    visibility: str,
    used: set[str],
    char_limit: int,
) -> None:
    acct = username if domain is None else f"{username}@{domain}"
    person = Account(id="7", acct=acct, username=username, display_name=display_name)
    ev = event(kind, text, account=person, visibility=visibility)
    ctx = context(char_limit=char_limit, history=past(used=tuple(used)))
    reasons = explain(PROPERTY_RULES, ev, ctx)
    draft = match(PROPERTY_RULES, ev, ctx)
    assert draft is not None
    assert [name for name, why in reasons if why is None] == [draft.rule]
    assert mentioned_handles(draft.text) == []
    assert "@" not in draft.display_name
    assert status_length(f"@{acct} {draft.text}") <= char_limit
    assert status_length(f"@{acct} ") + status_length(draft.text) <= char_limit


# --- 7. explain --------------------------------------------------------------------------------


def test_explain_gives_a_reason_for_each_rule_but_the_drafting_one() -> None:
    rules = compiled(
        rule("invoices", contains_any=["invoice"]),
        rule("follows", on="follow"),
        rule("german", languages=["de"]),
        rule("questions", contains_any=["?"]),
        rule("catch-all"),
        rule("big-accounts", min_followers=10_000),
    )
    ev = event("mention", "what time is it?", language="en")
    reasons = dict(explain(rules, ev, context()))
    assert list(reasons) == ["invoices", "follows", "german", "questions", "catch-all", "big-accounts"]
    assert reasons["questions"] is None
    assert match(rules, ev, context()).rule == "questions"  # type: ignore[union-attr]
    assert "contains_any" in (reasons["invoices"] or "")
    assert "follow" in (reasons["follows"] or "")
    assert "language" in (reasons["german"] or "")
    assert reasons["catch-all"] == "an earlier rule already matched"
    assert "min_followers" in (reasons["big-accounts"] or "")


def test_explain_follows_priority_order() -> None:
    rules = compiled(rule("plain"), rule("urgent", priority=5))
    assert explain(rules, event("mention"), context()) == [
        ("urgent", None),
        ("plain", "an earlier rule already matched"),
    ]


def test_explain_when_nothing_matches_gives_every_rule_a_reason() -> None:
    rules = compiled(rule("invoices", contains_any=["invoice"]), rule("follows", on="follow"))
    reasons = explain(rules, event("mention"), context())
    assert [name for name, _ in reasons] == ["invoices", "follows"]
    assert all(why for _, why in reasons)


@pytest.mark.parametrize(
    ("person", "words"),
    [
        pytest.param(replace(FAN, bot=True), "bot", id="bot"),
        pytest.param(replace(FAN, note="No automation: #NOBOT"), "#nobot", id="nobot-bio"),
        pytest.param(replace(FAN, fields=("Bots: #nobot",)), "#nobot", id="nobot-field"),
        pytest.param(replace(FAN, id=SELF_ID), "our own", id="ourselves"),
    ],
)
def test_explain_carries_the_skip_reason_on_every_rule(person: Account, words: str) -> None:
    rules = compiled(rule("catch-all"), rule("follows", on="follow"), rule("questions", contains_any=["?"]))
    reasons = explain(rules, event("mention", "hi?", account=person), context())
    assert [name for name, _ in reasons] == ["catch-all", "follows", "questions"]
    whys = {why for _, why in reasons}
    assert len(whys) == 1
    [why] = whys
    assert why is not None and words in why
