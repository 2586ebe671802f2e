"""Core (pure): drafts and notices rendered into approver DMs that fit the instance's limit."""

from __future__ import annotations

from collections.abc import Sequence

from bot.model import Draft
from bot.text import defang, status_length, truncate_to


def full_acct(acct: str, domain: str) -> str:
    """`fan` → `fan@example.social`: written without `@`, so the person is not notified."""
    acct = acct.lstrip("@")
    return acct if "@" in acct else f"{acct}@{domain}"


def draft_block(draft: Draft, domain: str) -> str:
    """`Draft #<id>` line (rule, who it is for), then the text as it would be posted."""
    kind = f"reply, {draft.visibility}" if draft.in_reply_to_id else draft.visibility
    who = f"{defang(draft.display_name)} ({full_acct(draft.acct, domain)})" if draft.acct else "everyone"
    return f"Draft #{draft.id} · {draft.rule} · for {who} · {kind}\n{defang(draft.text)}"


def pack_messages(head: str, blocks: Sequence[str], limit: int) -> list[list[int]]:
    """Group block indexes into messages `head + blocks` that each fit `limit` characters."""
    groups: list[list[int]] = []
    size = 0
    for index, block in enumerate(blocks):
        cost = status_length(block) + 2
        if groups and size + cost <= limit:
            groups[-1].append(index)
            size += cost
        else:
            groups.append([index])
            size = status_length(head) + cost
    return groups


def compose(head: str, blocks: Sequence[str], limit: int) -> list[tuple[str, list[int]]]:
    """The DMs (text, block indexes) carrying `blocks`, each within `limit`; an over-long block is cut."""
    out = []
    for group in pack_messages(head, blocks, limit):
        text = head + "\n\n" + "\n\n".join(blocks[i] for i in group)
        out.append((truncate_to(text, limit), group))
    return out
