"""Store (people): everyone we met, what we noted of them, and how often each side engaged the other."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from bot.model import Account, Person, PersonHistory, Reblog
from bot.store.base import NO_SYNC, StoreBase
from bot.store.plain import DepartureRecord
from bot.store.tables import OWNER_IN_KEY, DraftRow, EventRow, InteractionRow, NoteRow, PersonRow

# A person's word about us, kept beside the interactions but counted in none of them.
CONSENT = "consent"
STOP = "stop"


def to_person(row: PersonRow) -> Person:
    return Person(
        account_id=row.account_id,
        acct=row.acct,
        display_name=row.display_name,
        followers_count=row.followers_count,
        bot=row.bot,
        first_seen=row.first_seen,
        follows_us_since=row.follows_us_since,
        we_follow=row.we_follow,
    )


# The ledger kinds recorded for each incoming event kind.


def update_person(row: PersonRow, account: Account) -> None:
    """What the latest sighting says of a person wins."""
    row.acct = account.acct
    row.display_name = account.display_name
    row.followers_count = account.followers_count
    row.bot = account.bot


def ours_recorded(session: Session, account_id: str, kind: str, status_id: str) -> bool:
    """Whether our act `kind` on their status (or ours) is in the ledger already."""
    found = session.exec(
        select(InteractionRow.id).where(
            InteractionRow.status_id == status_id,
            InteractionRow.account_id == account_id,
            InteractionRow.direction == "ours",
            InteractionRow.kind == kind,
        )
    ).first()
    return found is not None


class PeoplePart(StoreBase):
    """People: remembered as they appear, looked up by acct or id, with their notes and history."""

    def _touch_person(self, session: Session, account: Account, now: datetime) -> None:
        row = session.get(PersonRow, (self.owner, account.id), execution_options=OWNER_IN_KEY)
        if row is None:
            row = PersonRow(owner=self.owner, account_id=account.id, acct=account.acct, first_seen=now)
        update_person(row, account)
        session.add(row)
        session.flush()

    def remember_person(self, account: Account, now: datetime, *, we_follow: bool | None = None) -> None:
        with self.session() as session:
            self._touch_person(session, account, now)
            if we_follow is not None:
                row = session.get(PersonRow, (self.owner, account.id), execution_options=OWNER_IN_KEY)
                assert row is not None
                row.we_follow = we_follow
            session.commit()

    def person(self, acct_or_id: str, web_host: str = "") -> Person | None:
        """By account id, or as a person may be written (`fan`, `@fan@our.instance`, a profile URL;
        `web_host` is our instance's host in those URLs, see bot.text.person_acct)."""
        from bot.text import person_acct  # BeautifulSoup comes with bot.text: only when a person is asked for

        with self.session() as session:
            acct = person_acct(acct_or_id, self.owner.partition("@")[2], web_host)
            # By id, then the exact acct (indexed), and only then the slow case-insensitive scan.
            row = (
                session.get(PersonRow, (self.owner, acct_or_id.strip()), execution_options=OWNER_IN_KEY)
                or session.exec(select(PersonRow).where(PersonRow.acct == acct)).first()
                or session.exec(select(PersonRow).where(func.lower(PersonRow.acct) == acct.lower())).first()
            )
            return to_person(row) if row is not None else None

    def history(self, account_id: str) -> PersonHistory:
        return self.histories([account_id])[account_id]

    def histories(self, account_ids: Iterable[str]) -> dict[str, PersonHistory]:
        """`history` of several people in three queries (the drafter reads a dispatch batch's at once)."""
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            return {}
        with self.session() as session:
            rows = session.exec(
                select(DraftRow.account_id, DraftRow.rule, DraftRow.created_at, DraftRow.template).where(
                    col(DraftRow.account_id).in_(ids),
                    col(DraftRow.state).notin_(("rejected", "expired", "failed")),
                )
            ).all()
            engaged = set(
                session.exec(
                    select(InteractionRow.account_id)
                    .where(col(InteractionRow.account_id).in_(ids), InteractionRow.direction == "ours")
                    .distinct()
                ).all()
            )
            stopped = dict(
                session.exec(
                    select(InteractionRow.account_id, func.max(InteractionRow.at))
                    .where(
                        col(InteractionRow.account_id).in_(ids),
                        InteractionRow.direction == CONSENT,
                        InteractionRow.kind == STOP,
                    )
                    .group_by(InteractionRow.account_id)
                ).all()
            )
        last: dict[str, dict[str, datetime]] = {account_id: {} for account_id in ids}
        templates: dict[str, set[str]] = {account_id: set() for account_id in ids}
        for account_id, rule, created_at, template in rows:
            drafted = last[account_id]
            if rule not in drafted or created_at > drafted[rule]:
                drafted[rule] = created_at
            templates[account_id].add(template)
        return {
            account_id: PersonHistory(
                last_drafted=last[account_id],
                templates_used=frozenset(templates[account_id]),
                engaged_before=account_id in engaged,
                stopped_at=stopped.get(account_id),
            )
            for account_id in ids
        }

    def record_stop(self, account_id: str, status_id: str, at: datetime) -> int:
        """They asked us to stop: kept in the ledger, and their waiting drafts are rejected (how many)."""
        with self.session() as session:
            session.add(
                InteractionRow(
                    account_id=account_id, direction=CONSENT, kind=STOP, status_id=status_id, at=at
                )
            )
            result = session.exec(
                update(DraftRow)
                .where(
                    col(DraftRow.account_id) == account_id,
                    col(DraftRow.state).in_(("pending", "approved")),
                )
                .values(state="rejected", error="the person asked us to stop"),
                execution_options=NO_SYNC,
            )
            session.commit()
            return int(result.rowcount)

    def stopped_at(self, account_id: str) -> datetime | None:
        """When the person asked us to stop (None: they never did)."""
        return self.history(account_id).stopped_at

    def interaction_counts(self, account_id: str, since: datetime | None = None) -> dict[str, dict[str, int]]:
        """Interactions with one person by direction and kind (since `since`, when given)."""
        with self.session() as session:
            query = select(InteractionRow.direction, InteractionRow.kind, func.count()).where(
                InteractionRow.account_id == account_id
            )
            if since is not None:
                query = query.where(col(InteractionRow.at) >= since)
            rows = session.exec(query.group_by(InteractionRow.direction, InteractionRow.kind)).all()
        out: dict[str, dict[str, int]] = {"theirs": {}, "ours": {}}
        for direction, kind, count in rows:
            out.setdefault(direction, {})[kind] = count
        return out

    def people_by_id(self, account_ids: Iterable[str]) -> dict[str, Person]:
        """The people with these account ids, in one query (those not found are left out)."""
        ids = list(dict.fromkeys(account_ids))
        if not ids:
            return {}
        with self.session() as session:
            rows = session.exec(select(PersonRow).where(col(PersonRow.account_id).in_(ids))).all()
            return {row.account_id: to_person(row) for row in rows}

    def interaction_counts_ever_and_since(
        self, account_ids: Iterable[str], since: datetime
    ) -> dict[str, tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]]:
        """`interaction_counts` of several people, ever and since `since`, in one statement (each draft DM
        shows both): account id → (ever, since), each direction → kind → count."""
        ids = list(dict.fromkeys(account_ids))
        out: dict[str, tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]] = {
            i: ({"theirs": {}, "ours": {}}, {"theirs": {}, "ours": {}}) for i in ids
        }
        if not ids:
            return out
        recent_count = func.sum(case((col(InteractionRow.at) >= since, 1), else_=0))
        with self.session() as session:
            rows = session.execute(  # five columns: more than sqlmodel's typed select takes
                core_select(
                    col(InteractionRow.account_id),
                    col(InteractionRow.direction),
                    col(InteractionRow.kind),
                    func.count(),
                    recent_count,
                )
                .where(col(InteractionRow.account_id).in_(ids))
                .group_by(InteractionRow.account_id, InteractionRow.direction, InteractionRow.kind)
            ).all()
        for account_id, direction, kind, count, since_count in rows:
            ever, recent = out[account_id]
            ever.setdefault(direction, {})[kind] = count
            if since_count:
                recent.setdefault(direction, {})[kind] = int(since_count)
        return out

    def departures_of(self, account_id: str) -> list[DepartureRecord]:
        """When this person stopped following us, newest first (as bot/store/quick.py reads it too)."""
        from bot.store.followers import departures

        return departures(self, account_id=account_id)

    def add_note(self, account_id: str, text: str, now: datetime) -> None:
        with self.session() as session:
            session.add(NoteRow(account_id=account_id, text=text, created_at=now))
            session.commit()

    def notes(self, account_id: str) -> list[tuple[datetime, str]]:
        with self.session() as session:
            rows = session.exec(
                select(NoteRow.created_at, NoteRow.text)
                .where(NoteRow.account_id == account_id)
                .order_by(col(NoteRow.id))
            ).all()
            return [(at, text) for at, text in rows]

    def follows_since(self, since: datetime) -> tuple[int, datetime | None]:
        """How many follows arrived since `since`, and when the first of them came."""
        with self.session() as session:
            count, first = session.exec(
                select(func.count(), func.min(EventRow.created_at)).where(
                    EventRow.kind == "follow", col(EventRow.created_at) >= since
                )
            ).one()
        return int(count), first

    def biggest_booster_since(self, since: datetime) -> Person | None:
        """The account with the most followers that boosted one of our posts since `since`."""
        with self.session() as session:
            row = session.exec(
                select(PersonRow)
                .join(EventRow, col(EventRow.account_id) == col(PersonRow.account_id))
                .where(EventRow.kind == Reblog.kind, col(EventRow.created_at) >= since)
                .order_by(col(PersonRow.followers_count).desc())
            ).first()
            return to_person(row) if row is not None else None
