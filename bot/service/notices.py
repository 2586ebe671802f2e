"""Service (notices): what the instance says about the account itself, told to the approvers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.model import Event, ModerationWarning, SeveredRelationships
from bot.service.announce import Announcer
from bot.store import Store
from bot.text import safe_text

LOGGER = logging.getLogger(__name__)

# Mastodon's AccountWarning actions, as the approvers read them.
ACTIONS = {
    "none": "a warning",
    "disable": "the account was frozen",
    "mark_statuses_as_sensitive": "some posts were marked sensitive",
    "delete_statuses": "some posts were removed",
    "sensitive": "all media is marked sensitive from now on",
    "silence": "the account is limited",
    "suspend": "the account is suspended",
}
CAUSES = {
    "domain_block": "the moderators suspended the domain {target}",
    "user_domain_block": "the account blocked the domain {target}",
    "account_suspension": "the moderators suspended {target}",
}
MAX_WARNING_TEXT = 300


def warning_text(event: ModerationWarning) -> str:
    """The approvers' DM for a moderation warning: what happened, the moderators' words, what to do."""
    action = ACTIONS.get(event.action, event.action or "a warning")
    words = " ".join(event.text.split())
    if len(words) > MAX_WARNING_TEXT:
        words = words[: MAX_WARNING_TEXT - 1] + "…"
    said = f': "{safe_text(words)}"' if words else " (no text)"
    return (
        f"The instance's moderators warned this account ({safe_text(action)}){said}. "
        "I have paused: nothing is drafted or posted. "
        'Read the warning on the instance (Preferences → Account status), then send "resume".'
    )


def severed_text(event: SeveredRelationships) -> str:
    """The approvers' DM for severed relationships, with the counts."""
    target = safe_text(event.target_name) or "an account or domain"
    cause = CAUSES.get(event.cause, "a block or a suspension of {target}").format(target=target)
    return (
        f"Some follow relationships were cut because {cause}: {event.followers_count} follower(s) lost, "
        f"{event.following_count} account(s) we no longer follow."
    )


class InstanceNotices:
    """The dispatcher's handlers for `moderation_warning` and `severed_relationships`.

    A notice the DM budget has no room for now waits for the next draft DM (`notice`).
    """

    def __init__(self, store: Store, announcer: Announcer, *, max_event_age: Callable[[], timedelta]) -> None:
        self.store = store
        self.announcer = announcer
        self.max_event_age = max_event_age
        self.untold: list[str] = []

    def moderation_warning(self, event_id: int, event: Event, now: datetime) -> None:
        assert isinstance(event, ModerationWarning)
        if now - event.created_at > self.max_event_age():
            # An old warning (a first run reading history) was dealt with long ago: recorded only.
            LOGGER.info("an old moderation warning (%s) is recorded, not acted on", event.created_at)
            self.store.finish_event(event_id, None, now)
            return
        self.store.set_paused(True)
        LOGGER.warning("the moderators warned this account (%s); paused until resume", event.action or "none")
        # Handled before telling: a crash loses a DM, never pauses twice after a resume.
        self.store.finish_event(event_id, None, now)
        self._tell(warning_text(event))

    def severed(self, event_id: int, event: Event, now: datetime) -> None:
        assert isinstance(event, SeveredRelationships)
        LOGGER.warning(
            "relationships severed (%s %s): %d followers, %d following",
            event.cause,
            event.target_name,
            event.followers_count,
            event.following_count,
        )
        self.store.finish_event(event_id, None, now)
        if now - event.created_at <= self.max_event_age():
            self._tell(severed_text(event))

    def _tell(self, text: str) -> None:
        if not self.announcer.tell_all(text):
            self.untold.append(text)

    def notice(self, now: datetime) -> str | None:
        """For the announcer: what could not be told at once."""
        return "\n".join(self.untold) if self.untold else None

    def told(self) -> None:
        self.untold.clear()
