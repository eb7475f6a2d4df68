"""Medians, the headline ratios, the targets they are held to, and the printed table.

The cache scenarios' hit rates are shares (0..1) of the warm runs' compiles, pooled over them.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from benchmarks.loop.harness import Trial

SCENARIOS = {
    "P1": "edit one .cpp -> installed .so changed",
    "P2": "no-op build, and start-up floors",
    "P3": "invoke clean-build, warm vs cold compiler cache",
    "P4": "edit one .cu -> installed .so changed",
    "P5": "a 2nd worktree's clean-build, the 1st one's ccache vs cold",
    "P6": "a 2nd machine's clean-build, served by Redis vs cold",
    "P7": "a cold clean-build with the memory gate vs without",
    "P8": "configure of a new build dir: a warm clean-build's vs a fresh raw cmake --preset",
}

# The cache scenarios' contenders, (warm, cold): the ratios below are cold/warm.
CACHE_CONTENDERS = {
    "P3": ("clean-build, warm ccache", "clean-build, cold ccache"),
    "P5": ("2nd worktree, 1st one's ccache", "2nd worktree, cold ccache"),
    "P6": ("machine two, Redis + empty ccache", "machine two, cold (no cache)"),
}


@dataclass(frozen=True)
class Stats:
    """One contender's samples: count, median, min, max (seconds)."""

    n: int
    median: float
    min: float
    max: float

    @property
    def spread(self) -> float:
        return self.max - self.min


def summarize(values: Sequence[float]) -> Stats:
    """Median, min and max of one contender's samples."""
    return Stats(len(values), statistics.median(values), min(values), max(values))


def stats_by(trials: Sequence[Trial]) -> dict[str, dict[str, Stats]]:
    """scenario (P1..P4) -> contender -> Stats, contenders in the order they first ran."""
    grouped: dict[str, dict[str, list[float]]] = {}
    for trial in trials:
        grouped.setdefault(trial.scenario, {}).setdefault(trial.contender, []).append(trial.seconds)
    return {s: {c: summarize(v) for c, v in grouped[s].items()} for s in sorted(grouped)}


def median_of(
    stats: Mapping[str, Mapping[str, Stats]], scenario: str, name: str
) -> Optional[float]:
    """The median of one contender of one scenario, None when it did not run."""
    found = stats.get(scenario, {}).get(name)
    return found.median if found else None


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a / b, None when either is missing."""
    return a / b if a is not None and b else None


def difference(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a - b, None when either is missing."""
    return a - b if a is not None and b is not None else None


def hit_rate(runs: Sequence[Mapping[str, int]], served: str = "hits") -> Optional[float]:
    """Share of the compiles of `runs` (ccache counters, hits + misses) counted in `served`.

    Pooled over the runs; None when they compiled nothing (or ccache reported nothing).
    """
    compiles = sum(r.get("hits", 0) + r.get("misses", 0) for r in runs)
    return sum(r.get(served, 0) for r in runs) / compiles if compiles else None


def warm_counters(trials: Sequence[Trial], scenario: str) -> list[dict[str, int]]:
    """The ccache counters of each warm run of a cache scenario ({} where none were read)."""
    warm = CACHE_CONTENDERS[scenario][0]
    return [
        dict(t.checks.get("ccache") or {})
        for t in trials
        if t.scenario == scenario and t.contender == warm
    ]


def ratios(
    stats: Mapping[str, Mapping[str, Stats]], trials: Sequence[Trial] = ()
) -> dict[str, Optional[float]]:
    """The headline numbers; the cache scenarios' step ratios and hit rates need `trials`."""

    def m(scenario: str, name: str) -> Optional[float]:
        return median_of(stats, scenario, name)

    steps = step_medians(trials)

    def cold_warm(scenario: str, step: Optional[str] = None) -> Optional[float]:
        warm, cold = CACHE_CONTENDERS[scenario]
        if step is None:
            return ratio(m(scenario, cold), m(scenario, warm))
        by = steps.get(scenario, {})
        return ratio(by.get(cold, {}).get(step), by.get(warm, {}).get(step))

    uv = "uv pip install -e (no precompiled)"
    return {
        "P1 invoke/raw": ratio(m("P1", "invoke build"), m("P1", "raw cmake")),
        "P1 uv/invoke": ratio(m("P1", uv), m("P1", "invoke build")),
        "P2 invoke-raw [s]": difference(m("P2", "invoke build"), m("P2", "raw cmake")),
        "P2 vllm-build/invoke": ratio(
            m("P2", "vllm-build build (in the checkout)"), m("P2", "invoke build")
        ),
        "P3 cold/warm": cold_warm("P3"),
        "P4 invoke/raw": ratio(m("P4", "invoke build"), m("P4", "raw cmake")),
        "P5 cold/warm": cold_warm("P5"),
        "P5 build cold/warm": cold_warm("P5", "build"),
        "P5 warm hit rate": hit_rate(warm_counters(trials, "P5")),
        "P6 cold/warm": cold_warm("P6"),
        "P6 build cold/warm": cold_warm("P6", "build"),
        "P6 served by Redis": hit_rate(warm_counters(trials, "P6"), "remote_hits"),
        "P7 gate/no-gate": ratio(
            m("P7", "clean-build, memory gate"), m("P7", "clean-build, no memory gate")
        ),
        "P8 configure warm/raw": ratio(
            steps.get("P8", {}).get("invoke clean-build (configure step)", {}).get("configure"),
            m("P8", "raw cmake --preset (fresh)"),
        ),
    }


TARGETS = (  # (ratio key, goal, comparison, limit)
    ("P1 invoke/raw", "P1: invoke build <= 1.15x raw cmake", "<=", 1.15),
    ("P1 uv/invoke", "P1: invoke build >= 20x faster than uv pip install -e", ">=", 20.0),
    ("P2 invoke-raw [s]", "P2: invoke build no-op overhead <= 0.25 s", "<=", 0.25),
    ("P2 vllm-build/invoke", "P2: a no-op vllm-build build <= 1.05x invoke build", "<=", 1.05),
    ("P3 cold/warm", "P3: warm clean-build >= 5x faster than cold", ">=", 5.0),
    ("P5 warm hit rate", "P5: a 2nd worktree's warm clean-build hits ccache >= 90 %", ">=", 0.9),
    ("P6 served by Redis", "P6: Redis serves >= 90 % of machine two's compiles", ">=", 0.9),
    ("P7 gate/no-gate", "P7: a cold build with the memory gate <= 1.03x without", "<=", 1.03),
    (
        "P8 configure warm/raw",
        "P8: a warm clean-build's configure <= 0.35x a fresh raw cmake --preset",
        "<=",
        0.35,
    ),
)


def targets(values: Mapping[str, Optional[float]]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it is met (None: not measured)."""
    out = []
    for key, goal, op, limit in TARGETS:
        value = values.get(key)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        out.append({"target": goal, "ratio": key, "value": value, "limit": limit, "met": met})
    return out


def fmt(value: Optional[float], unit: str = "") -> str:
    """A number for the table, 'n/a' when missing."""
    return "n/a" if value is None else f"{value:.3f}{unit}"


def table(stats: Mapping[str, Mapping[str, Stats]]) -> list[str]:
    """One line per contender: n, median, min, max, spread."""
    head = f"{'':4}{'contender':<40}{'n':>3}{'median':>10}{'min':>10}{'max':>10}{'spread':>10}"
    lines = [head, "-" * len(head)]
    for scenario, by in stats.items():
        lines.append(f"{scenario}  {SCENARIOS.get(scenario, '')}")
        for name, s in by.items():
            lines.append(
                f"{'':4}{name:<40}{s.n:>3}{s.median:>10.3f}{s.min:>10.3f}{s.max:>10.3f}"
                f"{s.spread:>10.3f}"
            )
    return lines


def step_medians(trials: Sequence[Trial]) -> dict[str, dict[str, dict[str, float]]]:
    """scenario -> contender -> step -> median seconds, from invoke's own run summaries."""
    grouped: dict[str, dict[str, dict[str, list[float]]]] = {}
    for trial in trials:
        for step, seconds in trial.checks.get("steps", {}).items():
            by = grouped.setdefault(trial.scenario, {}).setdefault(trial.contender, {})
            by.setdefault(step, []).append(seconds)
    return {
        s: {c: {k: statistics.median(v) for k, v in st.items()} for c, st in grouped[s].items()}
        for s in sorted(grouped)
    }


def step_lines(medians: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    """invoke's own step times: what of a run is the build itself and what is start-up."""
    lines = ["invoke's own step times (median s; 'done' = all steps, the rest is start-up):"]
    for scenario, by in medians.items():
        for name, steps in by.items():
            text = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
            lines.append(f"    {scenario} {name:<40} {text}")
    return lines


def target_lines(
    values: Mapping[str, Optional[float]], goals: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The headline ratios, then each target: MET, NOT MET or n/a."""
    lines = ["ratios:"]
    lines += [f"    {k:<20} {fmt(v)}" for k, v in values.items()]
    lines.append("targets:")
    for goal in goals:
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[goal["met"]]
        lines.append(f"    {verdict:<8} {goal['target']}  (measured {fmt(goal['value'])})")
    return lines
