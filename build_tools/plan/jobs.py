"""How many compiles run at once, and with how many nvcc threads: the one planner.

`plan` decides from the CPUs and memory we may use, the CUDA arch count, each compile unit's
measured peak memory (insight/memory.py) and an sccache-dist cluster's CPUs; `invoke presets`
writes what it decides and `invoke doctor` shows it (both through facts.job_plan). Pure:
numbers in, a plan out.

- Fixed budget (nothing measured yet): as vLLM's script, NVCC_THREADS = min(4, cpus) and
  jobs = cpus // NVCC_THREADS, except that nvcc gains nothing from more threads than archs;
  then jobs x NVCC_THREADS is bounded by memory at `mem_per_job_gb` per compiler process.
- Measured peaks: a unit whose peak would not fit `cpus` times into memory is heavy; the
  targets holding heavy units get a job pool of their own, sized from their peak, while every
  other unit keeps the CPU-bound pool.
- A cluster offering more CPUs raises the compile jobs; links stay bounded by local memory.
Explicit `jobs` / `nvcc_threads` settings always win.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Optional

GiB = 1024**3
_TARGET = re.compile(r"CMakeFiles/([^/]+)\.dir/")


@dataclass(frozen=True)
class JobPlan:
    jobs: int  # the pool every (light) unit compiles in
    nvcc_threads: int
    why: str
    link_jobs: Optional[int] = None  # a link pool of its own (compiles run elsewhere)
    heavy_jobs: int = 0  # the pool of the targets that hold heavy units (0: none)
    heavy_targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Demand:
    """What is asked of the machine: the settings that bound the plan, and the build."""

    cuda: bool
    n_archs: Optional[int]
    mem_per_job_gb: float
    jobs: int = 0  # explicit: wins
    nvcc_threads: int = 0  # explicit: wins


def fixed(cpus: int, memory: Optional[int], demand: Demand) -> JobPlan:
    """The plan before anything is measured (see the module's text)."""
    threads = demand.nvcc_threads
    if not threads:
        threads = min(4, cpus) if demand.cuda else 1
        if demand.cuda and demand.n_archs:
            threads = max(1, min(threads, demand.n_archs))
    planned = demand.jobs or max(1, cpus // threads)
    why = f"{cpus} CPUs"
    budget = demand.mem_per_job_gb
    if not demand.jobs and memory is not None and budget > 0:
        fits = max(1, int(memory / (budget * GiB * threads)))
        if fits < planned:
            planned = fits
            why += f", memory-bound: {memory / GiB:.1f} GiB available at {budget:g} GiB/job"
    return JobPlan(jobs=planned, nvcc_threads=threads, why=why)


def measured(peaks: Mapping[str, int], cpus: int, memory: int) -> JobPlan:
    """Jobs from measured peaks: light units keep every CPU busy, heavy ones get a pool that
    fits their peak into memory next to a full light pool's (nvcc_threads left 0)."""
    if not peaks:
        return JobPlan(cpus, 0, "no measured peaks")
    share = memory / max(cpus, 1)
    heavy = {u: p for u, p in peaks.items() if p > share}
    light_peak = max((p for u, p in peaks.items() if u not in heavy), default=0)
    targets = tuple(sorted({m.group(1) for u in heavy if (m := _TARGET.search(u))}))
    worst = max(peaks, key=lambda u: peaks[u])
    text = f"heaviest unit {worst.rsplit('/', 1)[-1]} {peaks[worst] / GiB:.2f} GiB"
    if not heavy or not targets:
        jobs = cpus if not light_peak else max(1, min(cpus, int(memory // light_peak)))
        return JobPlan(jobs, 0, f"measured peaks, {text}: all units fit {cpus} at a time")
    heavy_peak = max(heavy.values())
    heavy_jobs = max(1, int(memory // (2 * heavy_peak)))  # half the memory for heavy units
    light = max(1, min(cpus, int((memory / 2) // max(light_peak, 1))))
    why = (
        f"measured peaks, {text}: {', '.join(targets)} in a pool of {heavy_jobs}, "
        f"every other unit {light} at a time"
    )
    return JobPlan(light, 0, why, heavy_jobs=heavy_jobs, heavy_targets=targets)


def plan(
    cpus: int,
    memory: Optional[int],
    demand: Demand,
    peaks: Mapping[str, int],
    cluster: Optional[tuple[int, str]] = None,
) -> JobPlan:
    """The plan for this machine: fixed, refined by measured peaks, raised by a cluster's CPUs
    (`cluster`: its CPUs and what it said of itself)."""
    base = fixed(cpus, memory, demand)
    if demand.jobs or not peaks or memory is None:
        why = base.why + ("" if peaks or demand.jobs else "; no measured peaks yet")
        result = replace(base, why=why)
    else:
        learned = measured(peaks, max(1, cpus // base.nvcc_threads), memory)
        why = f"{base.why.split(',')[0]}; {learned.why}"
        result = replace(learned, nvcc_threads=base.nvcc_threads, why=why)
    if cluster is None or demand.jobs or cluster[0] <= result.jobs:
        return result
    there, said = cluster
    why = f"{result.why}; sccache-dist offers {there} CPUs ({said}), links stay at {result.jobs}"
    return replace(result, jobs=there, why=why, link_jobs=result.jobs)
