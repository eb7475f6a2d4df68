"""sccache's counters: what one build got from the cache (and from an sccache-dist cluster).

sccache counts in its server, across every client, so a build's share is the difference of
the counters taken around it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.cache.ccache import hit_text
from build_tools.process.runner import probe


def sccache_json(sccache: Path, args: list[str], environ: Mapping[str, str]) -> Any:
    out = probe([str(sccache), *args], env=environ, timeout=30)
    try:
        return json.loads(out)
    except ValueError:
        return None


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
        return hit_text(self.hits, self.misses)


def count(sccache: Path, environ: Mapping[str, str]) -> Optional[SccacheCount]:
    """The counters of the sccache daemon this environment talks to."""
    stats = sccache_json(sccache, ["--show-stats", "--stats-format", "json"], environ)
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
