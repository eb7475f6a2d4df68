"""The peak memory of every compile unit, measured while it builds and kept per build dir
(jobs.py plans the jobs from it instead of a fixed GiB per job; the memory gate, process/gate.py,
admits each compile from it).

How it is measured: while a build runs, a thread of ours reads /proc every 0.1 s and adds up the
peak resident memory so far (VmHWM) of each unit's processes. A unit's peak is the largest such
sum seen. VmHWM means a process seen once, late, still reports its own peak; summing it over
processes whose peaks were not at the same moment errs high, the safe side for a budget. What
it misses: a process that starts and ends between two samples (a unit of a fraction of a
second, which no budget needs).

Which processes are a unit's:
- in the build's session (ours: the runner starts each command in one), a process belongs to
  the unit whose compile command, `... -c ... -o X.o`, is its nearest ancestor (nvcc's cicc,
  ptxas and host compiler count for their unit);
- under sccache the compiles run in the sccache server, outside the session (only the client,
  ~8 MiB, is inside). A process descended from a process named `sccache` outside the session is
  this build's when it runs in the build dir and names a unit (`-o X.o`, `-MT X.o`) or a source
  a client of this build is compiling; sccache's own steps of an nvcc compile (cudafe++, cicc,
  ptxas) run in a temporary dir and name the source (`--orig_src_path_name`), and that dir then
  stands for the unit. Their descendants count for the same unit.
A process's argv and cwd are read once (keyed by pid, start time and name, which exec
changes), so a scan is one read of each process's stat plus the status of the units' processes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools.process import gate, gate_peaks, procfs

PERIOD_S = 0.1
KEEP_S = 1.0  # how often ended units' peaks are written while a build runs
SOURCE_FLAG = "--orig_src_path_name"  # nvcc's front ends name the unit's source with it
SERVER = "sccache"  # the process name of sccache's server (and of its client)


def _named_unit(argv: list[str]) -> Optional[str]:
    """The unit a command of the server names: its object, or its dependency target (the
    preprocessing runs sccache adds have `-MT X.o` and no `-o`)."""
    found = gate_peaks.unit_of(argv)
    if found or "-MT" not in argv:
        return found or None
    index = argv.index("-MT") + 1
    return argv[index] if index < len(argv) and argv[index].endswith((".o", ".obj")) else None


Key = tuple[int, int, str]  # pid, start time, name: one process image


class Sampler:
    """Watches one streamed command's session (and, for `build_dir`, the compiles an sccache
    server runs for it); `peaks` is unit -> peak resident bytes."""

    def __init__(
        self,
        build_dir: Optional[Path] = None,
        keep: Optional[Callable[[dict[str, int]], None]] = None,
    ) -> None:
        self.peaks: dict[str, int] = {}
        self.build_dir = str(build_dir) if build_dir else None
        # Called with the peaks of units that ended (at most every KEEP_S): the memory gate
        # reads them while the build runs, so a first build learns as it goes.
        self.keep = keep
        self._running: set[str] = set()
        self._ended: dict[str, int] = {}
        self._kept_at = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._argv: dict[Key, list[str]] = {}
        self._cwd: dict[Key, str] = {}
        self._sources: dict[str, str] = {}  # a source being compiled -> its unit
        self._dirs: dict[str, str] = {}  # sccache's temporary dir of an nvcc step -> its unit

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

    def _read_argv(self, key: Key) -> list[str]:
        if key not in self._argv:
            self._argv[key] = procfs.argv(key[0])
        return self._argv[key]

    def _read_cwd(self, key: Key) -> str:
        if key not in self._cwd:
            self._cwd[key] = procfs.cwd(key[0])
        return self._cwd[key]

    def _foreign_unit(self, key: Key) -> Optional[str]:
        """The unit of a process an sccache server runs (None: not this build's, or none)."""
        argv, cwd = self._read_argv(key), self._read_cwd(key)
        if cwd == self.build_dir:
            named = _named_unit(argv)
            if named:
                return named
        for index, item in enumerate(argv):
            unit = self._sources.get(item)
            if unit and (cwd == self.build_dir or argv[index - 1] == SOURCE_FLAG):
                if cwd != self.build_dir:
                    self._dirs[cwd] = unit
                return unit
        return self._dirs.get(cwd)

    def sample(self, session: int) -> None:
        table = {p.pid: p for p in procfs.processes()}
        keys = {pid: (pid, p.start_ticks, p.name) for pid, p in table.items()}
        for old in [k for k in self._argv if keys.get(k[0]) != k]:  # ended or exec'd since
            self._argv.pop(old, None)
            self._cwd.pop(old, None)
        own: dict[int, Optional[str]] = {}
        for pid, proc in table.items():
            if proc.session == session:
                argv = self._read_argv(keys[pid])
                found = own[pid] = gate_peaks.unit_of(argv) or None
                source = gate_peaks.source_of(argv) if found and self.build_dir else ""
                if found and source:
                    self._sources.setdefault(os.path.join(self.build_dir or "", source), found)
        served = self._served(table, session) if self.build_dir else set()
        for pid in served:
            own[pid] = self._foreign_unit(keys[pid])
        units: dict[int, Optional[str]] = {}

        def unit(pid: int, depth: int = 0) -> Optional[str]:
            if pid not in units:
                parent = table[pid].ppid if pid in table else 0
                inherited = unit(parent, depth + 1) if parent in own and depth < 16 else None
                units[pid] = own.get(pid) or inherited
            return units[pid]

        totals: dict[str, int] = {}
        for pid in own:
            name = unit(pid)
            if name:
                totals[name] = totals.get(name, 0) + procfs.peak_rss(pid)
        for name, total in totals.items():
            self.peaks[name] = max(total, self.peaks.get(name, 0))
        if self.keep is not None:
            self._keep_ended(set(totals))

    def _keep_ended(self, running: set[str]) -> None:
        for name in self._running - running:
            self._ended[name] = self.peaks.get(name, 0)
        self._running = running
        now = time.monotonic()
        if self._ended and self.keep is not None and now - self._kept_at >= KEEP_S:
            ended, self._ended, self._kept_at = self._ended, {}, now
            try:
                self.keep(ended)
            except Exception:  # a peak kept late is only a slower plan: never fail a build
                pass

    @staticmethod
    def _served(table: Mapping[int, procfs.Process], session: int) -> set[int]:
        """Processes outside `session` descended from an sccache server (not the server)."""
        found: set[int] = set()
        for pid, proc in table.items():
            if proc.session == session or proc.name == SERVER:
                continue
            parent, depth = proc.ppid, 0
            while parent in table and depth < 16:
                if table[parent].name == SERVER and table[parent].session != session:
                    found.add(pid)
                    break
                parent, depth = table[parent].ppid, depth + 1
        return found


def store(state_dir: Path, build_dir: Path) -> Path:
    return state_dir / "memory" / f"{build_dir.name}.json"


WAITS_KEPT = 1 << 20


def waits_file(state_dir: Path, build_dir: Path) -> Path:
    """Where the memory gate records the compiles it held (gate.WAITS)."""
    path = store(state_dir, build_dir)
    return path.with_name(path.name + gate.WAITS)


def waits_offset(state_dir: Path, build_dir: Path) -> int:
    """Where the memory gate's record of waits ends now (0 when there is none; a record grown
    past WAITS_KEPT bytes is started afresh)."""
    path = waits_file(state_dir, build_dir)
    try:
        size = path.stat().st_size
        if size > WAITS_KEPT:
            path.unlink()
            return 0
        return size
    except OSError:
        return 0


@dataclass(frozen=True)
class GateWaits:
    """The compiles the memory gate held during one build."""

    count: int
    seconds: float
    longest: tuple[float, str, int, str]  # seconds, unit, bytes expected, why

    @property
    def summary(self) -> str:
        return f"the memory gate held {self.count} compile(s) {self.seconds:.0f} s in all"

    @property
    def line(self) -> str:
        seconds, unit, peak, why = self.longest
        return (
            f"{self.summary} until their expected peak fit (counted in their times above); "
            f"longest {unit} {seconds:.0f} s, expecting {peak / 2**30:.1f} GiB ({why})"
        )


def gate_waits(state_dir: Path, build_dir: Path, offset: int) -> Optional[GateWaits]:
    """The compiles the memory gate held since `offset` (None when none waited): a wait prints
    nothing as it happens, and it counts in the unit's time in ninja's log."""
    try:
        with open(waits_file(state_dir, build_dir), "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    waits = []
    for line in text.splitlines():
        fields = line.split("\t")
        try:
            waits.append((float(fields[1]), fields[0], int(fields[2]), fields[3]))
        except (IndexError, ValueError):
            continue
    if not waits:
        return None
    return GateWaits(len(waits), sum(w[0] for w in waits), max(waits))


def record(state_dir: Path, build_dir: Path, peaks: Mapping[str, int]) -> None:
    """Merge this build's peaks into what earlier builds measured (the larger value stays)."""
    if not peaks:
        return
    path = store(state_dir, build_dir)
    known = load(state_dir, build_dir)
    known.update({u: max(p, known.get(u, 0)) for u, p in peaks.items()})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # the gate reads it while builds run
        tmp.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def load(state_dir: Path, build_dir: Path) -> dict[str, int]:
    try:
        data = json.loads(store(state_dir, build_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}
