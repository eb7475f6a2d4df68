"""Learned memory budgets end to end: every build measures its units; a unit measured too heavy
for the machine gets its target into a pool of its own, which ninja then uses."""

from __future__ import annotations

import json

import pytest

from tests.integration.tools import bootstrap_copy, ok


def test_peaks_are_learned_and_a_heavy_target_gets_its_pool(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> None:
    src = bootstrap_copy(tmp_path_factory, "memory", env)
    store = src / ".vllm-build-tools" / "memory" / "cmake-build-release.json"
    peaks = json.loads(store.read_text())
    log = (src / "cmake-build-release" / ".ninja_log").read_text().splitlines()[1:]
    took = {f[3]: int(f[1]) - int(f[0]) for f in (line.split("\t") for line in log)}
    built = {unit for unit in took if unit.endswith(".o")}
    assert set(peaks) == built, peaks
    # A unit of a fraction of a second can be seen only as it starts (what a sampler misses);
    # one that compiled for a second was seen whole, and nvcc's units are the heavy ones.
    assert all(peaks[u] > 10 * 2**20 for u in built if took[u] >= 1000), (peaks, took)
    cuda = [u for u in built if u.endswith(".cu.o")]
    assert cuda and all(peaks[u] > 100 * 2**20 for u in cuda), peaks
    out = ok("presets", "--source", str(src), env=env)
    assert "measured peaks, heaviest unit" in out
    heavy = next(u for u in peaks if u.startswith("CMakeFiles/_moe_C.dir/"))
    peaks[heavy] = 4096 * 2**30  # as if it needed 4 TiB: heavier than any machine
    store.write_text(json.dumps(peaks))
    out = ok("presets", "--source", str(src), env=env)
    assert "_moe_C in a pool of 1" in out
    ok("build", "--source", str(src), env=env)
    ninja = (src / "cmake-build-release" / "build.ninja").read_text()
    moe = [b for b in ninja.split("\nbuild ") if "_moe_C.dir" in b.split(":", 1)[0]]
    c_units = [b for b in ninja.split("\nbuild ") if "CMakeFiles/_C.dir" in b.split(":", 1)[0]]
    objects = [b for b in moe if b.split(":", 1)[0].endswith(".o")]
    assert objects and all("pool = heavy" in b for b in objects)
    assert not any("pool = heavy" in b for b in c_units), c_units
