"""What one build cost, from its ninja log entries: the slowest units and targets, the
parallelism it reached against the jobs it was given, its critical path and its cache hit rate.

Pure: entries in, numbers and lines out (last_build.py reads the files and prints).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from build_tools.cache.ccache import hit_text
from build_tools.insight.ninja_log import Entry

# CMake's object files: <dir>/CMakeFiles/<target>.dir/<source relative to that dir>.o
_OBJECT = re.compile(r"(?:^|/)CMakeFiles/([^/]+)\.dir/(.+?)\.(?:o|obj)$")


@dataclass(frozen=True)
class Unit(Entry):
    """An edge of the build named for people: a compiled unit, a link or another command."""

    target: str = ""  # the CMake target it belongs to ("" when unknown)
    name: str = ""  # the source of an object ("csrc/x.cu"), else the output
    held_ms: int = 0  # of its time, how long the memory gate held it before it compiled

    @property
    def own_ms(self) -> int:
        """Its time without the memory gate's wait: what compiling it took."""
        return self.ms - self.held_ms

    @property
    def time_text(self) -> str:
        return seconds(self.ms) + (f" (held {seconds(self.held_ms)})" if self.held_ms else "")


def object_of(output: str) -> Optional[tuple[str, str]]:
    """(target, source) of a CMake object file path (<dir>/CMakeFiles/<target>.dir/<src>.o)."""
    found = _OBJECT.search(output)
    return (found.group(1), found.group(2)) if found else None


def unit_of(entry: Entry, targets: Sequence[str] = (), held_ms: int = 0) -> Unit:
    """An entry named for people: an object by its source and target, a link by its target;
    `held_ms` of its time the memory gate held it."""
    found = _OBJECT.search(entry.output)
    target, name = "", entry.output
    if found and entry.kind == "compile":
        target, name = found.group(1), found.group(2)
    elif entry.kind == "link":
        base = entry.output.rsplit("/", 1)[-1]
        names = [t for t in targets if base.startswith((f"{t}.", f"lib{t}."))]
        target = max(names, key=len) if names else ""
    fields = (entry.start_ms, entry.end_ms, entry.mtime, entry.output, entry.hash)
    return Unit(*fields, target=target, name=name, held_ms=held_ms)


@dataclass(frozen=True)
class CacheRate:
    hits: int
    misses: int
    uncached: int  # compiled without a cache lookup (not cacheable, or no launcher)

    @property
    def text(self) -> str:
        return hit_text(self.hits, self.misses)


def cache_rate(units: Sequence[Unit], results: Mapping[str, str]) -> Optional[CacheRate]:
    """The build's hit rate from ccache's stats log (source path -> hit/miss/uncached); None
    when the log is not this build's: it names a source the build did not compile."""
    if not results or not units:
        return None
    wanted = {u.name: "/" + re.sub(r"^(?:__/)+", "", u.name) for u in units}
    matched: dict[str, str] = {}
    for source, result in results.items():
        unit = next((n for n, tail in wanted.items() if ("/" + source).endswith(tail)), None)
        if unit is None:
            return None
        matched[unit] = result
    counts = list(matched.values())
    hits, misses = counts.count("hit"), counts.count("miss")
    return CacheRate(hits, misses, len(units) - hits - misses)


@dataclass(frozen=True)
class TargetCost:
    name: str
    units: int
    compile_ms: int  # summed over its units
    link_ms: int


@dataclass(frozen=True)
class BuildCost:
    units: tuple[Unit, ...]  # compiled units, in the order they finished
    links: tuple[Unit, ...]
    wall_ms: int  # first start to last end
    busy_ms: int  # compile and link time, summed
    jobs: Optional[int]  # the parallelism the build was given (the preset's jobs)
    critical: tuple[Unit, ...]  # the unit the last link waited for, then that link
    cache: Optional[CacheRate]

    @property
    def held_ms(self) -> int:
        """How long the memory gate held this build's compiles, summed."""
        return sum(u.held_ms for u in self.units)

    @property
    def parallelism(self) -> float:
        return self.busy_ms / self.wall_ms if self.wall_ms else 0.0

    def slowest(self, n: int = 10) -> list[Unit]:
        return sorted(self.units, key=lambda u: (-u.ms, u.name))[:n]

    def targets(self) -> list[TargetCost]:
        names = dict.fromkeys(u.target for u in (*self.units, *self.links))
        costs = [
            TargetCost(
                name or "(other)",
                sum(1 for u in self.units if u.target == name),
                sum(u.ms for u in self.units if u.target == name),
                sum(u.ms for u in self.links if u.target == name),
            )
            for name in names
        ]
        return sorted(costs, key=lambda t: (-(t.compile_ms + t.link_ms), t.name))

    def slowest_of(self, target: str, n: int = 3) -> list[Unit]:
        return sorted((u for u in self.units if u.target == target), key=lambda u: -u.ms)[:n]


def analyse(
    build: Sequence[Entry],
    jobs: Optional[int] = None,
    cache: Mapping[str, str] | None = None,
    held: Mapping[str, int] | None = None,
) -> BuildCost:
    """The numbers of one build (the entries of one ninja run); `held`: output -> the ms the
    memory gate held it."""
    held = held or {}
    objects = [unit_of(e, held_ms=held.get(e.output, 0)) for e in build if e.kind == "compile"]
    targets = sorted({u.target for u in objects if u.target})
    links = [unit_of(e, targets) for e in build if e.kind == "link"]
    work = [*objects, *links]
    wall = max((u.end_ms for u in work), default=0) - min((u.start_ms for u in work), default=0)
    return BuildCost(
        tuple(objects),
        tuple(links),
        wall,
        sum(u.ms for u in work),
        jobs,
        critical_path(objects, links),
        cache_rate(objects, cache or {}),
    )


def critical_path(objects: Sequence[Unit], links: Sequence[Unit]) -> tuple[Unit, ...]:
    """The chain that ended the build: the last link and the object it waited for (the last of
    its target's to finish before it started); the last object when nothing was linked."""
    if not links:
        return (max(objects, key=lambda u: u.end_ms),) if objects else ()
    last = max(links, key=lambda u: u.end_ms)
    before = [u for u in objects if u.target == last.target and u.end_ms <= last.start_ms]
    if not before:
        return (last,)
    return (max(before, key=lambda u: u.end_ms), last)


def seconds(ms: int) -> str:
    return f"{ms / 1000:.1f} s"


def parallelism_text(report: BuildCost) -> str:
    given = f" of {report.jobs} jobs" if report.jobs else ""
    return f"parallelism {report.parallelism:.1f}{given}"


def digest(report: BuildCost) -> str:
    """The one line printed after a build that compiled something."""
    slowest = report.slowest(1)
    head = f"slowest: {slowest[0].name} {slowest[0].time_text}; " if slowest else ""
    cache = f", {report.cache.text}" if report.cache else ""
    units = f"{len(report.units)} unit{'s' if len(report.units) != 1 else ''}"
    return f"{head}{units}, {parallelism_text(report)}{cache}; report: `invoke report`"


def _unit(u: Unit) -> dict[str, Any]:
    return {
        "name": u.name,
        "target": u.target,
        "kind": u.kind,
        "output": u.output,
        "start_ms": u.start_ms,
        "end_ms": u.end_ms,
        "ms": u.ms,
        "held_ms": u.held_ms,
    }


def as_json(report: BuildCost) -> dict[str, Any]:
    cache = report.cache
    return {
        "units": len(report.units),
        "wall_ms": report.wall_ms,
        "busy_ms": report.busy_ms,
        "parallelism": round(report.parallelism, 3),
        "held_ms": report.held_ms,
        "jobs": report.jobs,
        "slowest": [_unit(u) for u in report.slowest()],
        "targets": [asdict(t) for t in report.targets()],
        "critical_path": [_unit(u) for u in report.critical],
        "cache": None if cache is None else {**asdict(cache), "text": cache.text},
        "compiled": [_unit(u) for u in report.units],
        "linked": [_unit(u) for u in report.links],
    }
