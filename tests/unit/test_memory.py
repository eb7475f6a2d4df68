"""Learned memory budgets: per-unit peaks measured from a live session, and the plan."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from build_tools.console import Console
from build_tools.insight import memory
from build_tools.process.runner import Command, Runner

# A "compile" (its argv has -c ... -o u.o) that holds 160 MB for a while, as cc1plus would.
HOG = (
    "import time\nblock = bytearray(160 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\ntime.sleep(1.2)\n"
)


# The same, but it frees the memory long before it ends, as nvcc's stages do.
FREED = (
    "import time\ntime.sleep(0.3)\nblock = bytearray(160 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\ndel block\ntime.sleep(1.2)\n"
)


def peaks_of(script: str, cwd: Path) -> dict[str, int]:
    """Run `script` as a compile of CMakeFiles/t.dir/u.o under a sampler; its peaks."""
    sampler = memory.Sampler()
    runner = Runner(Console(io.StringIO()))
    runner.observers.append(sampler.observe)
    runner.run(Command.of([sys.executable, "-c", script, "-o", "CMakeFiles/t.dir/u.o"], cwd))
    return sampler.peaks


def test_a_units_peak_is_measured_while_it_runs(tmp_path: Path) -> None:
    peaks = peaks_of(HOG, tmp_path)
    assert 150 * 2**20 < peaks["CMakeFiles/t.dir/u.o"] < 400 * 2**20
    memory.record(tmp_path, tmp_path / "b", peaks)
    memory.record(tmp_path, tmp_path / "b", {"CMakeFiles/t.dir/u.o": 1})  # the larger stays
    assert memory.load(tmp_path, tmp_path / "b") == peaks


def test_a_peak_that_is_over_still_counts(tmp_path: Path) -> None:
    """The unit frees its memory long before it ends: the sampler still reports its peak."""
    assert peaks_of(FREED, tmp_path)["CMakeFiles/t.dir/u.o"] > 150 * 2**20
