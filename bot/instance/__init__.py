"""Instance: the only package that imports `mastodon` and talks HTTP to the instance."""

from bot.instance.errors import (
    TRANSIENT,
    InstanceError,
    NetworkError,
    NotFound,
    RateLimited,
    Refused,
    ServerError,
    Unauthorized,
    reason,
)

__all__ = [
    "TRANSIENT",
    "InstanceError",
    "NetworkError",
    "NotFound",
    "RateLimited",
    "Refused",
    "ServerError",
    "Unauthorized",
    "reason",
]
