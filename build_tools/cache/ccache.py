"""The compiler cache a preset uses, and whether it can work right now.

A cache that cannot write its directory makes ccache fail every compile (even with
CCACHE_READONLY, which still needs its lock and temp dirs). A cache being down must never fail
a build that could proceed, so our commands then run with CCACHE_DISABLE=1 (ccache calls the
compiler directly) and say so once.

Our builds also point CCACHE_STATSLOG at a file of the checkout's state dir, which ccache fills
with each compile's result: the build report's hit rate, at no cost to the build.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Optional

from build_tools.process.runner import probe


def ccache_dir(launcher: Path, environ: Mapping[str, str]) -> Optional[Path]:
    """Where this ccache keeps its cache: CCACHE_DIR, else what ccache itself says."""
    if environ.get("CCACHE_DIR"):
        return Path(environ["CCACHE_DIR"])
    said = probe([str(launcher), "--get-config", "cache_dir"], env=environ).strip()
    return Path(said) if said else None


def writable(directory: Path) -> bool:
    """Whether files can be created in `directory` (made if missing), really tried: permission
    bits say nothing for root, and a read-only mount only shows when writing."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".vllm-build-tools-probe-"):
            return True
    except OSError:
        return False


def environment(
    launcher: Optional[str], environ: Mapping[str, str], warn: Callable[[str], None]
) -> dict[str, str]:
    """Extra environment for configure and build: empty while the cache works."""
    if not launcher or Path(launcher).name != "ccache" or environ.get("CCACHE_DISABLE"):
        return {}
    directory = ccache_dir(Path(launcher), environ)
    if directory is None or writable(directory):
        return {}
    warn(
        f"the ccache directory {directory} is not writable: building without the cache "
        "(CCACHE_DISABLE=1). Make it writable, point CCACHE_DIR elsewhere, or use "
        "`invoke presets --launcher none`"
    )
    return {"CCACHE_DISABLE": "1"}


# ccache's stats log: one "# <source>" line per compile, then the counters that compile moved.
STATS_LOG = "ccache-stats.log"  # in the checkout's state dir: the build that ran last
HITS = ("direct_cache_hit", "preprocessed_cache_hit")
MISSES = ("cache_miss",)


def stats_log_env(
    launcher: Optional[str], environ: Mapping[str, str], state_dir: Path
) -> dict[str, str]:
    """CCACHE_STATSLOG for one build, emptied first, so its hit rate is known afterwards
    (nothing when the launcher is no ccache, the cache is off, or the user logs elsewhere)."""
    if not launcher or Path(launcher).name != "ccache":
        return {}
    if environ.get("CCACHE_STATSLOG") or environ.get("CCACHE_DISABLE"):
        return {}
    path = state_dir / STATS_LOG
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    except OSError:
        return {}
    return {"CCACHE_STATSLOG": str(path)}


def read_stats_log(path: Path) -> dict[str, str]:
    """Source file -> "hit", "miss" or "uncached" (ccache could not cache that compile)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    results: dict[str, str] = {}
    source = ""
    for line in text.splitlines():
        if line.startswith("# "):
            source = line[2:].strip()
            results[source] = "uncached"
        elif source and line.strip() in HITS:
            results[source] = "hit"
        elif source and line.strip() in MISSES and results[source] != "hit":
            results[source] = "miss"
    return results


def hit_text(hits: int, misses: int) -> str:
    """ "9/13 cache hits (69%)": how one build did against its compiler cache."""
    looked = hits + misses
    rate = f" ({100 * hits / looked:.0f}%)" if looked else ""
    return f"{hits}/{looked} cache hits{rate}"
