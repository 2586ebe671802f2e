"""Watched accounts' public RSS over httpx (conditional GET, politeness, broken feeds) and the OPML export."""

from __future__ import annotations

import logging
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mastodon import MastodonNotFoundError
from typer.testing import CliRunner

from bot.cli import cli
from bot.config import settings_from_dict
from bot.instance.reader import Reader
from bot.listening.digest import collect_digest
from bot.listening.feeds import FeedReader, feed_url
from bot.model import Account, Follow
from bot.store import Store, ledger, utcnow
from tests.conftest import to_toml


def mastodon_rss(
    name: str, acct: str, posts: list[tuple[str, datetime, str]], description: str = ""
) -> bytes:
    """An account feed shaped like Mastodon's (channel of the account, one item per public post)."""
    user, _, domain = acct.partition("@")
    items = "".join(
        f"""
    <item>
      <guid isPermaLink="true">https://{domain}/@{user}/{status_id}</guid>
      <link>https://{domain}/@{user}/{status_id}</link>
      <pubDate>{format_datetime(at)}</pubDate>
      <description>&lt;p&gt;{text}&lt;/p&gt;</description>
    </item>"""
        for status_id, at, text in posts
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:webfeeds="http://webfeeds.org/rss/1.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>{name}</title>
    <description>{description or f"Public posts from @{acct}"}</description>
    <link>https://{domain}/@{user}</link>
    <generator>Mastodon v4.3.0</generator>{items}
  </channel>
</rss>""".encode()


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = "application/rss+xml; charset=utf-8"
    hold: threading.Event | None = None  # answer only once this is set (a server that hangs)


@dataclass
class FeedServer:
    """A loopback HTTP server that honours conditional GET and records every request."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.hold is not None:
                    route.hold.wait(10)
                fresh = (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                    route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified
                )
                self.send_response(304 if fresh else route.status)
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                if fresh:
                    self.end_headers()
                    return
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        for route in self.routes.values():
            if route.hold is not None:
                route.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def store(store_url: str) -> Store:
    made = Store(store_url)
    made.upgrade()
    return made


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_conditional_get_reads_nothing_new_on_304(feeds: FeedServer, store: Store) -> None:
    now = utcnow()
    feeds.routes["/@carol.rss"] = Route(
        body=mastodon_rss(
            "Carol",
            "carol@social.example",
            [
                ("2", now - timedelta(hours=1), "Tide pools at dawn"),
                ("1", now - timedelta(hours=5), "Low tide"),
            ],
        ),
        etag='W/"v1"',
        last_modified="Sun, 22 Nov 2026 03:00:00 GMT",
    )
    url = feeds.url("/@carol.rss")
    with FeedReader(store, "bot.example", min_interval=timedelta(0)) as reader:
        first = reader.fetch(url, "carol@social.example", now)
        second = reader.fetch(url, "carol@social.example", now + timedelta(minutes=1))

    assert (first.outcome, first.new_entries) == ("new", 2)
    assert (second.outcome, second.new_entries) == ("not_modified", 0)
    (_, first_headers), (_, second_headers) = feeds.requests
    assert "If-None-Match" not in first_headers and first_headers["User-Agent"].startswith("Frontrow/")
    assert second_headers["If-None-Match"] == 'W/"v1"'
    assert second_headers["If-Modified-Since"] == "Sun, 22 Nov 2026 03:00:00 GMT"
    entries = ledger.recent_feed_entries(store, now - timedelta(days=1))
    assert [e.excerpt for e in entries] == ["Tide pools at dawn", "Low tide"]
    assert entries[0].url == "https://social.example/@carol/2" and entries[0].title == "Carol"

    # Polite: within the interval the feed is not asked again at all.
    with FeedReader(store, "bot.example") as reader:
        assert reader.fetch(url, "carol@social.example", now + timedelta(minutes=2)).outcome == "not_modified"
        later = reader.fetch(url, "carol@social.example", now + timedelta(minutes=3))
    assert later.outcome == "waiting" and len(feeds.requests) == 3


def test_broken_feeds_are_logged_and_skipped(
    feeds: FeedServer, store: Store, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    now = utcnow()
    hang = threading.Event()
    local_file = tmp_path / "local.rss"
    local_file.write_bytes(mastodon_rss("Local", "me@local.example", [("1", now, "A local secret")]))
    feeds.routes |= {
        "/@good.rss": Route(body=mastodon_rss("Good", "good@a.example", [("1", now, "Still here")])),
        "/@down.rss": Route(status=503),
        "/@html.rss": Route(body=b"<html><body><p>Not a feed</p></body></html>", content_type="text/html"),
        # feedparser opens what looks like a path when handed bytes: the reader must never let it.
        "/@path.rss": Route(body=str(local_file).encode(), content_type="text/plain"),
        "/@slow.rss": Route(body=b"", hold=hang),
    }
    targets = {
        "down@a.example": feeds.url("/@down.rss"),
        "html@a.example": feeds.url("/@html.rss"),
        "path@a.example": feeds.url("/@path.rss"),
        "slow@a.example": feeds.url("/@slow.rss"),
        "gone@a.example": f"http://127.0.0.1:{closed_port()}/@gone.rss",
        "good@a.example": feeds.url("/@good.rss"),
    }
    client = httpx.Client(timeout=0.5)
    caplog.set_level(logging.WARNING, logger="bot.listening.feeds")
    try:
        results = FeedReader(store, "bot.example", client=client).refresh(targets, now)
    finally:
        hang.set()
        client.close()

    outcomes = {r.acct.split("@")[0]: r.outcome for r in results}
    assert outcomes == {
        "down": "failed",
        "html": "failed",
        "path": "failed",
        "slow": "failed",
        "gone": "failed",
        "good": "new",
    }
    logged = caplog.text
    for name in ("down", "html", "path", "slow", "gone"):
        assert f"@{name}.rss" in logged
    assert "HTTP 503" in logged
    assert [e.excerpt for e in ledger.recent_feed_entries(store, now - timedelta(days=1))] == ["Still here"]
    # A failed feed waits (and longer after each failure) instead of being hammered.
    again = FeedReader(store, "bot.example").refresh(targets, now + timedelta(minutes=10))
    assert {r.outcome for r in again} == {"waiting"}


def test_watched_accounts_we_do_not_follow_come_from_their_feed(feeds: FeedServer, store: Store) -> None:
    now = utcnow()
    feeds.routes |= {
        "/@carol.rss": Route(
            body=mastodon_rss(
                "Carol :verified:",
                "carol@social.example",
                [
                    ("7", now - timedelta(hours=2), "New paper on @dave@lab.example tide pools"),
                    ("6", now - timedelta(days=3), "An old post"),
                ],
            )
        ),
        "/@quiet.rss": Route(
            body=mastodon_rss(
                "Quiet", "quiet@social.example", [("9", now, "Hello")], description="#nobot please"
            )
        ),
    }

    class Api:
        looked_up: list[str] = []  # noqa: RUF012

        def account_lookup(self, acct: str) -> Any:
            self.looked_up.append(acct)
            raise MastodonNotFoundError("Record not found")

        def timeline_home(self, **kwargs: Any) -> list[Any]:
            return []

    settings = settings_from_dict(
        {
            "mastodon": {"base_url": "https://bot.example", "access_token": "x"},
            "approval": {"approvers": ["alice"]},
            "listen": {"watch": ["carol@social.example", "quiet@social.example"]},
        },
        env={},
    )
    reader = FeedReader(
        store, "bot.example", url_for=lambda acct, _: feeds.url(f"/@{acct.split('@')[0]}.rss")
    )
    api = Api()
    with reader:
        items = collect_digest(Reader(api), store, settings, "me", now, reader=reader)  # type: ignore[arg-type]

    assert api.looked_up == ["carol@social.example", "quiet@social.example"]
    assert [(i.number, i.acct, i.source, i.status_id) for i in items] == [
        (1, "carol@social.example", "feed", None)
    ]
    assert items[0].url == "https://social.example/@carol/7"
    assert items[0].display_name == "Carol :verified:"
    assert len(feeds.requests) == 2  # quiet's feed was read too, then left out for its #nobot


def test_opml_lists_followers_and_watched_feeds(store: Store, store_url: str, tmp_path: Path) -> None:
    now = utcnow()
    for number, (acct, url) in enumerate(
        [
            ("fan@social.example", "https://social.example/@fan"),
            ("bea", "https://bot.example/@bea"),
            ("zed@pleroma.example", "https://pleroma.example/users/zed"),
        ]
    ):
        person = Account(
            id=f"id-{number}", acct=acct, username=acct.split("@")[0], display_name="A & <B>", url=url
        )
        assert store.record_event(Follow(id=f"n{number}", created_at=now, account=person), now)
    config = tmp_path / "config.toml"
    config.write_text(
        to_toml(
            {
                "mastodon": {"base_url": "https://bot.example", "access_token": "x"},
                "store": {"url": store_url},
                "approval": {"approvers": ["alice"]},
                "listen": {"watch": ["carol@social.example", "local"]},
            }
        )
    )

    result = CliRunner().invoke(cli, ["--config", str(config), "opml"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    root = ET.fromstring(result.stdout)
    assert root.tag == "opml" and root.get("version") == "2.0"
    groups = {group.get("text"): group for group in root.find("body") or []}
    assert {o.get("xmlUrl") for o in groups["Followers"]} == {
        "https://social.example/@fan.rss",
        "https://bot.example/@bea.rss",
        "https://pleroma.example/@zed.rss",
    }
    assert {o.get("xmlUrl") for o in groups["Watching"]} == {
        "https://social.example/@carol.rss",
        "https://bot.example/@local.rss",
    }
    assert all(o.get("type") == "rss" and o.get("htmlUrl") for g in groups.values() for o in g)
    assert "A &amp; &lt;B&gt; (fan@social.example)" in result.stdout

    written = tmp_path / "feeds.opml"
    assert CliRunner().invoke(cli, ["--config", str(config), "opml", "-o", str(written)]).exit_code == 0
    assert ET.parse(written).getroot().tag == "opml"


def test_feed_urls() -> None:
    assert feed_url("carol@social.example", "bot.example") == "https://social.example/@carol.rss"
    assert feed_url("bea", "bot.example") == "https://bot.example/@bea.rss"
    # The profile page Mastodon reported wins: an account's domain need not be its web host.
    assert feed_url("carol@example.org", "bot.example", "https://m.example.org/@carol") == (
        "https://m.example.org/@carol.rss"
    )
