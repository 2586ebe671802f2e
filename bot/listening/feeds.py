"""Listening (feeds): public RSS of watched accounts over httpx with conditional GET, and OPML."""

from __future__ import annotations

import calendar
import contextlib
import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.core.render import full_acct
from bot.core.rules import consent_tag
from bot.store import Store, ledger
from bot.store.ledger import FeedEntry, FeedFetch
from bot.text import clean_name, html_to_text

# httpx and feedparser are imported where a feed is fetched or read: a service without feeds never
# loads them (~0.3 s of start-up and ~5 MB of memory).
if TYPE_CHECKING:
    import httpx

LOGGER = logging.getLogger(__name__)

MIN_INTERVAL = timedelta(hours=1)  # never ask one server for one feed more often than this
RETRY_AFTER_FAILURE = timedelta(minutes=30)  # doubled after each further failure, up to a day
KEEP_ENTRIES = timedelta(days=30)
MAX_FEED_BYTES = 2_000_000  # Mastodon's feeds are ~20 items; anything far bigger is not one
MAX_ENTRIES = 40
EXCERPT_CHARS = 1000
TIMEOUT_SECONDS, CONNECT_SECONDS = 10.0, 5.0
USER_AGENT = "Frontrow/0.1 (listening digest; conditional GET, at most hourly)"
ACCEPT = "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.8, */*;q=0.1"
_MASTODON_PROFILE_RE = re.compile(r"https?://[^/\s?#]+/@[^/\s?#@]+")
# XML 1.0 cannot carry these at all, not even escaped: ElementTree would write a broken file.
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def web_host(base_url: str) -> str:
    """The host our instance's web pages (and local accounts' feeds) are served from."""
    return urlsplit(base_url).netloc or "localhost"


def profile_url(acct: str, local_domain: str, known: str = "") -> str:
    """A person's profile page: the one Mastodon told us, else the usual https://<instance>/@<user>."""
    if known.startswith(("https://", "http://")):
        return known
    user, _, domain = acct.lstrip("@").partition("@")
    return f"https://{domain or local_domain}/@{user}"


def feed_url(acct: str, local_domain: str, known_profile: str = "") -> str:
    """Mastodon's public feed of an account: its profile URL plus `.rss`."""
    if _MASTODON_PROFILE_RE.fullmatch(known_profile):
        return known_profile + ".rss"
    # Not a Mastodon-style profile (or none known): the instance in the acct usually serves the page.
    return profile_url(acct, local_domain) + ".rss"


@dataclass(frozen=True)
class FetchResult:
    url: str
    acct: str
    outcome: str  # new | not_modified | waiting | failed
    new_entries: int = 0
    error: str = ""


class FeedError(Exception):
    """A feed that cannot be used this time (HTTP error, too big, not a feed)."""

    def __init__(self, message: str, retry: timedelta = RETRY_AFTER_FAILURE) -> None:
        super().__init__(message)
        self.retry = retry


class FeedReader:
    """Reads public feeds politely: conditional GET, timeouts, a minimum interval per feed, backoff.

    A broken feed is logged and skipped; nothing here raises to the caller.
    """

    def __init__(
        self,
        store: Store,
        local_domain: str,
        *,
        client: httpx.Client | None = None,
        min_interval: timedelta = MIN_INTERVAL,
        url_for: Callable[[str, str], str] | None = None,
    ) -> None:
        self.store = store
        self.local_domain = local_domain
        self.min_interval = min_interval
        import httpx

        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_SECONDS),
            follow_redirects=True,
            max_redirects=3,
            headers={"User-Agent": USER_AGENT},
        )
        self._url_for = url_for

    def url_for(self, acct: str, known_profile: str = "") -> str:
        if self._url_for is not None:
            return self._url_for(acct, known_profile)
        return feed_url(acct, self.local_domain, known_profile)

    def refresh(self, feeds: Mapping[str, str], now: datetime) -> list[FetchResult]:
        """Fetch each feed (acct → url) that is due; one failing feed never stops the others."""
        results = []
        for acct, url in feeds.items():
            try:
                results.append(self.fetch(url, acct, now))
            except Exception as exc:  # never fatal: a feed (or our store) failing must not stop the digest
                LOGGER.warning("feed %s (%s) skipped: %s: %.200s", url, acct, type(exc).__name__, exc)
                results.append(FetchResult(url, acct, "failed", error=str(exc)))
        return results

    def fetch(self, url: str, acct: str, now: datetime) -> FetchResult:
        """One conditional GET of `url`; stores new entries and the validators for next time."""
        import httpx

        state = ledger.feed_state(self.store, url)
        if state is not None and state.next_fetch is not None and now < state.next_fetch:
            return FetchResult(url, acct, "waiting")
        headers = {"Accept": ACCEPT}
        if state is not None and state.etag:
            headers["If-None-Match"] = state.etag
        if state is not None and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        next_fetch = now + self.min_interval
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    ledger.save_feed_fetch(self.store, FeedFetch(url, acct, now, next_fetch))
                    return FetchResult(url, acct, "not_modified")
                if response.status_code != 200:
                    raise FeedError(f"HTTP {response.status_code}", _retry_after(response.headers, now))
                body = _read_capped(response)
                content_type = response.headers.get("content-type", "")
                etag = response.headers.get("etag")
                last_modified = response.headers.get("last-modified")
            fetch = _parse(body, content_type, url=url, acct=acct, now=now)
        except (httpx.HTTPError, FeedError) as exc:
            return self._failed(url, acct, now, exc)
        new = ledger.save_feed_fetch(
            self.store,
            FeedFetch(
                url,
                acct,
                now,
                next_fetch,
                modified=True,
                etag=etag,
                last_modified=last_modified,
                title=fetch.title,
                nobot=fetch.nobot,
                entries=fetch.entries,
                keep_since=now - KEEP_ENTRIES,
            ),
        )
        LOGGER.info("feed %s: %d new entr%s", url, new, "y" if new == 1 else "ies")
        return FetchResult(url, acct, "new", new_entries=new)

    def _failed(self, url: str, acct: str, now: datetime, exc: Exception) -> FetchResult:
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, FeedError) else str(exc)
        retry = exc.retry if isinstance(exc, FeedError) else RETRY_AFTER_FAILURE
        failures = ledger.save_feed_failure(self.store, url, acct, error, now, max(retry, self.min_interval))
        LOGGER.warning("feed %s (%s) skipped: %.200s (failure %d in a row)", url, acct, error, failures)
        return FetchResult(url, acct, "failed", error=error)

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class _Parsed:
    title: str
    nobot: bool
    entries: tuple[FeedEntry, ...]


def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            raise FeedError(f"larger than {MAX_FEED_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(headers: httpx.Headers, now: datetime) -> timedelta:
    """The server's Retry-After (seconds or an HTTP date), never shorter than our own backoff."""
    value = headers.get("retry-after", "").strip()
    wait = RETRY_AFTER_FAILURE
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    elif value:
        with contextlib.suppress(TypeError, ValueError):
            wait = parsedate_to_datetime(value) - now
    return min(max(wait, RETRY_AFTER_FAILURE), timedelta(days=1))


def _parse(body: bytes, content_type: str, *, url: str, acct: str, now: datetime) -> _Parsed:
    import feedparser

    # A stream, never bytes or str: feedparser opens anything else that looks like a path or URL.
    parsed: Any = feedparser.parse(io.BytesIO(body), response_headers={"content-type": content_type})
    if parsed.get("bozo") and not parsed.get("entries"):
        raise FeedError(f"not a feed ({type(parsed.get('bozo_exception')).__name__})")
    feed = parsed.get("feed", {})
    description = html_to_text(feed.get("subtitle") or feed.get("description") or "")
    entries = []
    for entry in parsed.get("entries", [])[:MAX_ENTRIES]:
        link = str(entry.get("link") or "")
        entry_id = str(entry.get("id") or link)
        if not entry_id or not link.startswith(("https://", "http://")):
            continue
        html = entry.get("summary") or entry.get("description") or entry.get("title") or ""
        excerpt = " ".join(html_to_text(html).split())[:EXCERPT_CHARS]
        published = _when(entry.get("published_parsed") or entry.get("updated_parsed")) or now
        entries.append(FeedEntry(url, entry_id[:500], acct, link, excerpt, published))
    return _Parsed(
        title=" ".join(html_to_text(feed.get("title") or "").split()),
        nobot=consent_tag((description,)) is not None,
        entries=tuple(entries),
    )


def _when(parsed_time: Any) -> datetime | None:
    """feedparser's UTC struct_time as an aware datetime."""
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed_time), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# --- OPML ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedOutline:
    title: str
    xml_url: str
    html_url: str


def opml_outlines(
    store: Store, watch: Sequence[str], local_domain: str
) -> list[tuple[str, list[FeedOutline]]]:
    """The followers' and the watched accounts' public feeds, as two OPML groups."""
    followers = [
        FeedOutline(
            f"{clean_name(p.display_name, p.acct)} ({full_acct(p.acct, local_domain)})",
            feed_url(p.acct, local_domain, p.url),
            profile_url(p.acct, local_domain, p.url),
        )
        for p in ledger.follower_profiles(store)
    ]
    watched = [
        FeedOutline(
            full_acct(acct, local_domain), feed_url(acct, local_domain), profile_url(acct, local_domain)
        )
        for acct in watch
    ]
    return [("Followers", followers), ("Watching", watched)]


def opml_document(groups: Sequence[tuple[str, Sequence[FeedOutline]]], now: datetime) -> str:
    """An OPML 2.0 subscription list that feed readers import."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "Frontrow: followers and watched accounts"
    ET.SubElement(head, "dateCreated").text = format_datetime(now.astimezone(UTC), usegmt=True)
    body = ET.SubElement(root, "body")
    for name, outlines in groups:
        group = ET.SubElement(body, "outline", text=name, title=name)
        for outline in outlines:
            title = _xml_safe(outline.title)
            ET.SubElement(
                group,
                "outline",
                type="rss",
                text=title,
                title=title,
                xmlUrl=_xml_safe(outline.xml_url),
                htmlUrl=_xml_safe(outline.html_url),
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _xml_safe(text: str) -> str:
    return _XML_ILLEGAL_RE.sub("", text)
