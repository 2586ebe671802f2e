"""Instance (reader): what we read — our account, notifications, threads, timelines, whom we silence."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mastodon import Mastodon, MastodonError

from bot.instance.client import InstanceFacts, instance_facts
from bot.instance.convert import to_account
from bot.model import Account

LOGGER = logging.getLogger(__name__)
PAGE_SIZE = 80  # Mastodon's maximum page of notifications


@dataclass(frozen=True)
class Relationship:
    account_id: str
    following: bool
    requested: bool


class Reader:
    """Reads through the one paced client; returns plain JSON pages or our own dataclasses."""

    def __init__(self, api: Mastodon) -> None:
        self.api = api

    def me(self) -> Account:
        """Our own account; raises Unauthorized for a wrong or revoked token."""
        return to_account(self.api.account_verify_credentials())

    def facts(self, base_url: str) -> InstanceFacts:
        return instance_facts(self.api, base_url)

    def account_id(self, lookup: str) -> str:
        """The id of `user` (local) or `user@domain`; raises NotFound."""
        return str(self.api.account_lookup(lookup)["id"])

    def relationships(self, account_ids: Sequence[str]) -> list[Relationship]:
        return [
            Relationship(str(r["id"]), bool(r["following"]), bool(r["requested"]))
            for r in self.api.account_relationships(list(account_ids))
        ]

    def notifications_after(self, cursor: str) -> list[Mapping[str, Any]]:
        """The page of notifications just newer than `cursor`, newest first (empty: caught up)."""
        return list(self.api.notifications(min_id=cursor, limit=PAGE_SIZE))

    def silenced(self) -> frozenset[str]:
        """Ids of the accounts we block or mute: never drafted for. Two requests, not one per person."""
        ids: set[str] = set()
        for listing in (self.api.blocks, self.api.mutes):
            try:
                page = listing(limit=80)
                while page:
                    ids.update(str(account["id"]) for account in page)
                    page = self.api.fetch_next(page)
            except MastodonError as exc:  # e.g. a token without read:blocks / read:mutes
                LOGGER.warning("could not read whom we block or mute (%s); assuming nobody", exc)
        return frozenset(ids)

    def direct_replies(self, status_id: str) -> list[Mapping[str, Any]]:
        """The statuses in `status_id`'s thread that answer it directly."""
        context = self.api.status_context(status_id)
        return [s for s in context.get("descendants") or [] if str(s.get("in_reply_to_id")) == status_id]

    def thread_descendants(self, status_id: str) -> list[Mapping[str, Any]]:
        return list(self.api.status_context(status_id).get("descendants") or [])

    # --- listening: timelines, lists, accounts (plain JSON, as the digest ranks it) -------------

    def account_statuses(self, account_id: str, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.account_statuses(account_id, **paging))

    def timeline_home(self, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.timeline_home(**paging))

    def lists(self) -> list[Mapping[str, Any]]:
        return list(self.api.lists())

    def timeline_list(self, list_id: str, **paging: Any) -> list[Mapping[str, Any]]:
        return list(self.api.timeline_list(list_id, **paging))

    def account_lookup(self, acct: str) -> Mapping[str, Any]:
        """The account as JSON; raises NotFound."""
        return self.api.account_lookup(acct)

    def account_relationships(self, account_ids: Sequence[str]) -> list[Mapping[str, Any]]:
        return list(self.api.account_relationships(list(account_ids)))

    def search_statuses(self, url: str) -> list[Mapping[str, Any]]:
        """The status at `url`, fetched by our instance if it has not seen it (resolve)."""
        return list(self.api.search_v2(url, resolve=True, result_type="statuses").get("statuses") or [])
