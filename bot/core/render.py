"""Core (pure): drafts, notices and replies rendered into approver DMs that fit the instance's limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.model import Draft, DraftContext
from bot.text import ELLIPSIS, safe_text, status_length, strip_leading_mentions, truncate_to

BLOCK_SEP = "\n\n"
# A head (the approvers' mentions, a title) is kept only while it leaves this much room for the blocks
# (or half a tiny limit); past that it is dropped rather than leaving no room for what the DM carries.
MIN_BLOCK_ROOM = 40
# Texts up to this many code points are measured whole; longer ones (hostile, or broken) are cut from a
# window at their start, as measuring them again and again would cost seconds.
WHOLE_TEXT_CHARS = 20_000


def post_text(acct: str, text: str) -> str:
    """A draft's text as posted: only the person answered or thanked is mentioned; a crowd welcome nobody."""
    return f"@{acct} {text}" if acct else text


def full_acct(acct: str, domain: str) -> str:
    """`fan` → `fan@example.social`: written without `@`, so the person is not notified."""
    acct = acct.lstrip("@")
    return acct if "@" in acct else f"{acct}@{domain}"


QUOTE_CHARS = 140  # of what the person wrote, in a draft's block
# Under a draft made from a notification the account's policy held back (4.3+): the account's own apps
# showed it only under "filtered notifications", so the approver may never have seen it.
FILTERED_NOTE = "filtered by your notification policy: from someone the account does not follow"


def draft_block(draft: Draft, domain: str, answer: str = "", *, context: DraftContext | None = None) -> str:
    """`Draft #<id>` line (rule, who it is for), the text as it would be posted, then (with a
    context) what the person wrote, a link to it, and who they are to us.

    `answer`: for an answering draft, a line under the first saying where the text came from.
    """
    kind = f"reply, {draft.visibility}" if draft.in_reply_to_id else draft.visibility
    who = f"{safe_text(draft.display_name)} ({full_acct(draft.acct, domain)})" if draft.acct else "everyone"
    lines = [f"Draft #{draft.id} · {draft.rule} · for {who} · {kind}"]
    lines += [safe_text(answer)] if answer else []
    lines.append(safe_text(draft.text))
    if context is not None:
        # Their leading mentions (of us, of others in the thread) are no part of what they said.
        said = strip_leading_mentions(context.quote)
        wrote = truncate_to(" ".join(safe_text(said).split()), QUOTE_CHARS)
        if wrote or context.link:
            lines.append(
                " ".join(
                    part for part in (f"› wrote: “{wrote}”" if wrote else "›", link(context.link)) if part
                )
            )
        if context.who:
            lines.append(f"› {safe_text(context.who)}")
        if context.filtered:
            lines.append(f"› {FILTERED_NOTE}")
    if draft.error:
        lines.append(f"› the instance refused it: {safe_text(draft.error)}")
    return "\n".join(lines)


def link(url: str) -> str:
    """A link that no server's mention rule can read as a mention: "/@fan/1" is written "/%40fan/1",
    which every server reads as the same path."""
    return url.replace("@", "%40") if url.startswith(("https://", "http://")) else ""


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def who_they_are(
    *,
    kind: str,
    of_kind_30d: int,
    ours_ever: int,
    follows_since: datetime | None,
    followers: int,
    owed: bool,
) -> str:
    """One line of who a person is to us: first contact or how often we engaged them, how often
    they wrote lately, since when they follow us, their reach, and whether we owe them."""
    parts = ["first contact" if ours_ever == 0 else f"we engaged them {ours_ever}× before"]
    if kind in ("mention", "reply") and of_kind_30d > 1:
        parts.append(f"{ordinal(of_kind_30d)} {kind} in 30 days")
    if follows_since is not None:
        parts.append(f"follows us since {follows_since:%b %Y}")
    parts.append(f"{followers} followers")
    if owed:
        parts.append("owed: engaged us lately, nothing back yet")
    return " · ".join(parts)


@dataclass(frozen=True)
class Message:
    """One DM's text and the indexes of the blocks it carries."""

    text: str
    blocks: tuple[int, ...]


def pack_messages(head: str, blocks: Sequence[str], limit: int) -> list[list[int]]:
    """Group block indexes into messages `head + blocks` that each fit `limit` characters."""
    messages, _ = pack(head, blocks, limit)
    return [list(message.blocks) for message in messages]


def compose(head: str, blocks: Sequence[str], limit: int) -> list[tuple[str, list[int]]]:
    """The DMs (text, block indexes) carrying `blocks`, each within `limit`; an over-long block is cut."""
    messages, _ = pack(head, blocks, limit)
    return [(message.text, list(message.blocks)) for message in messages]


def _window(text: str, room: int) -> str:
    """The start of a text too long to measure whole that can matter for a piece within `room`."""
    # Wider than the room, because a URL counts 23 however long it is; a window only makes a piece shorter.
    return text[: 4 * max(room, 0) + 1024]


def cut_block(text: str, room: int) -> str:
    """`text` within `room` as the instance counts; if need be cut with "…" at a line end, else a word end."""
    whole = len(text) <= WHOLE_TEXT_CHARS
    if whole and status_length(text) <= room:
        return text
    window = text if whole else _window(text, room)
    cut = truncate_to(window, room)
    if cut == window:  # the window fits, what follows it does not
        marked = window.rstrip() + ELLIPSIS
        cut = marked if status_length(marked) <= room else truncate_to(window, status_length(window) - 1)
    body = cut.removesuffix(ELLIPSIS)
    line_end = body.rfind("\n")
    # A line end near the cut reads better than a word end; far back, it would throw away too much.
    if line_end > 0 and line_end >= len(body) * 3 // 4:
        at_line = body[:line_end].rstrip() + ELLIPSIS
        if status_length(at_line) <= room:
            return at_line
    return cut


def _fit(prefix: str, block: str, tail: str, limit: int) -> str:
    """`block`, cut if need be, so that `prefix + block + tail` fits `limit`."""
    room = limit - status_length(prefix) - status_length(tail)
    while True:
        cut = cut_block(block, max(room, 0))
        over = status_length(prefix + cut + tail) - limit
        if over <= 0 or room <= 0:
            return cut
        room -= over  # lengths did not add up (they do across whitespace); shrink and measure again


def _tail_line(line: str, room: int) -> str:
    # A "more" line longer than half the room would crowd out what it summarises: it is cut, never dropped.
    return line if status_length(line) <= max(room // 2, 1) else truncate_to(line, max(room // 2, 1))


def pack(
    head: str,
    blocks: Sequence[str],
    limit: int,
    *,
    max_messages: int | None = None,
    more: Callable[[int], str] | None = None,
) -> tuple[list[Message], tuple[int, ...]]:
    """Blocks grouped in order into DMs `head + blocks` (blank-line separated), each within `limit`.

    A block too long for one DM is cut with "…". At most `max_messages` DMs; the blocks left over are
    returned (never dropped) and the last DM ends with the line `more(len(left))`, blocks moving out of
    it to make room. A head that leaves too little room for the blocks is dropped.
    """
    count = len(blocks)
    cap = count if max_messages is None else min(max(max_messages, 0), count)
    if cap == 0 or limit < 1:
        return [], tuple(range(count))
    prefix = head + BLOCK_SEP if head else ""
    if prefix and limit - status_length(prefix) < min(MIN_BLOCK_ROOM, limit // 2):
        prefix = ""
    room = limit - status_length(prefix)
    shown: dict[int, str] = {}  # each block as it goes in a DM, cut if need be; only those looked at

    def text(group: Sequence[int], tail: str = "") -> str:
        for i in group:
            if i not in shown:
                shown[i] = _fit(prefix, blocks[i], "", limit)
        return prefix + BLOCK_SEP.join(shown[i] for i in group) + tail

    kept: list[list[int]] = []
    index = 0
    while index < count:
        if kept and status_length(text([*kept[-1], index])) <= limit:
            kept[-1].append(index)
        elif len(kept) < cap:
            kept.append([index])
        else:
            break
        index += 1
    left = list(range(index, count))
    tail = ""
    if left and more is not None:
        last = kept[-1]
        while True:
            tail = BLOCK_SEP + _tail_line(more(len(left)), room)
            if status_length(text(last, tail)) <= limit:
                break
            if len(last) > 1:
                left.insert(0, last.pop())
                continue
            # One block in the last DM: it is cut shorter rather than leave the DM empty.
            shown[last[0]] = _fit(prefix, blocks[last[0]], tail, limit)
            break
    messages = []
    for number, group in enumerate(kept, start=1):
        body = text(group, tail if number == len(kept) else "")
        # Every length above was measured, so this cut only ever acts on a limit too small for any text.
        messages.append(Message(truncate_to(body, limit), tuple(group)))
    return messages, tuple(left)


def _hard_prefix(line: str, limit: int) -> str:
    """The longest prefix of `line` within `limit` found by code points (a URL's prefix may count 23)."""
    for size in range(min(len(line), limit), 0, -1):
        if status_length(line[:size]) <= limit:
            return line[:size]
    return line[:1]


def _split_line(line: str, limit: int) -> list[str]:
    """`line` in parts within `limit`: at word boundaries where possible, else hard."""
    if len(line) <= WHOLE_TEXT_CHARS and status_length(line) <= limit:
        return [line]
    parts: list[str] = []
    while line:
        window = _window(line, limit)
        if len(window) == len(line) and status_length(line) <= limit:
            parts.append(line)
            break
        cut = truncate_to(window, limit)
        part = window if cut == window else cut.removesuffix(ELLIPSIS).rstrip()
        if not part:
            part = _hard_prefix(window, limit)
        parts.append(part)
        line = line[len(part) :].lstrip()
    return parts


def split_text(
    text: str,
    limit: int,
    *,
    max_messages: int | None = None,
    more: Callable[[int], str] | None = None,
) -> tuple[list[str], int]:
    """A long reply in pieces of whole lines, each within `limit` as the instance counts.

    A line longer than `limit` is split at word boundaries (then hard). Blank lines at the edges of a
    piece are left out. At most `max_messages` pieces; the last then ends with the line
    `more(lines_left)`. Returns the pieces and how many non-blank lines were not sent (in full).
    """
    lines = [line if line.strip() else "" for line in text.split("\n")]
    total = sum(1 for line in lines if line)
    if limit < 1 or (max_messages is not None and max_messages < 1):
        return [], total
    units: list[tuple[int, str]] = []  # (line number, a part of that line within the limit)
    for number, line in enumerate(lines):
        units.extend((number, part) for part in _split_line(line, limit))
    last_unit = {number: position for position, (number, _) in enumerate(units)}

    def unsent(sent: int) -> int:
        """Non-blank lines not sent in full when the first `sent` units are."""
        return sum(1 for number, line in enumerate(lines) if line and last_unit[number] >= sent)

    def joined(start: int, end: int) -> str:
        parts = [part for _, part in units[start:end]]
        while parts and not parts[-1]:
            parts.pop()
        return "\n".join(parts)

    kept: list[list[int]] = []  # [start, end) of units, one range a piece
    cut_short = False
    for position, (_, part) in enumerate(units):
        if kept and status_length(joined(kept[-1][0], position + 1)) <= limit:
            kept[-1][1] = position + 1
        elif not part:
            continue  # a piece never starts with a blank line
        elif max_messages is not None and len(kept) == max_messages:
            cut_short = True
            break
        else:
            kept.append([position, position + 1])
    if not cut_short:
        return [joined(start, end) for start, end in kept], 0
    start, end = kept[-1]
    pieces = [joined(s, e) for s, e in kept[:-1]]
    if more is None:
        return [*pieces, joined(start, end)], unsent(end)
    for stop in range(end, start, -1):
        line = _tail_line(more(unsent(stop)), limit)
        candidate = joined(start, stop) + "\n" + line
        if status_length(candidate) <= limit:
            return [*pieces, candidate], unsent(stop)
    # Not even the first part fits beside the line: it goes cut, and its line counts as not sent.
    line = _tail_line(more(unsent(start)), limit)
    first = truncate_to(units[start][1], max(limit - status_length(line) - 1, 0))
    return [*pieces, truncate_to(f"{first}\n{line}" if first else line, limit)], unsent(start)


def list_page(
    blocks: Sequence[str], page: int, *, head: str, limit: int, per_reply: int
) -> tuple[list[str], str | None]:
    """Page `page` (from 1) of the pending drafts in at most `per_reply` DMs, the last pointing to the next.

    Returns the DMs' texts and a note to send instead when there is nothing to show on that page.
    """
    if not blocks:
        return [], "No drafts are pending."
    pages = _pages(blocks, head=head, limit=limit, per_reply=max(per_reply, 1))
    if not pages:
        return [], "The pending drafts do not fit in a direct message."
    if not 1 <= page <= len(pages):
        count = f"{len(pages)} page" + ("" if len(pages) == 1 else "s")
        return [], f"No page {page}: {count} of pending drafts."
    return [message.text for message in pages[page - 1]], None


def _pages(blocks: Sequence[str], *, head: str, limit: int, per_reply: int) -> list[list[Message]]:
    """Every page of `list`, each message's blocks given as indexes into `blocks`."""
    pages: list[list[Message]] = []
    rest = tuple(range(len(blocks)))
    while rest:
        following = len(pages) + 2

        def more(left: int, following: int = following) -> str:
            return f'…and {left} more: send "list {following}"'

        shown, left = pack(head, [blocks[i] for i in rest], limit, max_messages=per_reply, more=more)
        if not shown:
            break  # nothing fits (a limit below one character): never loop forever
        pages.append([Message(m.text, tuple(rest[i] for i in m.blocks)) for m in shown])
        rest = tuple(rest[i] for i in left)
    return pages
