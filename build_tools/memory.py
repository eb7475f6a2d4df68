"""Learned memory budgets: the peak memory of every compile unit, measured while it builds,
and the jobs plan made from it instead of a fixed GiB per job.

How it is measured: while a build runs, a thread of ours reads /proc every 0.1 s for the
processes of the build's session (ours: the runner starts each command in one) and adds up
the peak resident memory so far (VmHWM) of each unit's processes (nvcc's cicc, ptxas, the
host compiler...: a process belongs to the unit whose compile command, `... -c ... -o X.o`, is
its nearest ancestor). A unit's peak is the largest such sum seen. VmHWM means a process seen
once, late, still reports its own peak; summing it over processes whose peaks were not at the
same moment errs high, the safe side for a budget. What it misses: a process that starts and
ends between two samples (a unit of a fraction of a second, which no budget needs).

How it is used: a unit whose peak would not fit `cpus` times into memory is heavy; the targets
holding heavy units get a job pool of their own, sized from their peak, while every other unit
keeps the CPU-bound pool. The pool of a target is set by a CMake script that the preset names as
CMAKE_PROJECT_INCLUDE (so raw `cmake --preset` gets it too).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PERIOD_S = 0.1
GiB = 1024**3
_TARGET = re.compile(r"CMakeFiles/([^/]+)\.dir/")


def _processes(session: int) -> dict[int, tuple[int, int, list[str]]]:
    """pid -> (ppid, peak resident bytes, argv) for the live processes of `session`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) != session or fields[0] == "Z":
                continue
            argv = (stat.parent / "cmdline").read_bytes().decode(errors="replace").split("\0")
            found[int(stat.parent.name)] = (int(fields[1]), _peak_rss(stat.parent), argv)
        except (OSError, IndexError, ValueError):
            continue
    return found


def _peak_rss(proc: Path) -> int:
    """The process's peak resident bytes so far (VmHWM), its current ones where that is absent."""
    for line in (proc / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return int((proc / "statm").read_text().split()[1]) * PAGE


def _unit_of(argv: list[str]) -> Optional[str]:
    """The object a compile command makes (`-c ... -o X.o`), None for anything else."""
    if "-c" not in argv or "-o" not in argv:
        return None
    index = argv.index("-o") + 1
    return argv[index] if index < len(argv) and argv[index].endswith((".o", ".obj")) else None


class Sampler:
    """Watches one streamed command's session; `peaks` is unit -> peak resident bytes."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def observe(self, session: Optional[int]) -> None:
        """The runner's observer hook: a session started (its pid) or ended (None)."""
        if session is None:
            self._stop.set()
            if self._thread:
                self._thread.join()
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(session,), daemon=True)
        self._thread.start()

    def _run(self, session: int) -> None:
        while not self._stop.wait(PERIOD_S):
            self.sample(session)

    def sample(self, session: int) -> None:
        live = _processes(session)
        units: dict[int, Optional[str]] = {}

        def unit(pid: int, depth: int = 0) -> Optional[str]:
            if pid not in units:
                entry = live.get(pid)
                own = _unit_of(entry[2]) if entry else None
                units[pid] = own or (unit(entry[0], depth + 1) if entry and depth < 16 else None)
            return units[pid]

        totals: dict[str, int] = {}
        for pid, (_, rss, _) in live.items():
            name = unit(pid)
            if name:
                totals[name] = totals.get(name, 0) + rss
        for name, total in totals.items():
            self.peaks[name] = max(total, self.peaks.get(name, 0))


def store(state_dir: Path, build_dir: Path) -> Path:
    return state_dir / "memory" / f"{build_dir.name}.json"


def record(state_dir: Path, build_dir: Path, peaks: Mapping[str, int]) -> None:
    """Merge this build's peaks into what earlier builds measured (the larger value stays)."""
    if not peaks:
        return
    path = store(state_dir, build_dir)
    known = load(state_dir, build_dir)
    known.update({u: max(p, known.get(u, 0)) for u, p in peaks.items()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass


def load(state_dir: Path, build_dir: Path) -> dict[str, int]:
    try:
        data = json.loads(store(state_dir, build_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Plan:
    jobs: int  # the pool every light unit compiles in
    heavy_jobs: int  # the pool of the targets that hold heavy units (0: none)
    heavy_targets: tuple[str, ...]
    why: str


def plan(peaks: Mapping[str, int], cpus: int, memory: int) -> Plan:
    """Jobs from measured peaks: light units keep every CPU busy, heavy ones get a pool that
    fits their peak into memory next to a full light pool's."""
    if not peaks:
        return Plan(cpus, 0, (), "no measured peaks")
    share = memory / max(cpus, 1)
    heavy = {u: p for u, p in peaks.items() if p > share}
    light_peak = max((p for u, p in peaks.items() if u not in heavy), default=0)
    targets = tuple(sorted({m.group(1) for u in heavy if (m := _TARGET.search(u))}))
    worst = max(peaks, key=lambda u: peaks[u])
    text = f"heaviest unit {worst.rsplit('/', 1)[-1]} {peaks[worst] / GiB:.2f} GiB"
    if not heavy or not targets:
        jobs = cpus if not light_peak else max(1, min(cpus, int(memory // light_peak)))
        return Plan(jobs, 0, (), f"measured peaks, {text}: all units fit {cpus} at a time")
    heavy_peak = max(heavy.values())
    heavy_jobs = max(1, int(memory // (2 * heavy_peak)))  # half the memory for heavy units
    light = max(1, min(cpus, int((memory / 2) // max(light_peak, 1))))
    why = (
        f"measured peaks, {text}: {', '.join(targets)} in a pool of {heavy_jobs}, "
        f"every other unit {light} at a time"
    )
    return Plan(light, heavy_jobs, targets, why)


def pools_file(state_dir: Path, build_dir: Path, targets: tuple[str, ...]) -> Path:
    """The CMake script that puts `targets` into the heavy pool (CMAKE_PROJECT_INCLUDE)."""
    path = state_dir / "memory" / f"{build_dir.name}-pools.cmake"
    names = " ".join(targets)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by vllm-build-tools from measured peak memory per compile unit\n"
        "include_guard(GLOBAL)\n"
        "if(NOT CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)\n  return()\nendif()\n"
        "function(_vllm_build_tools_heavy_pool)\n"
        f"  foreach(name IN ITEMS {names})\n"
        "    if(TARGET ${name})\n"
        "      set_property(TARGET ${name} PROPERTY JOB_POOL_COMPILE heavy)\n"
        "    endif()\n"
        "  endforeach()\n"
        "endfunction()\n"
        "cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _vllm_build_tools_heavy_pool)\n",
        encoding="utf-8",
    )
    return path
