"""What every run is checked against, and the untimed hooks that check it.

After an edit the installed .so must have changed and contain the new marker symbol; after a
no-op ninja must have run nothing but the install edge and the .so must be unchanged. Before
each edit the harness waits (untimed) until a new link cannot land within one second of the
installed .so's mtime (see settle_install_clock). The compiler cache's checks: cache_checks.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Optional

from benchmarks.loop.harness import BenchError, Prepare, Trial, Verify
from benchmarks.loop.workspace import Workspace
from build_tools.checkout.source_tree import STATE_DIR
from build_tools.process.runner import Outcome

INSTALL_CLOCK_S = 1.0  # cmake --install skips a file whose mtime is within 1 s of the build's


def digest(path: Path) -> str:
    """sha256 of a file, '' when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def marker_name(n: int) -> str:
    """A symbol name unique per edit; zero-padded so no marker is a prefix of another."""
    return f"loop_marker_{n:06d}"


def cpp_marker(n: int) -> str:
    """C++ appended to the .cpp: a new exported function, so the object really changes."""
    return f'\nextern "C" int {marker_name(n)}() {{ return {n}; }}\n'


def cu_marker(n: int) -> str:
    """CUDA appended to the .cu: a new kernel, so nvcc really compiles device code."""
    return f"\n__global__ void {marker_name(n)}_kernel(int* out) {{ if (out) *out = {n}; }}\n"


def settle_install_clock(installed: Path) -> float:
    """Wait (untimed) until a new link cannot fall within 1 s of the installed file's mtime.

    `cmake --install` (file(INSTALL)) treats a destination whose mtime differs from the build
    output's by less than one second as "Up-to-date", and the installed copy's mtime is the
    build output's, truncated to the second. Two edit -> build cycles that both link within
    one wall-clock second therefore leave the first .so installed. Back-to-back benchmark
    runs hit this (so does any script or editor hook that rebuilds that fast); people don't.
    """
    try:
        wait = installed.stat().st_mtime + INSTALL_CLOCK_S + 0.05 - time.time()
    except OSError:
        return 0.0
    if wait > 0:
        time.sleep(wait)
    return max(wait, 0.0)


def edit_hooks(ws: Workspace, path: Path, text: Callable[[int], str]) -> tuple[Prepare, Verify]:
    """prepare: append a new marker to `path`; verify: the installed .so changed and has it."""

    def prepare(trial: Trial) -> dict[str, str]:
        trial.checks["so_before"] = digest(ws.extension)
        trial.checks["install_clock_wait_s"] = round(settle_install_clock(ws.extension), 3)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text(trial.marker))
        return {}

    def verify(trial: Trial, done: Outcome) -> None:
        after = digest(ws.extension)
        trial.checks["so_after"] = after
        if after == trial.checks["so_before"]:
            skipped = f"Up-to-date: {ws.extension}" in done.output
            why = " (cmake --install called it Up-to-date)" if skipped else ""
            last = "\n".join(done.output.splitlines()[-15:])
            raise BenchError(
                f"{trial.scenario} {trial.contender}: {ws.extension} did not change after an "
                f"edit of {path.name} (marker {trial.marker}){why}. Output's tail:\n{last}"
            )
        found = marker_name(trial.marker).encode() in ws.extension.read_bytes()
        trial.checks["marker_in_so"] = found
        if not found:
            raise BenchError(
                f"{trial.scenario} {trial.contender}: {ws.extension} changed but does not "
                f"contain {marker_name(trial.marker)}: was the edit compiled?"
            )

    return prepare, verify


def ninja_log(ws: Workspace) -> list[str]:
    """Lines of the build dir's .ninja_log (append-only unless ninja recompacts it)."""
    path = ws.build_dir / ".ninja_log"
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def new_edges(before: Sequence[str], after: Sequence[str]) -> Optional[list[str]]:
    """Outputs ninja built between two reads of its log, the install edge left out.

    None when the log was recompacted in between (it no longer starts with `before`).
    """
    if list(after[: len(before)]) != list(before):
        return None
    ran = [line.split("\t")[3] for line in after[len(before) :] if line.count("\t") >= 3]
    return [output for output in ran if not output.endswith("install.util")]


def noop_hooks(ws: Workspace) -> tuple[Prepare, Verify]:
    """prepare: remember the .so and ninja's log; verify: nothing compiled, .so unchanged."""
    logs: dict[int, list[str]] = {}

    def prepare(trial: Trial) -> dict[str, str]:
        trial.checks["so_before"] = digest(ws.extension)
        logs[trial.marker] = ninja_log(ws)
        return {}

    def verify(trial: Trial, done: Outcome) -> None:
        work = new_edges(logs.pop(trial.marker), ninja_log(ws))
        if work is not None:
            trial.checks["edges_ran"] = work
            if work:
                raise BenchError(f"P2 {trial.contender} was not a no-op: ninja ran {work}")
        if digest(ws.extension) != trial.checks.pop("so_before"):
            raise BenchError(f"P2 {trial.contender} changed {ws.extension}")

    return prepare, verify


def tree_state(root: Path, build_dir: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) of every file in the source tree outside the venv and build dir."""
    skip = {root / ".venv", build_dir, root / STATE_DIR}
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath) / d not in skip]
        for name in filenames:
            path = Path(dirpath) / name
            stat = path.stat()
            state[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return state


def tree_changes(before: Mapping[str, tuple[int, int]], after: Mapping[str, object]) -> list[str]:
    """'+path', '-path', '~path' for files added, removed, modified."""
    added = [f"+{p}" for p in sorted(set(after) - set(before))]
    removed = [f"-{p}" for p in sorted(set(before) - set(after))]
    modified = [f"~{p}" for p in sorted(set(before) & set(after)) if before[p] != after[p]]
    return added + removed + modified
