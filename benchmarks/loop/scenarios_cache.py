"""The compiler-cache scenarios: `invoke clean-build` timed warm vs cold, contenders alternating.

  P3  the copy itself: its persistent (warm) ccache | a fresh, empty one per run (cold)
  P5  a 2nd worktree at another path (`<tmp>/other place/<name>`), prepared untimed with
      `invoke venv`, `deps`, `presets`, `configure`: the 1st copy's ccache (warm; the presets'
      CCACHE_BASEDIR=${sourceDir} and CCACHE_NOHASHDIR=1 make its entries hit) | a fresh one
  P6  a 2nd machine: a redis-server on 127.0.0.1, filled once (untimed) by a clean-build of the
      1st copy (machine one, VLLM_BUILD_REMOTE_CACHE, its own empty local cache); machine two,
      a 3rd copy at another path, builds with a fresh empty local ccache per run and the same
      Redis (warm: only Redis can serve it) | a fresh one and no remote cache (cold), its
      presets rewritten (untimed) before each run to add or drop CCACHE_REMOTE_STORAGE

Every run zeroes its cache's statistics first and reads them after (hits, misses, Redis hits).
A scenario whose warm runs got no hits, or that could not run, measured nothing: `problems`
says why and its cold/warm ratios are not reported.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Optional

from benchmarks.loop import cache_checks as cc
from benchmarks.loop import services
from benchmarks.loop.harness import BenchError, Contender, Trial, must, play, progress
from benchmarks.loop.stats import CACHE_CONTENDERS, warm_counters
from benchmarks.loop.workspace import Workspace, copy_of, invoke_argv, prepare_copy
from build_tools.process.runner import Outcome
from build_tools.settings import SUITE_ROOT

WARM, COLD = CACHE_CONTENDERS["P3"]
REMOTE = "VLLM_BUILD_REMOTE_CACHE"
WITHHELD = {  # what a refused scenario does not report: its cold/warm comparisons
    "P3": ("P3 cold/warm",),
    "P5": ("P5 cold/warm", "P5 build cold/warm"),
    "P6": ("P6 cold/warm", "P6 build cold/warm"),
}


def _nothing(trial: Trial) -> None:
    return None


def clean_build(
    name: str,
    ws: Workspace,
    ccache: Path,
    cache_of: Callable[[Trial], Path],
    fresh: bool,
    before: Callable[[Trial], None] = _nothing,
) -> Contender:
    """invoke clean-build of `ws` with CCACHE_DIR=cache_of(trial), its statistics zeroed first.

    `fresh`: the cache dir is new per run and removed after it. `before` runs (untimed) first.
    """

    def prepare(trial: Trial) -> dict[str, str]:
        before(trial)
        cache = cache_of(trial)
        cache.mkdir(parents=True, exist_ok=True)
        cc.ccache_zero(ccache, cache, ws.env)
        return {"CCACHE_DIR": str(cache)}

    def verify(trial: Trial, done: Outcome) -> None:
        trial.checks["ccache"] = cc.ccache_stats(ccache, cache_of(trial), ws.env)
        trial.checks["remote_warning"] = "cannot be used" in done.output
        if not ws.extension.is_file() or not (ws.build_dir / "CMakeCache.txt").is_file():
            raise BenchError(f"{trial.scenario} {name} left no build dir or no {ws.extension}")

    def cleanup(trial: Trial) -> None:
        if fresh:
            shutil.rmtree(cache_of(trial), ignore_errors=True)

    argv = tuple(invoke_argv("clean-build", "--source", ws.source))
    return Contender(name, argv, SUITE_ROOT, ws.env, prepare, verify, cleanup)


def fresh_cache(ws: Workspace, label: str) -> Callable[[Trial], Path]:
    """A new cache dir per run, under the benchmark's tmp dir."""
    return lambda trial: ws.tmp / f"ccache-{label}-{trial.marker}"


def ccache_of(ws: Workspace, scenario: str) -> Optional[Path]:
    """The preset's ccache, None (and why, as progress) when the scenario cannot compare caches."""
    launcher = cc.preset_launcher(ws.presets)
    refusal = cc.launcher_refusal(launcher)
    if launcher is None or refusal is not None:
        progress(f"{scenario} skipped: {refusal}")
        return None
    return Path(launcher)


# ---------------------------------------------------------------- P3: the same checkout


def scenario_p3(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P3: invoke clean-build, warm (primed, persistent) vs cold (fresh, empty) ccache."""
    ccache = ccache_of(ws, "P3")
    if ccache is None:
        return []
    must(invoke_argv("clean-build", "--source", ws.source), SUITE_ROOT, ws.env)  # prime
    contenders = [
        clean_build(WARM, ws, ccache, lambda trial: ws.ccache_dir, fresh=False),
        clean_build(COLD, ws, ccache, fresh_cache(ws, "cold"), fresh=True),
    ]
    return play("P3", contenders, rounds, counter, ws.summary)


# ---------------------------------------------------------------- P5: a 2nd worktree


def scenario_p5(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P5: a 2nd worktree's clean-build, with the 1st copy's (warm) ccache vs a cold one.

    Runs after P3, whose clean-builds left the 1st copy's current sources in its cache.
    """
    ccache = ccache_of(ws, "P5")
    if ccache is None:
        return []
    second = copy_of(ws, ws.tmp / "other place", ws.env)
    progress(f"P5: preparing a 2nd worktree at {second.source} (untimed) ...")
    prepare_copy(second)

    def note_env(trial: Trial) -> None:
        env = cc.preset_environment(second.presets)
        trial.checks["preset_env"] = {k: v for k, v in env.items() if k.startswith("CCACHE_")}

    warm, cold = CACHE_CONTENDERS["P5"]
    contenders = [
        clean_build(warm, second, ccache, lambda t: ws.ccache_dir, False, note_env),
        clean_build(cold, second, ccache, fresh_cache(ws, "p5-cold"), True, note_env),
    ]
    return play("P5", contenders, rounds, counter, second.summary)


# ---------------------------------------------------------------- P6: a 2nd machine, Redis


def fill_redis(ws: Workspace, ccache: Path, url: str) -> dict[str, int]:
    """Machine one: the 1st copy's presets with the remote cache, a clean-build with an empty
    local cache (so every compile misses and is written to Redis); its ccache counters."""
    local = ws.tmp / "ccache machine one"
    local.mkdir(exist_ok=True)
    env = {**ws.env, REMOTE: url, "CCACHE_DIR": str(local)}
    must(invoke_argv("presets", "--source", ws.source), SUITE_ROOT, env)
    cc.ccache_zero(ccache, local, env)
    must(invoke_argv("clean-build", "--source", ws.source), SUITE_ROOT, env)
    return cc.ccache_stats(ccache, local, env)


def presets_with(copy: Workspace, env: dict[str, str], url: Optional[str], trial: Trial) -> None:
    """Rewrite the copy's presets (untimed) with or without the remote cache; check they did."""
    must(invoke_argv("presets", "--source", copy.source), SUITE_ROOT, env)
    found = cc.preset_environment(copy.presets).get("CCACHE_REMOTE_STORAGE")
    trial.checks["preset_remote_storage"] = found
    if (found or None) != url:
        raise BenchError(f"P6: the presets' CCACHE_REMOTE_STORAGE is {found!r}, not {url!r}")


def scenario_p6(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P6: machine two's clean-build from a shared Redis (empty local cache) vs cold."""
    ccache = ccache_of(ws, "P6")
    binary = services.redis_server_binary()
    if ccache is None:
        return []
    if binary is None:
        progress(f"P6 skipped: {cc.p6_refusal(str(ccache), False, [])}")
        return []
    with services.redis(binary, ws.tmp / "redis") as url:
        progress(f"P6: filling {url} from {ws.source} (machine one, untimed) ...")
        filled = fill_redis(ws, ccache, url)
        progress(f"P6: machine one's clean-build: {filled}")
        prep = ws.tmp / "ccache machine two"
        prep.mkdir(exist_ok=True)
        warm_env = {**ws.env, REMOTE: url, "CCACHE_DIR": str(prep)}
        two = copy_of(ws, ws.tmp / "machine two" / "elsewhere", warm_env)
        progress(f"P6: preparing machine two at {two.source} (untimed) ...")
        prepare_copy(two)
        cold_env = {k: v for k, v in warm_env.items() if k != REMOTE}

        def with_redis(trial: Trial) -> None:
            presets_with(two, warm_env, url, trial)

        def without(trial: Trial) -> None:
            presets_with(two, cold_env, None, trial)

        warm, cold = CACHE_CONTENDERS["P6"]
        contenders = [
            clean_build(warm, two, ccache, fresh_cache(ws, "p6-two"), True, with_redis),
            clean_build(
                cold, replace(two, env=cold_env), ccache, fresh_cache(ws, "p6-cold"), True, without
            ),
        ]
        trials = play("P6", contenders, rounds, counter, two.summary)
    if trials:
        trials[0].checks["redis_fill"] = filled
    return trials


# ---------------------------------------------------------------- what measured nothing


def warm_counts(trials: Sequence[Trial], scenario: str, key: str) -> list[Optional[int]]:
    """One counter of each warm run of a cache scenario (None where ccache reported nothing)."""
    return [c.get(key) for c in warm_counters(trials, scenario)]


def problems(ws: Workspace, trials: Sequence[Trial]) -> list[tuple[str, tuple[str, ...]]]:
    """Each cache scenario that measured nothing: why, and the ratios not to report.

    The launcher and the presets' environment are read from the 1st copy: the copies are
    prepared on the same machine with the same settings.
    """
    launcher = cc.preset_launcher(ws.presets)
    env = cc.preset_environment(ws.presets)
    found = [
        ("P3", cc.p3_refusal(launcher, warm_counts(trials, "P3", "hits"))),
        ("P5", cc.p5_refusal(launcher, warm_counts(trials, "P5", "hits"), env)),
        (
            "P6",
            cc.p6_refusal(
                launcher,
                services.redis_server_binary() is not None,
                warm_counts(trials, "P6", "remote_hits"),
            ),
        ),
    ]
    return [(f"{s} measured nothing: {why}", WITHHELD[s]) for s, why in found if why]
