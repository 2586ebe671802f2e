"""Deployment files: the Dockerfile, .dockerignore, compose.yaml and the systemd unit say what they must.

No Docker engine runs in CI, so these are text checks of the promises (non-root, /data volume,
health check, entry point), not a build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), comments dropped, continuation lines joined."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(args.split())))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


def args_of(dockerfile: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for key, args in dockerfile if key == keyword]


def test_dockerfile_base_image(dockerfile: list[tuple[str, str]]) -> None:
    assert args_of(dockerfile, "FROM") == ["python:3.12-slim"]


def test_dockerfile_installs_the_project_with_postgres(dockerfile: list[tuple[str, str]]) -> None:
    assert any('pip install --no-cache-dir ".[postgres]"' in run for run in args_of(dockerfile, "RUN"))


def test_dockerfile_copies_what_the_install_needs(dockerfile: list[tuple[str, str]]) -> None:
    copied = " ".join(args_of(dockerfile, "COPY")).split()
    # bot/config.example.toml is a symlink to the top-level file: without it the wheel lacks the example.
    assert {"pyproject.toml", "README.md", "config.example.toml", "bot"} <= set(copied)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"pyproject.toml", "README.md", "config.example.toml", "bot"} & set(ignored)


def test_dockerfile_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = args_of(dockerfile, "USER")
    assert users, "no USER: the service would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    # The last USER comes after the last RUN, so nothing later quietly needs root.
    keywords = [key for key, _ in dockerfile]
    assert len(keywords) - 1 - keywords[::-1].index("USER") > len(keywords) - 1 - keywords[::-1].index("RUN")


def test_dockerfile_keeps_state_in_a_data_volume(dockerfile: list[tuple[str, str]]) -> None:
    assert any("/data" in v for v in args_of(dockerfile, "VOLUME"))
    assert args_of(dockerfile, "WORKDIR")[-1] == "/data"
    assert any("FRONTROW_CONFIG=/config/config.toml" in env for env in args_of(dockerfile, "ENV"))


def test_dockerfile_health_check_and_entry_point(dockerfile: list[tuple[str, str]]) -> None:
    (health,) = args_of(dockerfile, "HEALTHCHECK")
    command = health.split("CMD", 1)[1].strip()
    assert json.loads(command) == ["frontrow", "health"]
    # Exec form (JSON), so frontrow is PID 1 and receives `docker stop`'s SIGTERM.
    assert [json.loads(a) for a in args_of(dockerfile, "ENTRYPOINT")] == [["frontrow"]]
    assert [json.loads(a) for a in args_of(dockerfile, "CMD")] == [["run"]]


def test_dockerignore_keeps_secrets_and_state_out_of_the_image() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"config.toml", "*.db", ".git"} <= patterns
    assert "README.md" not in patterns  # pyproject names it: the install needs it


def test_compose_has_postgres_and_frontrow() -> None:
    text = (ROOT / "compose.yaml").read_text()
    assert "\t" not in text  # YAML forbids tabs in indentation
    assert re.search(r"^services:\s*$", text, re.M)
    assert re.search(r"^\s+image:\s*postgres:16\s*$", text, re.M)
    assert "pg_isready" in text and "condition: service_healthy" in text
    assert re.search(r"config\.toml:/config/config\.toml:ro", text)
    assert "FRONTROW_ACCESS_TOKEN" in text
    assert "postgresql+psycopg://frontrow:" in text and "@db:5432/frontrow" in text


def test_compose_parses_when_yaml_is_available() -> None:
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = data["services"]
    assert services["db"]["image"] == "postgres:16"
    assert services["frontrow"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "./config.toml:/config/config.toml:ro" in services["frontrow"]["volumes"]
    assert set(data["volumes"]) >= {"pgdata"}


def test_systemd_unit_runs_the_service() -> None:
    text = (ROOT / "docs" / "frontrow.service").read_text()
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#")
    )
    assert settings["Type"] == "simple"
    exec_start = settings["ExecStart"].split()
    assert exec_start[0].endswith("/frontrow") and exec_start[-1] == "run"
    assert settings["User"] not in ("root", "0")
    assert settings["KillSignal"] == "SIGTERM"
    assert settings["Restart"] == "on-failure"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict" and settings["StateDirectory"] == "frontrow"


def test_the_readme_says_how_to_run_the_postgresql_tests_next_to_the_test_command() -> None:
    from tests.conftest import PG_URL  # noqa: F401  (the variable the suite reads)

    readme = (ROOT / "README.md").read_text()
    tests_at = readme.index('pip install -e ".[test]" && python -m pytest -q')
    nearby = readme[tests_at : tests_at + 800]
    assert 'FRONTROW_TEST_PG_URL="postgresql+psycopg://' in nearby and "python -m pytest" in nearby
    assert "docker run" in nearby and "postgres" in nearby  # a one-line server start
    assert 'os.environ.get("FRONTROW_TEST_PG_URL"' in (ROOT / "tests" / "conftest.py").read_text()
