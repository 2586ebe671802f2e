"""Core (stadium): when a crowd follows at once, one welcome instead of a thank-you each. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

WELCOME_TEXT = "A warm welcome to everyone who just followed us! We're glad you're here. Say hello any time."


@dataclass(frozen=True)
class Spike:
    active: bool  # more follows than the threshold in the window: no individual thanks
    new: bool  # and it just began (or began again after a quiet window): one welcome draft now


def spike(
    *, now: datetime, follows: int, threshold: int, window: timedelta, last_active: datetime | None
) -> Spike:
    """`follows` is the number of follows within `window` before `now`."""
    if follows <= threshold:
        return Spike(active=False, new=False)
    return Spike(active=True, new=last_active is None or last_active < now - window)


def spike_notice(count: int, since: datetime, booster: str | None) -> str:
    """The once-per-spike line for the approvers: how many, since when, and the likely cause."""
    notice = (
        f"Stadium mode: {count} people followed since {since:%H:%M} UTC. "
        "Individual thanks are paused; one welcome draft greets them all."
    )
    if booster:
        notice += f" Likely cause: {booster} boosted one of our posts."
    return notice
