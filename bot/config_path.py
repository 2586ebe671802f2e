"""Configuration (startup): which config file a command reads, known without the validation library
(bot/config.py loads pydantic; `frontrow who` reads its few keys without it, see bot/cli/base.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ENV_CONFIG = "FRONTROW_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")


def resolve_config_path(cli_path: str | Path | None, env: Mapping[str, str]) -> Path:
    """`--config PATH`, else `$FRONTROW_CONFIG`, else `./config.toml` (empty values count as unset)."""
    for candidate in (cli_path, env.get(ENV_CONFIG)):
        if candidate is not None and str(candidate).strip():
            return Path(candidate).expanduser()
    return DEFAULT_CONFIG_PATH
