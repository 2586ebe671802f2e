"""Trackbacks, pure: which links point at our sites and which words name us."""

from __future__ import annotations

import pytest

from bot.core.shares import SeenPost, links_to, names, share_reason
from bot.text import host_is_site, site_host

SITES = ("riverside-books.example", "xn--bcher-kva.example")


@pytest.mark.parametrize(
    "link",
    [
        "https://riverside-books.example/",
        "https://www.riverside-books.example/sale",
        "https://shop.riverside-books.example/a?b=c",
        "http://RIVERSIDE-BOOKS.example:8080/x",
        "https://riverside-books.example./trailing-dot",
        "https://bücher.example/",  # the Unicode form of a punycode site
        "https://xn--bcher-kva.example/",
        "https://www.BÜCHER.example:443/",
    ],
)
def test_links_to_our_sites(link: str) -> None:
    assert links_to([link], SITES) == link


@pytest.mark.parametrize(
    "link",
    [
        "https://notriverside-books.example/",  # a suffix of the name is another site
        "https://riverside-books.example.evil.example/",
        "https://evil.example/?u=https://riverside-books.example/",
        "https://user@evil.example/riverside-books.example",
        "mailto:riverside-books.example",
        "not a url at all",
        "https://[::1/",
    ],
)
def test_links_elsewhere(link: str) -> None:
    assert links_to([link], SITES) is None


def test_site_hosts_are_normalised() -> None:
    assert site_host("WWW.Riverside-Books.Example:8443") == "riverside-books.example"
    assert site_host("bücher.example") == "xn--bcher-kva.example"
    assert site_host("") is None
    assert host_is_site("a.b.riverside-books.example", "riverside-books.example")
    assert not host_is_site(None, "riverside-books.example")


def test_names_are_whole_words() -> None:
    assert names("Lovely afternoon at Riverside Books!", ["Riverside Books"]) == "Riverside Books"
    assert names("riverside books, again", ["Riverside Books"]) == "Riverside Books"
    assert names("#RiversideBooks", ["RiversideBooks"]) == "RiversideBooks"
    assert names("The Riversideville fair", ["Riverside"]) is None
    assert names("Meet @riverside@elsewhere.example", ["Riverside"]) is None
    assert names("Unriverside", ["Riverside"]) is None


def post(**kw: object) -> SeenPost:
    base: dict[str, object] = {"author_id": "7", "text": "", "links": (), "mentions": ()}
    return SeenPost(**{**base, **kw})  # type: ignore[arg-type]


def test_share_reasons() -> None:
    check = {"me_id": "1", "sites": SITES, "our_names": ("Riverside Books",)}
    assert share_reason(post(links=("https://riverside-books.example/",)), **check) is not None  # type: ignore[arg-type]
    assert share_reason(post(text="Riverside Books rocks"), **check) == "names Riverside Books"  # type: ignore[arg-type]
    # Ours, boosts and posts that mention us are never shares.
    assert share_reason(post(author_id="1", text="Riverside Books"), **check) is None  # type: ignore[arg-type]
    assert share_reason(post(text="Riverside Books", is_boost=True), **check) is None  # type: ignore[arg-type]
    assert share_reason(post(text="Riverside Books", mentions=("1",)), **check) is None  # type: ignore[arg-type]
