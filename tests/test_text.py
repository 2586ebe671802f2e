"""Unit and property tests for bot.text (pure text cleaning)."""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import (
    MAX_HTML_CHARS,
    URL_LENGTH,
    _units,
    clean_name,
    html_to_text,
    mentioned_handles,
    person_acct,
    status_length,
    strip_leading_mentions,
    truncate_to,
)

FIXTURES = Path(__file__).parent / "fixtures"
EMOJI_CODE = re.compile(r":[A-Za-z0-9_]{2,}:")
BOT_APPROVE_HTML = (
    '<p><span class="h-card" translate="no"><a href="https://example.social/@bot" class="u-url mention">'
    "@<span>bot</span></a></span> approve 12</p>"
)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


# --- html_to_text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (None, ""),
        ("", ""),
        ("plain words", "plain words"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<p>line<br>next<br/>last</p>", "line\nnext\nlast"),
        ("<p>a<br /><br />b</p>", "a\n\nb"),
        ("<p>end with break<br></p><p>next</p>", "end with break\n\nnext"),
        ("<p>  spaced \n  out  </p>\n<p>x</p>", "spaced out\n\nx"),
        ("<p>Tom &amp; Jerry &lt;3</p>", "Tom & Jerry <3"),
        ("<p>a <!-- secret --> b</p>", "a b"),
        ("<p>x</p><script>alert(1)</script>", "x"),
        ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
        ("<blockquote><p>quoted</p></blockquote><p>reply</p>", "quoted\n\nreply"),
        ("<pre>code\nline</pre>", "code\nline"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("<<<>>>", "<<<>>>"),
    ],
)
def test_html_to_text(html: str | None, expected: str) -> None:
    assert html_to_text(html) == expected


def test_link_keeps_invisible_parts_and_gains_no_ellipsis() -> None:
    html = (
        '<p><a href="https://cstudios.bandcamp.com/track/celestia-gravity-assist-no-19-var-2">'
        '<span class="invisible">https://</span><span class="ellipsis">cstudios.bandcamp.com/track/ce</span>'
        '<span class="invisible">lestia-gravity-assist-no-19-var-2</span></a></p>'
    )
    assert html_to_text(html) == "https://cstudios.bandcamp.com/track/celestia-gravity-assist-no-19-var-2"


def test_real_status_with_hashtags_and_link() -> None:
    text = html_to_text(fixture("status_with_links_hashtags.json")["content"])
    assert text == (
        "#musicTuesday\n\n"
        "Here's a solo #piano track of mine called Gravity Assist\n\n"
        "#neoclassical (#jazz ish)\n\n"
        "https://cstudios.bandcamp.com/track/celestia-gravity-assist-no-19-var-2"
    )
    assert "…" not in text


def test_real_bio_with_h_card_mentions() -> None:
    text = html_to_text(fixture("account_with_fields.json")["note"])
    assert text.endswith("follow @staff")
    assert "follow @MastodonEngineering\n\nFor news" in text


def test_h_card_command_reads_as_command() -> None:
    assert html_to_text(BOT_APPROVE_HTML) == "@bot approve 12"
    assert strip_leading_mentions(html_to_text(BOT_APPROVE_HTML)) == "approve 12"


def test_real_dm_reads_after_leading_mention() -> None:
    html = fixture("notification_mention_direct.json")["status"]["content"]
    assert strip_leading_mentions(html_to_text(html)).startswith("pssssst!")


def test_real_pleroma_mention_without_paragraph() -> None:
    html = fixture("notification_mention_remote_pleroma.json")["status"]["content"]
    assert html_to_text(html) == "@trwnh test"


def calls(html: str) -> int:
    """How many Python and C function calls html_to_text makes: work, counted, not timed."""
    count = 0

    def profile(_frame: object, event: str, _arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        html_to_text(html)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize(
    "piece",
    ["<b>", "a<br>", "<p>x</p>", "<a href='x'>", "\u200b<span>"],  # deep nesting, lines, paragraphs
    ids=["nesting", "breaks", "paragraphs", "links", "zero-width"],
)
def test_html_to_text_work_grows_linearly_on_hostile_input(piece: str) -> None:
    small, large = calls(piece * 2_000), calls(piece * 4_000)
    assert large <= 2.5 * small, (small, large)  # twice the input, about twice the work (quadratic: 4x)


def test_html_to_text_work_stops_growing_at_the_cap() -> None:
    at_cap = calls("<a href='" + "x" * (MAX_HTML_CHARS - 9))
    assert calls("<a href='" + "x" * 300_000) <= 1.1 * at_cap
    assert len(html_to_text("<a href='" + "x" * 300_000)) <= MAX_HTML_CHARS


@settings(max_examples=2000, deadline=None)  # fuzzing: thousands of hostile inputs
@given(st.text())
def test_html_to_text_never_raises_on_text(text: str) -> None:
    assert isinstance(html_to_text(text), str)


HTMLISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<br>",
                "<br/>",
                '<span class="invisible">',
                '<span class="ellipsis">',
                "</span>",
                '<a href="https://x.example/@a" class="u-url mention">',
                "</a>",
                "<pre>",
                "</pre>",
                "<li>",
                "<!--",
                "-->",
                "<![CDATA[",
                "]]>",
                "<!DOCTYPE html>",
                "&amp;",
                "&#0;",
                "&#x110000;",
                "<",
                ">",
                "\n",
                " ",
                "\x00",
                "<script>",
                "<?php ?>",
            ]
        ),
        st.text(max_size=8),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(HTMLISH)
def test_html_to_text_never_raises_on_htmlish(html: str) -> None:
    text = html_to_text(html)
    assert text == text.strip()
    assert "\n\n\n" not in text or "<br" in html or "<pre>" in html


# --- clean_name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("display_name", "fallback", "expected"),
    [
        ("Fan @everyone https://spam.example", "fan", "Fan"),
        (":blobcat: Ana :verified:", "ana", "Ana"),
        ("Ana", "ana", "Ana"),
        ("", "ana", "ana"),
        (None, "ana", "ana"),
        ("@everyone", "bob", "bob"),
        ("@everyone", "@bob@example.social", "friend"),
        ("", "", "friend"),
        ("Ana @bob@example.social Lee", "x", "Ana Lee"),
        ("Ana ＠everyone", "x", "Ana"),
        ("Ana﹫everyone", "x", "Ana"),
        ("ana@example.social", "x", "ana"),
        ("Visit www.spam.example now", "x", "Visit now"),
        ("Bob spam.example/x", "x", "Bob spam.example/x"),  # no scheme: Mastodon does not link it
        ("Eve\u202egnp.exe", "x", "Evegnp.exe"),
        ("Zero\u200bWidth\ufeff", "x", "ZeroWidth"),
        ("tab\tand\nnewline", "x", "tab and newline"),
        ("  lots   of   space  ", "x", "lots of space"),
        ("a" * 100, "x", "a" * 60),
        ("👩‍💻 Dev", "x", "👩‍💻 Dev"),
        (":\u200b//evil", "x", "x"),
        ("h\u200dttps://evil.example", "x", "x"),
    ],
)
def test_clean_name(display_name: str | None, fallback: str, expected: str) -> None:
    assert clean_name(display_name, fallback) == expected


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text()), st.text())
def test_clean_name_is_always_safe(display_name: str | None, fallback: str) -> None:
    name = clean_name(display_name, fallback)
    assert name
    assert len(name) <= 60
    assert "@" not in name and "＠" not in name
    assert "://" not in name
    assert not EMOJI_CODE.search(name)
    assert name == name.strip()
    assert mentioned_handles(name) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["@", ":", "/", "a", "bc", " ", "\u200b", "www.", "＠", "_9"]), max_size=30))
def test_clean_name_is_safe_on_adversarial_pieces(pieces: list[str]) -> None:
    name = clean_name("".join(pieces), "")
    assert "@" not in name and "://" not in name and not EMOJI_CODE.search(name)


# --- strip_leading_mentions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@bot approve 12", "approve 12"),
        ("  @bot   @other@example.social reject 3 ", "reject 3"),
        ("@bot, approve 12", "approve 12"),
        ("@bot", ""),
        ("approve 12 @bot", "approve 12 @bot"),
        ("approve 12", "approve 12"),
        ("", ""),
        ("@bot\napprove 12", "approve 12"),
    ],
)
def test_strip_leading_mentions(text: str, expected: str) -> None:
    assert strip_leading_mentions(text) == expected


# --- status_length / truncate_to -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        ("https://example.com/" + "x" * 100, URL_LENGTH),
        ("see https://a.example.", 4 + URL_LENGTH + 1),
        ("http://a.example", URL_LENGTH),
        ("https://", 8),
        ("@fan@example.social", 4),
        ("hi @fan", 7),
        ("a@b.c", 5),
        ("😀", 1),
        ("@fan@example.social https://example.com", 4 + 1 + URL_LENGTH),
        ("https://a.example/@fan@b.example", URL_LENGTH),  # a mention inside a URL is part of it
        ("@fan@b.example@c", 4 + 2),
    ],
)
def test_status_length(text: str, expected: int) -> None:
    assert status_length(text) == expected


def test_url_weight_matches_the_server() -> None:
    statuses = fixture("instance_v2.json")["configuration"]["statuses"]
    assert statuses["characters_reserved_per_url"] == URL_LENGTH


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("hello world again", 12, "hello world…"),
        ("hello world again", 14, "hello world…"),
        ("aaaaaa bb cc dd", 13, "aaaaaa bb cc…"),  # the cut fell on a boundary: keep the word
        ("abcdefghij", 5, "abcd…"),
        ("a b", 0, ""),
        ("abc", 1, "…"),
        ("see https://example.com/long/path now", 10, "see…"),
    ],
)
def test_truncate_to(text: str, limit: int, expected: str) -> None:
    assert truncate_to(text, limit) == expected


def test_truncate_never_cuts_a_url_in_half() -> None:
    text = "look " + "https://example.com/" + "x" * 50 + " and more words here"
    cut = truncate_to(text, 30)
    assert cut.endswith("…")
    assert status_length(cut) <= 30
    assert "https://example.com/" + "x" * 50 in cut


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from([" ", "https://example.com/path", "@fan@example.social", "\n"]), st.text()),
        max_size=20,
    ).map("".join),
    st.integers(min_value=0, max_value=120),
)
def test_truncate_to_respects_limit(text: str, limit: int) -> None:
    cut = truncate_to(text, limit)
    assert status_length(cut) <= limit
    if status_length(text) <= limit:
        assert cut == text
    else:
        assert cut == "" or cut.endswith("…")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from([" ", "https://example.com/@a", "@fan@example.social", "@", "."]), st.text()
        ),
        max_size=20,
    ).map("".join)
)
def test_status_length_agrees_with_the_pieces_truncation_cuts(text: str) -> None:
    pieces = _units(text)
    assert "".join(piece for piece, _ in pieces) == text
    assert status_length(text) == sum(weight for _, weight in pieces)


# --- mentioned_handles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@Bob hi", ["bob"]),
        ("hi @alice@Example.Social!", ["alice@example.social"]),
        ("@a and @a again", ["a"]),
        ("mail a@b.c", []),
        ("https://example.social/@bob", []),
        ("x=@bob", []),
        ("(@bob) @carol.", ["bob", "carol"]),
        ("@first.last", ["first.last"]),
        ("no mentions", []),
    ],
)
def test_mentioned_handles(text: str, expected: list[str]) -> None:
    assert mentioned_handles(text) == expected


def test_a_post_that_is_only_a_link_parses_without_a_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # seen before in this process or not, it is recorded
        assert html_to_text("https://example.com/page") == "https://example.com/page"
        assert html_to_text("notes.txt") == "notes.txt"
    assert [str(w.message) for w in caught] == []


@settings(max_examples=300, deadline=None)
@given(st.text().filter(lambda text: "<" not in text))
def test_text_without_tags_reads_the_same_bare_or_in_a_paragraph(text: str) -> None:
    assert html_to_text(text) == html_to_text(f"<span>{text}</span>")


@pytest.mark.parametrize(
    ("written", "acct"),
    [
        ("fan", "fan"),
        ("@fan", "fan"),
        ("fan@our.example", "fan"),
        ("@fan@OUR.example", "fan"),
        ("https://our.example/@fan", "fan"),
        ("https://our.example/@fan/113000", "fan"),
        ("https://our.example/users/fan", "fan"),
        ("fan@other.example", "fan@other.example"),
        ("@fan@other.example", "fan@other.example"),
        ("https://other.example/@fan", "fan@other.example"),
        ("https://our.example/@fan@other.example", "fan@other.example"),
        ("https://other.example/about", "https://other.example/about"),
        ("http://127.0.0.1:3000/@fan", "fan"),  # our web host, where it differs from the domain
        ("http://127.0.0.1:3000/@fan@other.example", "fan@other.example"),
    ],
)
def test_person_forms_are_read_as_the_acct_the_store_keeps(written: str, acct: str) -> None:
    assert person_acct(written, "our.example", "127.0.0.1:3000") == acct


@given(st.text(max_size=200))
def test_any_text_is_read_as_some_acct_without_raising(written: str) -> None:
    assert isinstance(person_acct(written, "our.example"), str)
