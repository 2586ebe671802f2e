"""Service (outbox): approved drafts posted exactly once, within the limits, and confirmed to the approver."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.config import LimitSettings
from bot.core import budget, render
from bot.instance import TRANSIENT, InstanceError, Refused, reason
from bot.instance.reader import Reader
from bot.instance.writer import Posted, Writer
from bot.model import Draft
from bot.service.announce import Announcer
from bot.store import Store
from bot.text import html_to_text, strip_leading_mentions

LOGGER = logging.getLogger(__name__)
DONE = {"post": "Posted", "boost": "Boosted", "favourite": "Favourited", "follow": "Followed"}


def idempotency_key(store_id: str, draft_id: int) -> str:
    """Per store: a new store's draft #1 never meets the key of another store's #1 at the instance."""
    return f"frontrow-{store_id}-draft-{draft_id}"


class Outbox:
    """Posts approved drafts (marking `sending` before and `sent` after). Called by the serve loop."""

    def __init__(
        self,
        writer: Writer,
        reader: Reader,
        store: Store,
        announcer: Announcer,
        *,
        clock: Callable[[], datetime],
        limits: LimitSettings,
        self_id: str,
        store_id: str,
        dry_run: bool = False,
        stopping: threading.Event | None = None,
    ) -> None:
        self.writer = writer
        self.reader = reader
        self.store = store
        self.announcer = announcer
        self.clock = clock
        self.limits = limits
        self.self_id = self_id
        self.store_id = store_id
        self.dry_run = dry_run
        self.stopping = stopping or threading.Event()

    def waiting_reason(self) -> str | None:
        """Why approved posts must wait now (quiet hours, a cap), or None when they may go."""
        now = self.clock()
        return budget.may_post(
            now,
            self.limits,
            posts_last_hour=self.store.count_sent_since(now - timedelta(hours=1)),
            statuses_last_3h=self.announcer.statuses_since(now - timedelta(hours=3)),
            posts_last_day=self.store.count_sent_since(now - timedelta(days=1)),
        )

    def flush(self) -> list[Draft]:
        """Post every approved draft (and retry any left `sending`); returns the drafts now sent."""
        if self.dry_run:
            for draft in self.store.approved_drafts():
                LOGGER.info("dry run: would post draft #%d", draft.id)
            return []
        sent: list[Draft] = []
        for draft in self.store.drafts("sending") + self.store.approved_drafts():
            if self.stopping.is_set() or self.waiting_reason() is not None:
                break  # the rest wait, in order, for the next flush (or the next start)
            outcome = self._post(draft)
            if outcome is None:
                break  # the server is struggling: stop here and keep the order for the next flush
            if outcome.state == "sent":
                sent.append(outcome)
        self._confirm(sent)
        return sent

    def has_work(self) -> bool:
        return bool(self.store.drafts("sending") or self.store.approved_drafts())

    def _post(self, draft: Draft) -> Draft | None:
        now = self.clock()
        if not self.store.mark_sending(draft.id, now):
            return draft
        if draft.state == "sending":
            # A retry: the last attempt may have reached the server unheard (a timeout, a 500 on a
            # known key, a crash), or the server may have forgotten our key: look before posting again.
            found = self._find_posted(draft)
            if found is not None:
                self.store.mark_sent(draft.id, found.status_id, found.url, now)
                return self.store.draft(draft.id)
        try:
            posted = self._act(draft)
        except TRANSIENT as exc:
            LOGGER.warning("posting draft #%d failed for now (%s); will retry", draft.id, exc)
            return None
        except Refused as exc:
            LOGGER.error("draft #%d was refused by the instance: %s; it is pending again", draft.id, exc)
            self.store.hand_back(draft.id, reason(exc))
            if draft.decided_by:
                self.announcer.reply(
                    draft.decided_by,
                    f"#{draft.id} was refused by the instance ({reason(exc)}); it is pending again:"
                    f" edit {draft.id} <text> or reject {draft.id}",
                    in_reply_to_id=draft.command_status_id,
                )
            handed_back = self.store.draft(draft.id)
            assert handed_back is not None
            return handed_back
        self.store.mark_sent(draft.id, posted.status_id, posted.url, self.clock())
        LOGGER.info("posted draft #%d as %s", draft.id, posted.status_id)
        done = self.store.draft(draft.id)
        assert done is not None
        return done

    def _act(self, draft: Draft) -> Posted:
        if draft.action == "boost":
            assert draft.in_reply_to_id is not None
            return self.writer.boost(draft.in_reply_to_id)
        if draft.action == "favourite":
            assert draft.in_reply_to_id is not None
            return self.writer.favourite(draft.in_reply_to_id)
        if draft.action == "follow":
            # A follow has no idempotency key: ask first, so a retry or a second `follow N` follows once.
            known = self.reader.relationships([draft.account_id])
            if not any(r.following or r.requested for r in known):
                self.writer.follow(draft.account_id)
            return Posted(draft.account_id, draft.acct)
        return self.writer.post(
            body(draft),
            in_reply_to_id=draft.in_reply_to_id,
            visibility=draft.visibility,
            spoiler_text=draft.spoiler_text,
            key=idempotency_key(self.store_id, draft.id),
        )

    def _find_posted(self, draft: Draft) -> Posted | None:
        """Our own post for this draft, if an earlier attempt reached the server after all. Proven by
        content: ours, in reply to the right post (or to none), with the draft's text as the instance
        renders it. A reply someone wrote by hand in the same thread is not the draft."""
        text = _comparable(body(draft))
        try:
            candidates: Sequence[Mapping[str, Any]] = (
                self.reader.thread_descendants(draft.in_reply_to_id)
                if draft.in_reply_to_id
                else self.reader.account_statuses(self.self_id, limit=40)
            )
        except InstanceError as exc:
            LOGGER.warning("could not check whether draft #%d was posted: %s", draft.id, exc)
            return None
        for status in candidates:
            if str(status["account"]["id"]) != self.self_id:
                continue
            if str(status.get("in_reply_to_id") or "") != (draft.in_reply_to_id or ""):
                continue
            if _comparable(html_to_text(status.get("content"))) == text:
                return Posted(str(status["id"]), str(status.get("url") or ""))
        return None

    def _confirm(self, sent: Sequence[Draft]) -> None:
        """One confirmation per approver command, in the thread of that command."""
        by_command: dict[tuple[str | None, str | None], list[Draft]] = defaultdict(list)
        for draft in sent:
            by_command[(draft.command_status_id, draft.decided_by)].append(draft)
        for (command_status_id, approver), drafts in by_command.items():
            if command_status_id is None or approver is None:
                continue  # decided from the shell: nobody to tell by DM
            lines = "\n".join(f"{DONE[d.action]} #{d.id}: {d.status_url}" for d in drafts)
            self.announcer.reply(approver, lines, in_reply_to_id=command_status_id)


def _comparable(text: str) -> str:
    """Text as the instance shows it back: mentions as the local part ("@fan@x.example" reads "@fan"),
    so leading ones are dropped; spacing is the renderer's."""
    return " ".join(strip_leading_mentions(text).split())


def body(draft: Draft) -> str:
    return render.post_text(draft.acct, draft.text)
