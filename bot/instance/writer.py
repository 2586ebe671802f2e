"""Instance (writer): every write to the instance — posts, boosts, favourites, follows and DMs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from mastodon import Mastodon

from bot.instance import convert
from bot.text import truncate_to


@dataclass(frozen=True)
class Posted:
    """A status the instance accepted: its id, link, and when the instance says it was written."""

    status_id: str
    url: str
    created_at: datetime | None = None


def _posted(status: Mapping[str, Any]) -> Posted:
    return Posted(
        str(status["id"]),
        str(status.get("url") or status.get("uri") or ""),
        convert.moment(status.get("created_at")),
    )


class Writer:
    """Writes through the one paced client. Errors are the instance's (see bot.instance.errors)."""

    def __init__(self, api: Mastodon, *, char_limit: int) -> None:
        self.api = api
        self.char_limit = char_limit

    def post(
        self, text: str, *, in_reply_to_id: str | None, visibility: str, spoiler_text: str, key: str
    ) -> Posted:
        # Same key on every retry: Mastodon returns the first post instead of making a second.
        return _posted(
            self.api.status_post(
                text,
                in_reply_to_id=in_reply_to_id,
                visibility=visibility,
                spoiler_text=spoiler_text or None,
                idempotency_key=key,
            )
        )

    def boost(self, status_id: str) -> Posted:
        # Boosting or favouriting twice changes nothing: no key needed.
        return _posted(self.api.status_reblog(status_id))

    def favourite(self, status_id: str) -> Posted:
        return _posted(self.api.status_favourite(status_id))

    def follow(self, account_id: str) -> None:
        self.api.account_follow(account_id)

    def dm(self, to: Sequence[str], text: str, in_reply_to_id: str | None = None) -> Posted:
        """A direct message that mentions only `to`."""
        mentions = " ".join(f"@{acct}" for acct in to)
        body = truncate_to(f"{mentions} {text}".strip(), self.char_limit)
        # A key of its own makes the DM safe to retry after a 5xx or a timeout.
        status = self.api.status_post(
            body, visibility="direct", in_reply_to_id=in_reply_to_id, idempotency_key=f"frontrow-dm-{uuid4()}"
        )
        return _posted(status)
