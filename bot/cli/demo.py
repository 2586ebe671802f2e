"""CLI (demo): the `demo` command — a practice instance on loopback, a small community, Frontrow against it.

The practice instance (mastodon_mock, the demo extra), httpx and Frontrow's app are imported when the
demo starts, so `frontrow --help` and the other commands never load them.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.base import cli, fail

if TYPE_CHECKING:
    import httpx
    from mastodon_mock.config import MastodonMockConfig
    from mastodon_mock.testing import MockServer
    from rich.console import Console

    from bot.service.app import App

BOT = "riverside"
APPROVER = "you"
CONNECTOR_FOLLOWERS = 25
PROMPT = "[bold]you → bot (DM)>[/bold] "
DRAFT_LINE = re.compile(r"Draft #(\d+) · ([\w-]+) · ")
EDITED_ANSWER = "Yes! Signed copies arrived this morning; we'll keep one at the till for you."
MORE_QUESTIONS = (
    "do you run a book club?",
    "can I order a book you don't have in stock?",
    "any poetry readings this month?",
)
LOG_NAME = "frontrow-demo.log"


def interactive_help(draft_ids: list[int]) -> str:
    """The first hint, with the numbers of the drafts just shown (not made-up ones)."""
    examples = ["[cyan]list[/cyan]", "[cyan]who fan[/cyan]", "[cyan]help[/cyan]"]
    if draft_ids:
        first, last = draft_ids[0], draft_ids[-1]
        examples[:0] = [
            f"[cyan]ok {first}[/cyan]",
            f"[cyan]edit {last} <text>[/cyan]",
            f"[cyan]no {last}[/cyan]",
        ]
    return (
        f"Write a DM to the bot, e.g. {', '.join(examples)}.\n"
        "[cyan]more[/cyan] makes another reader follow and ask; [cyan]quit[/cyan] (or Ctrl-D) ends the demo."
    )


@dataclass
class Person:
    """One account on the practice instance, with its own logged-in client."""

    id: str
    username: str
    display_name: str
    api: Any  # a Mastodon.py client acting as this person


@dataclass
class Demo:
    """The practice instance, its people, Frontrow's app, and what has been shown so far."""

    server: MockServer
    console: Console
    http: httpx.Client  # one connection for the instance's mock-only endpoints (a new one costs ~50 ms)
    people: dict[str, Person] = field(default_factory=dict)
    app: App | None = None
    seen_dms: set[str] = field(default_factory=set)
    seen_posts: set[str] = field(default_factory=set)
    asked: dict[str, str] = field(default_factory=dict)  # status id → who asked (for "in reply to")
    extra_readers: int = 0

    # --- the community ------------------------------------------------------------

    def person(self, username: str, display_name: str, **profile: Any) -> Person:
        from bot.instance.client import plain_client

        made = self.http.post(
            "/api/v1/_mock/dev_user", json={"username": username, "display_name": display_name}
        )
        made.raise_for_status()
        body = made.json()
        api = plain_client(self.server.base_url, body["access_token"])
        if profile:
            api.account_update_credentials(**profile)
        person = Person(str(body["id"]), username, display_name, api)
        self.people[username] = person
        return person

    @property
    def bot(self) -> Person:
        return self.people[BOT]

    @property
    def you(self) -> Person:
        return self.people[APPROVER]

    def mention(self, who: Person, text: str) -> None:
        status = who.api.status_post(f"@{BOT} {text}")
        self.asked[str(status["id"])] = who.display_name

    # --- Frontrow -------------------------------------------------------------------

    def start_frontrow(self, workdir: Path) -> App:
        """The packaged example config, pointed at the practice instance and a store in `workdir`."""
        from bot.config import settings_from_dict
        from bot.service.app import build_app

        example = importlib.resources.files("bot") / "config.example.toml"
        data = tomllib.loads(example.read_text(encoding="utf-8"))
        data["mastodon"] = {"base_url": self.server.base_url, "access_token": self.bot.api.access_token}
        data["store"] = {"url": f"sqlite:///{workdir / 'frontrow.db'}"}
        data.setdefault("approval", {})["approvers"] = [APPROVER]
        data.setdefault("listener", {})["streaming"] = False  # the demo drives every cycle itself
        self.app = build_app(settings_from_dict(data, env={}))
        self.app.start()
        return self.app

    def cycle(self) -> None:
        assert self.app is not None
        self.app.cycle()

    # --- what the approver sees --------------------------------------------------

    def new_dms(self) -> list[str]:
        """Direct messages from the bot that the approver has not been shown yet, oldest first."""
        from bot.text import html_to_text

        found = []
        for note in self.you.api.notifications(types=["mention"], limit=40):
            status = note["status"]
            if not status or status["visibility"] != "direct" or str(note["account"]["id"]) != self.bot.id:
                continue
            if str(status["id"]) not in self.seen_dms:
                self.seen_dms.add(str(status["id"]))
                found.append((int(status["id"]), html_to_text(status["content"])))
        return [text for _, text in sorted(found)]

    def new_posts(self) -> list[dict[str, Any]]:
        """The bot's public (non-direct) posts not shown yet, oldest first."""
        posts = [
            s
            for s in self.bot.api.account_statuses(self.bot.id, limit=40)
            if s["visibility"] != "direct" and str(s["id"]) not in self.seen_posts
        ]
        self.seen_posts.update(str(s["id"]) for s in posts)
        return sorted(posts, key=lambda s: int(s["id"]))

    def send(self, text: str) -> bool:
        """A direct message from the approver to the bot (read at the next cycle); False when the
        practice instance refused it, said as the approver's app would say it (e.g. over its limit)."""
        try:
            self.you.api.status_post(f"@{BOT} {text}", visibility="direct")
        except Exception as exc:  # Mastodon.py's errors; only bot.instance names them
            from rich.text import Text

            reason = str(exc.args[-1]) if exc.args else type(exc).__name__
            self.console.print(Text(f"The instance did not send your DM: {reason}", style="red"))
            return False
        return True

    # --- printing -------------------------------------------------------------------

    def show_dms(self) -> list[str]:
        from rich.panel import Panel
        from rich.text import Text

        dms = self.new_dms()
        for text in dms:
            self.console.print(Panel(Text(text), title="DM to you", title_align="left", border_style="cyan"))
        return dms

    def show_posts(self) -> list[dict[str, Any]]:
        from rich.text import Text

        from bot.text import html_to_text

        posts = self.new_posts()
        for post in posts:
            where = post["visibility"]
            if post["in_reply_to_id"]:
                asker = self.asked.get(str(post["in_reply_to_id"]))
                where += f", in reply to {asker}'s post" if asker else ", a reply"
            self.console.print(
                Text.assemble(("Posted", "bold green"), f" ({where}): ", html_to_text(post["content"]))
            )
        return posts

    def show_news(self) -> None:
        """What the last cycle produced: the bot's replies to the approver, and public posts."""
        dms = self.show_dms()
        posts = self.show_posts()
        if not dms and not posts:
            self.console.print("[dim](nothing new from the bot)[/dim]")


# --- the script ------------------------------------------------------------------------


def run_demo(once: bool) -> int:
    """Play the demo; `once` plays it unattended (never reads stdin). Returns the exit status."""
    from rich.console import Console

    console = Console()
    # The practice instance's own chatter is not part of Frontrow's log.
    logging.getLogger("mastodon_mock").setLevel(logging.WARNING)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    log = _log_to_file()
    console.print(f"[dim]Frontrow's log: {log}[/dim]", soft_wrap=True)  # a path is copied: never broken
    try:
        return _run_in(console, once)
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:], root.level = handlers, level


def _run_in(console: Console, once: bool) -> int:
    import httpx
    from mastodon_mock.testing import MockServer

    try:
        # Both contexts unwind on Ctrl-C too: the server stops, then the folder is removed.
        with tempfile.TemporaryDirectory(prefix="frontrow-demo-") as tmp:
            workdir = Path(tmp)
            with (
                MockServer(config=instance_config(workdir)) as server,
                httpx.Client(base_url=server.base_url, timeout=10) as http,
            ):
                demo = Demo(server, console, http)
                try:
                    status = _play(demo, workdir, once)
                finally:
                    if demo.app is not None:
                        demo.app.store.close()
    except KeyboardInterrupt:
        status = 130
        console.print()
    console.print("[dim]Practice instance stopped, its files removed.[/dim]")
    return status


def _log_to_file() -> Path:
    """Frontrow's log lines go to ./frontrow-demo.log (else the temp folder), not between the DMs."""
    from bot.logs import RedactFilter

    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        path = folder / LOG_NAME
        try:
            path.write_text("", encoding="utf-8")
            # "a", not "w": the practice instance's server configures logging when it starts, which
            # closes every handler; a FileHandler in "w" mode would then never write again.
            handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        except OSError:
            continue
        root = logging.getLogger()
        handler.addFilter(RedactFilter([]))  # the demo's token is redacted as the service's would be
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        return path
    logging.getLogger().setLevel(logging.ERROR)  # nowhere to write: only errors, on stderr
    return Path("(stderr, errors only)")


def instance_config(workdir: Path, **extra: Any) -> MastodonMockConfig:
    """An empty instance whose files live in `workdir` (its ":memory:" mode leaves files in /tmp)."""
    from mastodon_mock.config import DatabaseConfig, MastodonMockConfig, SeedConfig, StreamingConfig

    return MastodonMockConfig(
        database=DatabaseConfig(path=str(workdir / "instance.sqlite")),
        media_storage_path=str(workdir / "media"),
        seed=SeedConfig(),
        streaming=StreamingConfig(heartbeat_seconds=0.5),
        **extra,
    )


def _play(demo: Demo, workdir: Path, once: bool) -> int:
    console = demo.console
    console.rule("[bold]Frontrow demo[/bold]")
    console.print(
        f"A practice Mastodon instance on {demo.server.base_url} (loopback only); "
        f"Frontrow's store in {workdir} (deleted at the end).",
        soft_wrap=True,
    )
    _build_community(demo)
    demo.start_frontrow(workdir)
    _act_one(demo)
    demo.cycle()
    console.rule("What the approver got")
    dms = demo.show_dms()
    quiet_ok = _explain_silence(demo)
    if once:
        posted_ok = _approve_unattended(demo, dms)
        return 0 if quiet_ok and posted_ok else 1
    _converse(demo, [int(m[1]) for text in dms for m in DRAFT_LINE.finditer(text)])
    return 0


def _build_community(demo: Demo) -> None:
    demo.person(BOT, "Riverside Books")
    demo.person(APPROVER, "You")
    demo.person("fan", "Fran Fan")
    connector = demo.person("connector", "Connie Connector", note="I run the town's book club newsletter.")
    demo.person("quiet", "Quiet Reader", note="Just reading along. #nobot please")
    demo.person("newsbot", "News Bot", bot=True)
    demo.person("passerby", "Pat Passerby")
    # Small accounts following the connector give them visible reach.
    for n in range(1, CONNECTOR_FOLLOWERS + 1):
        demo.person(f"reader{n:02d}", f"Reader {n}").api.account_follow(connector.id)
    reach = connector.api.account(connector.id)["followers_count"]
    demo.console.print(
        "[bold]Community:[/bold] Riverside Books (the bot) · you (the approver) · Fran Fan (a chatty fan) · "
        f"Connie Connector ({reach} followers) · Quiet Reader (#nobot in the bio) · "
        "News Bot (a bot account) · Pat Passerby"
    )


def _act_one(demo: Demo) -> None:
    """The first events: follows and mentions, three of which must get no draft."""
    from rich.text import Text

    people = demo.people
    script: list[tuple[str, bool, str, str | None]] = [
        ("fan", True, "follows and asks", "do you have signed copies of the new Le Guin?"),
        ("connector", True, "follows", None),
        ("quiet", True, "follows and asks", "are you open on Sundays?"),
        ("newsbot", True, "follows and asks", "what are today's bestsellers?"),
        ("passerby", False, "mentions the bot", "lovely window display today"),
    ]
    for username, follows, narration, text in script:
        who = people[username]
        if follows:
            who.api.account_follow(demo.bot.id)
        if text is not None:
            demo.mention(who, text)
        said = f': "{text}"' if text else ""
        demo.console.print(Text(f"  {who.display_name} {narration}{said}"))
    demo.console.print("[dim]Frontrow runs one cycle: catch up, draft, DM the approver.[/dim]")


def _explain_silence(demo: Demo) -> bool:
    """One line each on why some people got no draft; False if any of them got one after all."""
    from rich.text import Text

    assert demo.app is not None
    reasons = {
        "quiet": "their bio says #nobot, so Frontrow never drafts for them",
        "newsbot": "the account is flagged as a bot (etiquette.skip_bots)",
        "passerby": "a mention without a question: no rule matched",
    }
    ok = True
    for username, reason in reasons.items():
        who = demo.people[username]
        if demo.app.store.drafts_for(who.id):
            demo.console.print(f"[red]Unexpected: a draft for {who.display_name}[/red]")
            ok = False
        else:
            demo.console.print(Text(f"No draft for {who.display_name}: {reason}.", style="yellow"))
    return ok


def _approve_unattended(demo: Demo, dms: list[str]) -> bool:
    """Approve the thanks as they are and the answer with an edit, by DM; True if all were posted."""
    from rich.text import Text

    drafts = [(int(m[1]), m[2]) for text in dms for m in DRAFT_LINE.finditer(text)]
    thanks = [str(i) for i, rule in drafts if rule == "thank-new-followers"]
    answers = [i for i, rule in drafts if rule == "answer-questions"]
    commands = [f"ok {' '.join(thanks)}"] if thanks else []
    commands += [f"edit {i} {EDITED_ANSWER}" for i in answers]
    demo.console.rule("Approving…")
    for command in commands:
        demo.console.print(Text(f"you → bot (DM): {command}", style="bold"))
        demo.send(command)
    demo.console.print("[dim]Frontrow runs another cycle: reads the DMs, posts, confirms.[/dim]")
    demo.cycle()
    demo.show_dms()
    posts = demo.show_posts()
    return bool(drafts) and len(posts) == len(drafts)


def _converse(demo: Demo, draft_ids: list[int]) -> None:
    """Read the approver's DMs from stdin, one a line, with a cycle after each."""
    from rich.text import Text

    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    demo.console.rule("Your turn")
    demo.console.print(interactive_help(draft_ids))
    while True:
        try:
            line = demo.console.input(PROMPT).strip()
        except EOFError:
            demo.console.print()
            return
        if not sys.stdin.isatty():
            demo.console.print(Text(line))  # piped input is not echoed; show what was "typed"
        if line.lower() in ("quit", "exit"):
            return
        if line.lower() == "more":
            _another_reader(demo)
        elif not line or not demo.send(line):
            continue
        try:
            demo.cycle()
        except Exception as exc:  # the demo goes on, as the service would; the log has the details
            logging.getLogger(__name__).exception("the cycle failed")
            demo.console.print(Text(f"Frontrow could not finish this round: {exc}", style="red"))
        demo.show_news()


def _another_reader(demo: Demo) -> None:
    """A scripted extra: one more reader follows and asks a question."""
    from rich.text import Text

    demo.extra_readers += 1
    n = demo.extra_readers
    who = demo.person(f"newreader{n}", f"New Reader {n}")
    question = MORE_QUESTIONS[(n - 1) % len(MORE_QUESTIONS)]
    who.api.account_follow(demo.bot.id)
    demo.mention(who, question)
    demo.console.print(Text(f'  {who.display_name} follows and asks: "{question}"'))


@cli.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="play the whole script unattended, then exit")] = False,
) -> None:
    """A practice instance on loopback with a small community, and Frontrow running against it."""
    try:
        import httpx  # noqa: F401
        import mastodon_mock.testing  # noqa: F401
    except ImportError as exc:  # mastodon_mock comes with the demo extra
        fail(f"the demo needs the demo extra: pip install 'frontrow[demo]' ({exc})")
    raise typer.Exit(run_demo(once=once))
