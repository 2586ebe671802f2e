"""Commands (pure): approver DM text to a `Command`; the table of words and their help lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

# verb → (aliases, usage). The help DM is built from this table.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("approve", "ok", "yes"), "approve 12 [13 …]"),
    "edit": (("edit",), "edit 12 <new text>"),
    "reject": (("reject", "no"), "reject 12 [13 …]"),
    "list": (("list",), "list"),
    "pause": (("pause",), "pause"),
    "resume": (("resume",), "resume"),
    "who": (("who",), "who <acct>"),
    "note": (("note",), "note <acct> <text>"),
    "stats": (("stats",), "stats"),
    "boost": (("boost",), "boost N"),
    "fav": (("fav",), "fav N"),
    "reply": (("reply",), "reply N <text>"),
    "help": (("help",), "help"),
}
_VERBS = {alias: verb for verb, (aliases, _) in COMMANDS.items() for alias in aliases}
_ID = re.compile(r"#?(\d{1,18})$")
_MAX_IDS = 50


@dataclass(frozen=True)
class Command:
    """A parsed approver DM. `verb` is "unknown" when the text is not a command; `error` says why."""

    verb: str
    ids: tuple[int, ...] = ()
    text: str = ""  # edit/reply text, note text
    target: str = ""  # acct for who/note
    error: str = ""


def parse_command(text: str) -> Command:
    """Read one command from DM text that has had its leading @mentions removed. Never raises."""
    words = text.strip().split(None, 1)
    if not words:
        return Command("unknown", error="empty message")
    verb = _VERBS.get(words[0].lower().rstrip(":,."))
    if verb is None:
        return Command("unknown", error=f'unknown command "{words[0][:30]}"')
    rest = words[1].strip() if len(words) > 1 else ""
    if verb in ("approve", "reject"):
        return _with_ids(verb, rest)
    if verb in ("edit", "reply", "boost", "fav"):
        return _with_id_and_text(verb, rest)
    if verb in ("who", "note"):
        parts = rest.split(None, 1)
        if not parts:
            return Command(verb, error=f"usage: {COMMANDS[verb][1]}")
        note = parts[1].strip() if len(parts) > 1 else ""
        if verb == "note" and not note:
            return Command(verb, error=f"usage: {COMMANDS[verb][1]}")
        return Command(verb, target=parts[0].lstrip("@"), text=note)
    return Command(verb)


def _with_ids(verb: str, rest: str) -> Command:
    ids = []
    for word in rest.replace(",", " ").split():
        match = _ID.match(word)
        if match is None:
            return Command(verb, error=f'"{word[:30]}" is not a draft number')
        ids.append(int(match.group(1)))
    return Command(verb, ids=tuple(dict.fromkeys(ids))[:_MAX_IDS])


def _with_id_and_text(verb: str, rest: str) -> Command:
    """`edit 12 text` or, replying to a one-draft DM, `edit text`."""
    parts = rest.split(None, 1)
    match = _ID.match(parts[0]) if parts else None
    if match is not None:
        body = parts[1].strip() if len(parts) > 1 else ""
        ids: tuple[int, ...] = (int(match.group(1)),)
    else:
        body, ids = rest, ()
    if verb in ("edit", "reply") and not body:
        return Command(verb, ids=ids, error=f"usage: {COMMANDS[verb][1]}")
    if verb in ("boost", "fav") and not ids:
        return Command(verb, error=f"usage: {COMMANDS[verb][1]}")
    return Command(verb, ids=ids, text=body)


def help_text() -> str:
    """One line per command, short enough for one DM."""
    return "\n".join("|".join(aliases) + usage[len(verb) :] for verb, (aliases, usage) in COMMANDS.items())
