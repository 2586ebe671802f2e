"""Listening (digest): followers' own posts to bring to the approvers, ranked and numbered."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.core.render import compose, full_acct
from bot.core.rules import consent_tag
from bot.instance import InstanceError, NotFound
from bot.instance.convert import quoted_status, to_account, to_status
from bot.listening.feeds import FeedReader, web_host
from bot.listening.followers import cluster_line, clusters_since
from bot.model import Account, Reblog, word_for
from bot.store import Store, ledger
from bot.store import followers as follower_store
from bot.store.ledger import LINK_LOVE_TARGET, LINK_LOVE_WINDOW, DigestItem, OurPost, percent
from bot.store.state import OUR_POSTS_BACKFILL, OUR_POSTS_CURSOR, OUR_POSTS_SYNCED
from bot.text import clean_name, safe_text, truncate_to

if TYPE_CHECKING:
    from bot.instance.reader import Reader

LOGGER = logging.getLogger(__name__)

__all__ = [
    "DigestItem",
    "collect_digest",
    "digest_item",
    "digest_message_blocks",
    "digest_messages",
    "resolve_item",
    "sync_our_posts",
    "weekly_summary",
]

RECENT = timedelta(days=1)  # a daily digest looks back one day
ENGAGED_LATELY = timedelta(days=7)  # people we did something for this recently can wait
PAGE_SIZE = 40  # Mastodon's maximum page of statuses
MAX_PAGES = 10  # per source: a busy home timeline is sampled, not read to the end
MAX_SYNC_PAGES = 25  # first sync of our own posts: at most 1000 statuses back
EXCERPT_CHARS = 160
BOOSTABLE = ("public", "unlisted")
SYNC_INTERVAL = timedelta(minutes=5)
TRUSTED_CONNECTORS = 20  # our strongest connectors are trusted without being listed


# --- collecting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    item: DigestItem
    author_key: str  # one item per author
    watched: bool


def collect_digest(
    instance: Reader,
    store: Store,
    settings: Settings,
    me_id: str,
    now: datetime,
    *,
    reader: FeedReader | None = None,
    never: Collection[str] = (),
) -> list[DigestItem]:
    """Recent posts of the people we listen to, ranked, numbered and stored as the newest digest.

    Sources are `listen.sources` (home timeline or lists) plus the watched accounts (their statuses
    when we follow them, their public RSS feed when we do not). Never bots, #nobot accounts, ourselves
    or the approvers (`never`: their account ids and accts; we follow them for their DMs, so they are
    in home), boosts, replies to others, posts that mention or quote us (those come as notifications),
    posts we already
    boosted or favourited, people we engaged lately, or posts an earlier digest showed. People we owe
    attention come first, then connectors (reach × engagement), then watched accounts, newest first
    within each. Returns [] (and stores nothing, so the previous numbers stay valid) when nothing is new.
    """
    listen = settings.listen
    if listen.max_items <= 0:
        return []
    since = now - RECENT
    watch = {acct.lower() for acct in listen.watch}
    skip = {me_id, *(who.lower() for who in never)}
    candidates: list[_Candidate] = []
    seen: list[Mapping[str, Any]] = []
    for source in listen.sources:
        for raw in _timeline(instance, source, since):
            seen.append(raw)
            candidate = _candidate(raw, me_id, since, source, watch)
            if candidate is not None:
                candidates.append(candidate)
    if listen.watch:
        candidates += _watched(instance, store, settings, me_id, now, since, reader)
    candidates = [c for c in candidates if not skip & {c.author_key, (c.item.account_id or "").lower()}]
    chosen = _rank(store, candidates, now, listen.max_items)
    already = {c.author_key for c in candidates} | skip
    chosen += recommendations(instance, store, settings, me_id, now, seen, already)
    return ledger.save_digest(store, chosen, now) if chosen else []


# --- breadcrumbs: whom the people we trust recommend ------------------------------------------------


def trusted_ids(instance: Reader, store: Store, settings: Settings, now: datetime) -> dict[str, str]:
    """Account id → acct of the accounts we trust: our connectors (reach × engagement), `listen.trusted`."""
    trusted = {p.account_id: p.acct for p in ledger.people(store, now, "connectors", TRUSTED_CONNECTORS)}
    for acct in settings.listen.trusted:
        try:
            account = instance.account_lookup(acct)
        except InstanceError as exc:
            LOGGER.warning("listen.trusted: could not look up %s (%s)", acct, exc)
            continue
        trusted[str(account["id"])] = acct
    return trusted


def recommendations(
    instance: Reader,
    store: Store,
    settings: Settings,
    me_id: str,
    now: datetime,
    seen: Sequence[Mapping[str, Any]],
    already: set[str],
) -> list[DigestItem]:
    """People we never engaged whom a trusted account boosted, quoted or answered in our timelines.

    "Take recommendations to heart: if an influential person boosts someone's post … give their blog a
    visit." At most `listen.max_recommendations`, one per person, never a bot, #nobot or ourselves.
    """
    limit = settings.listen.max_recommendations
    if limit <= 0 or not seen:
        return []
    trusted = trusted_ids(instance, store, settings, now)
    if not trusted:
        return []
    found: list[DigestItem] = []
    people = set(already)
    shown = ledger.digested(store, [str(raw.get("id") or "") for raw in seen], [])
    for raw in seen:
        picked = _breadcrumb(instance, raw, trusted)
        if picked is None:
            continue
        post, how = picked
        author = to_account(post["account"])
        status = to_status(post)
        if author.id in (me_id, *trusted) or author.id in people or author.bot or _nobot(author):
            continue
        if (
            status.id in shown
            or status.visibility not in BOOSTABLE
            or store.history(author.id).engaged_before
        ):
            continue
        people.add(author.id)
        guide = to_account(raw["account"])
        via = f"{clean_name(guide.display_name, guide.acct)} ({safe_text(guide.acct)}) {how}"
        found.append(
            DigestItem(
                number=0,
                status_id=status.id,
                account_id=author.id,
                acct=author.acct,
                display_name=author.display_name,
                url=status.url or str(post.get("uri") or ""),
                excerpt=_excerpt(status.text, status.spoiler_text, bool(post.get("media_attachments"))),
                source="recommended",
                created_at=status.created_at or now,
                via=via,
            )
        )
        if len(found) >= limit:
            break
    return found


def _breadcrumb(
    instance: Reader, raw: Mapping[str, Any], trusted: Mapping[str, str]
) -> tuple[Mapping[str, Any], str] | None:
    """(the stranger's post, how a trusted account pointed at it) for a timeline entry, or None."""
    account = raw.get("account")
    if not isinstance(account, Mapping) or str(account.get("id")) not in trusted:
        return None
    reblog = raw.get("reblog")
    if isinstance(reblog, Mapping) and isinstance(reblog.get("account"), Mapping):
        return reblog, "boosted their post"
    quoted = quoted_status(raw)
    if quoted is not None:
        return quoted, "quoted their post"
    answered = raw.get("in_reply_to_id")
    if answered and str(raw.get("in_reply_to_account_id")) != str(account.get("id")):
        try:
            post = instance.status(str(answered))
        except InstanceError:
            return None
        if isinstance(post.get("account"), Mapping):
            return post, "replied to their post"
    return None


def _pages(fetch: Callable[..., Any], since: datetime, **kwargs: Any) -> Iterator[Any]:
    """Statuses newest first, page by page, until the window starts (or MAX_PAGES)."""
    max_id = None
    for _ in range(MAX_PAGES):
        page = fetch(limit=PAGE_SIZE, max_id=max_id, **kwargs)
        if not page:
            return
        yield from page
        # No stop on a short page: Mastodon drops filtered statuses after paging, so one proves nothing.
        created = to_status(page[-1]).created_at
        if created is None or created < since:
            return
        max_id = page[-1]["id"]


def _timeline(instance: Reader, source: str, since: datetime) -> Iterator[Any]:
    if source == "home":
        yield from _pages(instance.timeline_home, since)
        return
    name = source.removeprefix("list:").strip()
    try:
        found = [lst for lst in instance.lists() if str(lst.get("title", "")).casefold() == name.casefold()]
    except InstanceError as exc:
        LOGGER.warning("listen.sources: could not read our lists (%s)", exc)
        return
    if not found:
        LOGGER.warning('listen.sources: no list named "%s" on the account', name)
        return
    list_id = found[0]["id"]
    yield from _pages(lambda **kw: instance.timeline_list(list_id, **kw), since)


def _candidate(
    raw: Mapping[str, Any], me_id: str, since: datetime, source: str, watch: set[str]
) -> _Candidate | None:
    if raw.get("reblog") or not isinstance(raw.get("account"), Mapping):
        return None  # a boost is someone else's post: boosting a boost helps nobody
    author = to_account(raw["account"])
    status = to_status(raw)
    if not author.id or author.id == me_id or author.bot or _nobot(author):
        return None
    if status.visibility not in BOOSTABLE or status.created_at is None or status.created_at < since:
        return None
    if status.in_reply_to_account_id and status.in_reply_to_account_id != author.id:
        return None  # a conversation with someone else, not their own post
    mentioned = {str(m.get("id")) for m in raw.get("mentions") or () if isinstance(m, Mapping)}
    if me_id in mentioned or raw.get("reblogged") or raw.get("favourited") or raw.get("filtered"):
        return None
    quote: Any = raw.get("quote") if isinstance(raw.get("quote"), Mapping) else {}
    quoted: Any = quote.get("quoted_status") if isinstance(quote.get("quoted_status"), Mapping) else {}
    if isinstance(quoted.get("account"), Mapping) and str(quoted["account"].get("id")) == me_id:
        return None  # a quote of our post is a quote event (thanked by rules), not a digest item
    item = DigestItem(
        number=0,
        status_id=status.id,
        account_id=author.id,
        acct=author.acct,
        display_name=author.display_name,
        url=status.url or str(raw.get("uri") or ""),
        excerpt=_excerpt(status.text, status.spoiler_text, bool(raw.get("media_attachments"))),
        source=source,
        created_at=status.created_at,
    )
    return _Candidate(item, author.id, author.acct.lower() in watch)


def _nobot(account: Account) -> bool:
    # NFKC, as the rules do: Mastodon reads a full-width "＃nobot" as the same hashtag.
    return consent_tag((account.note, *account.fields)) is not None


def _excerpt(text: str, spoiler: str, media: bool) -> str:
    # Behind a content warning only the warning is shown: the approver opens the post to read on.
    body = f"CW: {spoiler}" if spoiler.strip() else text
    body = " ".join(body.split()) or ("(media only)" if media else "(no text)")
    return truncate_to(body, EXCERPT_CHARS)


def _watched(
    instance: Reader,
    store: Store,
    settings: Settings,
    me_id: str,
    now: datetime,
    since: datetime,
    reader: FeedReader | None,
) -> list[_Candidate]:
    """Watched accounts: their statuses when we follow them, their public feed when we do not."""
    accounts: dict[str, Any] = {}
    for acct in settings.listen.watch:
        try:
            accounts[acct] = instance.account_lookup(acct)
        except NotFound:
            accounts[acct] = None  # unknown to our instance: only its feed can tell us
        except InstanceError as exc:
            LOGGER.warning("listen.watch: could not look up %s (%s)", acct, exc)
            accounts[acct] = None
    ids = [str(a["id"]) for a in accounts.values() if a is not None]
    following: set[str] = set()
    if ids:
        try:
            following = {str(r["id"]) for r in instance.account_relationships(ids) if r.get("following")}
        except InstanceError as exc:
            LOGGER.warning("listen.watch: could not read relationships (%s); using feeds", exc)
    out: list[_Candidate] = []
    feeds: dict[str, str] = {}
    own_reader = reader is None
    reader = reader or FeedReader(store, web_host(settings.mastodon.base_url))
    try:
        for acct, account in accounts.items():
            if account is not None and str(account["id"]) in following:
                if "home" in settings.listen.sources:
                    continue  # already in the home timeline
                fetch = partial(instance.account_statuses, account["id"], exclude_reblogs=True)
                own = {acct.lower()}
                out += [
                    c for raw in _pages(fetch, since) if (c := _candidate(raw, me_id, since, "watch", own))
                ]
            else:
                known = str(account.get("url") or "") if account is not None else ""
                feeds[acct] = reader.url_for(acct, known)
        reader.refresh(feeds, now)
    finally:
        if own_reader:
            reader.close()
    bots = ledger.bots_among(store, feeds)
    for entry in ledger.recent_feed_entries(store, since, accts=list(feeds)):
        if entry.nobot or entry.acct.lower() in bots:
            continue
        item = DigestItem(
            number=0,
            status_id=None,
            account_id=None,
            acct=entry.acct,
            display_name=entry.title,
            url=entry.url,
            excerpt=truncate_to(entry.excerpt, EXCERPT_CHARS) or "(no text)",
            source="feed",
            created_at=entry.published,
        )
        out.append(_Candidate(item, entry.acct.lower(), True))
    return out


def _rank(store: Store, candidates: Sequence[_Candidate], now: datetime, limit: int) -> list[DigestItem]:
    shown = ledger.digested(
        store, [c.item.status_id for c in candidates if c.item.status_id], [c.item.url for c in candidates]
    )
    fresh = [c for c in candidates if c.item.status_id not in shown and c.item.url not in shown]
    known = ledger.attention(
        store, [c.item.account_id for c in fresh if c.item.account_id], now, ENGAGED_LATELY
    )

    def order(candidate: _Candidate) -> tuple[int, int, int, float]:
        person = known.get(candidate.item.account_id or "")
        engagement, reach = (person.engagement, person.reach) if person else (0, 0)
        if person is not None and person.owed:
            tier = 0
        elif engagement > 0:
            tier = 1
        elif candidate.watched:
            tier = 2
        else:
            tier = 3
        return (tier, -reach, -engagement, -candidate.item.created_at.timestamp())

    chosen: list[DigestItem] = []
    authors: set[str] = set()
    for candidate in sorted(fresh, key=order):
        person = known.get(candidate.item.account_id or "")
        if person is not None and person.engaged_lately:
            continue
        if candidate.author_key in authors:
            continue  # one post per person: the digest is about people, not volume
        authors.add(candidate.author_key)
        chosen.append(candidate.item)
        if len(chosen) >= limit:
            break
    return chosen


# --- showing ----------------------------------------------------------------------------------------


def digest_message_blocks(items: Sequence[DigestItem], domain: str) -> list[str]:
    """`[N] name (user@instance): excerpt` lines: no `@` before any handle, so nobody is notified."""
    blocks = []
    for item in items:
        name = clean_name(item.display_name, item.acct.split("@")[0])
        who = full_acct(safe_text(item.acct), domain)
        excerpt = safe_text(truncate_to(" ".join(item.excerpt.split()), EXCERPT_CHARS))
        if item.source == "recommended":
            # "recommended by Alice (alice@example.social) (boosted their post …)"
            guide, _, how = item.via.rpartition(") ")
            blocks.append(f"[{item.number}] {name} ({who}), recommended by {guide}) ({how} …): {excerpt}")
        else:
            blocks.append(f"[{item.number}] {name} ({who}): {excerpt}")
    return blocks


def digest_messages(
    items: Sequence[DigestItem], approver_accts: Sequence[str], domain: str, char_limit: int
) -> list[str]:
    """The digest as DMs to the approvers within the instance's limit; each already carries the mentions."""
    mentions = " ".join(f"@{acct}" for acct in approver_accts)
    head = (
        f"{mentions} Listening digest: {len(items)} post(s) worth a look. "
        "Answer boost N, fav N or reply N <text>"
        + (", or follow N for someone recommended." if any(i.source == "recommended" for i in items) else ".")
    ).strip()
    # send_dm puts a space before the text when it adds no mentions itself.
    return [text for text, _ in compose(head, digest_message_blocks(items, domain), char_limit - 1)]


def digest_item(store: Store, number: int) -> DigestItem | None:
    """Item `number` of the latest digest (the numbers stay valid until the next digest)."""
    return ledger.latest_digest_item(store, number)


def resolve_item(instance: Reader, store: Store, item: DigestItem, now: datetime) -> DigestItem | None:
    """The item with its status and account ids on our instance (a feed entry is looked up by URL)."""
    if item.status_id and item.account_id:
        return item
    try:
        statuses = instance.search_statuses(item.url)
    except InstanceError as exc:
        LOGGER.warning("could not find %s on our instance (%s)", item.url, exc)
        return None
    if not statuses or not isinstance(statuses[0].get("account"), Mapping):
        return None
    account = to_account(statuses[0]["account"])
    store.remember_person(account, now)
    return ledger.resolved_digest_item(store, item, str(statuses[0]["id"]), account.id)


# --- our own posts, for the link-love ratio -----------------------------------------------------------


def sync_our_posts(
    instance: Reader,
    store: Store,
    me_id: str,
    now: datetime,
    *,
    min_interval: timedelta = SYNC_INTERVAL,
    replies_seen: dict[str, int] | None = None,
    quotes_seen: dict[str, int] | None = None,
) -> int:
    """Read our newest statuses from our profile into the store; returns how many were new.

    The first run reads the newest page and later runs one older page each (a backfill over the
    link-love window), so a first catch-up is not held up by our own history; new posts are paged
    forward from a cursor (`min_id`): an idle account costs one request, at most one every
    `min_interval`. `replies_seen` receives the reply count of every status read, `quotes_seen` the
    quote count of those that carry one (Mastodon 4.5+).
    """
    last = store.get(OUR_POSTS_SYNCED)
    if last is not None and now - last < min_interval:
        return 0
    since = now - LINK_LOVE_WINDOW
    cursor = store.get(OUR_POSTS_CURSOR)
    added = 0

    def read(page: Sequence[Any], window: datetime | None) -> int:
        if replies_seen is not None:
            replies_seen.update({str(raw["id"]): int(raw.get("replies_count") or 0) for raw in page})
        if quotes_seen is not None:
            # Mastodon.py fills a key the server did not send with None: only a number is a count.
            counted = {str(raw["id"]): raw.get("quotes_count") for raw in page}
            quotes_seen.update(
                {k: v for k, v in counted.items() if isinstance(v, int) and not isinstance(v, bool)}
            )
        return _store_page(store, page, me_id, now, window)

    if cursor is None:
        page = instance.account_statuses(me_id, limit=PAGE_SIZE)
        if page:
            store.put(OUR_POSTS_CURSOR, str(page[0]["id"]))
            added += read(page, since)
            _mark_backfill(store, page, since)
    else:
        for _ in range(MAX_SYNC_PAGES):
            page = instance.account_statuses(me_id, limit=PAGE_SIZE, min_id=cursor)
            if not page:
                break
            added += read(page, None)
            cursor = str(page[0]["id"])
            store.put(OUR_POSTS_CURSOR, cursor)
            if len(page) < PAGE_SIZE:
                break
        older_than = store.get(OUR_POSTS_BACKFILL)
        if older_than:
            page = instance.account_statuses(me_id, limit=PAGE_SIZE, max_id=older_than)
            added += read(page, since)
            _mark_backfill(store, page, since)
    store.put(OUR_POSTS_SYNCED, now)
    return added


def _mark_backfill(store: Store, page: Sequence[Any], since: datetime) -> None:
    """Where the next backfill page starts, or nothing left when the page reached the window's start."""
    oldest = to_status(page[-1]).created_at if page else None
    more = len(page) == PAGE_SIZE and oldest is not None and oldest >= since
    store.put(OUR_POSTS_BACKFILL, str(page[-1]["id"]) if more else "")


def _store_page(store: Store, page: Sequence[Any], me_id: str, now: datetime, since: datetime | None) -> int:
    posts = [p for raw in page if (p := our_post(raw, me_id)) is not None]
    if since is not None:
        posts = [p for p in posts if p.created_at >= since]
    known = ledger.known_our_posts(store, [p.status_id for p in posts])
    return ledger.record_our_posts(store, [p for p in posts if p.status_id not in known], now)


def our_post(raw: Mapping[str, Any], me_id: str) -> OurPost | None:
    """One of our statuses as the link-love ratio sees it; None for DMs (the approval traffic)."""
    status = to_status(raw)
    if not status.id or status.created_at is None or status.visibility == "direct":
        return None
    reblog = raw.get("reblog")
    if isinstance(reblog, Mapping) and isinstance(reblog.get("account"), Mapping):
        author = to_account(reblog["account"])
        return OurPost(
            status_id=status.id,
            created_at=status.created_at,
            visibility=status.visibility,
            kind=word_for(Reblog.kind) if author.id != me_id else "post",  # a self-boost is no link-love
            reblog_of_account_id=author.id,
            reblog_of_status_id=to_status(reblog).id or None,
            person=author,
        )
    quoted = quoted_status(raw)
    if quoted is not None:
        author = to_account(quoted["account"])
        if author.id and author.id != me_id:  # quoting someone else is link-love; quoting ourselves is not
            return OurPost(
                status_id=status.id,
                created_at=status.created_at,
                visibility=status.visibility,
                kind="quote",
                quoted_account_id=author.id,
                person=author,
                excerpt=_excerpt(status.text, status.spoiler_text, bool(raw.get("media_attachments"))),
            )
    answered = status.in_reply_to_account_id
    if answered and answered != me_id:
        mention = next(
            (m for m in raw.get("mentions") or () if isinstance(m, Mapping) and str(m.get("id")) == answered),
            None,
        )
        person = None
        if mention is not None:
            acct = str(mention.get("acct") or "")
            person = Account(id=answered, acct=acct, username=str(mention.get("username") or acct))
        return OurPost(
            status_id=status.id,
            created_at=status.created_at,
            visibility=status.visibility,
            kind="reply",
            in_reply_to_account_id=answered,
            person=person,
        )
    # An original post, or a reply continuing our own thread.
    return OurPost(
        status_id=status.id,
        created_at=status.created_at,
        visibility=status.visibility,
        kind="post",
        in_reply_to_account_id=answered,
        excerpt=_excerpt(status.text, status.spoiler_text, bool(raw.get("media_attachments"))),
    )


# --- weekly summary -----------------------------------------------------------------------------------


def weekly_summary(store: Store, now: datetime, domain: str, tz: tzinfo = UTC) -> str:
    """The weekly DM: new followers, who left (and after which post), who engaged most, who is owed,
    link-love ratio (and a nudge)."""
    since = now - timedelta(days=7)

    def who(person: ledger.PersonScore) -> str:
        return f"{clean_name(person.display_name, person.acct)} ({full_acct(person.acct, domain)})"

    count, first = ledger.new_followers(store, since)
    followers = f"New followers this week: {count}"
    if first:
        shown = first[:3]
        followers += ": " + ", ".join(who(p) for p in shown)
        if count > len(shown):
            followers += f" and {count - len(shown)} more"
    left = follower_store.departures(store, since=since)
    gone = [d for d in left if d.cause == "unfollow"]
    cut = len(left) - len(gone)
    departures = None
    if left:
        departures = f"Left this week: {len(gone)}"
        if gone:
            named = gone[:3]
            departures += ": " + ", ".join(
                f"{clean_name(d.display_name, d.acct)} ({full_acct(d.acct, domain)})" for d in named
            )
            if len(gone) > len(named):
                departures += f" and {len(gone) - len(named)} more"
        if cut:
            departures += f" (and {cut} lost when their server was cut off, not by their choice)"
    top = ledger.top_engagers(store, since, 3)
    owed = ledger.people(store, now, "owed", 3)
    stats = ledger.stats(store, now)
    ratio = stats.link_love_ratio
    lines = [followers]
    if departures:
        lines.append(departures)
        lines += [cluster_line(c, tz) for c in clusters_since(store, since, now)]
    lines += [
        "Engaged most: " + (", ".join(who(p) for p in top) or "nobody this week"),
        "Owed attention: " + (", ".join(who(p) for p in owed) or "nobody, you are all caught up"),
        f"Link-love ratio (30 days): {percent(ratio)} of {stats.month.posts} posts "
        f"(seed advice: {percent(LINK_LOVE_TARGET)} or more)",
    ]
    if ratio is not None and ratio < LINK_LOVE_TARGET:
        lines.append("Nudge: boost or answer a few posts from the daily digest this week.")
    return "\n".join(lines)
