"""Client (edge): the one place that builds a Mastodon.py client and asks the instance about itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlparse

from mastodon import Mastodon, MastodonError

LOGGER = logging.getLogger(__name__)
DEFAULT_CHAR_LIMIT = 500


def connect(base_url: str, access_token: str, *, timeout: float = 30.0) -> Mastodon:
    """A client that raises on rate limits: our own outbox paces (Mastodon.py's pacing is not thread-safe)."""
    return Mastodon(
        api_base_url=base_url,
        access_token=access_token,
        ratelimit_method="throw",
        request_timeout=timeout,
        version_check_mode="none",
        user_agent="frontrow",
    )


@dataclass(frozen=True)
class InstanceFacts:
    domain: str
    char_limit: int


def instance_facts(api: Mastodon, base_url: str) -> InstanceFacts:
    """The instance's domain (for writing local accts in full) and its post length limit."""
    fallback_domain = urlparse(base_url).hostname or "localhost"
    try:
        info = api.instance_v2()
    except MastodonError as exc:
        LOGGER.warning(
            "could not read the instance's limits (%s); assuming %d characters", exc, DEFAULT_CHAR_LIMIT
        )
        return InstanceFacts(fallback_domain, DEFAULT_CHAR_LIMIT)
    try:
        limit = int(info["configuration"]["statuses"]["max_characters"])
    except (KeyError, TypeError, ValueError):
        limit = DEFAULT_CHAR_LIMIT
    return InstanceFacts(str(info.get("domain") or fallback_domain), limit)
