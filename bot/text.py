"""Text cleaning (pure): status HTML to plain text, safe names, text safe to quote, length counting."""

from __future__ import annotations

import html as html_lib
import logging
import re
import unicodedata
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from bs4 import BeautifulSoup

LOGGER = logging.getLogger(__name__)

MAX_HTML_CHARS = 100_000  # statuses are ~500 chars; anything far bigger is hostile or broken
URL_LENGTH = 23  # Mastodon's characters_reserved_per_url
NAME_MAX_CHARS = 60
ELLIPSIS = "…"
_ZWJ = "\u200d"

# Mastodon's Account::MENTION_RE, `(?<![=/[:word:]])@((USERNAME)(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)`,
# applied by the instance to the whole raw text (URLs included). Ruby's [[:word:]] is Unicode letters,
# marks, digits and connector punctuation: "²" or "!" before an @ is a boundary, "/" and "=" are not.
_USERNAME = r"[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*"
MENTION_RE = re.compile(
    rf"@(({_USERNAME})(?:@\w+(?:[.-]+\w+)*)?)", re.IGNORECASE
)  # the lookbehind: _boundary
_AT_RUN_RE = re.compile(r"@+(?=[a-z0-9_])", re.IGNORECASE)  # a run of @ before a username's first char
# Close to twitter-text's valid_url as Mastodon uses it: scheme required, not glued to a word/@/#/$.
_URL_RE = re.compile(r"(?<![\w@＠#＃$])https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING_PUNCT = ".,:;!?'\"’”)]}>"

# Characters that look like @ to people or clients; Mastodon itself only links the ASCII one.
_AT_SIGNS = "@＠﹫"
_LOOKALIKE_AT_RE = re.compile(r"(?<!\w)[＠﹫]+(?=\w)")
_LEADING_MENTIONS_RE = re.compile(rf"\A\s*(?:[{_AT_SIGNS}][\w.-]+(?:@[\w.-]+)*[,:]?(?:\s+|\Z))*")
_NAME_URL_RE = re.compile(r"\S*://\S*|\bwww\.\S*", re.IGNORECASE)
_NAME_AT_RE = re.compile(rf"[{_AT_SIGNS}]\S*")
_EMOJI_CODE_RE = re.compile(r":[A-Za-z0-9_]{2,}:")  # Mastodon's custom emoji shortcode
_HTML_SPACE_RE = re.compile(r"[ \t\n\r\f\v]+")
_SPACES_RE = re.compile(r" {2,}")

_SKIPPED_TAGS = frozenset({"script", "style", "template", "head", "title"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "dl", "table", "hr", "figure"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer", "aside"}
)
_LINE_TAGS = frozenset({"li", "tr", "dt", "dd", "figcaption"})


class _Lines:
    """Collects text into lines; blocks become blank-line separated paragraphs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []

    def text(self, piece: str) -> None:
        self.current.append(piece)

    def line_break(self) -> None:
        self.lines.append(_SPACES_RE.sub(" ", "".join(self.current)).strip(" "))
        self.current.clear()

    def end_line(self) -> None:
        # Whitespace-only leftovers are dropped so repeated empty blocks stay linear.
        if any(piece.strip() for piece in self.current):
            self.line_break()
        else:
            self.current.clear()

    def paragraph(self) -> None:
        self.end_line()
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def result(self) -> str:
        self.end_line()
        return "\n".join(self.lines).strip()


def html_to_text(html: str | None) -> str:
    """Plain text of status/bio HTML: <br> is a newline, paragraphs are separated by a blank line."""
    if not isinstance(html, str) or not html:
        return ""
    capped = html[:MAX_HTML_CHARS]
    # Text without tags is still markup to us; given bare, BeautifulSoup warns into the service's log when
    # it looks like a URL or a file name (a post that is only a link).
    markup = capped if "<" in capped else f"<p>{capped}</p>"
    from bs4 import BeautifulSoup  # here, not at the top: `import bot.text` stays light for the CLI

    try:
        return _walk(BeautifulSoup(markup, "html.parser"))
    except Exception as exc:  # the parser is third-party code fed hostile input
        LOGGER.warning("HTML parse failed (%s); falling back to tag stripping", type(exc).__name__)
        return _strip_tags(capped)


def _walk(soup: BeautifulSoup) -> str:
    from bs4.element import NavigableString, PreformattedString, Tag

    # Iterative on purpose: deeply nested hostile HTML must not hit the recursion limit.
    out = _Lines()
    stack: list[tuple[object, bool]] = [(soup, False)]
    pre_depth = 0
    while stack:
        node, closing = stack.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctypes, CDATA carry no text
                _add_text(out, str(node), preformatted=pre_depth > 0)
            continue
        if not isinstance(node, Tag):
            continue
        name = (node.name or "").lower()
        if closing:
            if name == "pre":
                pre_depth -= 1
            if name in _BLOCK_TAGS:
                out.paragraph()
            elif name in _LINE_TAGS:
                out.end_line()
            continue
        if name in _SKIPPED_TAGS:
            continue
        if name == "br":
            out.line_break()
            continue
        if name == "pre":
            pre_depth += 1
        if name in _BLOCK_TAGS:
            out.paragraph()
        elif name in _LINE_TAGS:
            out.end_line()
        # Every span (including Mastodon's "invisible" URL parts and "ellipsis") keeps its text:
        # the plain text carries the full URL and never gains a "…".
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.contents))
    return out.result()


def _add_text(out: _Lines, raw: str, *, preformatted: bool) -> None:
    if not preformatted:
        out.text(_HTML_SPACE_RE.sub(" ", raw))
        return
    for index, line in enumerate(raw.split("\n")):
        if index:
            out.line_break()
        out.text(_HTML_SPACE_RE.sub(" ", line))


def _strip_tags(capped: str) -> str:
    try:
        without_tags = re.sub(r"<br\s*/?>", "\n", capped, flags=re.IGNORECASE)
        without_tags = re.sub(r"</p\s*>", "\n\n", without_tags, flags=re.IGNORECASE)
        without_tags = re.sub(r"<[^>]*>", "", without_tags)
        return html_lib.unescape(without_tags).strip()
    except Exception:
        return ""


def _remove_invisibles(text: str, *, keep_lines: bool = False) -> str:
    """Drop zero-width, bidi and other format characters; controls and line separators become spaces
    (with `keep_lines`, newlines and tabs stay, as in a post's text)."""
    kept: list[str] = []
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if keep_lines and char in "\n\t":
            kept.append(char)
        elif category in ("Zl", "Zp", "Cc"):
            kept.append(" ")
        elif category not in ("Cf", "Cs") or (char == _ZWJ and _joins_emoji(text, index)):
            kept.append(char)
    return "".join(kept)


def _joins_emoji(text: str, index: int) -> bool:
    # A zero-width joiner inside an emoji sequence (👩‍💻) is part of the picture, not a trick.
    return 0 < index < len(text) - 1 and all(
        unicodedata.category(text[i]) in ("So", "Sk", "Mn") for i in (index - 1, index + 1)
    )


def _clean_name_once(name: str) -> str:
    # Invisibles go first so that removing them can never join "：" "//" into a URL afterwards.
    text = _remove_invisibles(name)
    # Each removal leaves a space, so what remains cannot fuse into a new URL, @ or :code:.
    text = _NAME_URL_RE.sub(" ", text)
    text = _NAME_AT_RE.sub(" ", text)
    text = _EMOJI_CODE_RE.sub(" ", text)
    text = " ".join(text.split())
    return text[:NAME_MAX_CHARS].rstrip()


def clean_name(display_name: str | None, fallback: str) -> str:
    """A display name safe to show and to post: no @handles, URLs, emoji codes or invisible characters."""
    for candidate in (display_name, fallback):
        if isinstance(candidate, str) and (cleaned := _clean_name_once(candidate)):
            return cleaned
    return "friend"


def _ruby_word(char: str) -> bool:
    """Ruby's [[:word:]] (as Mastodon's mention rule reads it), erring on the side of "not a word"."""
    category = unicodedata.category(char)
    return category[0] in "LM" or category in ("Nd", "Nl", "Pc")


def _boundary(text: str, index: int) -> bool:
    """Whether an @ at `index` may start a mention: what precedes it is no word char, "/" or "="."""
    return index == 0 or not (text[index - 1] in "=/" or _ruby_word(text[index - 1]))


def _disarm_ats(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        # After a word char, "/" or "=" a single @ mentions nobody (an email, a profile link): keep one.
        return "" if _boundary(text, match.start()) else "@"

    return _AT_RUN_RE.sub(one, text)


def safe_text(text: str) -> str:
    """Third-party text made safe to quote in a DM or a post: no @ that Mastodon would turn into a
    mention ("thanks ²@bob" → "thanks ²bob", "@a@b.c" → "a@b.c"), look-alike at signs dropped the
    same way, zero-width and bidi controls removed; links (profile links too), emails and line
    breaks kept. Callers refuse text that is empty afterwards."""
    result = _remove_invisibles(text, keep_lines=True)
    for _ in range(len(result) + 1):
        # Removing an @ never makes another @ a mention, but a look-alike removal can: repeat until
        # nothing changes (one or two passes on real text).
        cleaned = _disarm_ats(_LOOKALIKE_AT_RE.sub("", result))
        if cleaned == result:
            break
        result = cleaned
    return result


def strip_leading_mentions(text: str) -> str:
    """Drop leading @handles, so "@bot approve 12" reads "approve 12"."""
    match = _LEADING_MENTIONS_RE.match(text)
    return (text[match.end() :] if match else text).strip()


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL_RE.finditer(text):
        url = match.group().rstrip(_URL_TRAILING_PUNCT)
        if url.split("://", 1)[1]:  # "https://" followed only by punctuation is no URL
            spans.append((match.start(), match.start() + len(url)))
    return spans


def _mentions(text: str) -> list[re.Match[str]]:
    """Every mention Mastodon would make of `text` (its rule runs over URLs too)."""
    return [match for match in MENTION_RE.finditer(text) if _boundary(text, match.start())]


def _entities(text: str) -> list[tuple[int, int, int]]:
    """URLs and mentions as (start, end, counted length), in order and not overlapping."""
    found = [(start, end, URL_LENGTH) for start, end in _url_spans(text)]
    for match in _mentions(text):
        if not any(start <= match.start() < end for start, end, _ in found):
            found.append((match.start(), match.end(), 1 + len(match.group(2))))
    entities: list[tuple[int, int, int]] = []
    position = 0
    for start, end, weight in sorted(found):
        if start >= position:
            entities.append((start, end, weight))
            position = end
    return entities


def _units(text: str) -> list[tuple[str, int]]:
    """Text as (piece, counted length): URLs and mentions are single pieces, other chars one each."""
    units: list[tuple[str, int]] = []
    position = 0
    for start, end, weight in _entities(text):
        units.extend((char, 1) for char in text[position:start])
        units.append((text[start:end], weight))
        position = end
    units.extend((char, 1) for char in text[position:])
    return units


def status_length(text: str) -> int:
    """Length as Mastodon counts it: a URL is 23, "@user@domain" counts as "@user", otherwise code points."""
    return len(text) + sum(weight - (end - start) for start, end, weight in _entities(text))


def truncate_to(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` by `status_length`, on a word boundary if possible, ending in "…"."""
    if status_length(text) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    budget = limit - len(ELLIPSIS)
    kept: list[str] = []
    used = 0
    cut_mid_word = False
    for piece, weight in _units(text):
        if used + weight > budget:
            cut_mid_word = not piece.isspace() and bool(kept) and not kept[-1].isspace()
            break
        kept.append(piece)
        used += weight
    body = "".join(kept)
    boundary = max(body.rfind(" "), body.rfind("\n"))
    # Back off to the last word boundary unless that would throw away most of the text.
    if cut_mid_word and boundary > len(body) // 2:
        body = body[:boundary]
    body = body.rstrip()
    # Cutting can only shorten entities, but make sure rather than trust it.
    while body and status_length(body + ELLIPSIS) > limit:
        body = body[:-1].rstrip()
    return body + ELLIPSIS


def _as_mastodon_reads(handle: str) -> str:
    """The handle cut where Ruby's [[:word:]] ends its domain (Python's \\w takes "²" in, Ruby not)."""
    user, at, domain = handle.partition("@")
    kept = ""
    for char in domain:
        if not (_ruby_word(char) or char in ".-"):
            break
        kept += char
    kept = kept.rstrip(".-")
    return f"{user}@{kept}" if at and kept and _ruby_word(kept[0]) else user


def mentioned_handles(text: str) -> list[str]:
    """The handles ("user" or "user@domain", lowercased, each once) that posting `text` would mention."""
    handles: list[str] = []
    for match in _mentions(text):
        handle = _as_mastodon_reads(match.group(1)).lower()
        if handle not in handles:
            handles.append(handle)
    return handles


def person_acct(written: str, domain: str = "", web_host: str = "") -> str:
    """A person as someone may write them → the acct the store keeps (`fan`, or `fan@other.example`).

    Takes `fan`, `@fan`, `fan@instance`, `@fan@instance` and profile URLs (`https://instance/@fan`,
    `https://instance/users/fan`, `https://ours/@fan@other`); a name on `domain` (the bot's own
    instance), or in a profile URL on its `web_host` (`host[:port]` of mastodon.base_url, which may
    differ from the domain), is kept without it, as Mastodon writes local accounts. Anything else is
    returned stripped.
    """
    from urllib.parse import unquote, urlsplit

    text = written.strip()
    if text.lower().startswith(("https://", "http://")):
        try:
            parts = urlsplit(text)
        except ValueError:
            return text
        host = parts.netloc.rpartition("@")[2].lower()
        if web_host and host == web_host.lower():
            host = domain or host
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if segments and segments[0].startswith("@") and len(segments[0]) > 1:
            name = segments[0][1:]
        elif len(segments) >= 2 and segments[0] == "users":
            name = segments[1]
        else:
            return text
        text = name if "@" in name else f"{name}@{host}"
    acct = text.removeprefix("@")
    local, _, instance = acct.partition("@")
    if instance and domain and instance.lower() == domain.lower():
        return local
    return acct


def site_host(value: str) -> str | None:
    """The host a URL (or a bare host name) points at, as our sites are matched: lower case, ASCII
    (punycode), without port, trailing dot or a leading `www.`; None when there is no host."""
    text = value.strip()
    if "//" not in text:
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host.removeprefix("www.") or None


def host_is_site(host: str | None, site: str) -> bool:
    """`host` (from site_host) is `site` or one of its subdomains."""
    return host is not None and (host == site or host.endswith("." + site))
