"""Outbox: the only writer to Mastodon — approved drafts exactly once, and DMs to approvers."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
)

from bot.config import LimitSettings
from bot.model import Draft
from bot.store import Store
from bot.text import html_to_text, truncate_to

LOGGER = logging.getLogger(__name__)
IDEMPOTENCY_LIFETIME = timedelta(hours=1)  # how long Mastodon remembers an Idempotency-Key
INSTANCE_POSTS_PER_3H = 300  # Mastodon's own cap on statuses per account
DONE = {"post": "Posted", "boost": "Boosted", "favourite": "Favourited"}


def idempotency_key(draft_id: int) -> str:
    return f"frontrow-draft-{draft_id}"


class Outbox:
    """Posts approved drafts (marking `sending` before and `sent` after) and sends approver DMs."""

    def __init__(
        self,
        api: Mastodon,
        store: Store,
        *,
        clock: Callable[[], datetime],
        char_limit: int,
        limits: LimitSettings,
        self_id: str,
        dry_run: bool = False,
        stopping: threading.Event | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self.clock = clock
        self.char_limit = char_limit
        self.limits = limits
        self.self_id = self_id
        self.dry_run = dry_run
        self.stopping = stopping or threading.Event()

    def may_post(self) -> bool:
        """Outside quiet hours and under `limits.max_posts_per_hour`; otherwise approved posts wait."""
        now = self.clock()
        quiet = self.limits.quiet_hours
        if quiet is not None and quiet.contains(now.astimezone(self.limits.tz).time()):
            return False
        if self.store.count_sent_since(now - timedelta(hours=3)) >= INSTANCE_POSTS_PER_3H:
            return False
        return self.store.count_sent_since(now - timedelta(hours=1)) < self.limits.max_posts_per_hour

    def send_dm(self, to: Sequence[str], text: str, in_reply_to_id: str | None = None) -> str | None:
        """A direct message that mentions only `to` (approvers); returns its status id."""
        mentions = " ".join(f"@{acct}" for acct in to)
        body = truncate_to(f"{mentions} {text}", self.char_limit)
        try:
            # A key of its own makes the DM safe to retry after a 5xx or a timeout.
            status = self.api.status_post(
                body,
                visibility="direct",
                in_reply_to_id=in_reply_to_id,
                idempotency_key=f"frontrow-dm-{uuid4()}",
            )
        except (MastodonAPIError, MastodonNetworkError, MastodonRatelimitError) as exc:
            LOGGER.error("could not send a DM to the approvers: %s", exc)
            return None
        return str(status["id"])

    def flush(self) -> list[Draft]:
        """Post every approved draft (and retry any left `sending`); returns the drafts now sent."""
        if self.dry_run:
            for draft in self.store.approved_drafts():
                LOGGER.info("dry run: would post draft #%d", draft.id)
            return []
        sent: list[Draft] = []
        for draft in self.store.drafts("sending") + self.store.approved_drafts():
            if self.stopping.is_set() or not self.may_post():
                break  # the rest wait, in order, for the next flush (or the next start)
            outcome = self._post(draft)
            if outcome is None:
                break  # the server is struggling: stop here and keep the order for the next flush
            if outcome.state == "sent":
                sent.append(outcome)
        self._confirm(sent)
        return sent

    def _post(self, draft: Draft) -> Draft | None:
        now = self.clock()
        if not self.store.mark_sending(draft.id, now):
            return draft
        if draft.sending_at is not None and now - draft.sending_at > IDEMPOTENCY_LIFETIME:
            # The server may have forgotten our key: look for the post before making it again.
            found = self._find_posted(draft)
            if found is not None:
                self.store.mark_sent(draft.id, str(found["id"]), str(found.get("url") or ""), now)
                return self.store.draft(draft.id)
        try:
            status = self._act(draft)
        except (MastodonServerError, MastodonNetworkError, MastodonRatelimitError) as exc:
            LOGGER.warning("posting draft #%d failed for now (%s); will retry", draft.id, exc)
            return None
        except MastodonAPIError as exc:
            LOGGER.error("draft #%d was refused: %s", draft.id, exc)
            self.store.mark_failed(draft.id, str(exc))
            self._tell(draft, f"#{draft.id} could not be posted: {_reason(exc)}")
            failed = self.store.draft(draft.id)
            assert failed is not None
            return failed
        self.store.mark_sent(
            draft.id, str(status["id"]), str(status.get("url") or status.get("uri") or ""), self.clock()
        )
        LOGGER.info("posted draft #%d as %s", draft.id, status["id"])
        posted = self.store.draft(draft.id)
        assert posted is not None
        return posted

    def _act(self, draft: Draft) -> Any:
        if draft.action == "boost":  # boosting or favouriting twice changes nothing: no key needed
            return self.api.status_reblog(draft.in_reply_to_id)
        if draft.action == "favourite":
            return self.api.status_favourite(draft.in_reply_to_id)
        # Same key on every retry: Mastodon returns the first post instead of making a second.
        return self.api.status_post(
            self._body(draft),
            in_reply_to_id=draft.in_reply_to_id,
            visibility=draft.visibility,
            spoiler_text=draft.spoiler_text or None,
            idempotency_key=idempotency_key(draft.id),
        )

    def _find_posted(self, draft: Draft) -> Any | None:
        """Our own post for this draft, if an earlier attempt reached the server after all."""
        body = self._body(draft)
        try:
            if draft.in_reply_to_id:
                candidates = self.api.status_context(draft.in_reply_to_id).get("descendants") or []
            else:
                candidates = self.api.account_statuses(self.self_id, limit=40)
        except MastodonError as exc:
            LOGGER.warning("could not check whether draft #%d was posted: %s", draft.id, exc)
            return None
        for status in candidates:
            if str(status["account"]["id"]) != self.self_id:
                continue
            if draft.in_reply_to_id and str(status.get("in_reply_to_id")) == draft.in_reply_to_id:
                return status
            if not draft.in_reply_to_id and html_to_text(status.get("content")) == body:
                return status
        return None

    @staticmethod
    def _body(draft: Draft) -> str:
        # Only the person answered or thanked is mentioned; a crowd welcome mentions nobody.
        return f"@{draft.acct} {draft.text}" if draft.acct else draft.text

    def _confirm(self, sent: Sequence[Draft]) -> None:
        """One confirmation per approver command, in the thread of that command."""
        by_command: dict[tuple[str | None, str | None], list[Draft]] = defaultdict(list)
        for draft in sent:
            by_command[(draft.command_status_id, draft.decided_by)].append(draft)
        for (command_status_id, approver), drafts in by_command.items():
            if command_status_id is None or approver is None:
                continue  # decided from the shell: nobody to tell by DM
            lines = "\n".join(f"{DONE[d.action]} #{d.id}: {d.status_url}" for d in drafts)
            self.send_dm([approver], lines, in_reply_to_id=command_status_id)

    def _tell(self, draft: Draft, text: str) -> None:
        if draft.decided_by:
            self.send_dm([draft.decided_by], text, in_reply_to_id=draft.command_status_id)


def _reason(exc: MastodonAPIError) -> str:
    args = [a for a in exc.args if isinstance(a, str)]
    return args[-1] if args else type(exc).__name__
