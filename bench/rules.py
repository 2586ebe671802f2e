"""Rules-engine throughput: `bot.core.rules.match` on synthetic Follow and Mention events, events per second.

Pure: no server, no store. Two rule sets: the packaged example config (compiled with
`bot.config.load_settings` + `bot.core.rules.compile_rules`), and 50 rules (49 mention rules with
`contains_any` words that rarely match, plus one catch-all at the end). Each rule set is timed in
alternating pairs against a floor (the kind check and one "?" search per event), the order flipping
every pair; each timed loop repeats the events until it has run at least `--seconds` (1 s), so the
ratio is not the timer's noise. Prints median and range of the rates and the ratio, the CPU seconds of
each loop and the load average.

    python bench/rules.py [--events 20000] [--pairs 5] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import importlib.resources
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


def timed_loop(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Wall and CPU seconds of `repeats` calls of `work`."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        work()
    return time.perf_counter() - wall, time.process_time() - cpu


def repeats_for(work: Callable[[], object], seconds: float) -> int:
    """How many calls of `work` take at least `seconds` (so no timed loop is shorter than that)."""
    once, _ = timed_loop(work, 1)
    return max(1, math.ceil(seconds / max(once, 1e-9)))


@dataclass
class Measured:
    """Alternating pairs of match() and the floor over the same events: rates (events/s), CPU, ratios."""

    rates: list[float] = field(default_factory=list)
    floor_rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # floor rate / match rate, pair by pair
    cpu: list[float] = field(default_factory=list)  # CPU seconds of match() per loop
    floor_cpu: list[float] = field(default_factory=list)
    cpu_rates: list[float] = field(default_factory=list)  # events per CPU second of match()
    drafted: int = 0


def throughput(
    rules: Sequence[Rule], events: Sequence[Event], ctx: Context, pairs: int, seconds: float
) -> Measured:
    """`pairs` alternating pairs (the order flips every pair) of a match() loop and a floor loop, each
    repeated over the events until it runs at least `seconds`, so the ratio is not timer noise."""

    def decide() -> None:
        for event in events:
            match(rules, event, ctx)

    def floor() -> None:
        floor_decide(events)

    out = Measured(drafted=sum(match(rules, event, ctx) is not None for event in events))  # warm-up
    repeats = {"match": repeats_for(decide, seconds), "floor": repeats_for(floor, seconds)}
    for pair in range(pairs):
        order = ("match", "floor") if pair % 2 == 0 else ("floor", "match")
        got = {}
        for name in order:
            wall, cpu = timed_loop(decide if name == "match" else floor, repeats[name])
            got[name] = (repeats[name] * len(events) / wall, cpu)
        out.rates.append(got["match"][0])
        out.floor_rates.append(got["floor"][0])
        out.cpu.append(got["match"][1])
        out.cpu_rates.append(repeats["match"] * len(events) / max(got["match"][1], 1e-9))
        out.floor_cpu.append(got["floor"][1])
        out.ratios.append(got["floor"][0] / got["match"][0])
    return out


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    return f"{median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=20_000, help="synthetic events per pass (default 20000)"
    )
    parser.add_argument(
        "--pairs", type=int, default=5, help="alternating pairs of match() and the floor (default 5)"
    )
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="the least time of each timed loop (default 1.0)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    events = synthetic_events(args.events, rng)
    ctx = Context(now=NOW, self_id="1")
    rows = []
    results = {}
    loads = [os.getloadavg()[0]]
    for label, rules in (("example config", example_rules()), ("50 rules", fifty_rules(rng))):
        got = throughput(rules, events, ctx, args.pairs, args.seconds)
        loads.append(os.getloadavg()[0])
        rate = median(got.rates)
        results[label] = rate
        target = f">= {TARGET_EVENTS_PER_SECOND:,}" if label == "example config" else ""
        ok = verdict(rate >= TARGET_EVENTS_PER_SECOND) if label == "example config" else ""
        rows.append(
            [
                f"{label} ({len(rules)} rules)",
                spread(got.rates),
                spread(got.cpu_rates),
                spread(got.floor_rates),
                spread(got.ratios, ",.1f") + " x",
                f"{median(got.cpu):.2f} / {median(got.floor_cpu):.2f}",
                f"{got.drafted / len(events):.0%}",
                target,
                ok,
            ]
        )
    print(
        table(
            f"Rules engine: {args.events:,} synthetic events (half follows, half mentions), "
            f"median (range) of {args.pairs} alternating pairs, each loop >= {args.seconds:g} s",
            [
                "rule set",
                "events/s",
                "events/CPU s",
                "floor events/s",
                "cost vs floor",
                "CPU s/loop (match / floor)",
                "drafted",
                "target",
                "verdict",
            ],
            rows,
        )
    )
    print("\nfloor: per event only the kind check and one '?' search (what the example's rules decide on),")
    print("timed in alternation with match() in the same run (the order flips every pair), as the")
    print("machine-speed baseline; a CPU time well under the wall time means the machine was busy")
    print("(then events/CPU s is the steadier figure).")
    print(f"50 rules / example config: {results['50 rules'] / results['example config']:.2f}x the throughput")
    print(f"load average (1 min) during the run: {min(loads):.2f}–{max(loads):.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
