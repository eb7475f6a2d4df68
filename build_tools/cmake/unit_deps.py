"""What each compile unit of a configured build dir reads, asked of ninja and the compiler.

- **The units**: ninja's graph (`unit_graph.py`): (target, source, object), the links between
  targets, and what a generated source is made from.
- **A built unit**: ninja's deps log (`ninja -t deps OBJ...`, one call for every unit), exactly
  what ninja compares when it decides to recompile. A STALE record (the object is newer than
  the record, or missing) is what ninja itself distrusts: such a unit counts as not built.
- **A unit never built** (the precompiled case: no object, no deps log entry): a dependency
  scan of the unit's own compile command (`dep_scan.py`: `ninja -t commands -s OBJ`, the
  launcher dropped, `-MD` -> `-M`), cached in the state dir until a file it listed changes
  (`scan_cache.py`).

Every path is normalized like ninja's (`ninja_tool.normalize`): relative to the source dir
when inside it, absolute otherwise. Processes start through the `capture` callable the caller
passes (`runner_capture` over the runner), as compile_db takes `git`. The modules named above
hold the formats and the scans; this one asks them, lazily, and keeps the public names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from build_tools.cmake.codemodel import CodeModel, read_codemodel
from build_tools.cmake.dep_scan import parse_depfile, run_scans, scan_argv, search_dirs
from build_tools.cmake.include_text import IncludeText
from build_tools.cmake.ninja_tool import (
    Ninja,
    Node,
    Recorded,
    normalize,
    parse_deps,
    parse_query,
)
from build_tools.cmake.project import launchers, make_program
from build_tools.cmake.scan_cache import ScanCache, cache_path, memo_stat, scan_key
from build_tools.cmake.unit_graph import Graph, Unit, read_graph
from build_tools.errors import BuildToolsError
from build_tools.process.runner import Capture, Command, Runner

__all__ = [
    "Capture",
    "Files",
    "Graph",
    "Node",
    "Recorded",
    "ScanStats",
    "Unit",
    "UnitDeps",
    "normalize",
    "parse_depfile",
    "parse_deps",
    "parse_query",
    "runner_capture",
    "scan_argv",
]


@dataclass(frozen=True)
class Files:
    """What one unit reads: its source and every header, or why that is unknown."""

    files: frozenset[str]
    origin: str  # "deps log", "scan", "cached scan"
    error: str = ""  # a failed scan's output (then `files` is empty)

    @property
    def failed(self) -> bool:
        return bool(self.error)


@dataclass
class ScanStats:
    scans: int = 0  # scans that ran a compiler
    cached: int = 0  # answered from the cache
    failed: int = 0
    seconds: float = 0.0  # wall time of the scans that ran
    each: list[tuple[str, float]] = field(default_factory=list)  # (source, seconds)


class UnitDeps:
    """The units of one configured build dir and the files each reads (see the module doc).

    `model` defaults to the build dir's codemodel, `ninja` to the make program its cache names
    (the ninja that built it). Everything is asked lazily: the graph on first use (two
    `ninja -t query` calls), the deps log on the first question about a unit (one `ninja -t
    deps` call for all units), compile commands when a scan or the scan cache needs them (one
    `ninja -t commands -s` call), and a scan only for the units `scan` is asked about; `jobs`
    scans run at once. `stats` counts the scans and their time.
    """

    def __init__(
        self,
        build_dir: Path,
        state_dir: Path,
        capture: Capture,
        *,
        model: Optional[CodeModel] = None,
        ninja: Optional[str] = None,
        jobs: int = 1,
    ) -> None:
        model = model or read_codemodel(build_dir)
        if model is None:
            raise BuildToolsError(
                f"{build_dir} has no CMake File API codemodel reply.",
                "run `invoke configure` first",
            )
        self.build_dir = build_dir
        self.model = model
        self.source_dir = model.source_dir or build_dir.parent
        self.capture = capture
        self.ninja = ninja or make_program(build_dir) or "ninja"
        self.jobs = max(1, jobs)
        self.stats = ScanStats()
        self._tool = Ninja(self.ninja, build_dir, capture)
        self._stat = memo_stat()
        self._cache_path = cache_path(state_dir, build_dir)
        self._cache: Optional[ScanCache] = None
        self._graph: Optional[Graph] = None
        self._recorded: Optional[dict[str, Recorded]] = None
        self._commands: dict[str, str] = {}  # object -> its command, as ninja runs it
        self._all_commands = False
        self._all_reach = False
        self._launchers = launchers(build_dir)
        self._text: Optional[IncludeText] = None

    def graph(self) -> Graph:
        """The units of every target and the links between targets (ninja's graph)."""
        if self._graph is None:
            self._graph = read_graph(self._tool, self.model, self.source_dir)
        return self._graph

    def _files(self, paths: Iterable[str], origin: str) -> Files:
        return Files(
            frozenset(normalize(p, self.build_dir, self.source_dir) for p in paths), origin
        )

    # -------------------------------------------------------------- the deps log

    def _records(self) -> dict[str, Recorded]:
        if self._recorded is None:
            self._recorded = self._tool.deps([u.object for u in self.graph().all_units()])
        return self._recorded

    def built(self, unit: Unit) -> bool:
        """Whether ninja's deps log holds a record of the unit it trusts (VALID): the object
        exists and was built from what the record lists."""
        record = self._records().get(unit.object)
        return record is not None and record.valid

    def recorded(self, unit: Unit) -> Optional[Files]:
        """The unit's files from ninja's deps log, None when it has no VALID record."""
        record = self._records().get(unit.object)
        if record is None or not record.valid:
            return None
        return self._files(record.paths, "deps log")

    def known(self, unit: Unit) -> Optional[Files]:
        """The unit's files when knowing them costs no compiler run: the deps log, else a
        cached scan that is still valid; None otherwise."""
        found = self.recorded(unit)
        if found is not None:
            return found
        if not self.cache().entries and not self.cache().failures:
            return None
        if not self._all_commands:  # one ninja call for every unit the deps log lacks
            self._all_commands = True
            self.load_commands(u for u in self.graph().all_units() if not self.built(u))
        command = self._commands.get(unit.object)
        if command is None:
            return None
        key = scan_key(self.build_dir, command)
        cached, failed = self.cache().get(key), self.cache().failure(key)
        if failed is not None:
            return Files(frozenset(), "cached scan", failed)
        return None if cached is None else self._files(cached, "cached scan")

    def reach(self, unit: Unit) -> Optional[list[str]]:
        """The directories the unit's compile looks for headers in, as affected.py spells
        paths (relative to the source dir when inside it); None when its command is unknown."""
        if not self._all_reach:  # one ninja call for every unit
            self._all_reach = True
            self.load_commands(self.graph().all_units())
        command = self._commands.get(unit.object)
        if command is None:
            return None
        return [normalize(d, self.build_dir, self.source_dir) for d in search_dirs(command)]

    def likely(self, unit: Unit, headers: Collection[str], outside: Collection[str]) -> bool:
        """Whether the unit reaches one of `headers` (absolute) through the `#include` lines
        of the checkout's files (`outside`: folders in it that are not its sources): an order
        for the scans, never their answer (include_text.py)."""
        if self._text is None:
            self._text = IncludeText(str(self.source_dir), outside)
        if not self._all_reach:
            self._all_reach = True
            self.load_commands(self.graph().all_units())
        command = self._commands.get(unit.object) or ""
        dirs = [os.path.join(self.build_dir, d) for d in search_dirs(command)]
        source = os.path.join(self.source_dir, unit.source)
        return self._text.reaches(source, dirs, headers)

    # -------------------------------------------------------------- scans

    def cache(self) -> ScanCache:
        if self._cache is None:
            self._cache = ScanCache.load(self._cache_path, self._stat)
        return self._cache

    def load_commands(self, units: Iterable[Unit]) -> None:
        """Fetch the compile commands of `units` (one ninja call), so `known` can answer from
        the scan cache."""
        missing = [u.object for u in units if u.object not in self._commands]
        if missing:
            self._commands.update(self._tool.commands(missing))

    def scan(self, units: Sequence[Unit], *, force: bool = False) -> dict[Unit, Files]:
        """Each unit's files: known ones as `known` answers (unless `force`), the others
        scanned (`jobs` at once) and cached."""
        self.load_commands(units)
        results: dict[Unit, Files] = {}
        todo: list[Unit] = []
        for unit in units:
            found = None if force else self.known(unit)
            if found is not None:
                results[unit] = found
                self.stats.cached += found.origin == "cached scan"
            else:
                todo.append(unit)
        if not todo:
            return results
        cache = self.cache()  # loaded here, never in a worker thread
        commands = [(u.object, self._commands.get(u.object)) for u in todo]
        scanned = run_scans(self.capture, self.build_dir, commands, self._launchers, self.jobs)
        for unit, done in zip(todo, scanned, strict=True):
            if done.paths is None:
                files = Files(frozenset(), "scan", done.error)
                command = self._commands.get(unit.object)
                if command:
                    key = scan_key(self.build_dir, command)
                    watched = self._failure_inputs(unit, command, done.error)
                    cache.put_failure(key, done.error, watched, self._stat)
            else:
                cache.put(
                    scan_key(self.build_dir, self._commands[unit.object]), done.paths, self._stat
                )
                files = self._files(done.paths, "scan")
            results[unit] = files
            self.stats.scans += 1
            self.stats.failed += files.failed
            self.stats.seconds += done.seconds
            self.stats.each.append((unit.source, done.seconds))
        cache.save()
        return results

    def _failure_inputs(self, unit: Unit, command: str, error: str) -> list[str]:
        """What a failed scan stays failed for: its source, the folders it searches for
        headers (one gains the missing header: its mtime moves) and the files its error names
        (a header's `#error`)."""
        source = os.path.join(self.source_dir, unit.source)  # an absolute source stays so
        folders = [os.path.join(self.build_dir, d) for d in search_dirs(command)]
        named = [os.path.join(self.build_dir, m) for m in _NAMED.findall(error)]
        found = [source, os.path.dirname(source), *folders, *named]
        return list(dict.fromkeys(os.path.normpath(p) for p in found if os.path.exists(p)))


# A file a compiler's error names: "a/b.h:3:2: error", "In file included from a/b.h:3".
_NAMED = re.compile(r"([^\s:'\"]+\.(?:h|hh|hpp|hxx|cuh|inc|inl|c|cc|cpp|cxx|cu)):\d+")


def runner_capture(
    runner: Runner, env: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None
) -> Capture:
    """A `Capture` over the runner (logged; also in a dry run: scans change nothing); a
    command past `timeout` seconds ends with exit code 124."""

    def run(argv: Sequence[object], cwd: Path) -> tuple[int, str]:
        done = runner.capture(Command.of(argv, cwd, env), timeout=timeout)
        return done.returncode, done.output

    return run
