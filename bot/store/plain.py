"""Store (plain): what needs no SQL library: read results that a one-shot read (quick.py) and the
full store (followers.py) both return, the store's errors, the newest schema revision, the token
fingerprint, and the clock's now."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class StoreError(Exception):
    """The store could not be read or written (disk full, read-only, locked, gone): one line, no SQL."""


class StoreOpenError(StoreError):
    """The store cannot be opened at all: a bad `store.url`, a missing driver, a file that is no database."""


class NoStore(StoreOpenError):
    """A command that reads the store found none where `store.url` points (exit 1, not 2)."""

    def __init__(self, where: Path | str) -> None:
        super().__init__(f"no store at {where}; run `frontrow run` or check `store.url`")


# The newest revision, read from the migration files' names (0001_baseline.py...) without loading
# Alembic: a store already there needs no migration run, and a read-only command only this one read.
HEAD = max(p.name[:4] for p in (Path(__file__).parents[1] / "migrations" / "versions").glob("[0-9]*_*.py"))


def token_fingerprint(base_url: str, token: str) -> str:
    """A short one-way hash: enough to tell accounts apart, useless as a credential."""
    return hashlib.sha256(f"{base_url}\n{token}".encode()).hexdigest()[:16]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DepartureRecord:
    """One departure as `who`, `people --left` and the weekly summary show it."""

    account_id: str
    acct: str
    display_name: str
    followed_since: datetime | None
    after: datetime
    noticed_at: datetime
    cause: str  # unfollow | severed
    last_engaged: datetime | None  # their last mention, reply, boost or favourite
    last_engaged_kind: str | None

    @property
    def days_following(self) -> int | None:
        return (self.noticed_at - self.followed_since).days if self.followed_since else None

    def as_json(self) -> dict[str, object]:
        return {
            "display_name": self.display_name,
            "acct": self.acct,
            "noticed_at": self.noticed_at.isoformat(),
            "followed_since": self.followed_since.isoformat() if self.followed_since else None,
            "left_after": self.after.isoformat(),
            "days_following": self.days_following,
            "last_engaged": self.last_engaged.isoformat() if self.last_engaged else None,
            "last_engaged_kind": self.last_engaged_kind,
            "cause": self.cause,
        }

    def sentence(self) -> str:
        """ "stopped following us on 2026-12-02, 12 days after following, last engaged 2026-11-30 (reply)"."""
        how = "lost us as a follower when their server was cut off" if self.cause == "severed" else None
        text = how or "stopped following us"
        text += f" on {self.noticed_at:%Y-%m-%d}"
        if self.days_following is not None:
            text += f", {self.days_following} days after following"
        if self.last_engaged is not None:
            text += f", last engaged {self.last_engaged:%Y-%m-%d} ({self.last_engaged_kind})"
        else:
            text += ", never engaged with us"
        return text
