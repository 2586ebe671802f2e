"""Rules-engine throughput: `bot.core.rules.match` on synthetic Follow and Mention events, events per second.

Pure: no server, no store. Two rule sets: the packaged example config (compiled with
`bot.config.load_settings` + `bot.core.rules.compile_rules`), and 50 rules (49 mention rules with
`contains_any` words that rarely match, plus one catch-all at the end). Each figure is the median of
several timed rounds over the same events.

    python bench/rules.py [--events 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import importlib.resources
import random
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, table, verdict

from bot.config import Rule as RuleConfig
from bot.config import load_settings
from bot.core.rules import Context, Rule, compile_rules, match
from bot.model import Account, Event, Follow, Mention, Status, StatusEvent

TARGET_EVENTS_PER_SECOND = 20_000
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WORDS = (
    *("book", "shelf", "reading", "library", "author", "poem", "novel", "chapter", "story", "page"),
    *("ink", "paper", "cover", "spine", "shop", "till", "window", "display", "event", "signing"),
    *("launch", "club", "meeting", "tea", "coffee", "cake", "rain", "sunday", "monday", "evening"),
    *("order", "stock", "delivery", "parcel", "gift", "card", "voucher", "price", "discount", "sale"),
)
QUESTIONS = ("do you have it in stock?", "are you open on Sunday?", "can I order online?")


def example_rules() -> tuple[Rule, ...]:
    """The rules of the packaged example config, loaded and validated the way the product does it."""
    example = importlib.resources.files("bot") / "config.example.toml"
    with importlib.resources.as_file(example) as path:
        settings = load_settings(Path(path), env={})
    return compile_rules(settings.rules)


def fifty_rules(rng: random.Random) -> tuple[Rule, ...]:
    """49 mention rules on words the synthetic posts never use, then one catch-all mention rule."""
    configured = [
        RuleConfig.model_validate(
            {
                "name": f"topic-{i:02d}",
                "on": "mention",
                "contains_any": [
                    f"{rng.choice(WORDS)}{i}x",
                    f"{rng.choice(WORDS)} {rng.choice(WORDS)}{i}",
                    f"zz{i}",
                    f"topic {i}",
                ],
                "templates": [f"Thanks for asking about topic {i}, {{name}}!"],
            }
        )
        for i in range(49)
    ]
    configured.append(
        RuleConfig.model_validate(
            {"name": "catch-all", "on": "mention", "templates": ["Thanks for the mention, {name}!"]}
        )
    )
    return compile_rules(configured)


def synthetic_events(count: int, rng: random.Random) -> list[Event]:
    """Half follows, half mentions (a third of the mentions ask a question), from many accounts."""
    events: list[Event] = []
    for i in range(count):
        account = Account(
            id=str(100_000 + i % 5000),
            acct=f"reader{i % 5000}" if i % 3 else f"reader{i % 5000}@elsewhere.example",
            username=f"reader{i % 5000}",
            display_name=f"Reader {i % 5000} :blobcat:" if i % 7 == 0 else f"Reader {i % 5000}",
            note="Reading, writing, walking. " + " ".join(rng.choices(WORDS, k=12)),
            fields=("Website: https://example.org/~reader", "Pronouns: they/them"),
            followers_count=rng.randint(0, 5000),
        )
        created = NOW - timedelta(minutes=rng.randint(0, 600))
        if i % 2 == 0:
            events.append(Follow(id=str(i), created_at=created, account=account))
            continue
        words = " ".join(rng.choices(WORDS, k=rng.randint(8, 30)))
        text = f"@bot {words} {QUESTIONS[i % 3]}" if i % 3 == 0 else f"@bot {words}."
        status = Status(id=f"s{i}", text=text, visibility="public", language="en", mentions=("bot",))
        events.append(Mention(id=str(i), created_at=created, account=account, status=status))
    return events


QUESTION = re.compile(r"\?")


def floor_decide(events: Sequence[Event]) -> int:
    """The floor: the least work that decides the example config's two rules (kind, then a "?" search)."""
    hits = 0
    for event in events:
        if event.kind == "follow" or (isinstance(event, StatusEvent) and QUESTION.search(event.status.text)):
            hits += 1
    return hits


def throughput(
    rules: Sequence[Rule], events: Sequence[Event], ctx: Context, rounds: int
) -> tuple[float, float, int]:
    """Median events per second of `match` and of the floor, over `rounds` alternating passes each,
    and how many events got a draft."""
    drafted = sum(match(rules, event, ctx) is not None for event in events)  # warm-up pass
    rates, floor_rates = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for event in events:
            match(rules, event, ctx)
        rates.append(len(events) / (time.perf_counter() - started))
        started = time.perf_counter()
        floor_decide(events)
        floor_rates.append(len(events) / (time.perf_counter() - started))
    return median(rates), median(floor_rates), drafted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=20_000, help="synthetic events per pass (default 20000)"
    )
    parser.add_argument("--rounds", type=int, default=7, help="timed passes; the median counts (default 7)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    events = synthetic_events(args.events, rng)
    ctx = Context(now=NOW, self_id="1")
    rows = []
    results = {}
    for label, rules in (("example config", example_rules()), ("50 rules", fifty_rules(rng))):
        rate, floor_rate, drafted = throughput(rules, events, ctx, args.rounds)
        results[label] = rate
        target = f">= {TARGET_EVENTS_PER_SECOND:,}" if label == "example config" else ""
        ok = verdict(rate >= TARGET_EVENTS_PER_SECOND) if label == "example config" else ""
        rows.append(
            [
                f"{label} ({len(rules)} rules)",
                f"{rate:,.0f}",
                f"{floor_rate:,.0f}",
                f"{floor_rate / rate:,.0f}x",
                f"{drafted / len(events):.0%}",
                target,
                ok,
            ]
        )
    print(
        table(
            f"Rules engine: {args.events:,} synthetic events (half follows, half mentions), "
            f"median of {args.rounds} passes",
            ["rule set", "events/s", "floor events/s", "cost vs floor", "drafted", "target", "verdict"],
            rows,
        )
    )
    print("\nfloor: per event only the kind check and one '?' search (what the example's rules decide on),")
    print("timed in alternation with match() in the same run, as the machine-speed baseline.")
    print(f"50 rules / example config: {results['50 rules'] / results['example config']:.2f}x the throughput")


if __name__ == "__main__":
    main()
