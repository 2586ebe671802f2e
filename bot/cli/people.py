"""CLI (people): the `who`, `note`, `people` and `stats` commands."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from bot.cli.base import cli, fail, settings, store, table

PERSON_HELP = "name, @name, name@instance, @name@instance or a profile URL"
THEIR_LABELS = {
    "follow": "follows",
    "follow_request": "follow requests",
    "mention": "mentions",
    "reply": "replies",
    "boost": "boosts",
    "favourite": "favourites",
}
OUR_LABELS = {
    "reply": "replies",
    "thanks": "thanks",
    "boost": "boosts",
    "favourite": "favourites",
    "follow": "follows",
}


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
    from bot.store import followers

    db = store()
    person = db.person(acct, web_host())
    if person is None:
        fail(f"{acct}: nobody of that name in the store", 1)
    counts = db.interaction_counts(person.account_id)
    theirs_kinds = ("follow", "follow_request", "mention", "reply", "boost", "favourite")
    ours_kinds = ("reply", "thanks", "boost", "favourite", "follow")
    record: dict[str, Any] = {
        "acct": person.acct,
        "display_name": person.display_name,
        "first_seen": person.first_seen.isoformat(),
        "follows_us": person.follows_us_since is not None,
        "follows_us_since": person.follows_us_since.isoformat() if person.follows_us_since else None,
        "we_follow": person.we_follow,
        "theirs": {k: counts["theirs"].get(k, 0) for k in theirs_kinds},
        "ours": {k: counts["ours"].get(k, 0) for k in ours_kinds},
        "notes": [{"at": at.isoformat(), "text": text} for at, text in db.notes(person.account_id)],
        "drafts": [d.as_json() for d in db.drafts_for(person.account_id)],
        "stopped_at": stopped.isoformat() if (stopped := db.stopped_at(person.account_id)) else None,
        "left": [d.as_json() for d in followers.departures(db, account_id=person.account_id)],
    }
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    lines = [
        f"{person.display_name} ({person.acct})",
        f"first seen: {record['first_seen']}",
        f"follows us: {record['follows_us_since'] or 'no'}",
        f"we follow: {'yes' if person.we_follow else 'no'}",
        "theirs: " + ", ".join(f"{k} {v}" for k, v in record["theirs"].items() if v),
        "ours: " + ", ".join(f"{k} {v}" for k, v in record["ours"].items() if v),
    ]
    if stopped is not None:
        lines.append(f"asked us to stop on {stopped:%Y-%m-%d}: never drafted for again")
    lines += [d.sentence() for d in followers.departures(db, account_id=person.account_id)]
    lines += [f"note ({n['at'][:10]}): {n['text']}" for n in record["notes"]]
    lines += [f"draft #{d['id']} [{d['state']}] {d['rule']}: {d['text']}" for d in record["drafts"]]
    typer.echo("\n".join(lines))


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
    from bot.text import clean_name

    if sum((owed, connectors, left)) > 1:
        fail("--owed, --connectors and --left: choose one")
    if left:
        _left(limit, as_json)
        return
    mode: ledger.Mode = "owed" if owed else "connectors" if connectors else "all"
    ranked = ledger.people(store(), utcnow(), mode, limit)
    if as_json:
        typer.echo(json.dumps([p.as_json() for p in ranked], ensure_ascii=False, indent=2))
        return
    titles = {"all": "people by engagement", "owed": "owed attention", "connectors": "connectors"}
    table(
        titles[mode],
        ["#", "name", "acct", "score", "theirs", "ours", "followers", "follows you"],
        [
            [
                str(rank),
                clean_name(p.display_name, p.acct),
                p.acct,
                f"{p.score:g}",
                str(p.theirs_total),
                str(p.ours_total),
                str(p.followers_count),
                "yes" if p.follows_us else "no",
            ]
            for rank, p in enumerate(ranked, start=1)
        ],
    )


def _left(limit: int, as_json: bool) -> None:
    from bot.store import followers
    from bot.text import clean_name

    gone = followers.departures(store(), limit=limit)
    if as_json:
        typer.echo(json.dumps([d.as_json() for d in gone], ensure_ascii=False, indent=2))
        return
    table(
        "who left",
        ["name", "acct", "left", "days following", "last engaged", "why"],
        [
            [
                clean_name(d.display_name, d.acct),
                d.acct,
                f"{d.noticed_at:%Y-%m-%d}",
                "" if d.days_following is None else str(d.days_following),
                f"{d.last_engaged:%Y-%m-%d} ({d.last_engaged_kind})" if d.last_engaged else "never",
                "server cut off" if d.cause == "severed" else "unfollowed",
            ]
            for d in gone
        ],
    )


@cli.command("stats")
def stats_command(as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout")] = False) -> None:
    """Counts over the last 7 and 30 days, approval rate and link-love ratio."""
    from bot.store import ledger, utcnow

    result = ledger.stats(store(), utcnow())
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return
    week, month = result.week, result.month
    rows = [
        ["link-love ratio", ledger.percent(week.link_love_ratio), ledger.percent(month.link_love_ratio)],
        ["our public/unlisted posts", str(week.posts), str(month.posts)],
        ["… boosting someone else", str(week.boosts), str(month.boosts)],
        ["… answering someone else", str(week.replies), str(month.replies)],
        ["approval rate", ledger.percent(week.approval_rate), ledger.percent(month.approval_rate)],
        ["drafts", str(sum(week.drafts.values())), str(sum(month.drafts.values()))],
    ]
    for kind, label in THEIR_LABELS.items():
        rows.append([f"their {label}", str(week.theirs.get(kind, 0)), str(month.theirs.get(kind, 0))])
    for kind, label in OUR_LABELS.items():
        rows.append([f"our {label}", str(week.ours.get(kind, 0)), str(month.ours.get(kind, 0))])
    rows.append(["followers lost", str(week.theirs.get("unfollow", 0)), str(month.theirs.get("unfollow", 0))])
    table("stats", ["", "7 days", "30 days"], rows)
    table(
        "followers per week",
        ["week from", "gained", "lost"],
        [[f"{start:%Y-%m-%d}", str(gained), str(lost)] for start, gained, lost in result.weeks],
    )
    typer.echo(
        f"Link-love ratio: {ledger.percent(result.link_love_ratio)} over 30 days "
        f"(seed advice: {ledger.percent(ledger.LINK_LOVE_TARGET)} or more). "
        f"{result.people} people, {result.followers} followers."
    )
    if result.history is not None:  # a first run started from now; the older history comes in behind
        typer.echo(result.history.line())
