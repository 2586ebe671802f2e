"""Store (listening): our own posts read back, the digests and their numbers, feeds, follower profiles."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.model import Account
from bot.store.base import StoreBase
from bot.store.people import ours_recorded
from bot.store.tables import (
    DigestItemRow,
    DigestRow,
    EventRow,
    FeedEntryRow,
    FeedStateRow,
    InteractionRow,
    OurPostRow,
    PersonRow,
)


@dataclass(frozen=True)
class OurPost:
    status_id: str
    created_at: datetime
    visibility: str
    kind: str  # post | reply | boost | quote (see OurPostRow)
    in_reply_to_account_id: str | None = None
    reblog_of_account_id: str | None = None
    reblog_of_status_id: str | None = None
    quoted_account_id: str | None = None  # whose post a quote quotes (not kept in the table)
    # The person a reply, boost or quote is for, so the ledger records ours with them.
    person: Account | None = None
    excerpt: str = ""  # the start of its text, to name it ("your post of Tuesday 'We are now…'")


@dataclass(frozen=True)
class DigestItem:
    """One numbered item of a listening digest. `status_id` is on our instance (None for feed entries)."""

    number: int
    status_id: str | None
    account_id: str | None
    acct: str
    display_name: str
    url: str
    excerpt: str
    source: str
    created_at: datetime
    digest_id: int = 0
    via: str = ""  # a recommendation's breadcrumb: "Alice (alice@example.social) boosted their post"


@dataclass(frozen=True)
class FeedState:
    url: str
    etag: str | None
    last_modified: str | None
    last_fetched: datetime | None
    next_fetch: datetime | None
    failures: int


@dataclass(frozen=True)
class FeedEntry:
    feed_url: str
    entry_id: str
    acct: str
    url: str
    excerpt: str
    published: datetime
    title: str = ""  # the feed's title: the author's display name
    nobot: bool = False


@dataclass(frozen=True)
class Profile:
    """A follower as the OPML export needs them."""

    acct: str
    display_name: str
    url: str = ""  # their profile page, when an event told us


# --- our own posts ---------------------------------------------------------------------------------


def known_our_posts(store: StoreBase, status_ids: Iterable[str]) -> set[str]:
    ids = list(status_ids)
    if not ids:
        return set()
    with store.session() as session:
        return set(session.exec(select(OurPostRow.status_id).where(col(OurPostRow.status_id).in_(ids))).all())


def record_our_posts(store: StoreBase, posts: Sequence[OurPost], now: datetime) -> int:
    """Remember our statuses (once each); replies, boosts and quotes for others enter the ledger as ours."""
    added = 0
    for post in posts:
        with store.session() as session:
            if session.exec(select(OurPostRow.id).where(OurPostRow.status_id == post.status_id)).first():
                continue
            session.add(
                OurPostRow(
                    status_id=post.status_id,
                    created_at=post.created_at,
                    visibility=post.visibility,
                    kind=post.kind,
                    in_reply_to_account_id=post.in_reply_to_account_id,
                    reblog_of_account_id=post.reblog_of_account_id,
                    excerpt=post.excerpt,
                )
            )
            target = {"boost": post.reblog_of_account_id, "quote": post.quoted_account_id}.get(
                post.kind, post.in_reply_to_account_id
            )
            # Boosts are keyed by their status (as record_ours documents), replies and quotes by ours
            # (as mark_sent).
            acted_on = post.reblog_of_status_id if post.kind == "boost" else post.status_id
            if post.kind in ("boost", "reply", "quote") and target and acted_on:
                if post.person is not None and session.get(PersonRow, (store.owner, target)) is None:
                    session.add(
                        PersonRow(
                            owner=store.owner,
                            account_id=target,
                            acct=post.person.acct,
                            display_name=post.person.display_name,
                            followers_count=post.person.followers_count,
                            bot=post.person.bot,
                            first_seen=now,
                        )
                    )
                if not ours_recorded(session, target, post.kind, acted_on):
                    session.add(
                        InteractionRow(
                            account_id=target,
                            direction="ours",
                            kind=post.kind,
                            status_id=acted_on,
                            at=post.created_at,
                        )
                    )
            try:
                session.commit()
                added += 1
            except IntegrityError:  # a concurrent sync stored it first
                session.rollback()
    return added


# --- digests -----------------------------------------------------------------------------------------


def save_digest(store: StoreBase, items: Sequence[DigestItem], now: datetime) -> list[DigestItem]:
    """Store a new digest, numbering its items 1..n; from now on its numbers are the valid ones."""
    with store.session() as session:
        digest = DigestRow(created_at=now)
        session.add(digest)
        session.flush()
        assert digest.id is not None
        numbered = [replace(item, number=n, digest_id=digest.id) for n, item in enumerate(items, start=1)]
        for item in numbered:
            session.add(
                DigestItemRow(
                    digest_id=digest.id,
                    number=item.number,
                    status_id=item.status_id,
                    account_id=item.account_id,
                    acct=item.acct,
                    display_name=item.display_name,
                    url=item.url,
                    excerpt=item.excerpt,
                    source=item.source,
                    created_at=item.created_at,
                    via=item.via,
                )
            )
        session.commit()
    return numbered


def latest_digest_item(store: StoreBase, number: int, *, before: datetime | None = None) -> DigestItem | None:
    """Item `number` of the newest digest (made before `before`, when given): older digests' numbers
    are no longer valid."""
    with store.session() as session:
        newest = select(func.max(DigestRow.id))
        if before is not None:
            newest = newest.where(col(DigestRow.created_at) < before)
        latest = session.exec(newest).one()
        if latest is None:
            return None
        row = session.exec(
            select(DigestItemRow).where(DigestItemRow.digest_id == latest, DigestItemRow.number == number)
        ).first()
        return _digest_item(row) if row is not None else None


def resolved_digest_item(store: StoreBase, item: DigestItem, status_id: str, account_id: str) -> DigestItem:
    """Remember the local ids found for a feed entry, so a second command on it needs no search."""
    with store.session() as session:
        session.exec(
            update(DigestItemRow)
            .where(col(DigestItemRow.digest_id) == item.digest_id, col(DigestItemRow.number) == item.number)
            .values(status_id=status_id, account_id=account_id)
        )
        session.commit()
    return replace(item, status_id=status_id, account_id=account_id)


def digested(store: StoreBase, status_ids: Iterable[str], urls: Iterable[str]) -> set[str]:
    """Which of these status ids and URLs any digest has already shown."""
    ids, links = list(status_ids), [u for u in urls if u]
    seen: set[str] = set()
    with store.session() as session:
        if ids:
            seen |= {
                s
                for s in session.exec(
                    select(DigestItemRow.status_id).where(col(DigestItemRow.status_id).in_(ids))
                ).all()
                if s
            }
        if links:
            seen |= set(
                session.exec(select(DigestItemRow.url).where(col(DigestItemRow.url).in_(links))).all()
            )
    return seen


def _digest_item(row: DigestItemRow) -> DigestItem:
    return DigestItem(
        number=row.number,
        status_id=row.status_id,
        account_id=row.account_id,
        acct=row.acct,
        display_name=row.display_name,
        url=row.url,
        excerpt=row.excerpt,
        source=row.source,
        created_at=row.created_at,
        digest_id=row.digest_id,
        via=row.via,
    )


# --- feeds ------------------------------------------------------------------------------------------


def feed_state(store: StoreBase, url: str) -> FeedState | None:
    with store.session() as session:
        row = session.get(FeedStateRow, (store.owner, url))
        if row is None:
            return None
        return FeedState(row.url, row.etag, row.last_modified, row.last_fetched, row.next_fetch, row.failures)


@dataclass(frozen=True)
class FeedFetch:
    """What one successful fetch (200 or 304) tells the store."""

    url: str
    acct: str
    now: datetime
    next_fetch: datetime
    modified: bool = False  # False for 304: validators and entries stay as they were
    etag: str | None = None
    last_modified: str | None = None
    title: str = ""
    nobot: bool = False
    entries: Sequence[FeedEntry] = field(default_factory=tuple)
    keep_since: datetime | None = None  # entries published before this are pruned


def save_feed_fetch(store: StoreBase, fetch: FeedFetch) -> int:
    """Record a fetch; returns how many entries were new."""
    with store.session() as session:
        row = session.get(FeedStateRow, (store.owner, fetch.url)) or FeedStateRow(
            owner=store.owner, url=fetch.url
        )
        row.acct, row.last_fetched, row.next_fetch = fetch.acct, fetch.now, fetch.next_fetch
        row.failures, row.last_error = 0, None
        new = 0
        if fetch.modified:
            row.etag, row.last_modified = fetch.etag, fetch.last_modified
            row.title, row.nobot = fetch.title, fetch.nobot
            known = set(
                session.exec(
                    select(FeedEntryRow.entry_id).where(
                        FeedEntryRow.feed_url == fetch.url,
                        col(FeedEntryRow.entry_id).in_([e.entry_id for e in fetch.entries]),
                    )
                ).all()
            )
            for entry in fetch.entries:
                if entry.entry_id in known or (fetch.keep_since and entry.published < fetch.keep_since):
                    continue
                known.add(entry.entry_id)
                session.add(
                    FeedEntryRow(
                        feed_url=fetch.url,
                        entry_id=entry.entry_id,
                        acct=fetch.acct,
                        url=entry.url,
                        excerpt=entry.excerpt,
                        published=entry.published,
                        fetched_at=fetch.now,
                    )
                )
                new += 1
            if fetch.keep_since is not None:
                session.exec(
                    delete(FeedEntryRow).where(
                        col(FeedEntryRow.feed_url) == fetch.url,
                        col(FeedEntryRow.published) < fetch.keep_since,
                    )
                )
        session.add(row)
        session.commit()
        return new


def save_feed_failure(
    store: StoreBase, url: str, acct: str, error: str, now: datetime, retry: timedelta
) -> int:
    """Record a failed fetch; the next attempt waits longer after each failure. Returns the failure count."""
    with store.session() as session:
        row = session.get(FeedStateRow, (store.owner, url)) or FeedStateRow(
            owner=store.owner, url=url, acct=acct
        )
        row.failures += 1
        row.last_error = error[:500]
        row.last_fetched = now
        backoff = retry * 2 ** min(row.failures - 1, 10)
        row.next_fetch = now + min(backoff, max(retry, timedelta(days=1)))
        session.add(row)
        session.commit()
        return row.failures


def recent_feed_entries(
    store: StoreBase, since: datetime, accts: Iterable[str] | None = None
) -> list[FeedEntry]:
    """Feed entries published since `since`, newest first, with their feed's title and #nobot flag."""
    with store.session() as session:
        query = (
            select(FeedEntryRow, FeedStateRow.title, FeedStateRow.nobot)
            .join(FeedStateRow, col(FeedStateRow.url) == col(FeedEntryRow.feed_url))
            .where(col(FeedEntryRow.published) >= since)
            .order_by(col(FeedEntryRow.published).desc())
        )
        if accts is not None:
            query = query.where(col(FeedEntryRow.acct).in_(list(accts)))
        rows = session.exec(query).all()
    return [
        FeedEntry(
            feed_url=row.feed_url,
            entry_id=row.entry_id,
            acct=row.acct,
            url=row.url,
            excerpt=row.excerpt,
            published=row.published,
            title=title,
            nobot=nobot,
        )
        for row, title, nobot in rows
    ]


def follower_profiles(store: StoreBase) -> list[Profile]:
    """Our followers with their profile URLs (read from their follow events), for the OPML export."""
    with store.session() as session:
        followers = session.exec(
            select(PersonRow.account_id, PersonRow.acct, PersonRow.display_name)
            .where(col(PersonRow.follows_us_since).is_not(None))
            .order_by(col(PersonRow.acct))
        ).all()
        urls: dict[str, str] = {}
        payloads = session.exec(
            select(EventRow.account_id, EventRow.payload)
            .where(col(EventRow.kind).in_(("follow", "follow_request")))
            .execution_options(yield_per=1000)
        )
        for account_id, payload in payloads:
            try:
                urls[account_id] = str(json.loads(payload)["account"].get("url") or "")
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    return [Profile(acct, name, urls.get(account_id, "")) for account_id, acct, name in followers]
