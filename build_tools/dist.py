"""Distributed compilation with sccache-dist: the client config our presets point sccache at,
what the cluster offers, and whether this build's compiles really went to it.

The config is a file in the checkout's state dir (mode 0600: it holds the token), named by
SCCACHE_CONF in the preset's environment, so a raw `cmake --build --preset` distributes too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.errors import BuildToolsError
from build_tools.runner import probe

CONFIG = "sccache-dist.toml"


def write_config(state_dir: Path, scheduler: str, token: str) -> Path:
    """The sccache client config for this cluster (rewritten only when it changes)."""
    if not scheduler.startswith(("http://", "https://")):
        raise BuildToolsError(
            f"dist_scheduler = {scheduler!r} is not an http(s) URL.",
            "set dist_scheduler to the scheduler's URL, e.g. http://10.0.0.5:10600",
        )
    text = (
        "# written by vllm-build-tools for `dist = true`\n[dist]\n"
        f"scheduler_url = {json.dumps(scheduler)}\ntoolchains = []\n"
        f"cache_dir = {json.dumps(str(state_dir / 'sccache-dist-toolchains'))}\n"
        f'[dist.auth]\ntype = "token"\ntoken = {json.dumps(token)}\n'
    )
    path = state_dir / CONFIG
    state_dir.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    return path


def _json(sccache: Path, args: list[str], environ: Mapping[str, str]) -> Any:
    out = probe([str(sccache), *args], env=environ, timeout=30)
    try:
        return json.loads(out)
    except ValueError:
        return None


def cluster_cpus(sccache: Path, environ: Mapping[str, str]) -> tuple[Optional[int], str]:
    """CPUs the scheduler offers (None when it cannot be reached), and what it said."""
    status = _json(sccache, ["--dist-status"], environ)
    if isinstance(status, dict) and "SchedulerStatus" in status:
        info = status["SchedulerStatus"][1]
        return int(info.get("num_cpus", 0)), f"{info.get('num_servers', 0)} server(s)"
    return None, json.dumps(status) if status else "no answer from sccache --dist-status"


@dataclass(frozen=True)
class SccacheCount:
    """The sccache daemon's counters so far; a build's are the difference around it."""

    hits: int
    misses: int
    remote: int  # compiles that ran on an sccache-dist build server
    errors: int  # distributed compiles that failed (and then ran here)

    def since(self, before: SccacheCount) -> SccacheCount:
        return SccacheCount(
            self.hits - before.hits,
            self.misses - before.misses,
            self.remote - before.remote,
            self.errors - before.errors,
        )

    @property
    def text(self) -> str:
        looked = self.hits + self.misses
        rate = f" ({100 * self.hits / looked:.0f}%)" if looked else ""
        return f"{self.hits}/{looked} cache hits{rate}"


def count(sccache: Path, environ: Mapping[str, str]) -> Optional[SccacheCount]:
    """The counters of the sccache daemon this environment talks to."""
    stats = _json(sccache, ["--show-stats", "--stats-format", "json"], environ)
    if not isinstance(stats, dict) or "stats" not in stats:
        return None
    inner = stats["stats"]

    def total(key: str) -> int:
        return sum((inner.get(key) or {}).get("counts", {}).values())

    return SccacheCount(
        total("cache_hits"),
        total("cache_misses"),
        sum(inner.get("dist_compiles", {}).values()),
        int(inner.get("dist_errors", 0)),
    )
