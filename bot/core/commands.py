"""Core (commands): the one table of approver commands — words, parser, lane, help — and the parser. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_ID = re.compile(r"#?(\d{1,18})$")
MAX_IDS = 200  # more ids than this in one DM is refused with the count, never silently cut


@dataclass(frozen=True)
class Command:
    """A parsed approver DM. `verb` is "unknown" when the text is not a command; `error` says why."""

    verb: str
    ids: tuple[int, ...] = ()
    text: str = ""  # edit/reply text, note text
    target: str = ""  # acct for who/note
    error: str = ""


@dataclass(frozen=True)
class Verb:
    """One command. Every command needs an approver's account in a direct message (checked first,
    failing closed, by the dispatcher); `control` commands change what the service does at once."""

    name: str
    aliases: tuple[str, ...]
    usage: str
    parse: Callable[[str, str], Command]  # (verb, the text after the word) → Command
    control: bool = False


def _bare(verb: str, rest: str) -> Command:
    return Command(verb)


def _ids(verb: str, rest: str) -> Command:
    ids = []
    for word in rest.replace(",", " ").split():
        match = _ID.match(word)
        if match is None:
            return Command(verb, error=f'"{word[:30]}" is not a draft number')
        ids.append(int(match.group(1)))
    unique = tuple(dict.fromkeys(ids))
    if len(unique) > MAX_IDS:
        return Command(verb, error=f"{len(unique)} drafts in one message; at most {MAX_IDS}")
    return Command(verb, ids=unique)


def _id_and_text(verb: str, rest: str) -> Command:
    """`edit 12 text` or, replying to a one-draft DM, `edit text`."""
    parts = rest.split(None, 1)
    match = _ID.match(parts[0]) if parts else None
    if match is not None:
        body = parts[1].strip() if len(parts) > 1 else ""
        ids: tuple[int, ...] = (int(match.group(1)),)
    else:
        body, ids = rest, ()
    if verb in ("edit", "reply") and not body:
        return Command(verb, ids=ids, error=f"usage: {VERBS[verb].usage}")
    if verb in ("boost", "fav", "follow") and not ids:
        return Command(verb, error=f"usage: {VERBS[verb].usage}")
    return Command(verb, ids=ids, text=body)


def _person(verb: str, rest: str) -> Command:
    parts = rest.split(None, 1)
    note = parts[1].strip() if len(parts) > 1 else ""
    if not parts or (verb == "note" and not note):
        return Command(verb, error=f"usage: {VERBS[verb].usage}")
    return Command(verb, target=parts[0].lstrip("@"), text=note)


def _choice(verb: str, rest: str) -> Command:
    """`use 12 2` (draft 12, its answer 2) or, replying to a one-draft DM, `use 2`."""
    words = rest.replace(",", " ").split()
    matches = [_ID.match(word) for word in words]
    if not 1 <= len(words) <= 2 or any(m is None for m in matches):
        return Command(verb, error=f"usage: {VERBS[verb].usage}")
    return Command(verb, ids=tuple(int(m.group(1)) for m in matches if m is not None))


def _page(verb: str, rest: str) -> Command:
    word = rest.split()[0] if rest.split() else ""
    if not word:
        return Command(verb)
    match = _ID.match(word)
    if match is None or int(match.group(1)) < 1:
        return Command(verb, error=f"usage: {VERBS[verb].usage}")
    return Command(verb, ids=(int(match.group(1)),))


COMMAND_TABLE: tuple[Verb, ...] = (
    Verb("approve", ("approve", "ok", "yes"), "approve 12 [13 …]", _ids),
    Verb("edit", ("edit",), "edit 12 <new text>", _id_and_text),
    Verb("reject", ("reject", "no"), "reject 12 [13 …]", _ids),
    Verb("list", ("list",), "list [page]", _page, control=True),
    Verb("pause", ("pause",), "pause", _bare, control=True),
    Verb("resume", ("resume",), "resume", _bare, control=True),
    Verb("who", ("who",), "who <acct>", _person),
    Verb("note", ("note",), "note <acct> <text>", _person),
    Verb("stats", ("stats",), "stats", _bare),
    Verb("boost", ("boost",), "boost N", _id_and_text),
    Verb("fav", ("fav",), "fav N", _id_and_text),
    Verb("reply", ("reply",), "reply N <text>", _id_and_text),
    Verb("use", ("use",), "use 12 2", _choice),
    Verb("learn", ("learn",), "learn 12", _ids),
    Verb("follow", ("follow",), "follow N", _id_and_text),
    Verb("help", ("help",), "help", _bare, control=True),
)
VERBS: dict[str, Verb] = {verb.name: verb for verb in COMMAND_TABLE}
# verb → (aliases, usage), for callers that only show the words.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {v.name: (v.aliases, v.usage) for v in COMMAND_TABLE}
_BY_WORD = {alias: verb for verb in COMMAND_TABLE for alias in verb.aliases}


def parse_command(text: str) -> Command:
    """Read one command from DM text that has had its leading @mentions removed. Never raises."""
    words = text.strip().split(None, 1)
    if not words:
        return Command("unknown", error="empty message")
    verb = _BY_WORD.get(words[0].lower().rstrip(":,."))
    if verb is None:
        return Command("unknown", error=f'unknown command "{words[0][:30]}"')
    return verb.parse(verb.name, words[1].strip() if len(words) > 1 else "")


def help_text() -> str:
    """One line per command, short enough for one DM."""
    return "\n".join("|".join(v.aliases) + v.usage[len(v.name) :] for v in COMMAND_TABLE)
