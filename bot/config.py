"""Configuration (startup): TOML file to frozen, validated settings; errors name section.key.

`load_settings` reads the TOML file named by `resolve_config_path`, lets `FRONTROW_ACCESS_TOKEN`
override `mastodon.access_token`, and returns a frozen `Settings`. Anything wrong is raised as
one `ConfigError` that lists every problem as `section.key: message` (rules counted from 1 and
named, as `rules[1].on ("thanks")`), so `check-config` can print them all at once without a traceback.
"""

import difflib
import json
import os
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import re2  # google-re2: rule regexes run in linear time, so no pattern can hang on a post
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

# Where the file is lives in bot/config_path.py (light enough for `frontrow who`); still importable from here.
from bot.config_path import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH
from bot.config_path import ENV_CONFIG as ENV_CONFIG
from bot.config_path import resolve_config_path as resolve_config_path
from bot.model import kind_and_word, kind_for
from bot.text import site_host

EventName = Literal["follow", "mention", "reblog", "favourite", "follow_request", "reply", "share", "quote"]
Visibility = Literal["public", "unlisted", "private", "direct"]
EVENTS: tuple[str, ...] = get_args(EventName)
EVENT_CHOICES = ", ".join(kind_and_word(kind) for kind in EVENTS)  # "…, reblog (boost), …"
VISIBILITIES: tuple[str, ...] = get_args(Visibility)  # widest first
# {text}: the words of the post a mention, reply, share or quote is (one line, shortened, made safe).
TEMPLATE_FIELDS = ("name", "username", "acct", "text")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

ENV_TOKEN = "FRONTROW_ACCESS_TOKEN"

_DURATION_RE = re.compile(r"(\d+)\s*([smhd])", re.ASCII)
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_CLOCK_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)", re.ASCII)
_ACCT_RE = re.compile(r"[^\s@]+(@[^\s@]+)?")
_FORMATTER = string.Formatter()


class ConfigError(Exception):
    """The configuration is unusable; `errors` holds one `section.key: message` line per problem."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: list[str] = list(errors)
        super().__init__("\n".join(self.errors))


def as_written(value: Any) -> str:
    """A value as it is written in the config's TOML: `"text"`, `true`, `180d`, `["?"]`, `09:00`.

    Error messages, `check-config` and every command that shows a config value use it, so what the user
    reads is what they can paste back into the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(as_written(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {as_written(item)}" for key, item in value.items()) + "}"
    if isinstance(value, BaseModel):
        return as_written(value.model_dump())
    return repr(value)


def format_duration(value: timedelta) -> str:
    """A duration the way the config writes it (the inverse of `parse_duration`): 180d, 2h, 90s."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- value parsers (raise ValueError with the message the user sees) -------------------------


def parse_duration(text: str) -> timedelta:
    """`30s`, `10m`, `2h` or `3d` (also `0s`) as a timedelta."""
    match = _DURATION_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{as_written(text)} is not a duration (use 30s, 10m, 2h or 3d)")
    try:
        return timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
    except OverflowError:
        raise ValueError(f"{as_written(text)} is too long a duration") from None


def _duration(value: Any) -> Any:
    return value if isinstance(value, timedelta) else parse_duration(value)


def _count(value: Any) -> Any:
    # bool is an int subclass in Python: `max_posts_per_hour = true` must not mean 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{as_written(value)} is not a whole number (write e.g. 12, without quotes)")
    if value < 0:
        raise ValueError(f"{value} is negative (use 0 or more)")
    return value


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError(f"{as_written(value)} is not true or false")
    return value


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{as_written(value)} is not text; write {what} in quotes")
    return value


def _event(value: Any) -> Any:
    # The config may say "boost" as people do; a rule keeps Mastodon's kind ("reblog").
    kind = kind_for(value) if isinstance(value, str) else value
    if kind not in EVENTS:
        raise ValueError(f"{as_written(value)} is not an event ({EVENT_CHOICES})")
    return kind


def _visibility(value: Any) -> Any:
    if not isinstance(value, str) or value not in VISIBILITIES:
        raise ValueError(f"{as_written(value)} is not a visibility ({', '.join(VISIBILITIES)})")
    return value


def _template(value: Any) -> str:
    text = _text(value, "the template")
    if not text.strip():
        raise ValueError("is empty (a template needs some text)")
    try:
        fields = [field for _, field, _, _ in _FORMATTER.parse(text) if field is not None]
    except ValueError as exc:
        raise ValueError(
            f"{as_written(text)} has a brace error ({exc}); write {{{{ or }}}} for a brace"
        ) from None
    for field in fields:
        if field not in TEMPLATE_FIELDS:
            raise ValueError(
                f"{{{field}}} is not a template field (use {{name}}, {{username}}, {{acct}} or {{text}})"
            )
    try:  # format specs and conversions ({name:d}, {name!x}) only fail when filled in
        text.format(**dict.fromkeys(TEMPLATE_FIELDS, "x"))
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"{as_written(text)} cannot be filled in ({exc})") from None
    return text


def _phrase(value: Any) -> str:
    text = _text(value, "the word or phrase")
    if not text.strip():
        raise ValueError("is empty (an empty phrase would match every post)")
    return text


def _consent_tag(value: Any) -> str:
    text = _text(value, "the hashtag").strip()
    if not re.fullmatch(r"#\w+", text):
        raise ValueError(f'{as_written(value)} is not a hashtag (write it with its #, e.g. "#nobot")')
    return text


def _language(value: Any) -> str:
    text = _text(value, "the language code").strip().lower()  # Mastodon reports ISO 639 codes in lower case
    if not text:
        raise ValueError('is empty (use a language code such as "en")')
    return text


class Pattern(Protocol):
    """A compiled pattern; ours search in time linear in the text (RE2 has no stubs)."""

    def search(self, text: str) -> object | None: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported as a config error, not logged by RE2
_MATCHER = "Frontrow's linear-time matcher"
_UNSUPPORTED_GROUPS = (  # RE2 says "invalid perl operator: (?=": what the user wrote, in plain words
    ("(?=", "a look-ahead"),
    ("(?!", "a look-ahead"),
    ("(?<=", "a look-behind"),
    ("(?<!", "a look-behind"),
    ("(?P=", "a backreference"),
    ("(?>", "an atomic group"),
    ("(?(", "a conditional group"),
    ("(?#", "a comment group"),
)


def compile_regex(pattern: str) -> Pattern:
    r"""A rule's `regex` on RE2: time linear in the text, whatever the pattern and the post.

    What RE2 cannot take (look-arounds, backreferences, possessive quantifiers, atomic groups...)
    raises ValueError saying so in plain words, and so does what RE2 takes but reads otherwise than
    Python's re did (`\12`, `x{,3}`). Unlike Python's re: \w, \d, \s and \b are ASCII-only (\p{L} is
    a letter of any script), and `$` is only the end of the text (the posts' plain text never ends in
    a newline, so that one changes nothing).
    """
    try:
        compiled = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else b""
        reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise ValueError(_refusal(reason, pattern)) from None
    reread = _read_otherwise(pattern)
    if reread is not None:
        raise ValueError(reread)
    return compiled


_GROUP_NUMBER = re.compile(r"\\[1-9][0-9]")  # Python: group 10..99, RE2: an octal character code
_THREE_OCTAL = re.compile(r"\\[0-7]{3}")  # both: an octal character code
_NO_LOW_BOUND = re.compile(r"\{,([0-9]*)\}")  # Python: {0,3} (or {0,}), RE2: the text "{,3}"


def _read_otherwise(pattern: str) -> str | None:
    """Why a pattern RE2 took means something else on RE2 than on Python's re, or None.

    Walks the pattern as RE2 parsed it: escapes, character classes (with [:alpha:] inside), \\Q...\\E.
    """
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if not in_class and pattern.startswith("\\Q", index):  # literal text up to \E or the end
                end = pattern.find("\\E", index + 2)
                index = len(pattern) if end < 0 else end + 2
                continue
            number = None if in_class else _GROUP_NUMBER.match(pattern, index)
            if number is not None and not _THREE_OCTAL.match(pattern, index):
                return f"uses a backreference ({number[0]}), which {_MATCHER} does not support"
            index += 2
        elif in_class:
            posix_end = pattern.find(":]", index + 2) if pattern.startswith("[:", index) else -1
            in_class = posix_end >= 0 or char != "]"
            index = posix_end + 2 if posix_end >= 0 else index + 1
        elif char == "[":
            index += 1
            index += pattern.startswith("^", index)
            index += pattern.startswith("]", index)  # a ] right after [ or [^ is itself in the class
            in_class = True
        elif (bound := _NO_LOW_BOUND.match(pattern, index)) is not None:
            return (
                f'uses the repetition "{bound[0]}", which {_MATCHER} reads as plain text'
                f" (write {{0,{bound[1]}}})"
            )
        else:
            index += 1
    return None


def _refusal(reason: str, pattern: str) -> str:
    """RE2's error message as the config error the user reads."""
    kind, _, where = reason.partition(": ")
    if kind == "invalid perl operator":
        if where == "(?P" and "(?P=" in pattern:  # RE2 names only the "(?P" of "(?P=name)"
            where = "(?P="
        for opening, construct in _UNSUPPORTED_GROUPS:
            if where.startswith(opening):
                return f"uses {construct}, which {_MATCHER} does not support"
        last = where[-1:]  # RE2 quotes up to the character it refused: "(?ix", "(?|"
        if where == "(?P" or (len(where) == 3 and not last.isalnum() and last not in "-:)"):
            return f'uses the group "{where}", which {_MATCHER} does not support'
        if last.isalpha() and last not in "imsU":
            return f'uses the inline flag "{last}", which {_MATCHER} does not support (only i, m and s)'
    if kind == "invalid escape sequence":
        if where[1:2].isdigit():
            return f"uses a backreference ({where}), which {_MATCHER} does not support"
        if where == "\\Z":
            return f"uses \\Z, which {_MATCHER} does not support (write \\z for the end of the text)"
        return f"uses the escape {where}, which {_MATCHER} does not support"
    if kind == "bad repetition operator" and where.endswith("+"):
        return f"uses a possessive quantifier ({where}), which {_MATCHER} does not support"
    if kind == "invalid repetition size":
        return f"repeats something more than 1000 times ({where}), which {_MATCHER} does not support"
    if kind.startswith("pattern too large"):
        return f"is too large for {_MATCHER} (use fewer or smaller repetitions)"
    return f"is not a valid regular expression: {reason}"


def _regex(value: Any) -> Any:
    if value is None:
        return None
    text = _text(value, "the regular expression")
    try:  # on the engine the rules run it on, so what it cannot take is refused here
        compile_regex(text)
    except ValueError as exc:
        raise ValueError(f"{as_written(text)} {exc}") from None
    return text


def _acct(value: Any) -> str:
    text = _text(value, "the account").strip().removeprefix("@")
    if not _ACCT_RE.fullmatch(text):
        raise ValueError(f"{as_written(value)} is not an account (write alice or alice@mastodon.example)")
    return text


def _clock(value: Any) -> Any:
    if isinstance(value, time):  # TOML local times (digest_at = 09:00:00) arrive parsed
        return value
    match = _CLOCK_RE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{as_written(value)} is not a time of day (write HH:MM, e.g. 09:00)")
    return time(int(match[1]), int(match[2]))


def _weekday(value: Any) -> str:
    day = _text(value, "the day").strip().lower()
    if day in _WEEKDAY_NAMES:
        day = day[:3]
    if day not in WEEKDAYS:
        raise ValueError(f"{as_written(value)} is not a day of the week ({', '.join(WEEKDAYS)})")
    return day


def _source(value: Any) -> str:
    text = _text(value, "the source").strip()
    if text.lower() == "home":
        return "home"
    if text[:5].lower() == "list:" and text[5:].strip():
        return "list:" + text[5:].strip()
    raise ValueError(f'{as_written(value)} is not a source (use "home" or "list:<name>")')


def _site(value: Any) -> str:
    text = _text(value, "the site")
    host = site_host(text)
    if host is None or "." not in host:
        raise ValueError(
            f'{as_written(value)} is not a site (write its host name, e.g. "riverside-books.example")'
        )
    return host


def _hashtag(value: Any) -> str:
    tag = _text(value, "the hashtag").strip().removeprefix("#")
    if not tag or not all(c.isalnum() or c == "_" for c in tag):
        raise ValueError(f'{as_written(value)} is not a hashtag (write it without spaces, e.g. "bookstodon")')
    return tag


def _zone(name: str) -> tzinfo:
    # UTC needs no time zone database (slim containers may lack one).
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
OptionalDuration = Annotated[timedelta | None, BeforeValidator(_optional(_duration))]
Count = Annotated[int, BeforeValidator(_count)]
OptionalCount = Annotated[int | None, BeforeValidator(_optional(_count))]
Flag = Annotated[bool, BeforeValidator(_flag)]
OptionalFlag = Annotated[bool | None, BeforeValidator(_optional(_flag))]
Clock = Annotated[time, BeforeValidator(_clock)]
Acct = Annotated[str, BeforeValidator(_acct)]
VisibilityName = Annotated[Visibility, BeforeValidator(_visibility)]
Template = Annotated[str, BeforeValidator(_template)]
Phrase = Annotated[str, BeforeValidator(_phrase)]
ConsentTag = Annotated[str, BeforeValidator(_consent_tag)]
Language = Annotated[str, BeforeValidator(_language)]


# --- models ------------------------------------------------------------------------------------


class _Frozen(BaseModel):
    # extra="forbid": a typo must not silently disable a setting (SPEC).
    model_config = ConfigDict(frozen=True, extra="forbid")


class MastodonSettings(_Frozen):
    base_url: str
    # May be empty in the file (check-config is offline; the env may supply it); kept out of repr and logs.
    access_token: str = Field(default="", repr=False)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            # The value is not repeated: a token pasted into the wrong key must not reach a log or a DM.
            raise ValueError("is not an http(s) URL (e.g. https://mastodon.example)")
        return url

    @field_validator("access_token")
    @classmethod
    def _strip_token(cls, value: str) -> str:
        return value.strip()

    @property
    def token_missing(self) -> bool:
        return not self.access_token


class StoreSettings(_Frozen):
    url: str = "sqlite:///frontrow.db"

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url  # only needed here; keeps `import bot.config` light
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value.strip())
        except (ArgumentError, ValueError):
            raise ValueError(  # not repeated: a database URL may carry a password
                "is not a database URL (e.g. sqlite:///frontrow.db or postgresql+psycopg://user@host/frontrow)"
            ) from None
        return value.strip()


class Approver(_Frozen):
    acct: Acct  # "alice" (local to the bot's instance) or "alice@mastodon.example"; no leading @
    sign: str = ""  # appended to what this approver approves, e.g. "^Alice"

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"acct": data}
        if not isinstance(data, Mapping | Approver):
            raise ValueError(
                f'{as_written(data)} is not an approver (write "alice" or {{acct = "alice", sign = "^A"}})'
            )
        return data

    @field_validator("sign")
    @classmethod
    def _strip_sign(cls, value: str) -> str:
        return value.strip()


class ApprovalSettings(_Frozen):
    approvers: tuple[Approver, ...]
    expire_after: Duration = timedelta(days=3)
    batch_window: Duration = timedelta(minutes=2)
    max_dms_per_hour: Count = 12

    @field_validator("approvers")
    @classmethod
    def _some_distinct(cls, value: tuple[Approver, ...]) -> tuple[Approver, ...]:
        if not value:
            raise ValueError("at least one approver is needed")
        accts = [approver.acct.lower() for approver in value]
        for index, acct in enumerate(accts):
            if acct in accts[:index]:
                raise ValueError(f'"{value[index].acct}" is listed twice')
        return value

    @field_validator("expire_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s (drafts would expire before anyone sees them)")
        return value


class ListenerSettings(_Frozen):
    streaming: Flag = True
    poll_interval: Duration = timedelta(seconds=60)
    max_event_age: Duration = timedelta(days=2)

    @field_validator("poll_interval")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s (it would poll without pause)")
        return value


class QuietHours(_Frozen):
    """A daily window in local time; `end` before `start` means it spans midnight."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        moment = moment.replace(tzinfo=None)
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _quiet_hours(value: Any) -> Any:
    if value is None or isinstance(value, QuietHours):
        return value
    text = _text(value, "the quiet hours")
    if not text.strip():
        return None
    start, sep, end = text.partition("-")
    start_match, end_match = _CLOCK_RE.fullmatch(start.strip()), _CLOCK_RE.fullmatch(end.strip())
    if not sep or start_match is None or end_match is None:
        raise ValueError(
            f'{as_written(value)} is not quiet hours (write HH:MM-HH:MM, e.g. "22:00-07:00", or "")'
        )
    hours = QuietHours(
        start=time(int(start_match[1]), int(start_match[2])),
        end=time(int(end_match[1]), int(end_match[2])),
    )
    if hours.start == hours.end:
        raise ValueError(f'{as_written(value)} starts and ends at the same time (use "" for no quiet hours)')
    return hours


class LimitSettings(_Frozen):
    max_posts_per_hour: Count = 20
    quiet_hours: Annotated[QuietHours | None, BeforeValidator(_quiet_hours)] = None  # "" in the file
    timezone: str = "UTC"  # IANA name; `tz` gives the tzinfo
    max_drafts_per_day: Count = 200
    max_posts_per_day: Count = 0  # 0: off; for instances that cap automated posts per day
    spike_threshold: Count = 50
    spike_window: Duration = timedelta(hours=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            _zone(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(
                f"{as_written(value)} is not a time zone (use a name like UTC or Europe/Berlin)"
            ) from None
        return value

    @property
    def tz(self) -> tzinfo:
        return _zone(self.timezone)


class EtiquetteSettings(_Frozen):
    skip_bots: Flag = True
    respect_nobot: Flag = True  # never draft for accounts whose bio or fields carry a consent tag
    consent_tags: tuple[ConsentTag, ...] = ("#nobot", "#nobots")
    stop_words: tuple[Phrase, ...] = ("stop", "unsubscribe")  # the whole of a reply to one of our posts
    max_replies_per_thread: Count = 3


class ListenSettings(_Frozen):
    digest_at: Clock = time(9, 0)  # local time, in limits.timezone
    max_items: Count = 10
    sources: tuple[Annotated[str, BeforeValidator(_source)], ...] = ("home",)
    watch: tuple[Acct, ...] = ()
    weekly_on: Annotated[str, BeforeValidator(_weekday)] = "mon"  # always normalised to mon..sun
    followers_every: Duration = timedelta(hours=6)  # a snapshot of our followers, to tell who left
    trusted: tuple[Acct, ...] = ()  # besides our connectors: whose boosts and replies recommend people
    max_recommendations: Count = 3
    our_sites: tuple[Annotated[str, BeforeValidator(_site)], ...] = ()  # links to these are shares
    our_names: tuple[Phrase, ...] = ()  # naming these (whole words) is a share
    hashtags: tuple[Annotated[str, BeforeValidator(_hashtag)], ...] = ()  # read for shares, like home

    @field_validator("followers_every")
    @classmethod
    def _often_enough(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return value

    @property
    def weekly_weekday(self) -> int:
        """`weekly_on` as `datetime.weekday()` numbers it (Monday is 0)."""
        return WEEKDAYS.index(self.weekly_on)


class Rule(_Frozen):
    name: str
    on: Annotated[EventName, BeforeValidator(_event)]
    templates: tuple[Template, ...]
    visibility: VisibilityName = "unlisted"
    cooldown: OptionalDuration = None  # per person, per rule; None: no cooldown
    contains_any: tuple[Phrase, ...] = ()
    contains_none: tuple[Phrase, ...] = ()
    regex: Annotated[str | None, BeforeValidator(_regex)] = None  # checked on RE2; stored as written
    languages: tuple[Language, ...] = ()
    min_followers: OptionalCount = None
    max_followers: OptionalCount = None
    first_contact: OptionalFlag = None
    visibility_in: tuple[VisibilityName, ...] = ()
    priority: OptionalCount = None
    answer_from: Literal["knowledge"] | None = None  # the draft is the best answer found, above min_score

    @field_validator("answer_from", mode="before")
    @classmethod
    def _answer_source(cls, value: Any) -> Any:
        if value is not None and value != "knowledge":
            raise ValueError(f'{as_written(value)} is not an answer source (use "knowledge")')
        return value

    @model_validator(mode="after")
    def _answers_need_a_post(self) -> "Rule":
        if self.answer_from is not None and self.on not in ("mention", "reply"):
            raise ValueError(f"answer_from needs a question: use a mention or reply rule, not {self.on}")
        return self

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        name = value.strip()
        if not name:
            raise ValueError("is empty (every rule needs a name; it is shown in drafts and stats)")
        if "\n" in name:
            raise ValueError("must be one line")
        return name

    @field_validator("templates")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one template is needed")
        return value

    @field_validator("max_followers")
    @classmethod
    def _not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_followers")
        if value is not None and low is not None and value < low:
            raise ValueError(f"{value} is below min_followers ({low}); the rule could never match")
        return value


def _score(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{as_written(value)} is not a number (write e.g. 0.5, without quotes)")
    if not 0 < value <= 10:
        raise ValueError(f"{value} is out of range (use a number above 0, e.g. 0.5; 1 is every word)")
    return float(value)


class AnswerEntry(_Frozen):
    """One `[[answers]]` entry: the ways people ask it and the answer, templated like rules."""

    name: str
    questions: tuple[Phrase, ...]
    text: Template
    language: Language = "en"  # the language the questions and the answer are written in

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        name = value.strip()
        if not name or "\n" in name:
            raise ValueError("must be one line of text (it is shown in draft DMs)")
        return name

    @field_validator("questions")
    @classmethod
    def _some(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('at least one question is needed (e.g. questions = ["open on sundays?"])')
        return value


class AnswerSettings(_Frozen):
    """The knowledge base: `[[answers]]` entries, or `[answers]` (`min_score`) and `[[answers.entries]]`."""

    min_score: Annotated[float, BeforeValidator(_score)] = 0.45
    entries: tuple[AnswerEntry, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _entries_alone(cls, data: Any) -> Any:
        # TOML cannot have both [answers] and [[answers]]: a list is the entries, with the default threshold.
        return {"entries": data} if isinstance(data, list | tuple) else data

    @field_validator("entries")
    @classmethod
    def _distinct(cls, value: tuple[AnswerEntry, ...]) -> tuple[AnswerEntry, ...]:
        names = [entry.name for entry in value]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f'"{name}" is the name of two entries (each needs its own)')
        return value


class Settings(_Frozen):
    mastodon: MastodonSettings
    store: StoreSettings = Field(default_factory=StoreSettings)
    approval: ApprovalSettings
    listener: ListenerSettings = Field(default_factory=ListenerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    etiquette: EtiquetteSettings = Field(default_factory=EtiquetteSettings)
    listen: ListenSettings = Field(default_factory=ListenSettings)
    rules: tuple[Rule, ...] = ()  # file order; `priority` is left to the rules engine
    answers: AnswerSettings = Field(default_factory=AnswerSettings)

    @model_validator(mode="before")
    @classmethod
    def _required_sections(cls, data: Any) -> Any:
        # A missing [mastodon] or [approval] then reports the keys it lacks (base_url, approvers).
        if isinstance(data, Mapping):
            data = {"mastodon": {}, "approval": {}, **data}
        return data

    @property
    def token_missing(self) -> bool:
        return self.mastodon.token_missing


# --- errors ------------------------------------------------------------------------------------

# Keyed by the location without indices (rules[2].on -> "rules.on").
_MISSING_HINTS = {
    "mastodon": "missing section [mastodon]",
    "approval": "missing section [approval]",
    "mastodon.base_url": "missing (the bot account's home instance, e.g. https://mastodon.example)",
    "approval.approvers": 'missing (who may approve drafts, e.g. approvers = ["alice"])',
    "approval.approvers.acct": 'missing (the approver\'s account, e.g. acct = "alice")',
    "rules.name": "missing (every rule needs a name; it is shown in drafts and stats)",
    "rules.on": f"missing (the event it answers: {EVENT_CHOICES})",
    "rules.templates": 'missing (e.g. templates = ["Thanks for the follow, {name}!"])',
    "answers.entries.name": "missing (every entry needs a name; it is shown in draft DMs)",
    "answers.entries.questions": 'missing (the ways people ask it, e.g. questions = ["do you ship abroad?"])',
    "answers.entries.text": 'missing (the answer, e.g. text = "We ship worldwide, {name}.")',
}
_KEYS_AT: dict[str, type[BaseModel]] = {
    "": Settings,
    "mastodon": MastodonSettings,
    "store": StoreSettings,
    "approval": ApprovalSettings,
    "approval.approvers": Approver,
    "listener": ListenerSettings,
    "limits": LimitSettings,
    "etiquette": EtiquetteSettings,
    "listen": ListenSettings,
    "rules": Rule,
    "answers": AnswerSettings,
    "answers.entries": AnswerEntry,
}
# Values under [mastodon], and under any key named like a secret, are never repeated in a message.
_SECRET_WORDS = ("token", "secret", "password", "passwd", "key", "credential")


def _secret(loc: tuple[int | str, ...]) -> bool:
    names = [part.lower() for part in loc if isinstance(part, str)]
    return bool(names) and (names[0] == "mastodon" or any(w in n for n in names for w in _SECRET_WORDS))


def _kind(value: Any) -> str:
    """What a value is, without what it says (for secrets)."""
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list of tables" if value and all(isinstance(v, Mapping) for v in value) else "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return type(value).__name__


def _where(loc: tuple[int | str, ...], data: Any = None) -> str:
    """("rules", 1, "cooldown") -> 'rules[2].cooldown ("answer-questions")'; the empty location is the file.

    Lists count from 1, as `check-config`'s table numbers the rules, and an item of `data` (the raw
    config) that has a name (a rule, an answer entry) is named too, so the user finds it by either."""
    where, name, node = "", None, data
    for part in loc:
        if isinstance(part, int):
            where += f"[{part + 1}]"
            node = node[part] if isinstance(node, list | tuple) and 0 <= part < len(node) else None
            named = node.get("name") if isinstance(node, Mapping) else None
            if isinstance(named, str) and named.strip():
                name = named.strip()
        else:
            where += f".{part}" if where else part
            if isinstance(node, Mapping):
                node = node.get(part)
            elif not (isinstance(node, list) and part == "entries"):  # [[answers]] is the entries
                node = None
    if name is not None and loc[-1] != "name":
        where += f" ({as_written(name)})"
    return where or "config"


def _pattern(loc: tuple[int | str, ...]) -> str:
    return ".".join(part for part in loc if isinstance(part, str))


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    model = _KEYS_AT.get(_pattern(loc[:-1]))
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields) if model else [], n=1)
    hint = f', did you mean "{close[0]}"?' if close else ""
    what = "unknown section" if len(loc) == 1 else "unknown key"
    return f"{what}{hint} (a typo must not silently disable a setting)"


def _message(error: ErrorDetails) -> str:
    loc, kind, value = error["loc"], error["type"], error.get("input")
    key = str(next((part for part in reversed(loc) if isinstance(part, str)), "value"))
    show = _kind if _secret(loc) else as_written
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if kind == "missing":
        return _MISSING_HINTS.get(_pattern(loc), "missing")
    if kind in ("list_type", "tuple_type"):
        if _pattern(loc) == "rules":
            return f"must be a list of [[rules]] tables, not {show(value)}"
        return f'must be a list (e.g. {key} = ["..."]), not {show(value)}'
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if len(loc) == 1 and isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            return f"must be one table: write [{key}], not [[{key}]]"
        return f"must be a table, not {show(value)}"
    if kind == "string_type":
        return f"must be text in quotes, not {show(value)}"
    return error["msg"]


def _error_lines(exc: ValidationError, data: Mapping[str, Any]) -> list[str]:
    """A pydantic ValidationError as `section.key: message` lines, in pydantic's order."""
    return [f"{_where(error['loc'], data)}: {_message(error)}" for error in exc.errors(include_url=False)]


def _duplicate_rule_names(rules: Any) -> list[str]:
    # Checked on the raw data so it is reported even when other rule keys are broken.
    if not isinstance(rules, list | tuple):
        return []
    first_use: dict[str, int] = {}
    errors = []
    for index, rule in enumerate(rules):
        name = rule.get("name") if isinstance(rule, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            continue  # a missing or empty name is reported by the Rule model
        name = name.strip()
        if name in first_use:
            first = first_use[name] + 1  # counted from 1, as every rule error is
            errors.append(f'rules[{index + 1}].name: "{name}" is already used by rules[{first}]')
        else:
            first_use[name] = index
    return errors


# --- entry points ------------------------------------------------------------------------------


def settings_from_dict(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Validate already-parsed config data (same checks as `load_settings`).

    `env` may hold FRONTROW_ACCESS_TOKEN; unlike `load_settings` it defaults to no environment,
    so tests and the demo never pick up a real token by accident.
    """
    if not isinstance(data, Mapping):
        raise ConfigError([f"config: must be a table of sections, not {as_written(data)}"])
    # An empty FRONTROW_ACCESS_TOKEN (e.g. a blank compose variable) does not wipe the file's token.
    token = (env or {}).get(ENV_TOKEN, "").strip()
    if token and isinstance(data.get("mastodon", {}), Mapping):
        data = {**data, "mastodon": {**data.get("mastodon", {}), "access_token": token}}

    settings: Settings | None = None
    errors: list[str] = []
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        errors = _error_lines(exc, data)
        if isinstance(data.get("answers"), list):  # written as [[answers]]: say it as the user wrote it
            errors = [re.sub(r"^answers\.entries(?=[\[:])", "answers", e) for e in errors]
    errors += _duplicate_rule_names(data.get("rules"))
    if errors or settings is None:
        raise ConfigError(errors)
    return settings


def _syntax_error(exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        return f"config: TOML syntax error at line {match[1]}, column {match[2]}: {message[: match.start()]}"
    match = re.search(r"\s*\(at end of document\)$", message)
    if match:
        return f"config: TOML syntax error at the end of the file: {message[: match.start()]}"
    return f"config: TOML syntax error: {message}"


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file; `env` defaults to the process environment."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError([f"config: file not found: {path} (`frontrow init` writes one)"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_error(exc)]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"config: {path} is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"config: cannot read {path}: {exc.strerror or exc}"]) from None
    settings = settings_from_dict(data, os.environ if env is None else env)
    url = sqlite_beside(settings.store.url, Path(os.path.abspath(path)).parent)
    if url == settings.store.url:
        return settings
    return settings.model_copy(update={"store": StoreSettings(url=url)})


def sqlite_beside(url: str, folder: Path) -> str:
    """A relative SQLite path read against `folder` (the config's), not the current directory.

    `sqlite:///frontrow.db` next to /srv/frontrow/config.toml is /srv/frontrow/frontrow.db wherever
    the command runs; absolute paths, `~`, in-memory and `file:` URI databases are left as written.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or "uri" in parsed.query:
        return url
    if database.startswith(("file:", "~")) or Path(database).is_absolute():
        return url
    return parsed.set(database=str(folder / database)).render_as_string(hide_password=False)
