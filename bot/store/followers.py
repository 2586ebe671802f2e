"""Store (followers): scans of our followers list, page by page, and the departures they revealed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func
from sqlmodel import col, select

from bot.model import Follower
from bot.store.base import StoreBase
from bot.store.plain import DepartureRecord
from bot.store.tables import (
    DepartureRow,
    EventRow,
    FollowerRow,
    FollowerScanRow,
    InteractionRow,
    OurPostRow,
    PersonRow,
)

ENGAGING_KINDS = ("mention", "reply", "boost", "favourite")  # what "last engaged" looks for
UNFOLLOW = "unfollow"  # the ledger kind of a departure (theirs)


@dataclass(frozen=True)
class Scan:
    id: int
    started_at: datetime
    finished_at: datetime | None
    next_max_id: str | None
    pages: int
    requests: int


def _scan(row: FollowerScanRow) -> Scan:
    assert row.id is not None
    return Scan(row.id, row.started_at, row.finished_at, row.next_max_id, row.pages, row.requests)


def open_scan(store: StoreBase) -> Scan | None:
    """The scan under way (pages left to read), if any."""
    with store.session() as session:
        row = session.exec(
            select(FollowerScanRow)
            .where(col(FollowerScanRow.finished_at).is_(None))
            .order_by(col(FollowerScanRow.id).desc())
        ).first()
        return _scan(row) if row is not None else None


def last_finished_scan(store: StoreBase) -> Scan | None:
    with store.session() as session:
        row = session.exec(
            select(FollowerScanRow)
            .where(col(FollowerScanRow.finished_at).is_not(None))
            .order_by(col(FollowerScanRow.id).desc())
        ).first()
        return _scan(row) if row is not None else None


def start_scan(store: StoreBase, now: datetime) -> Scan:
    with store.session() as session:
        row = FollowerScanRow(started_at=now)
        session.add(row)
        session.commit()
        session.refresh(row)
        return _scan(row)


def save_follower_page(
    store: StoreBase,
    scan: Scan,
    followers: Sequence[Follower],
    next_max_id: str | None,
    requests: int,
    now: datetime,
) -> Scan:
    """One page of the scan; a follower the last snapshot knew keeps the moment we first saw them."""
    previous = last_finished_scan(store)
    with store.session() as session:
        ids = [f.account_id for f in followers]
        first_seen: dict[str, datetime] = {}
        if previous is not None and ids:
            first_seen = dict(
                session.exec(
                    select(FollowerRow.account_id, FollowerRow.first_seen).where(
                        FollowerRow.scan_id == previous.id, col(FollowerRow.account_id).in_(ids)
                    )
                ).all()
            )
        known = set(
            session.exec(
                select(FollowerRow.account_id).where(
                    FollowerRow.scan_id == scan.id, col(FollowerRow.account_id).in_(ids)
                )
            ).all()
        )
        for follower in followers:
            if follower.account_id in known:
                continue  # a page read twice (a follow arrived between two pages)
            known.add(follower.account_id)
            session.add(
                FollowerRow(
                    scan_id=scan.id,
                    account_id=follower.account_id,
                    acct=follower.acct,
                    first_seen=first_seen.get(follower.account_id, scan.started_at),
                    moved_to=follower.moved_to,
                )
            )
        row = session.get(FollowerScanRow, scan.id)
        assert row is not None
        row.next_max_id = next_max_id
        row.pages += 1
        row.requests += requests
        session.add(row)
        session.commit()
        session.refresh(row)
        return _scan(row)


def snapshot(store: StoreBase, scan_id: int) -> dict[str, Follower]:
    with store.session() as session:
        rows = session.exec(
            select(FollowerRow.account_id, FollowerRow.acct, FollowerRow.moved_to).where(
                FollowerRow.scan_id == scan_id
            )
        ).all()
    return {account_id: Follower(account_id, acct, moved_to) for account_id, acct, moved_to in rows}


def departed_ids(store: StoreBase, among: Iterable[str]) -> set[str]:
    ids = list(among)
    if not ids:
        return set()
    with store.session() as session:
        return set(
            session.exec(
                select(DepartureRow.account_id).where(col(DepartureRow.account_id).in_(ids)).distinct()
            ).all()
        )


def finish_scan(
    store: StoreBase,
    scan: Scan,
    *,
    arrived: Sequence[Follower],
    left: Sequence[Follower],
    severed: Sequence[Follower],
    after: datetime | None,
    now: datetime,
) -> None:
    """Close the scan: departures enter the ledger, arrivals are marked as following, old scans go.

    `after` is when the previous snapshot was taken (None for the first scan: nothing is compared).
    """
    with store.session() as session:
        for follower in arrived:
            person = session.get(PersonRow, (store.owner, follower.account_id))
            if person is None:
                person = PersonRow(
                    owner=store.owner, account_id=follower.account_id, acct=follower.acct, first_seen=now
                )
            if person.follows_us_since is None:
                person.follows_us_since = scan.started_at
            session.add(person)
        for follower, cause in [*((f, "unfollow") for f in left), *((f, "severed") for f in severed)]:
            person = session.get(PersonRow, (store.owner, follower.account_id))
            followed = person.follows_us_since if person is not None else None
            if followed is None:
                followed = session.exec(
                    select(FollowerRow.first_seen).where(
                        FollowerRow.account_id == follower.account_id, FollowerRow.scan_id < scan.id
                    )
                ).first()
            if person is None:
                person = PersonRow(
                    owner=store.owner, account_id=follower.account_id, acct=follower.acct, first_seen=now
                )
            person.follows_us_since = None
            session.add(person)
            session.add(
                DepartureRow(
                    account_id=follower.account_id,
                    acct=follower.acct,
                    followed_since=followed,
                    after=after or scan.started_at,
                    noticed_at=now,
                    cause=cause,
                )
            )
            session.add(
                InteractionRow(account_id=follower.account_id, direction="theirs", kind=UNFOLLOW, at=now)
            )
        row = session.get(FollowerScanRow, scan.id)
        assert row is not None
        row.finished_at = now
        session.add(row)
        # Only the newest snapshot is compared with: older ones would grow the store by a list a scan.
        session.exec(delete(FollowerRow).where(col(FollowerRow.scan_id) < scan.id))
        session.exec(delete(FollowerScanRow).where(col(FollowerScanRow.id) < scan.id))
        session.commit()


def departures(
    store: StoreBase,
    *,
    since: datetime | None = None,
    account_id: str | None = None,
    limit: int = 200,
) -> list[DepartureRecord]:
    """Who left (newest first), with when they had followed and when they last engaged us."""
    with store.session() as session:
        query = select(DepartureRow, PersonRow.display_name).join(
            PersonRow, col(PersonRow.account_id) == col(DepartureRow.account_id), isouter=True
        )
        if since is not None:
            query = query.where(col(DepartureRow.noticed_at) >= since)
        if account_id is not None:
            query = query.where(DepartureRow.account_id == account_id)
        rows = session.exec(
            query.order_by(col(DepartureRow.noticed_at).desc(), col(DepartureRow.id).desc()).limit(limit)
        ).all()
        out = []
        for row, name in rows:
            last = session.exec(
                select(InteractionRow.at, InteractionRow.kind)
                .where(
                    InteractionRow.account_id == row.account_id,
                    InteractionRow.direction == "theirs",
                    col(InteractionRow.kind).in_(ENGAGING_KINDS),
                    col(InteractionRow.at) <= row.noticed_at,
                )
                .order_by(col(InteractionRow.at).desc())
            ).first()
            out.append(
                DepartureRecord(
                    account_id=row.account_id,
                    acct=row.acct,
                    display_name=name or "",
                    followed_since=row.followed_since,
                    after=row.after,
                    noticed_at=row.noticed_at,
                    cause=row.cause,
                    last_engaged=last[0] if last else None,
                    last_engaged_kind=last[1] if last else None,
                )
            )
    return out


def followers_by_week(store: StoreBase, now: datetime, weeks: int = 4) -> list[tuple[datetime, int, int]]:
    """(week start, gained, lost) for the last `weeks` seven-day windows ending now, oldest first.

    Gained: follow notifications; lost: departures (severed ones included: the followers are gone).
    Counted in SQL, a sum per week over the window's rows (reading ~10k follow times at 1M
    interactions into Python cost more than all the other stats together, bench/store.py).
    """
    start = now - timedelta(days=7 * weeks)
    begins = [start + timedelta(days=7 * index) for index in range(weeks)]

    def per_week(column: Any) -> list[Any]:
        # The last week has no end: a clock a little behind the service's still counts what it wrote.
        return [
            func.coalesce(
                func.sum(case((and_(column >= begin, column < begin + timedelta(days=7)), 1), else_=0))
                if index < weeks - 1
                else func.sum(case((column >= begin, 1), else_=0)),
                0,
            )
            for index, begin in enumerate(begins)
        ]

    with store.session() as session:
        gained = session.exec(
            select(*per_week(col(InteractionRow.at))).where(
                InteractionRow.direction == "theirs",
                InteractionRow.kind == "follow",
                col(InteractionRow.at) >= start,
            )
        ).one()
        lost = session.exec(
            select(*per_week(col(DepartureRow.noticed_at))).where(col(DepartureRow.noticed_at) >= start)
        ).one()
    return [(begin, int(g), int(lost_)) for begin, g, lost_ in zip(begins, gained, lost, strict=True)]


def lost_since(store: StoreBase, since: datetime) -> int:
    with store.session() as session:
        return int(
            session.exec(
                select(func.count()).select_from(DepartureRow).where(col(DepartureRow.noticed_at) >= since)
            ).one()
        )


def severed_domains(store: StoreBase, since: datetime) -> set[str]:
    """Servers a `severed_relationships` notification since `since` names (the hook that tells such
    departures apart). Read from the recorded notification's payload, wherever the edge kept the
    event's `target_name`; nothing when no such notification was recorded."""
    with store.session() as session:
        payloads = session.exec(
            select(EventRow.payload).where(
                col(EventRow.kind).in_(("other", "severed_relationships")),
                col(EventRow.created_at) >= since,
            )
        ).all()
    found: set[str] = set()
    for payload in payloads:
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if data.get("kind") != "severed_relationships" and data.get("type") != "severed_relationships":
            continue
        event = data.get("event") or data.get("relationship_severance_event") or data
        target = event.get("target_name") if isinstance(event, dict) else None
        if isinstance(target, str) and target.strip():
            found.add(target.strip().lower())
    return found


def our_posts_between(store: StoreBase, since: datetime, until: datetime) -> list[tuple[str, datetime, str]]:
    """Our own original posts written in the window: (status id, when, excerpt)."""
    with store.session() as session:
        rows = session.exec(
            select(OurPostRow.status_id, OurPostRow.created_at, OurPostRow.excerpt).where(
                OurPostRow.kind == "post",
                col(OurPostRow.created_at) >= since,
                col(OurPostRow.created_at) <= until,
            )
        ).all()
    return [(status_id, at, excerpt) for status_id, at, excerpt in rows]
