"""The peak memory of every compile unit, measured while it builds and kept per build dir
(jobs.py plans the jobs from it instead of a fixed GiB per job; the memory gate, process/gate.py,
admits each compile from it).

How it is measured: while a build runs, a thread of ours reads /proc every 0.1 s. A unit's
peak is the largest of (a) the sum of what its processes hold at one moment (VmRSS) and (b) the
peak of any one of them (VmHWM, so a short spike between two samples still counts). nvcc runs
its stages one after another, so (a) is what it holds at once, not the sum of each stage's
peak, which overstates it. What it misses: a process that starts and ends between two samples
(a unit of a fraction of a second, which no budget needs).

Only real compiles teach: a unit's peak is kept when one of its processes was a compiler at
work (cc1plus, cc1, cicc, ptxas, clang -cc1; not a preprocessor run, -E). A unit that ccache,
sccache, a shared Redis cache or an sccache-dist cluster served ran none: its memory says
nothing of the compile's, and it is not kept. The store (gate_peaks says its format) records
each peak with when it was measured and by which compiler.

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

from build_tools.process import gate_peaks, procfs

PERIOD_S = 0.1
KEEP_S = 1.0  # how often ended units' peaks are written while a build runs
SOURCE_FLAG = "--orig_src_path_name"  # nvcc's front ends name the unit's source with it
SERVER = "sccache"  # the process name of sccache's server (and of its client)
# The processes that do a compile's work (their name in /proc). A compiler cache that serves a
# unit runs none of them, or only as a preprocessor (-E); nvcc's own driver and cudafe++ may
# run for a cache hit too, so they are no evidence.
COMPILERS = frozenset({"cc1plus", "cc1", "cicc", "ptxas", "clang", "clang++"})
UNCACHED = "no compiler cache"  # the evidence of a unit compiled where no cache can serve one


def compiler_at_work(name: str, argv: list[str]) -> bool:
    """Whether a process named `name` with `argv` is a compiler compiling (not preprocessing)."""
    if name not in COMPILERS or "-E" in argv:
        return False
    return "-cc1" in argv if name.startswith("clang") else True


def _named_unit(argv: list[str]) -> Optional[str]:
    """The unit a command of the server names: its object, or its dependency target (the
    preprocessing runs sccache adds have `-MT X.o` and no `-o`)."""
    found = gate_peaks.unit_of(argv)
    if found or "-MT" not in argv:
        return found or None
    index = argv.index("-MT") + 1
    return argv[index] if index < len(argv) and argv[index].endswith((".o", ".obj")) else None


Key = tuple[int, int, str]  # pid, start time, name: one process image


@dataclass(frozen=True)
class Measured:
    """A unit's peak in bytes, and the compiler seen at work in it."""

    peak: int
    by: str


class Sampler:
    """Watches one streamed command's session (and, for `build_dir`, the compiles an sccache
    server runs for it); `peaks` is unit -> peak resident bytes, `compiled` unit -> the
    compiler seen at work in it (units without one were served by a cache). With `uncached`
    (no compiler cache can serve this build) every unit ran a real compile, seen at work or
    too quick to be."""

    def __init__(
        self,
        build_dir: Optional[Path] = None,
        keep: Optional[Callable[[dict[str, Measured]], None]] = None,
        uncached: bool = False,
    ) -> None:
        self.uncached = uncached
        self.peaks: dict[str, int] = {}
        self.compiled: dict[str, str] = {}
        self.build_dir = str(build_dir) if build_dir else None
        # Called with the peaks of units that ended (at most every KEEP_S): the memory gate
        # reads them while the build runs, so a first build learns as it goes.
        self.keep = keep
        self._running: set[str] = set()
        self._ended: set[str] = set()
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
            if not name:
                continue
            rss, hwm = procfs.memory(pid)
            totals[name] = totals.get(name, 0) + rss
            self.peaks[name] = max(hwm, self.peaks.get(name, 0))
            if name not in self.compiled and table[pid].name in COMPILERS:
                if compiler_at_work(table[pid].name, self._read_argv(keys[pid])):
                    self.compiled[name] = table[pid].name
        for name, total in totals.items():
            self.peaks[name] = max(total, self.peaks.get(name, 0))
        if self.keep is not None:
            self._keep_ended(set(totals))

    def measured(self, names: Optional[set[str]] = None) -> dict[str, Measured]:
        """The peaks of the units (of `names`) a compiler was seen at work in."""
        compiled = dict(self.compiled)
        if self.uncached:
            compiled = {name: compiled.get(name, UNCACHED) for name in self.peaks}
        return {
            name: Measured(self.peaks.get(name, 0), by)
            for name, by in compiled.items()
            if (names is None or name in names) and self.peaks.get(name, 0) > 0
        }

    def _keep_ended(self, running: set[str]) -> None:
        self._ended |= self._running - running
        self._running = running
        now = time.monotonic()
        if self._ended and self.keep is not None and now - self._kept_at >= KEEP_S:
            ended, self._ended, self._kept_at = self.measured(self._ended), set(), now
            if not ended:
                return
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


def record(state_dir: Path, build_dir: Path, peaks: Mapping[str, Measured]) -> None:
    """Merge this build's measured peaks into what earlier builds measured (the larger peak
    stays, with when it was measured)."""
    if not peaks:
        return
    path = store(state_dir, build_dir)
    known = _entries(path)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for unit, found in peaks.items():
        old = known.get(unit, {}).get("peak")
        if not isinstance(old, int) or found.peak > old:
            known[unit] = {"peak": found.peak, "measured": now, "by": found.by}
    data = {"format": gate_peaks.FORMAT, "units": dict(sorted(known.items()))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # the gate reads it while builds run
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _entries(path: Path) -> dict[str, dict[str, object]]:
    """The store's unit entries ({} when it is missing, damaged or of the first format)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        gate_peaks.peaks_of(data)
    except (OSError, ValueError):
        return {}
    return {str(k): dict(v) for k, v in data["units"].items() if isinstance(v, dict)}


def load(state_dir: Path, build_dir: Path) -> dict[str, int]:
    """unit -> measured peak bytes of the build dir (real compiles only)."""
    try:
        return gate_peaks.peaks_of(json.loads(store(state_dir, build_dir).read_text("utf-8")))
    except (OSError, ValueError):
        return {}
