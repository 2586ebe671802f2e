"""Core (pure policy): the attention budget — quiet hours, post and DM caps, the batch window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import LimitSettings

INSTANCE_STATUSES_PER_3H = 300  # Mastodon's own cap on statuses per account; DMs are statuses too


def _aware(moment: datetime) -> datetime:
    # A naive time is taken as UTC (the store's convention), never as the host's local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def dms_allowed(*, max_dms_per_hour: int, dms_last_hour: int, statuses_last_3h: int, wanted: int) -> int:
    """How many of `wanted` DMs may go now: within the hourly cap and the instance's 300 statuses / 3 h."""
    return max(
        0,
        min(wanted, max_dms_per_hour - dms_last_hour, INSTANCE_STATUSES_PER_3H - statuses_last_3h),
    )


def may_post(
    now: datetime,
    limits: LimitSettings,
    *,
    posts_last_hour: int,
    statuses_last_3h: int,
    posts_last_day: int = 0,
) -> str | None:
    """None when an approved post may go now, else why it waits (quiet hours, a cap reached)."""
    quiet = limits.quiet_hours
    if quiet is not None and quiet.contains(_aware(now).astimezone(limits.tz).time()):
        return f"quiet hours until {quiet.end:%H:%M}"
    if posts_last_hour >= limits.max_posts_per_hour:
        return "limits.max_posts_per_hour reached"
    if limits.max_posts_per_day and posts_last_day >= limits.max_posts_per_day:
        return "limits.max_posts_per_day reached"
    if statuses_last_3h >= INSTANCE_STATUSES_PER_3H:
        return f"the instance's {INSTANCE_STATUSES_PER_3H} statuses / 3 h"
    return None


def in_batch_window(now: datetime, last_dm_at: datetime | None, window: timedelta) -> bool:
    """True while new drafts wait to share a DM: the last draft DM went out less than `window` ago.

    A last DM stamped in the future (the clock was set back) holds nothing back.
    """
    if last_dm_at is None:
        return False
    return timedelta(0) <= _aware(now) - _aware(last_dm_at) < window
