"""Store: the only package that opens SQL sessions; `Store` joins one part per thing it keeps.

Its names are imported on first use (PEP 562): `import bot.store.quick` for a one-shot read, or
`from bot.store import utcnow`, costs no SQLAlchemy import; `from bot.store import Store` loads it all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.base import StoreBase
    from bot.store.drafts import DRAFT_STATES
    from bot.store.events import QuarantinedEvent
    from bot.store.plain import NoStore, StoreError, StoreOpenError, token_fingerprint, utcnow
    from bot.store.store import Store
    from bot.store.tables import (
        OWNED_TABLES,
        AccountRow,
        DigestItemRow,
        DigestRow,
        DmLogRow,
        DraftMessageRow,
        DraftRow,
        EventRow,
        FeedEntryRow,
        FeedStateRow,
        InteractionRow,
        NoteRow,
        OurPostRow,
        PersonRow,
        StateRow,
        UTCDateTime,
    )

# Where each exported name lives (the TYPE_CHECKING imports above say the same to mypy).
_HOMES = {
    "Store": "bot.store.store",
    "DRAFT_STATES": "bot.store.drafts",
    "QuarantinedEvent": "bot.store.events",
    "StoreBase": "bot.store.base",
    **dict.fromkeys(
        ("NoStore", "StoreError", "StoreOpenError", "token_fingerprint", "utcnow"), "bot.store.plain"
    ),
    **dict.fromkeys(
        (
            "OWNED_TABLES",
            "AccountRow",
            "DigestItemRow",
            "DigestRow",
            "DmLogRow",
            "DraftMessageRow",
            "DraftRow",
            "EventRow",
            "FeedEntryRow",
            "FeedStateRow",
            "InteractionRow",
            "NoteRow",
            "OurPostRow",
            "PersonRow",
            "StateRow",
            "UTCDateTime",
        ),
        "bot.store.tables",
    ),
}

__all__ = [
    "DRAFT_STATES",
    "OWNED_TABLES",
    "AccountRow",
    "DigestItemRow",
    "DigestRow",
    "DmLogRow",
    "DraftMessageRow",
    "DraftRow",
    "EventRow",
    "FeedEntryRow",
    "FeedStateRow",
    "InteractionRow",
    "NoStore",
    "NoteRow",
    "OurPostRow",
    "PersonRow",
    "QuarantinedEvent",
    "StateRow",
    "Store",
    "StoreBase",
    "StoreError",
    "StoreOpenError",
    "UTCDateTime",
    "token_fingerprint",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bot.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later look-ups are plain attribute reads
    return value
