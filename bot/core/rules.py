"""Core (rules): an event and what we know of its person → at most one draft. No I/O, no clock reads."""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import re2  # RE2's own escaping, for the template openings matched on RE2

from bot.config import Pattern, compile_regex
from bot.model import THEIR_POSTS, Event, NewDraft, PersonHistory, StatusEvent, narrower_visibility
from bot.text import clean_name, safe_text, status_length, strip_leading_mentions, truncate_to

DEFAULT_CONSENT_TAGS = ("#nobot", "#nobots")
TEXT_FIELD_CHARS = 100  # of their words in a template's {text}


@dataclass(frozen=True)
class Rule:
    """A rule compiled from the config: lower-cased phrases, compiled regex."""

    name: str
    on: str
    templates: tuple[str, ...]
    visibility: str = "unlisted"
    cooldown: timedelta | None = None
    contains_any: tuple[re.Pattern[str], ...] = ()
    contains_none: tuple[re.Pattern[str], ...] = ()
    regex: Pattern | None = None
    languages: tuple[str, ...] = ()
    min_followers: int | None = None
    max_followers: int | None = None
    first_contact: bool | None = None
    visibility_in: tuple[str, ...] = ()
    priority: int = 0
    answer_from: str | None = None  # "knowledge": the draft is the best answer found, if one is good enough


@dataclass(frozen=True)
class Context:
    """Everything a rule decision needs besides the event, passed in (the time included)."""

    now: datetime
    self_id: str
    history: PersonHistory = field(
        default_factory=lambda: PersonHistory(
            last_drafted={}, templates_used=frozenset(), engaged_before=False
        )
    )
    max_event_age: timedelta = timedelta(days=2)
    skip_bots: bool = True
    respect_nobot: bool = True
    consent_tags: tuple[str, ...] = DEFAULT_CONSENT_TAGS
    char_limit: int = 500
    recent_posts: frozenset[str] = frozenset()  # texts of our latest posts: no copy-paste look
    silenced: frozenset[str] = frozenset()  # the accounts we block or mute
    thread_key: str | None = None  # the conversation a mention or reply belongs to
    thread_replies: int = 0  # our drafts in that conversation so far
    max_replies_per_thread: int = 3


@functools.lru_cache(maxsize=64)  # the tags are few and fixed by the config
def _tag_pattern(tag: str) -> re.Pattern[str]:
    # A hashtag ends where word characters end: "#nobot" is not found in "#nobotany".
    return re.compile(re.escape(unicodedata.normalize("NFKC", tag)) + r"(?!\w)", re.IGNORECASE)


def consent_tag(texts: Sequence[str], tags: Sequence[str] = DEFAULT_CONSENT_TAGS) -> str | None:
    """The first consent tag (#nobot, #nobots, …) found in a bio or its fields, or None."""
    # NFKC: Mastodon reads a full-width "＃nobot" as the same hashtag.
    normalised = [unicodedata.normalize("NFKC", text) for text in texts]
    return next((tag for tag in tags for text in normalised if _tag_pattern(tag).search(text)), None)


def is_stop_reply(event: Event, self_id: str, stop_words: Sequence[str]) -> bool:
    """True for a reply to one of our posts that is, as a whole, a stop word ("stop", "Unsubscribe.")."""
    if not isinstance(event, StatusEvent) or event.kind not in ("mention", "reply"):
        return False
    if event.status.in_reply_to_account_id != self_id or event.account.id == self_id:
        return False
    said = unicodedata.normalize("NFKC", strip_leading_mentions(event.status.text))
    said = " ".join(said.strip(string.punctuation + string.whitespace + "…¡¿").split()).casefold()
    return bool(said) and any(said == " ".join(word.split()).casefold() for word in stop_words)


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Case-insensitive phrase match: any whitespace between its words, word boundaries at word edges."""
    # Linear in the post: escaped words, and each \s+ is followed by a word that cannot start with a space.
    words = phrase.split()
    return re.compile(_edged(r"\s+".join(map(re.escape, words)), words[0], words[-1]), re.IGNORECASE)


def _edged(pattern: str, first: str, last: str, edges: tuple[str, str] = (r"(?<!\w)", r"(?!\w)")) -> str:
    left = edges[0] if first[:1].isalnum() else ""
    right = edges[1] if last[-1:].isalnum() else ""
    return left + pattern + right


def compile_rules(configured: Sequence[Any]) -> tuple[Rule, ...]:
    """Rules from the config, sorted by priority (higher first), file order within a priority."""
    compiled = [
        Rule(
            name=r.name,
            on=r.on,
            templates=tuple(r.templates),
            visibility=r.visibility,
            cooldown=r.cooldown,
            contains_any=tuple(phrase_pattern(p) for p in r.contains_any if p),
            contains_none=tuple(phrase_pattern(p) for p in r.contains_none if p),
            regex=compile_regex(r.regex) if r.regex else None,
            languages=tuple(lang.lower() for lang in r.languages),
            min_followers=r.min_followers,
            max_followers=r.max_followers,
            first_contact=r.first_contact,
            visibility_in=tuple(r.visibility_in),
            priority=r.priority or 0,
            answer_from=r.answer_from,
        )
        for r in configured
    ]
    return tuple(sorted(compiled, key=lambda rule: -rule.priority))


def answers_us(event: Event, self_id: str) -> bool:
    """A mention that replies to one of our posts is a reply too (it just also notified us)."""
    return (
        isinstance(event, StatusEvent)
        and event.kind == "mention"
        and event.status.in_reply_to_account_id == self_id
    )


def skip_reason(event: Event, ctx: Context) -> str | None:
    """Why nobody should be drafted for at all for this event, or None."""
    account = event.account
    if account.id == ctx.self_id:
        return "it is our own account"
    if event.kind in ("command", "other"):
        return f"a {event.kind} is never drafted for"
    if account.id in ctx.silenced:
        return "we block or mute the account"
    if ctx.skip_bots and account.bot:
        return "the account is a bot"
    if ctx.respect_nobot and (tag := consent_tag((account.note, *account.fields), ctx.consent_tags)):
        return f"the account asks for {tag}"
    if ctx.history.stopped_at is not None:
        return f"the person asked us to stop on {ctx.history.stopped_at:%Y-%m-%d}"
    if ctx.now - event.created_at > ctx.max_event_age:
        return "the event is older than listener.max_event_age"
    if ctx.thread_key is not None and ctx.thread_replies >= ctx.max_replies_per_thread:
        answered = ctx.thread_replies
        return f"we already answered {answered} times in this thread (etiquette.max_replies_per_thread)"
    return None


def rule_mismatch(rule: Rule, event: Event, ctx: Context) -> str | None:
    """Why this rule does not match the event, or None when it matches."""
    if rule.on != event.kind and not (rule.on == "reply" and answers_us(event, ctx.self_id)):
        return f"it is for {rule.on} events, this is a {event.kind}"
    text = event.status.text if isinstance(event, StatusEvent) else ""
    if rule.contains_any and not any(p.search(text) for p in rule.contains_any):
        return "the text contains none of contains_any"
    if any(p.search(text) for p in rule.contains_none):
        return "the text contains a word of contains_none"
    if rule.regex is not None and not rule.regex.search(text):
        return "the text does not match regex"
    if rule.languages:
        language = event.status.language if isinstance(event, StatusEvent) else None
        if (language or "").lower() not in rule.languages:
            return f"the language {language or 'unknown'} is not in languages"
    followers = event.account.followers_count
    if rule.min_followers is not None and followers < rule.min_followers:
        return f"{followers} followers is under min_followers"
    if rule.max_followers is not None and followers > rule.max_followers:
        return f"{followers} followers is over max_followers"
    if rule.first_contact is not None and rule.first_contact == ctx.history.engaged_before:
        return "first_contact does not hold"
    if rule.visibility_in:
        visibility = event.status.visibility if isinstance(event, StatusEvent) else "public"
        if visibility not in rule.visibility_in:
            return f"the visibility {visibility} is not in visibility_in"
    last = ctx.history.last_drafted.get(rule.name)
    if rule.cooldown is not None and last is not None and ctx.now - last < rule.cooldown:
        return "the person is inside the rule's cooldown"
    return None


def explain(rules: Sequence[Rule], event: Event, ctx: Context) -> list[tuple[str, str | None]]:
    """For `rules test`: each rule with the reason it does not match (None for the one that drafts)."""
    reason = skip_reason(event, ctx)
    if reason is not None:
        return [(rule.name, reason) for rule in rules]
    out: list[tuple[str, str | None]] = []
    matched = False
    for rule in rules:
        why = rule_mismatch(rule, event, ctx)
        if why is None and matched:
            why = "an earlier rule already matched"
        matched = matched or why is None
        out.append((rule.name, why))
    return out


def match(rules: Sequence[Rule], event: Event, ctx: Context) -> NewDraft | None:
    """The draft of the first rule that matches the event, or None."""
    if skip_reason(event, ctx) is not None:
        return None
    for rule in rules:
        if rule_mismatch(rule, event, ctx) is None:
            return render(rule, event, ctx)
    return None


def choose_template(rule: Rule, ctx: Context, seed: str) -> str:
    """A template this person has not had, and that is not among our latest posts, when one is left."""
    fresh = [t for t in rule.templates if t not in ctx.history.templates_used]
    pool = fresh or list(rule.templates)
    unused_lately = [t for t in pool if not _posted_lately(t, ctx.recent_posts)]
    pool = unused_lately or pool
    # Deterministic spread: the same event always renders the same draft.
    return pool[sum(seed.encode()) % len(pool)]


def _posted_lately(template: str, recent: frozenset[str]) -> bool:
    opening = _opening_pattern(template)
    return opening is not None and any(opening.search(post) for post in recent)


# RE2 has no look-arounds: a word edge takes up the non-word character beside it (or the text's end),
# which is the same test for a search. [\p{L}\p{N}_] is Python's \w on every character Python knows.
_RE2_EDGES = (r"(?:\A|[^\p{L}\p{N}_])", r"(?:[^\p{L}\p{N}_]|\z)")


@functools.lru_cache(maxsize=1024)  # templates are few and fixed by the config
def _opening_pattern(template: str) -> Pattern | None:
    """The template's opening up to its first words, fields as wildcards, on whole words (None: no words)."""
    pieces: list[str | None] = []  # literal text, or None for a field
    for literal, field_name, _, _ in string.Formatter().parse(template):
        if literal:
            pieces.append(literal)
            if re.search(r"\w", literal):
                break
        if field_name is not None:
            pieces.append(None)
    else:
        return None
    first, last = pieces[0], pieces[-1]
    if first is not None:
        pieces[0] = first = first.lstrip()
    assert last is not None  # the loop only stops on a literal with words
    pieces[-1] = last = last.rstrip() if len(pieces) > 1 else (first or "").rstrip()
    # On RE2: with fields in a row (".+ .+: hi"), backtracking took time cubic in the post's length.
    pattern = "".join(".+" if piece is None else re2.escape(piece) for piece in pieces)
    return compile_regex(_edged(pattern, first or "", last, _RE2_EDGES))


def render(rule: Rule, event: Event, ctx: Context) -> NewDraft:
    account = event.account
    template = choose_template(rule, ctx, event.id)
    name = clean_name(account.display_name, account.username)
    said = event.status.text if isinstance(event, StatusEvent) and event.kind in THEIR_POSTS else ""
    fields = {
        "name": name,
        "username": safe_text(account.username),
        "acct": safe_text(account.acct),
        # Their words on one line, shortened: the template stays the draft's voice, not a copy of theirs.
        "text": truncate_to(" ".join(safe_text(strip_leading_mentions(said)).split()), TEXT_FIELD_CHARS),
    }
    text = safe_text(string.Formatter().vformat(template, (), fields)).strip()
    # The posted text starts with "@acct " (the mention of the person answered).
    room = ctx.char_limit - status_length(f"@{account.acct} ")
    text = truncate_to(text, room)
    in_reply_to_id = None
    spoiler = ""
    visibility = rule.visibility
    triage = 3  # thanks for follows, boosts and favourites wait behind conversations
    if isinstance(event, StatusEvent) and event.kind in THEIR_POSTS:
        # A share or a quote is thanked where it was made: in reply to their post, never wider than it.
        in_reply_to_id = event.status.id
        spoiler = event.status.spoiler_text
        visibility = narrower_visibility(rule.visibility, event.status.visibility)
        known = ctx.history.engaged_before or bool(ctx.history.last_drafted)
        thanks = event.kind in ("share", "quote")
        triage = 3 if thanks else 0 if "?" in event.status.text else 1 if known else 2
    return NewDraft(
        rule=rule.name,
        account_id=account.id,
        acct=account.acct,
        display_name=name,
        text=text,
        template=template,
        visibility=visibility,
        in_reply_to_id=in_reply_to_id,
        spoiler_text=spoiler,
        triage=triage,
        thread_key=ctx.thread_key,
    )
