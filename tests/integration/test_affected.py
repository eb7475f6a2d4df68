"""The affected-targets engine equals ninja's own answer (real cmake, ninja, g++, nvcc).

Two copies of the example: one bootstrapped (every unit built: the engine reads ninja's deps
log), one only configured (no unit built, the precompiled case: the engine scans). Each of
CASES seeded random edits (touch, modify or delete a .cpp/.cu/.h under csrc/, one or two at
once) is applied to both; the built copy's `ninja -n` says which objects and artifacts ninja
would build; the engine must name exactly those targets on both copies, exactly those units
on the built one and every unit of those targets on the configured one. Each edit is then
undone (content and mtime), so the next case starts from "no work to do". Failures name the
seed and the case: `AFFECTED_SEED=<seed> pytest tests/integration/test_affected.py` replays.
"""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from build_tools.cmake.codemodel import CodeModel, read_codemodel
from build_tools.cmake.project import make_program
from build_tools.cmake.unit_deps import UnitDeps, runner_capture
from build_tools.console import Console
from build_tools.plan.affected import Affected, affected
from build_tools.process.runner import Runner
from tests.helpers import copy_example
from tests.integration.tools import HAS_NVCC, bootstrap_copy, ok

SEED = int(os.environ.get("AFFECTED_SEED", "20261202"))
CASES = 30
EDITS = ("touch", "modify", "modify", "delete")  # delete: headers only


@dataclass(frozen=True)
class Copy:
    root: Path

    @property
    def build(self) -> Path:
        return self.root / "cmake-build-release"

    def model(self) -> CodeModel:
        model = read_codemodel(self.build)
        assert model is not None, f"expected a codemodel reply in {self.build}"
        return model

    def deps(self, jobs: int = 1) -> UnitDeps:
        capture = runner_capture(Runner(Console(io.StringIO())))
        state = self.root / ".vllm-build-tools"
        return UnitDeps(self.build, state, capture, model=self.model(), jobs=jobs)

    def affected(self, changed: list[str]) -> tuple[Affected, UnitDeps]:
        deps = self.deps()
        return affected(self.root, self.model(), [Path(p) for p in changed], deps), deps


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Copy:
    return Copy(bootstrap_copy(tmp_path_factory, "built", env))


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Copy:
    root = copy_example(tmp_path_factory.mktemp("configured") / "my src" / "minivllm")
    for task in ("venv", "deps", "configure"):
        ok(task, "--source", str(root), env=env)
    return Copy(root)


def ninja_plan(copy: Copy, *targets: str) -> list[str]:
    """What `ninja -n` would run in the built copy: its "[n/m] description" lines."""
    ninja = make_program(copy.build) or "ninja"
    done = subprocess.run(
        [ninja, "-n", *targets], cwd=copy.build, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"expected ninja -n to succeed:\n{done.stdout}{done.stderr}"
    return [line for line in done.stdout.splitlines() if re.match(r"\[\d+/\d+\] ", line)]


def ninja_answer(copy: Copy, deps: UnitDeps) -> tuple[set[str], set[str]]:
    """The targets whose artifacts and the objects ninja's dry run would build (an edge's
    description ends with its output: "Building CXX object X.o", "Linking ... _C.abi3.so")."""
    model = copy.model()
    artifacts = {a: name for name, t in model.details.items() for a in t.artifacts}
    objects = {u.object for u in deps.graph().all_units()}
    targets, built = set(), set()
    for line in ninja_plan(copy):
        last = line.rsplit(" ", 1)[-1]
        if last in artifacts:
            targets.add(artifacts[last])
        elif last in objects:
            built.add(last)
    for name, kind in model.targets.items():  # a target a script builds: no artifact of ours
        if kind == "UTILITY" and name in deps.graph().custom_inputs and ninja_plan(copy, name):
            targets.add(name)
    return targets, built


@dataclass
class Saved:
    path: Path
    content: bytes
    mtime_ns: int


def edit(root: Path, relative: str, how: str, stamp: int) -> Saved:
    """Apply one edit to one file (newer than every object), remembering how to undo it."""
    path = root / relative
    saved = Saved(path, path.read_bytes(), path.stat().st_mtime_ns)
    if how == "delete":
        path.unlink()
        return saved
    if how == "modify":
        path.write_bytes(saved.content + f"\n// affected-test edit {stamp}\n".encode())
    os.utime(path, ns=(stamp, stamp))
    return saved


def undo(saved: Saved) -> None:
    saved.path.write_bytes(saved.content)
    os.utime(saved.path, ns=(saved.mtime_ns, saved.mtime_ns))


def random_cases(root: Path) -> Iterator[list[tuple[str, str]]]:
    rng = random.Random(SEED)
    files = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "csrc").rglob("*")
        if p.suffix in (".cpp", ".cu", ".h")
    )
    for _ in range(CASES):
        picked = rng.sample(files, 2 if rng.random() < 0.35 else 1)
        # A custom command's DEPENDS must exist (ninja stops otherwise): those are not deleted.
        deletable = [f for f in picked if f.endswith(".h") and not f.startswith("csrc/extra/")]
        yield [(f, rng.choice(EDITS if f in deletable else EDITS[:-1])) for f in sorted(picked)]


def test_scans_list_what_ninja_recorded(built: Copy) -> None:
    """A scan of every unit of the built copy lists exactly the files ninja's deps log holds
    for it (`-M` in place of CMake's `-MD`: the same preprocessing, g++ and nvcc alike)."""
    deps = built.deps()
    units = deps.graph().all_units()
    assert len(units) >= 11, f"expected the example's units, got {units}"
    scanned = deps.scan(units, force=True)
    for unit in units:
        recorded = deps.recorded(unit)
        assert recorded is not None, f"expected a VALID deps log record of {unit.object}"
        assert not scanned[unit].failed, f"expected {unit.source} to scan: {scanned[unit].error}"
        assert scanned[unit].files == recorded.files, (
            f"expected the scan of {unit.source} to equal ninja's record; only scanned: "
            f"{sorted(scanned[unit].files - recorded.files)}, only recorded: "
            f"{sorted(recorded.files - scanned[unit].files)}"
        )
    assert ninja_plan(built) == [], "expected the scans to leave every object as it was"


def test_engine_equals_ninja_on_random_edits(built: Copy, configured: Copy) -> None:
    assert ninja_plan(built) == [], "expected the bootstrapped copy to be up to date"
    graph = built.deps().graph()
    all_units = {name: {u.object for u in units} for name, units in graph.units.items()}
    scans = 0
    for number, case in enumerate(random_cases(built.root)):
        where = f"seed {SEED}, case {number}: {case}"
        stamp = time.time_ns()
        saved = [edit(c.root, f, how, stamp) for c in (built, configured) for f, how in case]
        try:
            changed = [f for f, _ in case]
            expected_targets, expected_objects = ninja_answer(built, built.deps())
            got, deps = built.affected(changed)
            assert not got.everything, f"{where}: expected no CMake change"
            assert set(got.targets) == expected_targets, (
                f"{where}: built copy: expected ninja's {sorted(expected_targets)}, got "
                f"{sorted(got.targets)}"
            )
            objects = {u.object for units in got.units.values() for u in units}
            assert objects == expected_objects, (
                f"{where}: built copy: expected ninja's objects {sorted(expected_objects)}, "
                f"got {sorted(objects)}"
            )
            assert got.scans == 0, f"{where}: expected the deps log to answer without scans"
            assert deps.stats.scans == 0, f"{where}: expected no scan on the built copy"

            fresh, deps = configured.affected(changed)
            scans += deps.stats.scans
            assert set(fresh.targets) == expected_targets, (
                f"{where}: configured copy: expected ninja's {sorted(expected_targets)}, got "
                f"{sorted(fresh.targets)} ({fresh.targets})"
            )
            for name, reasons in fresh.targets.items():
                assert reasons, f"{where}: expected a reason for {name}"
                units = {u.object for u in fresh.units[name]}
                assert units == all_units[name], (
                    f"{where}: expected every unit of {name} to compile when none is built"
                )
            assert fresh.unused == got.unused, (
                f"{where}: expected the same unused files: {fresh.unused} vs {got.unused}"
            )
        finally:
            for one in reversed(saved):
                undo(one)
        assert ninja_plan(built) == [], f"{where}: expected undoing the edit to leave no work"
    assert scans > 0, "expected the configured copy to need dependency scans"


def test_a_new_file_affects_nothing_and_cmake_files_are_their_own_answer(
    built: Copy, configured: Copy
) -> None:
    for copy in (built, configured):
        new = copy.root / "csrc" / "new_kernel.h"
        new.write_text("#pragma once\n")
        try:
            answer, _ = copy.affected(["csrc/new_kernel.h", "README.md"])
            assert answer.targets == {}, f"expected no target, got {answer.targets}"
            assert answer.unused == ["README.md", "csrc/new_kernel.h"], answer.unused
        finally:
            new.unlink()
        answer, _ = copy.affected(["cmake/utils.cmake", "csrc/ops.h"])
        assert answer.everything and answer.cmake_changed == ["cmake/utils.cmake"], answer
        assert answer.targets == {}, "expected nothing computed once a CMake file changed"


def test_scan_cache_is_reused_and_invalidated(configured: Copy) -> None:
    header = configured.root / "csrc" / "moe" / "moe_ops.h"
    first, deps = configured.affected(["csrc/moe/moe_ops.h"])
    again, deps = configured.affected(["csrc/moe/moe_ops.h"])
    assert set(again.targets) == set(first.targets) == {"_moe_C"}, again.targets
    assert deps.stats.scans == 0, f"expected every scan from the cache, ran {deps.stats.scans}"
    saved = edit(configured.root, "csrc/moe/moe_ops.h", "modify", time.time_ns())
    try:
        _, deps = configured.affected(["csrc/moe/moe_ops.h"])
        assert deps.stats.scans >= 1, "expected the edited header to invalidate its scans"
    finally:
        undo(saved)
    assert header.read_bytes() == saved.content


def test_deleted_header_fails_the_scan_of_its_includers(configured: Copy) -> None:
    saved = edit(configured.root, "csrc/moe/moe_ops.h", "delete", 0)
    try:
        answer, _ = configured.affected(["csrc/moe/moe_ops.h"])
    finally:
        undo(saved)
    assert set(answer.targets) == {"_moe_C"}, answer.targets
    reason = answer.targets["_moe_C"][0]
    assert reason.how == "unscannable" and reason.changed == "csrc/moe/moe_ops.h", reason
    assert answer.unused == [], answer.unused


@pytest.mark.skipif(not HAS_NVCC, reason="no nvcc: only C++ units to scan")
def test_scan_cost(built: Copy) -> None:
    """Not a limit, a record: what one scan of each unit costs here (`pytest -s` prints it)."""
    deps = built.deps()
    deps.scan(deps.graph().all_units(), force=True)
    for source, seconds in deps.stats.each:
        print(f"scan {source}: {seconds:.3f} s")
    assert deps.stats.scans == len(deps.graph().all_units())
