"""Store (state): every piece of small state, declared once with its type; stored as text in `state`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Key(Generic[T]):
    """One state row: its name and how its value is written and read back."""

    name: str
    dump: Callable[[T], str]
    load: Callable[[str], T]


def _text(name: str) -> Key[str]:
    return Key(name, str, str)


def _moment(name: str) -> Key[datetime]:
    return Key(name, datetime.isoformat, datetime.fromisoformat)


def _flag(name: str) -> Key[bool]:
    return Key(name, lambda value: "1" if value else "0", lambda text: text == "1")


def _ids(name: str) -> Key[tuple[int, ...]]:
    # Written as "#3 #4" by earlier versions, "3 4" now: both read back.
    return Key(
        name,
        lambda ids: " ".join(str(i) for i in ids),
        lambda text: tuple(int(w.lstrip("#")) for w in text.split() if w.lstrip("#").isdigit()),
    )


CURSOR = _text("notifications_cursor")  # the newest notification recorded: catch-up reads after it
PAUSED = _flag("paused")  # `pause`: events are recorded, nothing is drafted or posted
HEARTBEAT = _moment("heartbeat")  # written by a healthy service; read by `frontrow health`
UNHEALTHY = _text("unhealthy")  # why the running service cannot work (a revoked token); read by health
LAST_DRAFT_DM = _moment("last_draft_dm_at")  # the batch window counts from here
EXPIRED_UNTOLD = _ids("expired_untold")  # drafts expired since the last draft DM told of them
SPIKE_SINCE = _moment("spike_since")  # stadium mode: when the crowd began to arrive
SPIKE_LAST_ACTIVE = _moment("spike_last_active")
SPIKE_NOTICE = _text("spike_notice")  # "pending" until the approvers were told, then "sent"
OUR_POSTS_CURSOR = _text("our_posts_cursor")  # the link-love sync pages our own posts forward from here
OUR_POSTS_SYNCED = _moment("our_posts_synced_at")
OUR_POSTS_BACKFILL = _text("our_posts_backfill_before")  # "" when the backfill reached the window's start
