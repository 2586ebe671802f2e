"""Core (shares, pure): whether a post we read links to our sites or names us without mentioning us."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.text import host_is_site, site_host


@dataclass(frozen=True)
class SeenPost:
    """A post from a timeline, as the share check needs it."""

    author_id: str
    text: str  # plain text
    links: tuple[str, ...]  # hrefs in the post and the preview card's (expanded) URL
    mentions: tuple[str, ...]  # account ids mentioned
    is_boost: bool = False


def links_to(links: Iterable[str], sites: Sequence[str]) -> str | None:
    """The first link whose host is one of `sites` (or a subdomain), else None."""
    for link in links:
        host = site_host(link)
        if any(host_is_site(host, site) for site in sites):
            return link
    return None


@lru_cache(maxsize=256)
def _name_pattern(name: str) -> re.Pattern[str]:
    # Whole words: "Riverside" is not named in "Riversideville", "#riversides" or "@riverside@elsewhere".
    return re.compile(r"(?<![\w@])" + re.escape(name.strip()) + r"(?!\w)", re.IGNORECASE)


def names(text: str, our_names: Sequence[str]) -> str | None:
    """The first of `our_names` the text names as whole words, else None."""
    for name in our_names:
        if name.strip() and _name_pattern(name).search(text):
            return name
    return None


def share_reason(post: SeenPost, *, me_id: str, sites: Sequence[str], our_names: Sequence[str]) -> str | None:
    """Why the post is a share of ours ("links to …" / "names …"), or None.

    Never our own posts, boosts (the original is what was written), or posts that mention us: those
    arrive as notifications and are answered as mentions.
    """
    if post.author_id == me_id or post.is_boost or me_id in post.mentions:
        return None
    link = links_to(post.links, sites)
    if link is not None:
        return f"links to {link}"
    name = names(post.text, our_names)
    return f"names {name}" if name is not None else None
