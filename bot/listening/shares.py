"""Listening (shares): posts in our timelines that link to our sites or name us, recorded as share events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.core.shares import SeenPost, share_reason
from bot.instance import InstanceError
from bot.instance.convert import to_account, to_status
from bot.model import Share
from bot.store import Store
from bot.store.state import Key

if TYPE_CHECKING:
    from bot.instance.reader import Reader

LOGGER = logging.getLogger(__name__)
PAGE_SIZE = 40
MAX_PAGES = 5  # per source and run: a busy timeline is sampled, never read to the end
EVERY = timedelta(minutes=5)


def _cursor(source: str) -> Key[str]:
    """Where the share search reads on in one timeline (the newest post it has seen there)."""
    return Key(f"shares_cursor:{source}", str, str)


def seen_post(raw: Mapping[str, Any]) -> SeenPost:
    """A timeline status as the share check sees it: its text, its links (the preview card's URL too,
    which is where the instance expands a shortened link) and whom it mentions."""
    content = raw.get("content") if isinstance(raw.get("content"), str) else ""
    links = []
    if content:
        from bs4 import BeautifulSoup  # only when a post is read: `import bot.service.app` stays light

        for anchor in BeautifulSoup(content, "html.parser").find_all("a", href=True):
            classes: Any = anchor.get("class") or []
            if "mention" in classes or "hashtag" in classes:
                continue  # a link to a profile or a tag page is no link to our site
            links.append(str(anchor["href"]))
    card = raw.get("card")
    if isinstance(card, Mapping) and isinstance(card.get("url"), str):
        links.append(card["url"])
    account = raw.get("account")
    author = str(account.get("id") or "") if isinstance(account, Mapping) else ""
    mentions = tuple(str(m.get("id")) for m in raw.get("mentions") or () if isinstance(m, Mapping))
    return SeenPost(
        author_id=author,
        text=to_status(raw).text,
        links=tuple(links),
        mentions=mentions,
        is_boost=bool(raw.get("reblog")),
    )


class ShareWatch:
    """Reads home, the lists in `listen.sources` and the `listen.hashtags` for shares, every few minutes."""

    def __init__(
        self,
        reader: Reader,
        store: Store,
        *,
        me_id: str,
        settings: Callable[[], Settings],
        clock: Callable[[], datetime],
    ) -> None:
        self.reader = reader
        self.store = store
        self.me_id = me_id
        self.settings = settings
        self.clock = clock
        self._last: datetime | None = None

    def step(self, *, force: bool = False) -> int:
        """Record the shares found since the last step; returns how many were new."""
        listen = self.settings().listen
        if not (listen.our_sites or listen.our_names):
            return 0
        now = self.clock()
        if not force and self._last is not None and now - self._last < EVERY:
            return 0
        self._last = now
        found = []
        for source, fetch in self._sources():
            try:
                for raw in self._newer(source, fetch):
                    reason = share_reason(
                        seen_post(raw), me_id=self.me_id, sites=listen.our_sites, our_names=listen.our_names
                    )
                    if reason is None or not isinstance(raw.get("account"), Mapping):
                        continue
                    status = to_status(raw)
                    found.append(
                        Share(
                            id=f"share:{status.id}",
                            created_at=status.created_at or now,
                            account=to_account(raw["account"]),
                            status=status,
                        )
                    )
                    LOGGER.info("share by %s in %s: %s", found[-1].account.acct, source, reason)
            except InstanceError as exc:
                LOGGER.warning("share search: could not read %s (%s)", source, exc)
        return self.store.record_events(found, now) if found else 0

    def _sources(self) -> Iterator[tuple[str, Callable[..., list[Mapping[str, Any]]]]]:
        listen = self.settings().listen
        yield "home", self.reader.timeline_home
        wanted = {s.removeprefix("list:").casefold() for s in listen.sources if s.startswith("list:")}
        if wanted:
            try:
                lists = self.reader.lists()
            except InstanceError as exc:
                LOGGER.warning("share search: could not read our lists (%s)", exc)
                lists = []
            for found in lists:
                if str(found.get("title", "")).casefold() in wanted:
                    list_id = str(found["id"])
                    yield (
                        f"list:{found.get('title')}",
                        (lambda list_id=list_id, **kw: self.reader.timeline_list(list_id, **kw)),
                    )
        for tag in listen.hashtags:
            yield f"#{tag}", (lambda tag=tag, **kw: self.reader.timeline_hashtag(tag, **kw))

    def _newer(
        self, source: str, fetch: Callable[..., list[Mapping[str, Any]]]
    ) -> Iterator[Mapping[str, Any]]:
        """The posts newer than the source's cursor (the newest page on a first read), cursor moved on."""
        key = _cursor(source)
        cursor = self.store.get(key)
        if cursor is None:
            page = fetch(limit=PAGE_SIZE)
            if page:
                self.store.put(key, str(page[0]["id"]))
            yield from page
            return
        for _ in range(MAX_PAGES):
            page = fetch(limit=PAGE_SIZE, min_id=cursor)
            if not page:
                return
            yield from page
            cursor = str(page[0]["id"])
            self.store.put(key, cursor)
            if len(page) < PAGE_SIZE:
                return
