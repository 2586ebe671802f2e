"""Instance (errors): the instance's failures under our names, so no other package imports `mastodon`."""

from __future__ import annotations

from mastodon import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

InstanceError = MastodonError  # anything the instance or the way to it did wrong
Refused = MastodonAPIError  # the instance answered with an error (4xx, and 5xx below)
ServerError = MastodonServerError  # 5xx: maybe worked, maybe not; retry what is safe to repeat
NotFound = MastodonNotFoundError
Unauthorized = MastodonUnauthorizedError  # 401: the token is wrong or was revoked
NetworkError = MastodonNetworkError  # no answer at all
RateLimited = MastodonRatelimitError  # 429 (not a Refused: Mastodon.py raises it on its own)

# Worth retrying later: the instance may answer next time.
TRANSIENT: tuple[type[Exception], ...] = (ServerError, NetworkError, RateLimited)


def reason(exc: BaseException) -> str:
    """The instance's own words for a refusal, short enough for a DM or a log line."""
    args = [a for a in getattr(exc, "args", ()) if isinstance(a, str)]
    return (args[-1] if args else type(exc).__name__)[:300]
