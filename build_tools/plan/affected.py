"""Which targets, and which of their compile units, a set of changed files affects (pure).

The question the precompiled-first build asks (issue 18): with the kernels of a base installed,
which targets must be built again because of what changed since? A target is affected when
one of its units compiles a changed file or includes one, or when its link edge reads the
artifact of an affected in-project target, which is exactly when ninja would rebuild its
artifact. Its units that must compile are the affected ones and those never built (no object
ninja trusts: in the precompiled case, all of them).

Why here: it is a question the build step, `--plan` and the doctor will share, so it is
answered once, like `drift.py` and `jobs.py` answer theirs, as a pure function of the
configured project (`cmake/project.py`'s `CodeModel`), the units and what each reads (asked
of a `UnitSource`: `cmake/unit_deps.py`'s `UnitDeps`, or a fake in tests) and the changed
paths. It reasons over units and targets, not over CMake or ninja files, so it is not under
`cmake/`; it reads nothing of the checkout, so it is not under `checkout/`.

What each kind of change does:

- a changed CMake file (one the configure read, else `CMakeLists.txt`, `*.cmake`,
  `cmake/**`, the presets files): nothing else is computed; `cmake_changed` lists them and the
  caller builds everything (configure may change any target);
- a changed compiled source: its units, with no dependency scan; a changed input of the
  custom command that writes a GENERATED source: that source's units (ninja's graph); a
  changed input of a custom target's command (a target a script builds, like vLLM's
  `_deep_gemm_C`): that target;
- every changed file is looked for in the files of every unit known for free (ninja's deps
  log, valid cached scans), a compiled source too (it may also be included);
- a changed header (a C/C++/CUDA suffix, `INCLUDABLE`, and compiled by no target) is what
  makes a scan worth running: target by target, the target's unknown units are scanned
  (nearest to the header first, `jobs` at once) until one reads a changed file: one affected
  unit makes its target affected and its unbuilt units compile anyway. A unit whose scan
  fails (e.g. it includes a deleted header) counts as affected. A unit is not scanned for a
  header of the checkout when neither its source nor any directory it searches for headers
  lies among the checkout's own files (not the venv, the build dir or a fetched dependency:
  `outside`) or above the source dir (vLLM's flash-attention units: 249 of 385): code outside
  a checkout cannot name a path into it (`unreachable` counts them);
- a changed file no unit reads: `unused`; for a header, only once every unit was asked (the
  units of affected targets are scanned on for it, stopping when each is found); a changed
  .py or .md file is never scanned for, only looked for in what is known;
- a deleted file: as a changed one (ninja's deps log still lists it; a scan fails on it, and
  the reason names it when the compiler's error does); a new file nothing includes: `unused`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path, PurePosixPath

from build_tools.cmake.codemodel import CodeModel
from build_tools.cmake.unit_deps import Files, Unit, normalize
from build_tools.plan.affected_answer import COMPILES as COMPILES
from build_tools.plan.affected_answer import FEEDS as FEEDS
from build_tools.plan.affected_answer import GENERATES as GENERATES
from build_tools.plan.affected_answer import INCLUDABLE as INCLUDABLE
from build_tools.plan.affected_answer import INCLUDES as INCLUDES
from build_tools.plan.affected_answer import LINKS as LINKS
from build_tools.plan.affected_answer import UNSCANNABLE as UNSCANNABLE
from build_tools.plan.affected_answer import Affected as Affected
from build_tools.plan.affected_answer import Reason as Reason
from build_tools.plan.affected_answer import UnitSource as UnitSource


def changed_paths(root: Path, changed: Iterable[Path | str], source_dir: Path) -> list[str]:
    """Each changed path (absolute, or relative to `root`) relative to the source dir."""
    return sorted({normalize(str(p), root, source_dir) for p in changed})


def _closeness(unit: Unit, headers: Iterable[str]) -> tuple[int, int, str]:
    """Scan order (after the units whose text reaches a changed header): units sharing the
    most leading directories with a changed header first, then C++ before CUDA (its scans
    cost more)."""
    source = PurePosixPath(unit.source).parent.parts
    shared = 0
    for header in headers:
        parts = PurePosixPath(header).parent.parts
        common = 0
        while common < min(len(source), len(parts)) and source[common] == parts[common]:
            common += 1
        shared = max(shared, common)
    return (-shared, unit.source.endswith((".cu", ".hip")), unit.source)


def _named(name: str, text: str) -> bool:
    """Whether a compiler's error names this file (`moe_ops.h`, never within `my_moe_ops.h`)."""
    return re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", text) is not None


def affected(
    root: Path,
    model: CodeModel,
    changed: Iterable[Path | str],
    deps: UnitSource,
    outside: Iterable[Path] = (),
) -> Affected:
    """The targets and units `changed` (absolute, or relative to the checkout `root`) affects
    in the configured project `model`; see the module doc. `outside`: folders in the tree that
    are not the checkout's sources (the venv, the build dir, fetched dependencies)."""
    source_dir = model.source_dir or root
    paths = changed_paths(root, changed, source_dir)
    cmake = [p for p in paths if model.read_by_configure(p)]
    if cmake:
        return Affected(cmake_changed=cmake)
    apart = changed_paths(root, outside, source_dir)
    return _Search(model, paths, deps, str(source_dir), apart).run()


class _Search:
    def __init__(
        self,
        model: CodeModel,
        paths: list[str],
        deps: UnitSource,
        source_dir: str,
        outside: list[str],
    ) -> None:
        self.model = model
        self.source_dir = os.path.normpath(source_dir)
        self.outside = [o for o in outside if not os.path.isabs(o) and o != "."]
        self.paths = paths
        self.deps = deps
        self.graph = deps.graph()
        self.hits: dict[Unit, list[Reason]] = {}
        self.used: set[str] = set()
        self.asked: set[Unit] = set()  # units whose files are known now (or whose scan failed)
        self.listed: dict[str, list[Reason]] = {}  # compiled sources ninja has no unit of
        self.headers: set[str] = set()
        self.scans = 0
        self.unreachable: set[Unit] = set()

    def record(self, unit: Unit, files: Files, wanted: set[str]) -> None:
        self.asked.add(unit)
        if files.failed:
            named = [p for p in sorted(wanted) if _named(PurePosixPath(p).name, files.error)]
            self.used.update(named)
            reason = Reason(named[0] if named else "", UNSCANNABLE, unit, files.error)
            self.hits.setdefault(unit, []).append(reason)
            return
        for path in sorted(wanted & files.files - {unit.source}):
            self.used.add(path)
            self.hits.setdefault(unit, []).append(Reason(path, INCLUDES, unit))

    def run(self) -> Affected:
        units = self.graph.all_units()
        changed = set(self.paths)
        compiled = {s for t in self.model.details.values() for s in t.sources}
        # Only these make a scan worth running: what no target compiles but a unit could
        # include (a changed .py or .md is checked against known files, never scanned for).
        headers = self.headers = {
            p for p in changed - compiled if PurePosixPath(p).suffix in INCLUDABLE
        }
        # 1. Changed compiled sources: their units, no scan.
        for unit in units:
            if unit.source in changed:
                self.used.add(unit.source)
                self.hits.setdefault(unit, []).append(Reason(unit.source, COMPILES, unit))
        # A generated source's generator inputs (ninja's graph: known without a scan).
        for unit, inputs in self.graph.generator_inputs.items():
            for path in sorted(changed & inputs):
                self.used.add(path)
                self.hits.setdefault(unit, []).append(Reason(path, GENERATES, unit))
        # A custom target's command inputs (its script, its sources): known without a scan.
        for name, inputs in self.graph.custom_inputs.items():
            for path in sorted(changed & inputs):
                self.used.add(path)
                self.listed.setdefault(name, []).append(Reason(path, FEEDS, None, name))
        # A compiled source no unit of ninja's graph compiles: its target (conservative).
        for name, target in self.model.details.items():
            seen = {u.source for u in self.graph.units.get(name, ())}
            for source in target.sources:
                if source in changed and source not in seen:
                    self.used.add(source)
                    self.listed.setdefault(name, []).append(Reason(source, COMPILES))
        # 2. Every unit whose files cost nothing to know (a compiled source can be included
        # too: what is known is checked for every changed file).
        for unit in units:
            files = self.deps.known(unit)
            if files is not None:
                self.record(unit, files, changed)
        if not headers:
            return self._answer()
        # 3. Target by target (what it links first), scan until one of its units is hit.
        for name in self._link_order():
            if not self._target_hit(name):
                todo = [u for u in self.graph.units.get(name, ()) if self._may_read(u)]
                self._scan_until(todo, changed, partial(self._target_hit, name))
        # 4. Headers still unexplained: the units left (of affected targets) tell "read by
        # some unit" from unused.
        if headers - self.used:
            todo = [u for u in units if self._may_read(u)]
            self._scan_until(todo, changed, lambda: not headers - self.used)
        return self._answer()

    def _in_checkout(self, path: str) -> bool:
        """A path (as the graph spells it) among the checkout's own files: inside the source
        dir, and not in the venv, the build dir or a fetched dependency's folder."""
        return not os.path.isabs(path) and not any(
            path == o or path.startswith(o + "/") for o in self.outside
        )

    def _may_read(self, unit: Unit) -> bool:
        """Whether a scan of the unit could find a changed header: not asked yet, and its
        source or a directory it searches for headers among the checkout's own files, or
        above the source dir (or a changed header outside the source dir, which any unit may
        read). A `-isystem <tree>/.venv/.../torch/include` reaches no file of the checkout."""
        if unit in self.asked:
            return False
        if any(os.path.isabs(h) for h in self.headers):
            return True
        dirs = self.deps.reach(unit)
        if dirs is None or self._in_checkout(unit.source):
            return True
        above = (self.source_dir + os.sep).startswith
        inside = any(self._in_checkout(d) or above(d.rstrip(os.sep) + os.sep) for d in dirs)
        if not inside:
            self.unreachable.add(unit)
        return inside

    def _target_hit(self, name: str) -> bool:
        """Affected already: one of its units is, or a target it links."""
        return (
            name in self.listed
            or any(u in self.hits for u in self.graph.units.get(name, ()))
            or any(self._target_hit(dep) for dep in self.graph.links.get(name, ()))
        )

    def _scan_until(
        self, candidates: list[Unit], wanted: set[str], stop: Callable[[], bool]
    ) -> None:
        """Scan `candidates` (nearest to a changed header first, `jobs` at once) until `stop`."""
        if not candidates:
            return
        named = {os.path.join(self.source_dir, h) for h in self.headers}
        apart = [os.path.join(self.source_dir, o) for o in self.outside]
        candidates = sorted(
            candidates,
            key=lambda u: (not self.deps.likely(u, named, apart), _closeness(u, self.headers)),
        )
        batch = max(1, self.deps.jobs)
        for start in range(0, len(candidates), batch):
            found = self.deps.scan(candidates[start : start + batch])
            for unit, files in found.items():
                self.scans += files.origin == "scan"
                self.record(unit, files, wanted)
            if stop():
                return

    def _link_order(self) -> list[str]:
        """Targets with the targets they link before them (CMake's order otherwise)."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order or name in visiting:
                return
            visiting.add(name)
            for dep in self.graph.links.get(name, ()):
                visit(dep)
            order.append(name)

        for name in self.model.details:
            visit(name)
        return order

    def _answer(self) -> Affected:
        targets: dict[str, list[Reason]] = {}
        for name in self._link_order():
            reasons = list(self.listed.get(name, ()))
            for unit in self.graph.units.get(name, ()):
                reasons.extend(self.hits.get(unit, ()))
            for dep in self.graph.links.get(name, ()):
                if dep in targets:
                    first = targets[dep][0].changed if targets[dep] else ""
                    reasons.append(Reason(first, LINKS, None, dep))
            if reasons:
                targets[name] = reasons
        units = {
            name: [
                u
                for u in self.graph.units.get(name, ())
                if u in self.hits or not self.deps.built(u)
            ]
            for name in targets
        }
        ordered = {name: targets[name] for name in self.model.details if name in targets}
        unused = [p for p in self.paths if p not in self.used]
        found = {n: units[n] for n in ordered}
        return Affected(ordered, found, [], unused, self.scans, len(self.unreachable))
