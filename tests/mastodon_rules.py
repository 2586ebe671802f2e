"""Mastodon's own rules, ported for the tests: which @ in a text the instance turns into a mention.

`Account::MENTION_RE` (app/models/account.rb) is applied by ProcessMentionsService to the whole raw
text of a local status, links included. Ruby's `[[:word:]]` is Unicode-aware (letters, marks, digits,
connector punctuation); the `regex` module's POSIX class reads it the same way, unlike `re`'s `\\w`.
"""

from __future__ import annotations

import regex

USERNAME_RE = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
MENTION_RE = regex.compile(
    rf"(?<![=/[:word:]])@(({USERNAME_RE})(?:@[[:word:]]+(?:[.-]+[[:word:]]+)*)?)", regex.IGNORECASE
)


def mastodon_mentions(text: str) -> list[str]:
    """The handles Mastodon would mention if `text` were posted (lowercased, in order)."""
    return [match.group(1).lower() for match in MENTION_RE.finditer(text)]
