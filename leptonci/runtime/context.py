"""The context a command runs in: repository root, config, output, clock and identity.

Built once by the CLI and handed to the command's function. The clock and the
environment live here so that pure code never reads them itself.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from leptonci.core.config import CONFIG_FILE, Config, load_config
from leptonci.core.deadlines import Deadlines, with_env
from leptonci.runtime.output import Output


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    root: Path
    out: Output = field(default_factory=Output)
    dry_run: bool = False
    json: bool = False
    debug: bool = False
    fetch: bool = False  # a dry run may fetch the remote first (the user asked for network)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], datetime] = _utc_now

    @cached_property
    def config(self) -> Config:
        config = load_config(self.root)
        override = self.env.get("LEPTONCI_REGISTRY")
        if override:
            config = config.model_copy(update={"registry": override})
        return config

    @cached_property
    def deadlines(self) -> Deadlines:
        """The ``deadlines:`` of leptonci.yaml (defaults where there is none, as in a
        training pod), with the LEPTONCI_* variables that override them applied."""
        base = self.config.deadlines if (self.root / CONFIG_FILE).is_file() else Deadlines()
        return with_env(base, self.env)

    def now(self) -> str:
        """The current time as ISO-8601 UTC with seconds, e.g. 2026-11-30T10:00:00Z."""
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def actor(self) -> str:
        """Who is acting: the GitHub actor in Actions, else the local user."""
        for key in ("LEPTONCI_ACTOR", "GITHUB_ACTOR"):
            if self.env.get(key):
                return self.env[key]
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    @property
    def cache_dir(self) -> Path:
        """The training cache: $LEPTONCI_CACHE when set, else the config's `cache` folder."""
        override = self.env.get("LEPTONCI_CACHE")
        if override:
            return Path(override).expanduser().resolve()
        return self.root / self.config.cache

    @property
    def run_url(self) -> str:
        """The GitHub Actions run this is, as a URL ("" outside Actions)."""
        server = self.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo, run_id = self.env.get("GITHUB_REPOSITORY"), self.env.get("GITHUB_RUN_ID")
        return f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else ""
