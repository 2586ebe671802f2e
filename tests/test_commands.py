"""Unit and property tests for the approver command parser (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.commands import COMMANDS, Command, help_text, parse_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approve 12", Command("approve", ids=(12,))),
        ("OK #12 13", Command("approve", ids=(12, 13))),
        ("yes 12, #13", Command("approve", ids=(12, 13))),
        ("ok", Command("approve")),
        ("Approve 12 12", Command("approve", ids=(12,))),
        ("reject 7", Command("reject", ids=(7,))),
        ("NO #7", Command("reject", ids=(7,))),
        ("no", Command("reject")),
        ("edit 12 New text, with words", Command("edit", ids=(12,), text="New text, with words")),
        ("EDIT #12 line one\nline two", Command("edit", ids=(12,), text="line one\nline two")),
        ("edit better words", Command("edit", text="better words")),
        ("list", Command("list")),
        ("Pause", Command("pause")),
        ("resume", Command("resume")),
        ("help", Command("help")),
        ("stats", Command("stats")),
        ("who @fan@example.social", Command("who", target="fan@example.social")),
        ("note fan likes tea", Command("note", target="fan", text="likes tea")),
        ("boost 3", Command("boost", ids=(3,))),
        ("fav #3", Command("fav", ids=(3,))),
        ("reply 3 Lovely post!", Command("reply", ids=(3,), text="Lovely post!")),
    ],
)
def test_parses(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty message"),
        ("approve twelve", '"twelve" is not a draft number'),
        ("edit 12", "usage: edit 12 <new text>"),
        ("edit", "usage: edit 12 <new text>"),
        ("note fan", "usage: note <acct> <text>"),
        ("who", "usage: who <acct>"),
        ("boost", "usage: boost N"),
    ],
)
def test_errors_say_what_is_wrong(text: str, error: str) -> None:
    assert parse_command(text).error == error


def test_unknown_words_are_not_commands() -> None:
    command = parse_command("thanks a lot!")
    assert command.verb == "unknown"
    assert "unknown command" in command.error


def test_help_lists_every_command_and_fits_one_dm() -> None:
    text = help_text()
    for aliases, _ in COMMANDS.values():
        assert aliases[0] in text
    assert len(text) < 400


@settings(max_examples=2000)
@given(st.text())
def test_parser_never_raises(text: str) -> None:
    command = parse_command(text)
    assert command.verb == "unknown" or command.verb in COMMANDS
    assert all(isinstance(i, int) and i >= 0 for i in command.ids)


@settings(max_examples=500)
@given(
    st.sampled_from(["approve", "ok", "yes", "reject", "no"]),
    st.lists(st.integers(0, 10**9), min_size=1, max_size=200),
)
def test_ids_round_trip(word: str, ids: list[int]) -> None:
    text = word + " " + " ".join(f"#{i}" if i % 2 else str(i) for i in ids)
    assert parse_command(text).ids == tuple(dict.fromkeys(ids))


def test_many_ids_are_all_kept_and_too_many_are_refused_with_the_count() -> None:
    assert parse_command("ok " + " ".join(str(i) for i in range(1, 56))).ids == tuple(range(1, 56))
    refused = parse_command("ok " + " ".join(str(i) for i in range(1, 252)))
    assert refused.ids == () and "251 drafts" in refused.error


def test_list_takes_a_page_number() -> None:
    assert parse_command("list 2") == Command("list", ids=(2,))
    assert parse_command("list two").error == "usage: list [page]"
