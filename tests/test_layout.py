"""The layout of DESIGN.md, checked: what may import what, one boundary to the instance, no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "bot"
# Each layer may import only from layers below it (and itself).
LAYERS = [
    {"bot.cli", "bot.__main__"},
    {"bot.service"},
    {"bot.listening"},
    {"bot.core", "bot.store", "bot.instance"},
    {"bot.model", "bot.text", "bot.config", "bot.config_path", "bot.logs", "bot", "bot.migrations"},
]
OUTSIDE = {"bot.core": {"mastodon", "sqlalchemy", "sqlmodel", "httpx", "requests", "alembic"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function (TYPE_CHECKING ones too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(p): p for p in ROOT.rglob("*.py") if "migrations" not in p.parts}


def ours(name: str) -> str | None:
    """The module of ours that an import names (`bot.store.ledger`, or `bot.store` for a name in it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def graph() -> dict[str, set[str]]:
    return {
        module: {target for name in imports(path) if (target := ours(name)) and target != module}
        for module, path in MODULES.items()
    }


def layer(module: str) -> int:
    for index, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members if m != "bot") or module in members:
            return index
    raise AssertionError(f"{module} is in no layer of DESIGN.md")


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)


def test_imports_point_down_the_layers() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if package(target) != package(module) and layer(target) < layer(module)
    ]
    assert wrong == []


def test_store_and_instance_never_import_each_other() -> None:
    edges = graph()
    crossing = [
        f"{m} imports {t}"
        for m, targets in edges.items()
        for t in targets
        if {package(m), package(t)} == {"bot.store", "bot.instance"}
    ]
    assert crossing == []


def test_core_imports_only_model_text_config_and_itself() -> None:
    allowed = {"bot.model", "bot.text", "bot.config"}
    for module, targets in graph().items():
        if package(module) == "bot.core":
            assert {package(t) for t in targets} <= allowed | {"bot.core"}, module


def test_only_the_instance_package_imports_mastodon() -> None:
    users = sorted(
        module
        for module, path in MODULES.items()
        if any(name == "mastodon" or name.startswith("mastodon.") for name in imports(path))
    )
    assert users and all(package(m) == "bot.instance" for m in users), users


def loaded_by_a_fresh_import(statement: str, libraries: tuple[str, ...]) -> list[str]:
    """Which of `libraries` a new interpreter has loaded after running `statement` (an import)."""
    probe = f"import sys\n{statement}\nprint(' '.join(m for m in {libraries!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_pure_packages_load_none_of_the_io_libraries() -> None:
    pure = "import bot.core.rules, bot.core.commands, bot.core.render, bot.core.budget, bot.core.stadium\n"
    pure += "import bot.model, bot.text"
    io = ("mastodon", "sqlalchemy", "sqlmodel", "httpx", "requests", "alembic")
    assert loaded_by_a_fresh_import(pure, io) == []


def test_the_service_entry_loads_no_feed_html_or_migration_library() -> None:
    """`import bot.service.serve` stays light (issue 15: start-up time and peak memory): httpx and
    feedparser come with the first feed fetched, BeautifulSoup with the first post read, Alembic with
    a store that is behind."""
    heavy = ("httpx", "feedparser", "bs4", "alembic", "mako")
    assert loaded_by_a_fresh_import("import bot.service.serve", heavy) == []


def test_the_service_entry_loads_no_orm_config_model_instance_client_or_scheduler() -> None:
    """A fresh `import bot.service.serve` loads none of SQLAlchemy/SQLModel, pydantic, Mastodon.py
    (with requests) or APScheduler (issue 15, target 4: the import ≤ 0.9 s; `frontrow health` needs
    only `healthy`): the loop imports them where it first uses them, once build_app has loaded them."""
    heavy = ("sqlalchemy", "sqlmodel", "pydantic", "mastodon", "requests", "apscheduler")
    assert loaded_by_a_fresh_import("import bot.service.serve", heavy) == []
