"""Service (announce): every DM to the approvers — drafts, replies, notices, digests — within one budget."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from bot.config import ApprovalSettings
from bot.core import budget, render
from bot.instance import InstanceError
from bot.instance.writer import Posted, Writer
from bot.service import answering
from bot.service.context import draft_contexts
from bot.store import Store
from bot.store.state import LAST_DRAFT_DM

LOGGER = logging.getLogger(__name__)
# A backlog (after downtime, or a crowd) never floods: a few DMs now, the rest summarised.
MAX_DMS_PER_ROUND = 3
MAX_REPLY_DMS = 3  # one command's answer; the rest is paged ("list 2") or summarised
Kind = Literal["reply", "notice"]


def more_drafts(left: int) -> str:
    return f'…and {left} more: send "list"'


class Announcer:
    """The one place a DM to the approvers is sent and counted against `approval.max_dms_per_hour`.

    Replies to commands may use the whole hourly budget; drafts, notices and digests leave a quarter
    of it for replies, so an approver's `pause` is still answered after a busy hour.
    """

    def __init__(
        self,
        writer: Writer,
        store: Store,
        *,
        clock: Callable[[], datetime],
        approval: ApprovalSettings,
        domain: str,
        char_limit: int,
        approvers: Callable[[], list[str]],
    ) -> None:
        self.writer = writer
        self.store = store
        self.clock = clock
        self.approval = approval
        self.domain = domain
        self.char_limit = char_limit
        self.approvers = approvers
        self.notices: list[Callable[[datetime], str | None]] = []  # one-off lines for the next draft DM
        self.sent_notices: list[Callable[[], None]] = []  # called once those lines went out

    @property
    def room(self) -> int:
        """Characters for our text in one DM: the limit less the mentions the writer puts in front."""
        mentions = sum(len(a) + 2 for a in self.approvers())
        return max(self.char_limit - mentions, 100)

    def statuses_since(self, since: datetime) -> int:
        """Our statuses (posts and DMs alike) since `since`: the instance counts both."""
        return self.store.count_sent_since(since) + self.store.count_dms_since(since)

    def allowance(self, kind: Kind) -> int:
        now = self.clock()
        cap = self.approval.max_dms_per_hour
        if kind != "reply":
            cap -= cap // 4
        dms_last_hour, statuses_last_3h = self.store.dm_budget_counts(
            now - timedelta(hours=1), now - timedelta(hours=3)
        )
        return budget.dms_allowed(
            max_dms_per_hour=cap,
            dms_last_hour=dms_last_hour,
            statuses_last_3h=statuses_last_3h,
            wanted=MAX_REPLY_DMS if kind == "reply" else MAX_DMS_PER_ROUND,
        )

    def send(
        self, to: Sequence[str], text: str, *, kind: Kind, in_reply_to_id: str | None = None
    ) -> Posted | None:
        """One DM, if the budget has room; returns what the instance made of it (None: not sent, and
        logged why)."""
        if self.allowance(kind) <= 0:
            LOGGER.warning(
                "approval.max_dms_per_hour reached: a %s DM waits (%d characters)", kind, len(text)
            )
            return None
        return self._post(to, text, in_reply_to_id=in_reply_to_id)

    def _post(self, to: Sequence[str], text: str, *, in_reply_to_id: str | None = None) -> Posted | None:
        """One DM the caller has already found room for in the budget (None: the instance refused)."""
        try:
            dm = self.writer.dm(to, text, in_reply_to_id=in_reply_to_id)
        except InstanceError as exc:
            LOGGER.error("could not send a DM to the approvers: %s", exc)
            return None
        self.store.log_dm(self.clock())
        return dm

    def reply(self, approver: str, text: str, *, in_reply_to_id: str | None) -> int:
        """Answer one approver in the thread of their command; a long answer is split, then summarised."""
        pieces, _ = render.split_text(
            text,
            self.char_limit - len(approver) - 2,
            max_messages=max(min(MAX_REPLY_DMS, self.allowance("reply")), 1),
            more=lambda n: f"…and {n} more lines",
        )
        sent = 0
        for piece in pieces:
            if self.send([approver], piece, kind="reply", in_reply_to_id=in_reply_to_id) is None:
                break
            sent += 1
        return sent

    def tell_all(self, text: str) -> int:
        """A notice to every approver now (a refused reload, a problem with the instance)."""
        pieces, _ = render.split_text(text, self.room, max_messages=2, more=lambda n: f"…and {n} more lines")
        sent = 0
        for piece in pieces:
            if self.send(self.approvers(), piece, kind="notice") is None:
                break
            sent += 1
        return sent

    def announce(self, *, force: bool) -> None:
        """DM new drafts (and pending notices) to the approvers: batched, triaged, within the budget."""
        now = self.clock()
        drafts = sorted(self.store.drafts_to_announce(), key=lambda d: (d.triage, d.id))
        notices = [n for n in (notice(now) for notice in self.notices) if n]
        if not drafts and not notices:
            return
        window = self.approval.batch_window
        # Without a window (or forced) nothing waits: the last DM's time is not read at all.
        waits = not force and window > timedelta(0)
        if waits and budget.in_batch_window(now, self.store.get(LAST_DRAFT_DM), window):
            return  # inside the batch window: gather, send when it ends
        allowed = self.allowance("notice")
        if allowed <= 0:
            return
        lines = answering.notes(self.store, drafts)
        contexts = draft_contexts(self.store, drafts, now)
        draft_blocks = [
            render.draft_block(d, self.domain, lines.get(d.id, ""), context=contexts[d.id]) for d in drafts
        ]
        blocks = [*notices, *draft_blocks]
        owners = [None] * len(notices) + [d.id for d in drafts]  # the draft each block shows
        # The writer puts the approvers' mentions in front: they are never cut away with a head.
        messages, left = render.pack("", blocks, self.room, max_messages=allowed, more=more_drafts)
        shown_at = now
        for message in messages:
            # `allowed` bounded the messages packed: no second look at the budget before each one.
            dm = self._post(self.approvers(), message.text)
            if dm is None:
                return
            # The instance's own time of the DM: an approver's command is compared with it.
            shown_at = dm.created_at or now
            shown = [o for i in message.blocks if (o := owners[i]) is not None]
            self.store.mark_announced(shown, dm.status_id, now, shown_at=shown_at)
        # Summarised, not dropped: the last DM told of them, they stay pending and `list` shows them.
        self.store.mark_announced(
            [o for i in left if (o := owners[i]) is not None], None, now, shown_at=shown_at
        )
        if notices:
            for done in self.sent_notices:
                done()
        self.store.put(LAST_DRAFT_DM, now)

    def next_announcement_at(self) -> datetime | None:
        """When the batch window of drafts waiting to be announced ends (None: nothing waits)."""
        if not self.store.drafts_to_announce():
            return None
        last = self.store.get(LAST_DRAFT_DM)
        return (last + self.approval.batch_window) if last else self.clock()
