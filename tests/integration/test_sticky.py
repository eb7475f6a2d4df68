"""issue 17: what the suite detects by itself never changes a configured build's compile
commands (a compiler cache appearing on the machine, no GPU where one was asked for): the
configured choice is kept, said once with the command to switch, and nothing recompiles."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from build_tools.cmake.project import compile_cache, gate_script
from tests.integration.tools import (
    HAS_NVCC,
    bootstrap_copy,
    compiled_since,
    invoke,
    ninja_log_lines,
    object_times,
    objects,
    ok,
    outputs_built_since,
    sccache,
)

ASKED = ("VLLM_BUILD_LAUNCHER", "VLLM_BUILD_ARCH")  # what the first bootstrap was told


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "sticky", env)  # ccache and 9.0, asked for


def release(src: Path) -> dict[str, Any]:
    data = json.loads((src / "CMakeUserPresets.json").read_text())
    preset: dict[str, Any] = next(p for p in data["configurePresets"] if p["name"] == "release")
    return preset


def launcher(src: Path) -> str | None:
    """The compiler cache the release preset runs (after the memory gate, when there is one)."""
    return compile_cache(release(src)["cacheVariables"]["CMAKE_CXX_COMPILER_LAUNCHER"])


def gate(src: Path) -> str | None:
    return gate_script(release(src)["cacheVariables"].get("CMAKE_CXX_COMPILER_LAUNCHER"))


def test_a_cache_appearing_on_the_machine_recompiles_nothing(
    src: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """sccache appearing on PATH is what `launcher = auto` picks first; the build dir was
    configured with ccache."""
    appeared = tmp_path / "bin"
    appeared.mkdir()
    (appeared / "sccache").symlink_to(sccache())
    before = ninja_log_lines(src / "cmake-build-release")
    auto = {k: v for k, v in env.items() if k not in ASKED}
    auto["PATH"] = f"{appeared}{os.pathsep}{os.environ.get('PATH', '')}"
    run = invoke("bootstrap", "--source", str(src), env=auto, unset=ASKED)
    assert run.returncode == 0, run.output
    assert "kept ccache, so nothing recompiles" in run.output, run.output
    switch = f"`invoke presets --source '{src}' --launcher sccache`"
    assert switch in run.output, f"the command to switch, runnable as printed: {run.output}"
    built = objects(outputs_built_since(src / "cmake-build-release", before))
    assert built == [], f"a detected tool recompiled {built}"
    cache = release(src)["cacheVariables"]
    assert Path(str(launcher(src))).name == "ccache", cache
    if HAS_NVCC:
        arch = release(src).get("environment", {}).get("TORCH_CUDA_ARCH_LIST")
        assert arch == "9.0", f"the configured arch list changed to {arch}"
        assert "the CUDA arch list on this machine is now" in run.output, run.output
    again = invoke("bootstrap", "--source", str(src), env=auto, unset=ASKED)
    assert again.returncode == 0 and "kept ccache" not in again.output, "said twice"


def test_asking_for_it_switches(src: Path, env: dict[str, str]) -> None:
    ok("presets", "--source", str(src), "--launcher", "sccache", env=env)
    cache = launcher(src)
    assert Path(str(cache)).name == "sccache", f"an explicit --launcher was not applied: {cache}"
    ok("presets", "--source", str(src), env=env)  # back to what the environment asks
    assert Path(str(launcher(src))).name == "ccache", launcher(src)


def test_the_memory_gate_joins_a_build_dir_configured_without_it_only_when_asked(
    src: Path, env: dict[str, str]
) -> None:
    """A build dir configured before the gate existed (here: with `memory_gate = false`) keeps
    its compile commands when the default turns the gate on; `--force` adds it."""
    ok("presets", "--source", str(src), "--no-memory-gate", env=env)
    ok("build", "--source", str(src), env=env)
    assert gate(src) is None
    before = ninja_log_lines(src / "cmake-build-release")
    run = invoke("presets", "--source", str(src), env=env)
    assert run.returncode == 0, run.output
    ok("build", "--source", str(src), env=env)
    assert "the memory gate on this machine is now on" in run.output, run.output
    assert gate(src) is None, "the default added the gate to a configured build dir"
    built = objects(outputs_built_since(src / "cmake-build-release", before))
    assert built == [], f"the gate's default recompiled {built}"
    ok("presets", "--source", str(src), "--force", env=env)
    assert gate(src) is not None, "--force did not add the memory gate"
    assert Path(str(launcher(src))).name == "ccache", "the cache after the gate was lost"


@pytest.mark.skipif(not HAS_NVCC, reason="CUDA archs need nvcc")
def test_an_exported_arch_list_applies_once_said_and_its_absence_never_flips_back(
    src: Path, env: dict[str, str]
) -> None:
    """issue 24, item 6: `TORCH_CUDA_ARCH_LIST=8.0 invoke build` on a build dir configured for
    9.0 says old -> new and how many units recompile; unset, the next builds keep 8.0."""
    ok("build", "--source", str(src), env=env)  # settled: configured for 9.0, built
    exported = {k: v for k, v in env.items() if k != "VLLM_BUILD_ARCH"}
    before = object_times(src / "cmake-build-release")
    run = invoke(
        "build",
        "--source",
        str(src),
        env={**exported, "TORCH_CUDA_ARCH_LIST": "8.0"},
        unset=("VLLM_BUILD_ARCH",),
    )
    assert run.returncode == 0, run.output
    said = "CUDA archs of preset 'release': 9.0 -> 8.0, asked by env TORCH_CUDA_ARCH_LIST"
    assert said in run.output and ": 2 CUDA unit(s) recompile" in run.output, run.output
    built = compiled_since(src / "cmake-build-release", before)
    assert built and all(o.endswith(".cu.o") for o in built), built
    assert release(src)["environment"]["TORCH_CUDA_ARCH_LIST"] == "8.0"
    for _ in range(2):  # the variable is gone: nothing flips back, nothing recompiles
        before = object_times(src / "cmake-build-release")
        gone = invoke("build", "--source", str(src), env=exported, unset=("VLLM_BUILD_ARCH",))
        assert gone.returncode == 0, gone.output
        assert compiled_since(src / "cmake-build-release", before) == []
        assert release(src)["environment"]["TORCH_CUDA_ARCH_LIST"] == "8.0", gone.output
        assert "CUDA archs of preset" not in gone.output, gone.output
