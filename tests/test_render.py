"""Unit and property tests for bot.core.render: DMs packed, paged and split within the instance's limit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.render import (
    QUOTE_CHARS,
    WHOLE_TEXT_CHARS,
    Message,
    compose,
    cut_block,
    draft_block,
    full_acct,
    list_page,
    pack,
    pack_messages,
    split_text,
    who_they_are,
)
from bot.model import Draft
from bot.text import mentioned_handles, status_length

MARK = "⟦"  # the test's "more" lines carry it and no generated text does


def more_mark(left: int) -> str:
    return f"{MARK}{left} more⟧"


def make_draft(number: int, *, text: str | None = None, name: str | None = None) -> Draft:
    return Draft(
        id=number,
        state="pending",
        rule="thank-new-followers" if number % 3 else "answer-questions",
        account_id=str(100 + number),
        acct=f"fan{number}@example.social",
        display_name=name or f"Fan Number {number}",
        in_reply_to_id=None if number % 3 else str(9000 + number),
        visibility="unlisted",
        spoiler_text="",
        text=text
        or f"Thanks for the follow, Fan Number {number}! Glad you're here. https://example.org/about",
        template="",
        action="post",
        triage=2,
        thread_key=None,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        sending_at=None,
        sent_at=None,
        dm_sent_at=None,
        shown_at=None,
        decided_by=None,
        command_status_id=None,
        status_id=None,
        status_url=None,
        error=None,
        event_id=None,
    )


def realistic_blocks(count: int) -> list[str]:
    return [draft_block(make_draft(number), "bot.example") for number in range(1, count + 1)]


def carried(messages: Sequence[Message]) -> list[int]:
    return [index for message in messages for index in message.blocks]


def squash(text: str) -> str:
    return "".join(char for char in text if not char.isspace())


# --- hostile text -------------------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        "https://example.com/a/very/long/path/" + "x" * 90,
        "http://t.co/x",
        "https://",
        "@fan@a.very.long.instance.example.social",
        "@bob",
        "😀",
        "👩\u200d💻",
        "\u200b",
        "\u200d",
        "\u2060",
        "\ufeff",
        "\u202e",
        "e\u0301",
        "a" * 700,
        "\n",
        "\n\n",
        " ",
        "   ",
        "word",
        "…",
        "Draft",
    ]
)
PLAIN = st.text(alphabet=st.characters(exclude_characters=f"{MARK}#"), max_size=30)
HOSTILE = st.lists(st.one_of(TOKENS, PLAIN), max_size=30).map("".join)
HEADS = st.sampled_from(["", "@alice", "@alice @bob@team.example", "3 pending draft(s):", "Weekly 😀"])


# --- the draft block -----------------------------------------------------------------------------------


def test_full_acct_names_the_domain_without_an_at() -> None:
    assert full_acct("@fan", "bot.example") == "fan@bot.example"
    assert full_acct("fan@example.social", "bot.example") == "fan@example.social"


def test_draft_block_opens_with_its_draft_line_and_notifies_nobody() -> None:
    draft = make_draft(12, text="Thanks @fan@example.social!", name="@Eve")
    block = draft_block(draft, "bot.example")
    first, text = block.split("\n", 1)
    assert first == "Draft #12 · answer-questions · for Eve (fan12@example.social) · reply, unlisted"
    assert text == "Thanks fan@example.social!"
    assert mentioned_handles(block) == []


# --- pack ----------------------------------------------------------------------------------------------


def test_small_blocks_share_one_message_after_the_head() -> None:
    messages, left = pack("@alice", ["one", "two", "three"], 500)
    assert messages == [Message("@alice\n\none\n\ntwo\n\nthree", (0, 1, 2))]
    assert left == ()


def test_blocks_move_to_the_next_message_when_the_limit_is_reached() -> None:
    blocks = ["x" * 200, "y" * 200, "z" * 200]
    messages, left = pack("@alice", blocks, 500)
    assert [m.blocks for m in messages] == [(0, 1), (2,)]
    assert all(status_length(m.text) <= 500 and m.text.startswith("@alice\n\n") for m in messages)
    assert left == ()


def test_an_over_long_block_is_cut_at_a_word_boundary_and_the_head_kept() -> None:
    block = "Draft #7 · rule · for Eve\n" + " ".join(["wonderful"] * 120)
    (message,), left = pack("@alice", [block], 300)
    assert status_length(message.text) <= 300
    assert message.text.startswith("@alice\n\nDraft #7 · rule · for Eve\nwonderful")
    assert message.text.endswith("wonderful…")
    assert left == ()


def test_cut_block_prefers_a_line_end_near_the_cut() -> None:
    block = "first line of the block\n" + "word " * 14 + "\nlast line that does not fit at all"
    cut = cut_block(block, 100)
    assert cut == "first line of the block\n" + ("word " * 14).rstrip() + "…"
    assert status_length(cut) <= 100


def test_cut_block_counts_urls_as_the_instance_does() -> None:
    url = "https://example.com/" + "p" * 300
    block = f"see {url} and {url} and more words here"
    assert cut_block(block, 60) == f"see {url} and {url} and…"
    assert status_length(cut_block(block, 60)) <= 60


def test_max_messages_leaves_blocks_over_and_says_so_in_the_last_message() -> None:
    blocks = realistic_blocks(20)
    messages, left = pack("@alice", blocks, 500, max_messages=2, more=lambda n: f'…and {n} more: send "list"')
    assert len(messages) == 2
    assert carried(messages) + list(left) == list(range(20))
    assert messages[-1].text.endswith(f'\n\n…and {len(left)} more: send "list"')
    assert "more: send" not in messages[0].text
    assert all(status_length(m.text) <= 500 for m in messages)


def test_blocks_move_out_of_the_last_message_to_make_room_for_the_more_line() -> None:
    blocks = ["a" * 245, "b" * 245, "c" * 245, "d" * 245]
    messages, left = pack("", blocks, 500, max_messages=1, more=lambda n: f"…and {n} more")
    # Two blocks fill the message; the line needs room, so the second block waits with the rest.
    assert messages == [Message("a" * 245 + "\n\n…and 3 more", (0,))]
    assert left == (1, 2, 3)


def test_a_lone_block_in_the_last_message_is_cut_shorter_for_the_more_line() -> None:
    blocks = ["long " * 200, "next"]
    messages, left = pack("@alice", blocks, 200, max_messages=1, more=lambda n: f"…and {n} more")
    assert len(messages) == 1 and left == (1,)
    assert messages[0].blocks == (0,)
    assert messages[0].text.endswith("long…\n\n…and 1 more")
    assert status_length(messages[0].text) <= 200


def test_no_more_line_when_nothing_is_left() -> None:
    messages, left = pack("@alice", ["one", "two"], 500, max_messages=3, more=more_mark)
    assert left == () and MARK not in messages[-1].text


def test_without_a_more_function_left_blocks_are_returned_all_the_same() -> None:
    messages, left = pack("", ["x" * 300] * 3, 500, max_messages=1)
    assert [m.blocks for m in messages] == [(0,)] and left == (1, 2)


def test_a_head_that_leaves_no_room_is_dropped() -> None:
    head = "@alice " * 20
    messages, left = pack(head, ["a block of text", "another"], 100)
    assert messages and all(status_length(m.text) <= 100 for m in messages)
    assert not messages[0].text.startswith("@alice")
    assert carried(messages) == [0, 1] and left == ()


@pytest.mark.parametrize("limit", [-3, 0])
def test_no_room_at_all_sends_nothing_and_keeps_every_block(limit: int) -> None:
    assert pack("@alice", ["a", "b"], limit, more=more_mark) == ([], (0, 1))


@pytest.mark.parametrize("max_messages", [0, -1])
def test_no_messages_allowed_keeps_every_block(max_messages: int) -> None:
    assert pack("@alice", ["a", "b"], 500, max_messages=max_messages, more=more_mark) == ([], (0, 1))


def test_no_blocks_no_messages() -> None:
    assert pack("@alice", [], 500, max_messages=3, more=more_mark) == ([], ())


def test_a_hostile_more_line_is_cut_not_let_through_over_the_limit() -> None:
    messages, left = pack("", ["a" * 60, "b" * 60], 100, max_messages=1, more=lambda n: "m" * 500)
    assert len(messages) == 1 and left == (1,)
    assert status_length(messages[0].text) <= 100 and messages[0].text.endswith("…")


def test_sixty_pending_drafts_no_longer_take_fifteen_messages() -> None:
    blocks = realistic_blocks(60)
    messages, left = pack("@alice", blocks, 500, max_messages=3, more=lambda n: f'…and {n} more: send "list"')
    assert len(messages) == 3
    assert carried(messages) + list(left) == list(range(60))


def test_compose_and_pack_messages_keep_their_shape_and_cut_only_the_long_block() -> None:
    long_block = "Draft #2 · r · for x\n" + "spam " * 200
    blocks = ["Draft #1 · r · for y\nhello", long_block, "Draft #3 · r · for z\nbye"]
    composed = compose("@alice Digest", blocks, 500)
    assert [group for _, group in composed] == pack_messages("@alice Digest", blocks, 500)
    assert [group for _, group in composed] == [[0], [1], [2]]
    texts = [text for text, _ in composed]
    assert all(t.startswith("@alice Digest\n\n") and status_length(t) <= 500 for t in texts)
    assert texts[1].endswith("spam…") and texts[2].endswith("bye")


@settings(deadline=None)
@given(
    head=HEADS,
    blocks=st.lists(HOSTILE, max_size=25),
    limit=st.integers(100, 600),
    max_messages=st.one_of(st.none(), st.integers(1, 6)),
)
def test_pack_fits_the_limit_and_accounts_for_every_block(
    head: str, blocks: list[str], limit: int, max_messages: int | None
) -> None:
    messages, left = pack(head, blocks, limit, max_messages=max_messages, more=more_mark)
    assert all(status_length(m.text) <= limit for m in messages)
    assert carried(messages) + list(left) == list(range(len(blocks)))  # every block, in order, once
    assert all(m.blocks for m in messages)
    if max_messages is not None:
        assert len(messages) <= max_messages
    else:
        assert left == ()
    assert sum(m.text.count(MARK) for m in messages) == (1 if left else 0)
    if left:
        assert messages[-1].text.endswith("\n\n" + more_mark(len(left)))
    prefix = head + "\n\n" if head else ""
    for message in messages:
        assert message.text.startswith(prefix)
        tail = "\n\n" + more_mark(len(left)) if left and message is messages[-1] else ""
        for index in message.blocks:
            block = blocks[index]
            if len(block) <= WHOLE_TEXT_CHARS and status_length(prefix + block + tail) <= limit:
                assert block in message.text  # only a block too long for a DM is cut


@settings(deadline=None)
@given(
    head=st.one_of(HEADS, HOSTILE),
    blocks=st.lists(HOSTILE, max_size=8),
    limit=st.integers(-2, 60),
    max_messages=st.one_of(st.none(), st.integers(-1, 4)),
)
def test_pack_degrades_without_error_at_tiny_limits(
    head: str, blocks: list[str], limit: int, max_messages: int | None
) -> None:
    messages, left = pack(head, blocks, limit, max_messages=max_messages, more=more_mark)
    assert all(status_length(m.text) <= max(limit, 0) for m in messages)
    assert carried(messages) + list(left) == list(range(len(blocks)))


# --- list_page -----------------------------------------------------------------------------------------


def test_two_hundred_pending_drafts_take_three_messages_and_point_to_list_2() -> None:
    blocks = realistic_blocks(200)
    texts, note = list_page(blocks, 1, head="200 pending draft(s):", limit=500, per_reply=3)
    assert note is None and len(texts) == 3
    assert all(status_length(t) <= 500 and t.startswith("200 pending draft(s):\n\n") for t in texts)
    shown = [int(n) for t in texts for n in re.findall(r"^Draft #(\d+) ", t, re.MULTILINE)]
    assert shown == list(range(1, len(shown) + 1))
    assert texts[-1].endswith(f'\n\n…and {200 - len(shown)} more: send "list 2"')
    assert 'send "list' not in texts[0] + texts[1]


def test_the_next_page_goes_on_where_the_first_stopped() -> None:
    blocks = realistic_blocks(200)
    first, _ = list_page(blocks, 1, head="h", limit=500, per_reply=3)
    second, note = list_page(blocks, 2, head="h", limit=500, per_reply=3)
    last_shown = int(re.findall(r"^Draft #(\d+) ", first[-1], re.MULTILINE)[-1])
    assert note is None
    assert re.search(r"^Draft #(\d+) ", second[0], re.MULTILINE)[1] == str(last_shown + 1)  # type: ignore[index]
    assert second[-1].endswith('send "list 3"')


def test_a_page_past_the_end_says_how_many_pages_there_are() -> None:
    blocks = realistic_blocks(12)
    assert list_page(blocks, 3, head="h", limit=500, per_reply=3) == (
        [],
        "No page 3: 2 pages of pending drafts.",
    )
    assert list_page(blocks[:2], 2, head="h", limit=500, per_reply=3) == (
        [],
        "No page 2: 1 page of pending drafts.",
    )
    assert list_page(blocks, 0, head="h", limit=500, per_reply=3)[0] == []


def test_the_only_page_has_no_hint() -> None:
    texts, note = list_page(realistic_blocks(4), 1, head="4 pending draft(s):", limit=500, per_reply=3)
    assert note is None and texts and not any("list 2" in t for t in texts)


def test_no_pending_drafts() -> None:
    assert list_page([], 1, head="h", limit=500, per_reply=3) == ([], "No drafts are pending.")


def test_list_page_never_loops_on_a_limit_below_one_character() -> None:
    texts, note = list_page(["a"], 1, head="h", limit=0, per_reply=0)
    assert texts == [] and note


@settings(deadline=None)
@given(
    bodies=st.lists(HOSTILE, min_size=1, max_size=30),
    limit=st.integers(120, 600),
    per_reply=st.integers(1, 4),
    head=HEADS,
)
def test_list_pages_cover_every_block_once_in_order(
    bodies: list[str], limit: int, per_reply: int, head: str
) -> None:
    blocks = [f"Draft #{number}\n{body}" for number, body in enumerate(bodies)]
    seen: list[int] = []
    page = 1
    while True:
        texts, note = list_page(blocks, page, head=head, limit=limit, per_reply=per_reply)
        if not texts:
            assert note == f"No page {page}: {page - 1} page{'' if page == 2 else 's'} of pending drafts."
            break
        assert note is None and len(texts) <= per_reply
        assert all(status_length(t) <= limit for t in texts)
        seen += [int(n) for t in texts for n in re.findall(r"Draft #(\d+)", t)]
        hint = re.search(r'…and (\d+) more: send "list (\d+)"\Z', texts[-1])
        if len(seen) < len(blocks):
            assert hint is not None and hint.groups() == (str(len(blocks) - len(seen)), str(page + 1))
        else:
            assert hint is None
        assert sum(t.count('more: send "list') for t in texts) == (1 if hint else 0)
        page += 1
        assert page <= len(blocks) + 1
    assert seen == list(range(len(blocks)))


# --- split_text ----------------------------------------------------------------------------------------


def test_a_fifty_line_confirmation_is_split_within_the_limit() -> None:
    text = "\n".join(f"Posted #{n}: https://bot.example/@bot/11{n:04d}" for n in range(50))
    pieces, left = split_text(text, 480)
    assert left == 0 and len(pieces) > 1
    assert all(status_length(p) <= 480 for p in pieces)
    assert "\n".join(pieces).split("\n") == text.split("\n")


def test_max_messages_ends_with_the_count_of_lines_not_sent() -> None:
    text = "\n".join(f"line {n} " + "x" * 80 for n in range(50))
    pieces, left = split_text(text, 500, max_messages=2, more=lambda n: f"…and {n} more lines")
    assert len(pieces) == 2 and all(status_length(p) <= 500 for p in pieces)
    sent = pieces[0].split("\n") + pieces[1].split("\n")[:-1]
    assert sent == text.split("\n")[: 50 - left]
    assert pieces[-1].endswith(f"\n…and {left} more lines")


def test_a_long_line_is_split_at_word_boundaries() -> None:
    line = " ".join(f"word{n}" for n in range(100))
    pieces, left = split_text(line, 100)
    assert left == 0 and all(status_length(p) <= 100 for p in pieces)
    assert " ".join(pieces) == line


def test_a_line_without_spaces_is_split_hard() -> None:
    pieces, left = split_text("a" * 250, 100)
    assert left == 0 and "".join(pieces) == "a" * 250
    assert all(status_length(p) <= 100 for p in pieces)


def test_a_url_wider_than_a_tiny_limit_is_split_within_it() -> None:
    pieces, _ = split_text("https://example.com/path", 10)
    assert all(status_length(p) <= 10 for p in pieces)
    assert "".join(pieces) == "https://example.com/path"


def test_blank_lines_do_not_open_or_close_a_piece() -> None:
    pieces, _ = split_text("a" * 90 + "\n\n\n" + "b" * 90, 100)
    assert pieces == ["a" * 90, "b" * 90]


@pytest.mark.parametrize(
    ("text", "limit", "max_messages", "expected"),
    [
        ("", 500, None, ([], 0)),
        ("\n \n", 500, 2, ([], 0)),
        ("one\ntwo", 0, None, ([], 2)),
        ("one\ntwo", 500, 0, ([], 2)),
        ("one\ntwo", 1, 1, (["…"], 2)),
    ],
)
def test_split_text_odd_input(text: str, limit: int, max_messages: int | None, expected: object) -> None:
    assert split_text(text, limit, max_messages=max_messages, more=more_mark) == expected


@settings(deadline=None)
@given(text=HOSTILE, limit=st.integers(30, 600), max_messages=st.one_of(st.none(), st.integers(1, 4)))
def test_split_text_loses_no_line_unless_counted(text: str, limit: int, max_messages: int | None) -> None:
    pieces, left = split_text(text, limit, max_messages=max_messages, more=more_mark)
    assert all(status_length(p) <= limit for p in pieces)
    lines = [line for line in text.split("\n") if line.strip()]
    assert 0 <= left <= len(lines)
    if max_messages is None:
        assert left == 0
        assert squash("".join(pieces)) == squash(text)
    else:
        assert len(pieces) <= max_messages
        assert squash("".join(pieces)).startswith(squash("".join(lines[: len(lines) - left])))
    assert sum(p.count(MARK) for p in pieces) == (1 if left else 0)
    if left:
        assert pieces[-1].endswith("\n" + more_mark(left))


@settings(deadline=None)
@given(text=HOSTILE, limit=st.integers(-2, 30), max_messages=st.one_of(st.none(), st.integers(-1, 3)))
def test_split_text_degrades_without_error_at_tiny_limits(
    text: str, limit: int, max_messages: int | None
) -> None:
    pieces, left = split_text(text, limit, max_messages=max_messages, more=more_mark)
    assert all(status_length(p) <= max(limit, 0) for p in pieces)
    assert left >= 0


# --- huge hostile input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "word " * 20_000,
        "x" * 100_000,
        "@a@b.example " * 8_000,  # mentions are costly to count: only a window at the start is measured
        "https://example.com/" + "p" * 100_000 + " tail",
    ],
)
def test_huge_texts_are_split_and_cut_within_the_limit(text: str) -> None:
    pieces, left = split_text(text, 500, max_messages=3, more=more_mark)
    assert len(pieces) == 3 and left == 1 and all(status_length(p) <= 500 for p in pieces)
    messages, rest = pack("@alice", [text, text, "short"], 500, max_messages=2, more=more_mark)
    assert carried(messages) + list(rest) == [0, 1, 2]
    assert all(status_length(m.text) <= 500 and m.text.startswith("@alice\n\n") for m in messages)


def test_a_long_url_counts_23_and_is_not_cut() -> None:
    block = "see https://example.com/" + "p" * 5_000
    (message,), left = pack("@alice", [block], 100)
    assert message.text == "@alice\n\n" + block and left == ()


def test_a_draft_block_with_context_quotes_links_and_says_who_without_mentioning_anyone() -> None:
    from bot.model import DraftContext
    from tests.mastodon_rules import mastodon_mentions

    context = DraftContext(
        quote="@bot @carol are you open on Sundays? cc ²@victim \u202e" + " and" * 80,
        link="https://example.social/@fan12/110",
        who="first contact · 12 followers",
    )
    lines = draft_block(make_draft(12), "bot.example", context=context).splitlines()
    assert lines[0].startswith("Draft #12 · answer-questions · for Fan Number 12")
    assert lines[1].startswith("Thanks for the follow")  # the text as posted comes right after
    assert lines[2].startswith("› wrote: “are you open on Sundays? cc ²victim and") and "…”" in lines[2]
    assert lines[2].endswith(" https://example.social/%40fan12/110")
    assert lines[3] == "› first contact · 12 followers"
    assert mastodon_mentions("\n".join(lines)) == []
    assert status_length(lines[2]) <= QUOTE_CHARS + 40


ENGAGED = "we engaged them"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"kind": "follow", "of_kind_30d": 1, "ours_ever": 0}, "first contact · 7 followers"),
        (
            {"kind": "mention", "of_kind_30d": 3, "ours_ever": 2},
            f"{ENGAGED} 2× before · 3rd mention in 30 days",
        ),
        ({"kind": "mention", "of_kind_30d": 11, "ours_ever": 1}, f"{ENGAGED} 1× before · 11th mention"),
        ({"kind": "reply", "of_kind_30d": 22, "ours_ever": 0, "owed": True}, "first contact · 22nd reply"),
    ],
)
def test_who_they_are(args: dict, expected: str) -> None:
    line = who_they_are(**{"follows_since": None, "followers": 7, "owed": False, **args})
    assert line.startswith(expected)
    since = datetime(2026, 5, 3, tzinfo=UTC)
    line = who_they_are(**{"followers": 7, "owed": False, **args, "follows_since": since})
    assert "follows us since May 2026" in line
