"""The peak memory of every compile unit, measured while it builds and kept per build dir
(jobs.py plans the jobs from it instead of a fixed GiB per job).

How it is measured: while a build runs, a thread of ours reads /proc every 0.1 s for the
processes of the build's session (ours: the runner starts each command in one) and adds up
the peak resident memory so far (VmHWM) of each unit's processes (nvcc's cicc, ptxas, the
host compiler...: a process belongs to the unit whose compile command, `... -c ... -o X.o`, is
its nearest ancestor). A unit's peak is the largest such sum seen. VmHWM means a process seen
once, late, still reports its own peak; summing it over processes whose peaks were not at the
same moment errs high, the safe side for a budget. What it misses: a process that starts and
ends between two samples (a unit of a fraction of a second, which no budget needs).

"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from build_tools.process import procfs

PERIOD_S = 0.1


def _processes(session: int) -> dict[int, tuple[int, int, list[str]]]:
    """pid -> (ppid, peak resident bytes, argv) for the live processes of `session`."""
    found = {}
    for proc in procfs.processes(session):
        found[proc.pid] = (proc.ppid, procfs.peak_rss(proc.pid), procfs.argv(proc.pid))
    return found


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
