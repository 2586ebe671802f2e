"""Core (answers): a question ranked against the knowledge base and our past replies. Pure, no I/O.

BM25 over stemmed words with each language's common words dropped. An entry is one document (the
ways people ask it, and its answer at a lower weight); its score is divided by what a question whose
every word matched would score, so 1.0 means "every word of the question is in the entry" and the
threshold (`answers.min_score`) reads the same however large the knowledge base grows. A question
in one language is never answered from an entry in another, and a question made only of common
words has nothing to match on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import string
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import snowballstemmer  # Snowball stemmers for 30-odd languages, pure Python, no data to download

from bot.config import AnswerEntry
from bot.core.stopwords import SNOWBALL, STOPWORDS
from bot.model import Account, NewDraft, Offer, StatusEvent
from bot.text import clean_name, safe_text, status_length, truncate_to

K1 = 1.2  # BM25 term-frequency saturation
B = 0.75  # BM25 length normalisation
TEXT_WEIGHT = 0.6  # the answer's own words count, less than the ways people ask it
FUZZY_WEIGHT = 0.8  # a word one typo away from a known one counts, a little less
FUZZY_MIN_LENGTH = 5  # shorter words have too many neighbours one letter away ("shop", "ship")
FUZZY_MAX_LENGTH = 30  # longer "words" are no typos, and their deletions would cost length² memory
MAX_OFFERS = 3  # the best answer and two runners-up
DEFAULT_LANGUAGE = "en"

_NOISE = re.compile(r"https?://\S+|(?<!\w)@[\w.@-]+", re.IGNORECASE)  # links and @mentions say nothing
_WORD = re.compile(r"[^\W_]+")
_JOINED = re.compile(r"(?<=[^\W\d_])-(?=[^\W\d_])")
_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Entry:
    """One thing we know how to answer: from the config, learned by an approver, or a past reply."""

    key: str  # "knowledge:<name>", "learned:<id>", "reply:<id>": unique
    source: str  # knowledge | learned | reply
    label: str  # what the approver reads: the entry's name, or "as you answered Rita on 3 May"
    questions: tuple[str, ...]
    text: str  # a template: {name}, {username}, {acct}
    language: str = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Scored:
    entry: Entry
    score: float


def language_code(code: str | None) -> str | None:
    """`en-GB`, `EN`, `en_US` → `en`; None or empty → None."""
    if not code:
        return None
    base = re.split(r"[-_]", code.strip().lower(), maxsplit=1)[0]
    return base or None


@functools.lru_cache(maxsize=64)
def _stemmer(language: str) -> snowballstemmer.Stemmer | None:
    algorithm = SNOWBALL.get(language)
    return snowballstemmer.stemmer(algorithm) if algorithm else None


@functools.lru_cache(maxsize=65536)  # the same few thousand words come back again and again
def _stem(language: str, word: str) -> str:
    stemmer = _stemmer(language)
    return stemmer.stemWord(word) if stemmer is not None else word


def words(text: str) -> list[str]:
    """The words of a post, lower-cased, without links and @mentions."""
    folded = unicodedata.normalize("NFKC", _NOISE.sub(" ", text)).casefold()
    folded = _JOINED.sub("", folded)  # "wi-fi" is "wifi", "e-mail" is "email"
    return [w for w in _WORD.findall(folded.replace("’", "'")) if len(w) > 1 or w.isdigit()]


def terms(text: str, language: str) -> list[str]:
    """The stems that carry the topic: words less the language's common ones, stemmed."""
    stop = STOPWORDS.get(language, frozenset())
    return [_stem(language, w) for w in words(text) if w not in stop]


def guess_language(text: str, among: Iterable[str]) -> str | None:
    """The language whose common words the text uses most (at least two), or None when unclear."""
    found = words(text)
    counts = sorted(
        ((sum(w in STOPWORDS[lang] for w in found), lang) for lang in set(among) if lang in STOPWORDS),
        reverse=True,
    )
    if not counts or counts[0][0] < 2 or (len(counts) > 1 and counts[1][0] == counts[0][0]):
        return None
    return counts[0][1]


def _within_one_edit(a: str, b: str) -> bool:
    """True when one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i, j = diff[0], diff[-1]
        return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _deletions(term: str) -> set[str]:
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


@dataclass
class _Group:
    """The entries of one language: an inverted index of BM25 weights per document."""

    language: str
    entries: list[Entry] = field(default_factory=list)
    postings: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)  # term → (entry, doc, w)
    idf: dict[str, float] = field(default_factory=dict)
    rare_idf: float = 0.0  # a word no entry has counts as much as the rarest one we know
    near: dict[str, set[str]] = field(default_factory=dict)  # a term or a deletion of it → known terms

    def build(self) -> None:
        # One document per entry: the ways people ask it, and its answer's words at a lower weight, so
        # a word in several of its questions (the entry's topic) counts more than one said in passing.
        docs: list[tuple[int, dict[str, float]]] = []
        for e, entry in enumerate(self.entries):
            weights: dict[str, float] = defaultdict(float)
            for question in entry.questions:
                for term in terms(question, self.language):
                    weights[term] += 1.0
            for term in terms(_plain(entry.text), self.language):
                weights[term] += TEXT_WEIGHT
            if weights:
                docs.append((e, dict(weights)))
        lengths = [sum(weights.values()) for _, weights in docs]
        average = sum(lengths) / len(lengths) if lengths else 1.0
        holders: dict[str, set[int]] = defaultdict(set)
        postings: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
        for (e, weights), length in zip(docs, lengths, strict=True):
            norm = K1 * (1 - B + B * length / average)
            for term, tf in weights.items():
                postings[term].append((e, 0, tf * (K1 + 1) / (tf + norm)))
                holders[term].add(e)
        count = len(self.entries)
        self.postings = dict(postings)
        self.idf = {t: math.log(1 + (count - len(h) + 0.5) / (len(h) + 0.5)) for t, h in holders.items()}
        self.rare_idf = math.log(1 + (count - 0.5) / 1.5) if count else 0.0
        near: dict[str, set[str]] = defaultdict(set)
        for term in self.idf:
            if FUZZY_MIN_LENGTH - 1 <= len(term) <= FUZZY_MAX_LENGTH:
                for key in (term, *_deletions(term)):
                    near[key].add(term)
        self.near = dict(near)

    def closest(self, term: str) -> str | None:
        """A known term one typo away from `term` (the most telling of them), or None."""
        if not FUZZY_MIN_LENGTH - 1 <= len(term) <= FUZZY_MAX_LENGTH + 1:
            return None
        found = set().union(*(self.near.get(key, ()) for key in (term, *_deletions(term))))
        close = [t for t in found if max(len(t), len(term)) >= FUZZY_MIN_LENGTH and _within_one_edit(t, term)]
        return max(close, key=lambda t: (self.idf[t], t)) if close else None

    def rank(self, question: str) -> list[Scored]:
        asked = list(dict.fromkeys(terms(question, self.language)))
        if not asked or not self.entries:
            return []
        totals: dict[tuple[int, int], float] = defaultdict(float)
        best_possible = 0.0
        for term in asked:
            weight = 1.0
            if term not in self.idf:
                near = self.closest(term)
                if near is None:
                    best_possible += self.rare_idf
                    continue
                term, weight = near, FUZZY_WEIGHT
            idf = self.idf[term]
            best_possible += idf
            for e, d, w in self.postings[term]:
                totals[(e, d)] += weight * idf * w
        best: dict[int, float] = {}
        for (e, _), total in totals.items():
            best[e] = max(best.get(e, 0.0), total)
        if best_possible <= 0:
            return []
        return [Scored(self.entries[e], round(total / best_possible, 3)) for e, total in best.items()]


class Index:
    """The knowledge base and past replies, indexed per language; build once, rank many questions.

    Past replies are indexed apart from the knowledge base: a word is rare or common within each, so
    a few remembered replies about shipping do not make "ship" a common word of the knowledge base.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        groups: dict[tuple[str, bool], _Group] = {}
        self.entries: tuple[Entry, ...] = tuple(entries)
        for entry in self.entries:
            language = language_code(entry.language) or DEFAULT_LANGUAGE
            key = (language, entry.source == "reply")
            groups.setdefault(key, _Group(language)).entries.append(entry)
        for group in groups.values():
            group.build()
        self.groups = {key[0]: group for key, group in groups.items() if not key[1]}  # the knowledge's
        self._by_language: dict[str, list[_Group]] = defaultdict(list)
        for (language, _), group in groups.items():
            self._by_language[language].append(group)

    def rank(self, question: str, language: str | None = None) -> list[Scored]:
        """Every entry that shares a word with the question, best first (ties: config, learned, newest).

        `language` is the post's, when known; otherwise it is guessed from the common words, and when
        that is unclear every language's entries are tried with the question read in that language.
        """
        known = self._by_language
        code = language_code(language) or guess_language(question, [*known, *STOPWORDS])
        groups = known.get(code, []) if code else [g for same in known.values() for g in same]
        scored = [s for group in groups for s in group.rank(question)]
        order = {"knowledge": 0, "learned": 1, "reply": 2}
        return sorted(scored, key=lambda s: (-s.score, order.get(s.entry.source, 3), s.entry.key))

    def offers(
        self, question: str, language: str | None, min_score: float, account: Account, room: int
    ) -> list[Offer]:
        """The answers worth offering, best first, at most MAX_OFFERS, none below `min_score`.

        Two entries that would give the same text are offered once (the better one).
        """
        found: list[Offer] = []
        seen: set[str] = set()
        for scored in self.rank(question, language):
            if scored.score < min_score or len(found) == MAX_OFFERS:
                break
            text = fill(scored.entry.text, account, room)
            if not text or text in seen:
                continue
            seen.add(text)
            entry = scored.entry
            found.append(Offer(len(found) + 1, entry.source, entry.label, scored.score, text, entry.key))
        return found


def _plain(template: str) -> str:
    """A template's literal text (fields left out), for indexing."""
    try:
        return " ".join(literal for literal, _, _, _ in _FORMATTER.parse(template))
    except ValueError:  # a stray brace in a remembered reply: index it as it is
        return template


def fill(template: str, account: Account, room: int | None = None) -> str:
    """A template filled for the person answered, cleaned as rules' drafts are, within `room`."""
    name = clean_name(account.display_name, account.username)
    fields = {"name": name, "username": safe_text(account.username), "acct": safe_text(account.acct)}
    try:
        text = safe_text(_FORMATTER.vformat(template, (), fields)).strip()
    except (ValueError, KeyError, IndexError, AttributeError):
        text = safe_text(template).strip()
    if room is None:
        room = 500 - status_length(f"@{account.acct} ")
    return truncate_to(text, room)


def as_template(text: str, name: str) -> str:
    """An answer we posted, made a template again: braces doubled, the person's name as {name}."""
    escaped = text.replace("{", "{{").replace("}", "}}")
    if len(name) >= 2:
        escaped = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "{name}", escaped)
    return escaped


def reply_label(name: str, when: datetime, now: datetime) -> str:
    """`as you answered Rita on 3 May` (with the year when it is not this year's)."""
    day = f"{when.day} {when:%B}" + ("" if when.year == now.year else f" {when.year}")
    return f"as you answered {name or 'someone'} on {day}"


def offers_line(draft_id: int, offers: Sequence[Offer]) -> str:
    """The line of a draft DM that says where the text came from, and what else may replace it."""
    chosen = next((o for o in offers if o.chosen), None)
    answers = [o for o in offers if o.rank > 0]
    if chosen is None or chosen.rank == 0:
        if not answers:
            return "answer: none from knowledge (the rule's own text)"
        head = "answer: the rule's own text"
    else:
        head = f"answer: {_source(chosen)}"
    others = [o for o in answers if not o.chosen]
    if not others:
        return head
    first = others[0]
    return f'{head} · or {first.rank}: {_source(first)}, send "use {draft_id} {first.rank}"'


def _source(offer: Offer) -> str:
    if offer.source == "reply":
        return f"{safe_text(offer.label)} ({offer.score:.2f})"
    what = "knowledge" if offer.source == "knowledge" else "learned"
    return f"{what} {safe_text(offer.label)} ({offer.score:.2f})"


def answer(draft: NewDraft, event: StatusEvent, index: Index, min_score: float, char_limit: int) -> NewDraft:
    """The rule's draft with the best answer found as its text (the rule's own text when none is good enough).

    Every offer travels with the draft: rank 0 is the rule's own text, 1… the answers, best first.
    """
    room = char_limit - status_length(f"@{event.account.acct} ")
    found = index.offers(event.status.text, event.status.language, min_score, event.account, room)
    if found:
        found[0] = dataclasses.replace(found[0], chosen=True)
    own = Offer(0, "template", draft.rule, 0.0, draft.text, chosen=not found)
    return dataclasses.replace(draft, text=found[0].text if found else draft.text, offers=(own, *found))


def silent_questions(entries: Sequence[AnswerEntry]) -> list[str]:
    """A warning for each configured question made only of common words: it can never match."""
    return [
        f'answers "{entry.name}": the question "{question}" is only common words; it can never match'
        for entry in entries
        for question in entry.questions
        if not terms(question, language_code(entry.language) or DEFAULT_LANGUAGE)
    ]
