"""The one jobs planner: a fixed budget before anything is measured, measured peaks after,
a cluster's CPUs on top; explicit settings win."""

from __future__ import annotations

import pytest

from build_tools.cmake import presets_gen
from build_tools.plan import jobs
from build_tools.plan.jobs import GiB


@pytest.mark.parametrize(
    ("cpus", "memory_gib", "cuda", "n_archs", "want_jobs", "threads"),
    [
        (64, 512, True, None, 16, 4),  # vLLM's script: min(4, cpus) threads, cpus // threads
        (64, 512, True, 1, 64, 1),  # one arch: nvcc threads buy nothing
        (64, 16, True, None, 2, 4),  # low memory: 16 GiB / (2 GiB x 4 threads)
        (2, 24, True, None, 1, 2),
        (2, 24, False, None, 2, 1),
        (1, 24, True, 9, 1, 1),
        (8, 1, False, None, 1, 1),  # never below one job
    ],
)
def test_parallelism(
    cpus: int, memory_gib: int, cuda: bool, n_archs: int | None, want_jobs: int, threads: int
) -> None:
    plan = jobs.fixed(cpus, memory_gib * GiB, jobs.Demand(cuda, n_archs, mem_per_job_gb=2.0))
    assert (plan.jobs, plan.nvcc_threads) == (want_jobs, threads)


def test_explicit_parallelism_wins() -> None:
    plan = jobs.fixed(2, 1 * GiB, jobs.Demand(True, None, 2, jobs=9, nvcc_threads=3))
    assert (plan.jobs, plan.nvcc_threads) == (9, 3)


def test_all_light_units_keep_every_cpu_busy() -> None:
    peaks = {f"CMakeFiles/_C.dir/a{i}.cpp.o": GiB // 4 for i in range(10)}
    plan = jobs.measured(peaks, cpus=16, memory=64 * GiB)
    assert (plan.jobs, plan.heavy_jobs, plan.heavy_targets) == (16, 0, ())


def test_heavy_units_get_a_pool_that_fits_and_light_ones_keep_going() -> None:
    peaks = {
        "CMakeFiles/_C.dir/csrc/a.cpp.o": GiB // 2,
        "CMakeFiles/_vllm_fa3_C.dir/hdim128.cu.o": 18 * GiB,  # FA3 units: 17-18 GB each
    }
    plan = jobs.measured(peaks, cpus=16, memory=64 * GiB)
    assert plan.heavy_targets == ("_vllm_fa3_C",)
    assert plan.heavy_jobs == 1  # 18 GiB units in half of 64 GiB
    assert plan.jobs == 16  # the light pool is still CPU-bound
    small = jobs.measured(peaks, cpus=16, memory=24 * GiB)
    assert small.heavy_jobs == 1 and small.jobs == 16


def test_the_pools_script_assigns_only_the_heavy_targets() -> None:
    text = presets_gen.pools_script(("_vllm_fa3_C",))
    assert "IN ITEMS _vllm_fa3_C)" in text and "JOB_POOL_COMPILE heavy" in text
    assert "cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR}" in text


def test_measured_peaks_refine_the_fixed_plan_and_a_cluster_raises_it() -> None:
    peaks = {"CMakeFiles/_C.dir/a.cpp.o": GiB // 2, "CMakeFiles/_fa3.dir/h.cu.o": 18 * GiB}
    demand = jobs.Demand(cuda=True, n_archs=1, mem_per_job_gb=2.0)
    plan = jobs.plan(16, 64 * GiB, demand, peaks)
    assert (plan.jobs, plan.nvcc_threads, plan.heavy_targets) == (16, 1, ("_fa3",)), plan
    assert "measured peaks" in plan.why, plan.why
    unmeasured = jobs.plan(16, 64 * GiB, demand, {})
    assert "no measured peaks yet" in unmeasured.why, unmeasured.why
    clustered = jobs.plan(16, 64 * GiB, demand, peaks, (96, "3 server(s)"))
    assert (clustered.jobs, clustered.link_jobs) == (96, 16), clustered
    explicit = jobs.plan(16, 64 * GiB, jobs.Demand(True, 1, 2.0, jobs=3), peaks, (96, "x"))
    assert (explicit.jobs, explicit.link_jobs) == (3, None), explicit
