"""Presets on fake boxes: tiny tool scripts on a temporary PATH and a fake filesystem root."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from build_tools.cmake import cmake_python
from build_tools.cmake import presets_gen as ps
from build_tools.cmake.project import compile_cache, gate_script
from build_tools.console import Console
from build_tools.errors import BuildToolsError
from build_tools.machine import toolchain as tc
from build_tools.plan import facts
from build_tools.run import make_run
from build_tools.settings import Settings
from build_tools.steps import presets
from tests.helpers import make_tool


@dataclass
class Box:
    tools: list[str] = field(default_factory=lambda: ["ninja", "ccache"])
    cpus: int = 16
    mem_gib: int = 64
    smi: str | None = None  # what a fake nvidia-smi prints
    nvcc: str = "path"  # "path", "cuda_home", "default" (/usr/local/cuda) or "none"
    settings: dict[str, Any] = field(default_factory=dict)


def preset_for(box: Box, tmp_path: Path, example_copy: Path) -> tuple[dict[str, Any], str]:
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    for tool in box.tools:
        make_tool(bin_dir, tool)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path / "home")}
    if box.nvcc == "path":
        make_tool(bin_dir, "nvcc")
    elif box.nvcc == "cuda_home":
        make_tool(tmp_path / "cuda-12.9" / "bin", "nvcc")
        env["CUDA_HOME"] = str(tmp_path / "cuda-12.9")
    elif box.nvcc == "default":
        make_tool(root / "usr/local/cuda/bin", "nvcc")
    if box.smi is not None:
        make_tool(bin_dir, "nvidia-smi", f"printf '{box.smi}'")
    (root / "proc").mkdir(parents=True, exist_ok=True)
    (root / "proc/meminfo").write_text(f"MemTotal: {box.mem_gib * 1024 * 1024} kB\n")
    machine = tc.Machine(environ=env, fs_root=root, affinity=lambda: box.cpus, suite_bin=())
    out = io.StringIO()
    ctx = make_run(
        Settings(source=example_copy, **{"dry_run": True, **box.settings}),
        machine=machine,
        console=Console(out),
    )
    found, notes = facts.gather(presets.inputs(ctx))
    (configure,) = ps.generate("release", found)["configurePresets"]
    return configure, "\n".join(notes)


CASES: dict[str, tuple[Box, dict[str, Any]]] = {
    "no nvcc": (
        Box(nvcc="none"),
        {"CMAKE_CUDA_COMPILER": None, "NVCC_THREADS": None, "jobs": 16, "note": "no CUDA"},
    ),
    "nvcc only under CUDA_HOME": (Box(nvcc="cuda_home"), {"CMAKE_CUDA_COMPILER": "cuda-12.9"}),
    "nvcc only in /usr/local/cuda": (Box(nvcc="default"), {"CMAKE_CUDA_COMPILER": "usr/local"}),
    "sccache and ccache": (
        Box(tools=["ninja", "ccache", "sccache"]),
        {"CMAKE_CXX_COMPILER_LAUNCHER": "sccache", "CMAKE_CUDA_COMPILER_LAUNCHER": "sccache"},
    ),
    "neither cache": (Box(tools=["ninja"]), {"CMAKE_CXX_COMPILER_LAUNCHER": None}),
    "1 CPU": (Box(cpus=1), {"jobs": 1, "NVCC_THREADS": "1"}),
    "2 CPUs": (Box(cpus=2), {"jobs": 1, "NVCC_THREADS": "2"}),
    "64 CPUs": (Box(cpus=64, mem_gib=512), {"jobs": 16, "NVCC_THREADS": "4"}),
    "64 CPUs, low memory": (Box(cpus=64, mem_gib=16), {"jobs": 2, "NVCC_THREADS": "4"}),
    "GPU 9.0": (
        Box(smi="9.0\\n"),
        {"TORCH_CUDA_ARCH_LIST": "9.0", "NVCC_THREADS": "1", "jobs": 16},
    ),
    "GPUs 8.0 and 9.0": (
        Box(smi="9.0\\n8.0\\n9.0\\n"),
        {"TORCH_CUDA_ARCH_LIST": "8.0;9.0", "NVCC_THREADS": "2", "jobs": 8},
    ),
    "GPU, --all-archs": (
        Box(smi="9.0\\n", settings={"all_archs": True}),
        {"TORCH_CUDA_ARCH_LIST": None},
    ),
    "--arch wins over the GPU": (
        Box(smi="9.0\\n", settings={"arch": "10.0"}),
        {"TORCH_CUDA_ARCH_LIST": "10.0"},
    ),
    "device cpu": (Box(settings={"device": "cpu"}), {"CMAKE_CUDA_COMPILER": None}),
}


@pytest.mark.parametrize("case", CASES)
def test_detection_matrix(case: str, tmp_path: Path, example_copy: Path) -> None:
    box, expected = CASES[case]
    preset, notes = preset_for(box, tmp_path, example_copy)
    cache = preset["cacheVariables"]
    seen = {
        **cache,
        "generator": preset.get("generator"),
        "jobs": int(cache.get("CMAKE_JOB_POOLS", "compile=0").split("=")[1]) or None,
        "TORCH_CUDA_ARCH_LIST": preset.get("environment", {}).get("TORCH_CUDA_ARCH_LIST"),
        # the compiler cache, behind the memory gate our presets put first
        **{k: compile_cache(v) for k, v in cache.items() if k.endswith("_LAUNCHER")},
    }
    if "CMAKE_JOB_POOLS" not in cache:
        seen["jobs"] = None
    for key, want in expected.items():
        if key == "note":
            assert want in notes
        elif want is None:
            assert seen.get(key) is None, f"{key} = {seen.get(key)!r}"
        elif isinstance(want, str) and key.endswith(("COMPILER", "LAUNCHER")):
            assert want in str(seen.get(key)), f"{key} = {seen.get(key)!r}"
        else:
            assert seen.get(key) == want, f"{key} = {seen.get(key)!r}"
    assert cache["VLLM_PYTHON_EXECUTABLE"] in (
        str(example_copy / ".venv" / "bin" / "python"),  # configure_cache = none
        str(example_copy / ".vllm-build-tools" / cmake_python.WRAPPER),
    )


@pytest.mark.parametrize("tools", [["ninja", "ccache"], ["ninja", "sccache"], ["ninja"]])
def test_the_memory_gate_comes_first_with_any_cache_or_none(
    tools: list[str], tmp_path: Path, example_copy: Path
) -> None:
    preset, _ = preset_for(Box(tools=tools), tmp_path, example_copy)
    cache = preset["cacheVariables"]
    values = {cache[f"CMAKE_{lang}_COMPILER_LAUNCHER"] for lang in ("C", "CXX", "CUDA")}
    assert len(values) == 1, f"every language gets the same launcher list: {values}"
    (value,) = values
    state = example_copy / ".vllm-build-tools"
    python = str(example_copy / ".venv" / "bin" / "python")
    store = str(state / "memory" / "cmake-build-release.json")
    head = [python, "-S", "-E", str(state / "memory-gate.py"), "--store", store]
    assert value.split(";")[:6] == head, value
    assert gate_script(value) == str(state / "memory-gate.py"), value
    cache_tool = next((t for t in tools if t != "ninja"), None)
    found = compile_cache(value)
    assert (Path(found).name if found else None) == cache_tool, value
    assert value.split(";")[-1] == (found or "--"), f"the cache comes last, after `--`: {value}"


def test_memory_gate_off_leaves_the_cache_alone(tmp_path: Path, example_copy: Path) -> None:
    preset, _ = preset_for(Box(settings={"memory_gate": False}), tmp_path, example_copy)
    value = preset["cacheVariables"]["CMAKE_CXX_COMPILER_LAUNCHER"]
    assert value == str(tmp_path / "bin" / "ccache"), f"the cache alone, as before: {value}"
    assert gate_script(value) is None, value
    no_cache = Box(tools=["ninja"], settings={"memory_gate": False})
    preset, _ = preset_for(no_cache, tmp_path / "no cache", example_copy)
    launchers = [k for k in preset["cacheVariables"] if k.endswith("_LAUNCHER")]
    assert launchers == [], f"no gate and no cache: no launcher at all, got {launchers}"


def test_no_ninja_is_refused_before_presets_are_written(tmp_path: Path, example_copy: Path) -> None:
    """A build dir must never silently fall back to Unix Makefiles (then stay on them)."""
    box = Box(tools=["ccache"], settings={"dry_run": False})
    with pytest.raises(BuildToolsError, match="ninja was not found"):
        preset_for(box, tmp_path, example_copy)
    assert not (example_copy / "CMakeUserPresets.json").exists()


def test_nvcc_from_the_venvs_torch_is_asked_once_and_cached(
    tmp_path: Path, example_copy: Path
) -> None:
    """CUDA_HOME comes from the venv's torch (its python is asked, never imported here)."""
    venv = example_copy / ".venv"
    site = venv / "lib" / "python3.12" / "site-packages"
    (site / "torch-2.9.0+cu129.dist-info").mkdir(parents=True)
    (site / "torch-2.9.0+cu129.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torch\nVersion: 2.9.0+cu129\n"
    )
    cuda_home = tmp_path / "torch-cuda"
    nvcc = make_tool(cuda_home / "bin", "nvcc")
    calls = tmp_path / "calls"
    make_tool(venv / "bin", "python", f'echo x >> "{calls}"; echo "{cuda_home}"')
    dry = Box(nvcc="path")
    preset, _ = preset_for(dry, tmp_path, example_copy)
    assert preset["cacheVariables"]["CMAKE_CUDA_COMPILER"] == str(nvcc)
    assert not (example_copy / ".vllm-build-tools").exists(), "a dry run wrote its cache"
    box = Box(nvcc="path", settings={"dry_run": False})
    preset_for(box, tmp_path / "once", example_copy)
    preset_for(box, tmp_path / "again", example_copy)
    runs = calls.read_text().count("x")
    assert runs == 2, f"asked {runs} times: the dry run, then once (the second run is cached)"
