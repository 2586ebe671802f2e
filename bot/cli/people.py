"""CLI (people): the `who`, `note`, `people` and `stats` commands."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from bot.cli.base import cell, cli, day, fail, listing, minute, person_reader, settings, store, table

PERSON_HELP = "name, @name, name@instance, @name@instance or a profile URL"
# The kinds `who` counts, in the ledger's words (a reblog is a boost: bot.model.EVENT_WORDS); SPEC.md
# fixes these keys of its JSON.
WHO_THEIRS = ("follow", "follow_request", "mention", "reply", "boost", "favourite")
WHO_OURS = ("reply", "thanks", "boost", "favourite", "follow")


def web_host() -> str:
    """Our instance's host as its profile URLs show it (may differ from the accounts' domain)."""
    from urllib.parse import urlsplit

    return urlsplit(settings().mastodon.base_url).netloc


@cli.command()
def who(
    acct: Annotated[str, typer.Argument(help=PERSON_HELP, metavar="PERSON")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Everything the store knows of one person."""
    from bot.text import clean_name

    db, host = person_reader()
    person = db.person(acct, host)
    if person is None:
        fail(f"{acct}: nobody of that name in the store", 1)
    counts = db.interaction_counts(person.account_id)
    stopped = db.stopped_at(person.account_id)
    gone = db.departures_of(person.account_id)
    record: dict[str, Any] = {
        "acct": person.acct,
        "display_name": person.display_name,
        "first_seen": person.first_seen.isoformat(),
        "follows_us": person.follows_us_since is not None,
        "follows_us_since": person.follows_us_since.isoformat() if person.follows_us_since else None,
        "we_follow": person.we_follow,
        "theirs": {k: counts["theirs"].get(k, 0) for k in WHO_THEIRS},
        "ours": {k: counts["ours"].get(k, 0) for k in WHO_OURS},
        "notes": [{"at": at.isoformat(), "text": text} for at, text in db.notes(person.account_id)],
        "drafts": [d.as_json() for d in db.drafts_for(person.account_id)],
        "stopped_at": stopped.isoformat() if stopped else None,
        "left": [d.as_json() for d in gone],
    }
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    # One line per JSON key, labelled with it (`_` as a space): the text and the JSON say the same.
    shown = {
        "display_name": clean_name(person.display_name, person.acct),
        "first_seen": record["first_seen"][:10],
        "follows_us_since": day(record["follows_us_since"]) or "-",
        "theirs": ", ".join(f"{k} {v}" for k, v in record["theirs"].items() if v) or "nothing yet",
        "ours": ", ".join(f"{k} {v}" for k, v in record["ours"].items() if v) or "nothing yet",
        "stopped_at": f"asked us to stop on {stopped:%Y-%m-%d}: never drafted for again" if stopped else "-",
        "notes": "".join(f"\n  {n['at'][:10]}: {n['text']}" for n in record["notes"]) or "none yet",
        "drafts": "".join(f"\n  #{d['id']} [{d['state']}] {d['rule']}: {d['text']}" for d in record["drafts"])
        or "none yet",
        "left": "".join(f"\n  {d.sentence()}" for d in gone) or "-",
    }
    lines = (f"{key.replace('_', ' ')}: {shown.get(key, cell(value))}" for key, value in record.items())
    typer.echo("\n".join(line.replace(": \n", ":\n", 1) for line in lines))


def who_without_typer(argv: list[str]) -> bool:
    """Answer `frontrow [--config PATH] [--log-format FORMAT] who PERSON [--json]` and say True, or say
    False for any other command line, which typer then parses as usual (help, errors, other commands).

    Called by bot.cli.main before typer: running a command, typer 0.29 coerces every parameter with a
    pydantic TypeAdapter, ~0.15 s of imports and schema building that `who` (≤ 1.5 × `--help`, see
    bench/commands.py) cannot afford. Only these plain spellings are taken; the command itself is the
    same function typer calls, so its output, errors and exit codes are the same.
    """
    from bot.cli.base import OPTIONS
    from bot.logs import setup_logging

    options = {"--config": None, "--log-format": "text"}
    rest = list(argv)
    while rest and rest[0] != "who":
        name, equals, value = rest.pop(0).partition("=")
        if name not in options:
            return False
        if not equals:
            if not rest:
                return False
            value = rest.pop(0)
        if not value or value.startswith("-"):
            return False
        options[name] = value
    if options["--log-format"] not in ("text", "json"):
        return False
    person = [a for a in rest[1:] if a != "--json"]
    if not rest or len(person) != 1 or person[0].startswith("-") or len(rest) > 3:
        return False
    OPTIONS.config = options["--config"]
    setup_logging(str(options["--log-format"]))
    try:
        who(person[0], as_json="--json" in rest)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    return True


@cli.command()
def note(
    acct: Annotated[str, typer.Argument(help=PERSON_HELP, metavar="PERSON")],
    text: Annotated[str, typer.Argument(help="the note")],
) -> None:
    """Add a note to a person's record."""
    from bot.store import utcnow

    db = store()
    person = db.person(acct, web_host())
    if person is None:
        fail(f"{acct}: nobody of that name in the store", 1)
    db.add_note(person.account_id, text, utcnow())
    typer.echo(f"Noted for {person.acct}.")


@cli.command("people")
def people_command(
    owed: Annotated[
        bool, typer.Option("--owed", help="engaged you at least twice in 30 days, got nothing back")
    ] = False,
    connectors: Annotated[bool, typer.Option("--connectors", help="reach × engagement")] = False,
    left: Annotated[bool, typer.Option("--left", help="who stopped following us, newest first")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="how many people")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False,
) -> None:
    """People ranked by engagement (or --owed, or --connectors)."""
    from bot.store import ledger, utcnow

    if sum((owed, connectors, left)) > 1:
        fail("--owed, --connectors and --left: choose one")
    if left:
        _left(limit, as_json)
        return
    mode: ledger.Mode = "owed" if owed else "connectors" if connectors else "all"
    ranked = ledger.people(store(), utcnow(), mode, limit)
    records = [{"rank": rank, **p.as_json()} for rank, p in enumerate(ranked, start=1)]
    titles = {"all": "people by engagement", "owed": "owed attention", "connectors": "connectors"}
    empties = {"all": "nobody yet", "owed": "nobody is owed attention yet", "connectors": "no connectors yet"}
    listing(titles[mode], records, as_json=as_json, empty=empties[mode], show={"display_name": _name})


def _left(limit: int, as_json: bool) -> None:
    from bot.store import followers

    records = [d.as_json() for d in followers.departures(store(), limit=limit)]
    dates = ("noticed_at", "followed_since", "left_after", "last_engaged")
    show = {"display_name": _name, **dict.fromkeys(dates, day)}
    listing("who left", records, as_json=as_json, empty="nobody has left yet", show=show)


def _name(display_name: str) -> str:
    """A display name as tables show it: no @handles, links or emoji codes (the JSON has it raw)."""
    from bot.text import clean_name

    return clean_name(display_name, "-")


STATS_HELP = """Counts over the last 7 and 30 days, approval rate and link-love ratio.

posts: our public and unlisted posts; boosts: of them, boosts of someone else's post (a boost is a
reblog in Mastodon's and the config's word); replies: answers to someone else; originals: the rest.
theirs / ours: what people did to us and we did for them, by kind. --json has the same rows, each
key with _7d and _30d."""


@cli.command("stats", help=STATS_HELP)
def stats_command(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    from bot.store import ledger, utcnow

    figures = ledger.stats(store(), utcnow())
    result = figures.as_json()
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    # The rows are the JSON's `<key>_7d` / `<key>_30d` pairs (a count by kind is one row per kind).
    rows = []
    for key, week in result.items():
        if not key.endswith("_7d"):
            continue
        stem = key.removesuffix("_7d")
        month = result[f"{stem}_30d"]
        if isinstance(week, dict):
            for kind in dict.fromkeys([*week, *month]):
                label = f"{stem.replace('_', ' ')}: {kind}"
                rows.append([label, str(week.get(kind, 0)), str(month.get(kind, 0))])
        elif stem in RATIOS:
            rows.append([stem.replace("_", " "), ledger.percent(week), ledger.percent(month)])
        else:
            rows.append([stem.replace("_", " "), str(week), str(month)])
    table("stats", ["", "7 days", "30 days"], rows)
    weeks = result["followers_by_week"]
    if weeks:
        table(
            "followers per week",
            [key.replace("_", " ") for key in weeks[0]],
            [[day(w["week_start"]), str(w["gained"]), str(w["lost"])] for w in weeks],
        )
    typer.echo(
        f"Link-love ratio: {ledger.percent(result['link_love_ratio'])} over 30 days "
        f"(seed advice: {ledger.percent(result['link_love_target'])} or more); "
        f"approval rate {ledger.percent(result['approval_rate'])}. "
        f"{result['people']} people, {result['followers']} followers, as of {minute(result['as_of'])}."
    )
    if figures.history is not None:  # a first run started from now; the older history comes in behind
        typer.echo(figures.history.line())


RATIOS = ("link_love_ratio", "approval_rate")
