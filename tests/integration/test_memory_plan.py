"""Learned memory budgets end to end: every build measures the units it really compiles (under
sccache too), never one a compiler cache served; a unit measured too heavy for the machine gets
its target into a pool of its own, which ninja then uses; a cold bootstrap with memory to spare
holds no compile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from build_tools.cmake import project
from build_tools.insight import held, memory
from build_tools.process import procfs
from tests.helpers import copy_example
from tests.integration.tools import bootstrap_copy, build_env, free_port, ok


def store_of(src: Path) -> Path:
    return src / ".vllm-build-tools" / "memory" / "cmake-build-release.json"


def learned(src: Path) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """The peaks the build learned, each unit's compile time (ms) from ninja's log, and the
    objects built; every object that compiled for a second has a peak (a shorter one may end
    before the sampler saw its compiler at work), and nothing else has."""
    peaks = memory.load(src / ".vllm-build-tools", Path("cmake-build-release"))
    log = (src / "cmake-build-release" / ".ninja_log").read_text().splitlines()[1:]
    took = {f[3]: int(f[1]) - int(f[0]) for f in (line.split("\t") for line in log)}
    built = {unit for unit in took if unit.endswith(".o")}
    assert set(peaks) <= built, f"learned peaks {sorted(peaks)} of objects not built"
    long = {u for u in built if took[u] >= 1000}
    assert long <= set(peaks), f"units that compiled for a second but no peak: {long - set(peaks)}"
    return peaks, took, built


def test_peaks_are_learned_and_a_heavy_target_gets_its_pool(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> None:
    src = bootstrap_copy(tmp_path_factory, "memory", env)
    peaks, took, built = learned(src)
    # A unit of a fraction of a second can be seen only as it starts (what a sampler misses);
    # one that compiled for a second was seen whole, and nvcc's units are the heavy ones.
    assert all(peaks[u] > 10 * 2**20 for u in peaks), (peaks, took)
    cuda = [u for u in built if u.endswith(".cu.o")]
    assert cuda and all(peaks[u] > 100 * 2**20 for u in cuda), peaks
    out = ok("presets", "--source", str(src), env=env)
    assert "measured peaks, heaviest unit" in out
    heavy = next(u for u in peaks if u.startswith("CMakeFiles/_moe_C.dir/"))
    store = json.loads(store_of(src).read_text())
    store["units"][heavy]["peak"] = 4096 * 2**30  # as if it needed 4 TiB: above any machine
    store_of(src).write_text(json.dumps(store))
    out = ok("presets", "--source", str(src), env=env)
    assert "_moe_C in a pool of 1" in out
    ok("build", "--source", str(src), env=env)
    ninja = (src / "cmake-build-release" / "build.ninja").read_text()
    moe = [b for b in ninja.split("\nbuild ") if "_moe_C.dir" in b.split(":", 1)[0]]
    c_units = [b for b in ninja.split("\nbuild ") if "CMakeFiles/_C.dir" in b.split(":", 1)[0]]
    objects = [b for b in moe if b.split(":", 1)[0].endswith(".o")]
    assert objects and all("pool = heavy" in b for b in objects)
    assert not any("pool = heavy" in b for b in c_units), c_units
    # The peaks and the pools script planned from them deleted (a cleared state dir): the
    # preset still names the script, and a configure into a new build dir neither fails on
    # the missing include nor keeps a pool planned from peaks that are gone.
    pools = src / ".vllm-build-tools" / "memory" / "cmake-build-release-pools.cmake"
    assert pools.is_file()
    shutil.rmtree(pools.parent)
    out = ok("clean-build", "--source", str(src), env=env)
    assert "cmake-build-release-pools.cmake was missing" in out, out
    ninja = (src / "cmake-build-release" / "build.ninja").read_text()
    assert "_moe_C.dir" in ninja and "pool = heavy" not in ninja


def test_sampling_under_sccache_records_real_peaks(tmp_path: Path) -> None:
    """Under sccache the compiles run in its server, outside the build's session: their peaks
    are still the units' (before, every unit read as the client's ~8 MiB). The build's own
    sccache server is stopped at the end."""
    cache_dir = tmp_path / "sccache"
    env = build_env(
        tmp_path / "ccache",
        VLLM_BUILD_LAUNCHER="sccache",
        SCCACHE_DIR=str(cache_dir),
        SCCACHE_SERVER_PORT=str(free_port()),  # a raw build's server: never started here
    )
    src = copy_example(tmp_path / "my src" / "minivllm")
    ok("bootstrap", "--source", str(src), env=env)
    peaks, took, built = learned(src)
    assert peaks and all(peaks[u] > 10 * 2**20 for u in peaks), (peaks, took)
    assert all(peaks[u] > 100 * 2**20 for u in built if u.endswith(".cu.o")), peaks
    servers = [p.pid for p in procfs.processes() if str(cache_dir) in procfs.environ(p.pid)]
    assert servers == [], f"the build's sccache server still runs: {servers}"


def test_a_cold_bootstrap_holds_nothing_and_a_warm_cache_teaches_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """With memory to spare the gate holds no compile of a cold bootstrap (nothing measured
    yet); a first build that the compiler cache serves whole records no peak: a cache hit's
    memory says nothing of the compile's."""
    env = build_env(tmp_path_factory.mktemp("cold ccache"))  # this module's is warm already
    src = bootstrap_copy(tmp_path_factory, "warm", env)
    record = held.read_waits(src / ".vllm-build-tools", Path("cmake-build-release"), 0)
    began = held.parse_waits(record.decode()).began
    assert began == (), f"the gate held compiles of a cold bootstrap: {began}"
    assert learned(src)[0], "the cold bootstrap compiled, and learned"
    store_of(src).unlink()
    out = ok("clean-build", "--source", str(src), env=env)
    units = len(project.compile_commands(src / "cmake-build-release") or [])
    assert units and f"{units}/{units} cache hits" in out, out
    assert memory.load(src / ".vllm-build-tools", Path("cmake-build-release")) == {}, (
        "peaks learned from cache hits"
    )
