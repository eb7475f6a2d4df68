"""Learned memory budgets: per-unit peaks measured from a live session, and the plan."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from build_tools import memory
from build_tools.report import PlainReporter
from build_tools.runner import Command, Runner

GiB = memory.GiB
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
    runner = Runner(PlainReporter(io.StringIO()))
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


def test_all_light_units_keep_every_cpu_busy() -> None:
    peaks = {f"CMakeFiles/_C.dir/a{i}.cpp.o": GiB // 4 for i in range(10)}
    plan = memory.plan(peaks, cpus=16, memory=64 * GiB)
    assert (plan.jobs, plan.heavy_jobs, plan.heavy_targets) == (16, 0, ())


def test_heavy_units_get_a_pool_that_fits_and_light_ones_keep_going() -> None:
    peaks = {
        "CMakeFiles/_C.dir/csrc/a.cpp.o": GiB // 2,
        "CMakeFiles/_vllm_fa3_C.dir/hdim128.cu.o": 18 * GiB,  # FA3 units: 17-18 GB each
    }
    plan = memory.plan(peaks, cpus=16, memory=64 * GiB)
    assert plan.heavy_targets == ("_vllm_fa3_C",)
    assert plan.heavy_jobs == 1  # 18 GiB units in half of 64 GiB
    assert plan.jobs == 16  # the light pool is still CPU-bound
    small = memory.plan(peaks, cpus=16, memory=24 * GiB)
    assert small.heavy_jobs == 1 and small.jobs == 16


def test_the_pools_script_assigns_only_the_heavy_targets(tmp_path: Path) -> None:
    text = memory.pools_file(tmp_path, tmp_path / "b", ("_vllm_fa3_C",)).read_text()
    assert "IN ITEMS _vllm_fa3_C)" in text and "JOB_POOL_COMPILE heavy" in text
    assert "cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR}" in text
