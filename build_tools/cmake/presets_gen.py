"""The presets we write, built from facts (presets_merge.py puts them into the user's file).

Standard CMake presets (version 6), readable by plain `cmake --preset`. Each preset we write
carries `vendor.vllm-build-tools.digest`, the digest of its own content: that is how a later run
tells our untouched presets (regenerated in place) from presets a person wrote or edited
(kept, unless --force). Pure: nothing here runs a command.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from build_tools.cmake.build_dir import default_name
from build_tools.cmake.project import GATE_END, launcher_variable

VENDOR = "vllm-build-tools"
PRESETS_VERSION = 6
BUILD_TYPES = {
    "release": "Release",
    "debug": "Debug",
    "relwithdebinfo": "RelWithDebInfo",
    "minsizerel": "MinSizeRel",
    "ci": "Release",
    "dev": "Release",
}
KINDS = ("configurePresets", "buildPresets")


class JobPools(Protocol):
    """What the presets write of the jobs plan (plan/jobs.py's JobPlan has it)."""

    @property
    def jobs(self) -> int: ...
    @property
    def nvcc_threads(self) -> int: ...
    @property
    def link_jobs(self) -> Optional[int]: ...
    @property
    def heavy_jobs(self) -> int: ...
    @property
    def heavy_targets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Gate:
    """The memory gate every compile passes first (process/gate.py, written into the state dir
    by the presets step): where it is, the learned peaks it admits from, its reservations."""

    script: Path
    store_of: Callable[[Path], Path]  # a build dir's learned peaks (insight/memory.py's store)
    reservations: Path
    # What a configured build dir runs, kept as it is: a path changed in it (another TMPDIR)
    # would change every compile command and recompile everything.
    configured: tuple[str, ...] = ()

    def argv(self, python: Path, preset: str) -> list[str]:
        """`python -S -E gate --store S --reservations R --` for the preset's build dir."""
        if self.configured:
            return list(self.configured)
        store = self.store_of(Path(default_name(preset)))
        return [
            str(python),
            "-S",
            "-E",
            str(self.script),
            "--store",
            str(store),
            "--reservations",
            str(self.reservations),
            GATE_END,
        ]


@dataclass(frozen=True)
class Facts:
    """What the presets are made of: decided by the toolchain and settings, not here."""

    python: Path
    cmake_minimum: tuple[int, int, int]
    parallelism: JobPools
    ninja: Path  # the generator is always Ninja: a build dir never silently falls back to Make
    nvcc: Optional[Path] = None
    launcher: Optional[Path] = None
    arch_list: Optional[str] = None
    device: str = "cuda"
    hip: bool = False
    fetchcontent: bool = True
    environment: Mapping[str, str] = field(default_factory=dict)
    install_prefix: str = "${sourceDir}"  # where the editable install imports the kernels from
    pools_script: Optional[Path] = None  # assigns the plan's heavy targets to their pool
    dev_split: bool = False  # the dev preset also splits nvcc's back end (other device code)
    gate: Optional[Gate] = None  # each compile waits for the memory it is expected to need
    # What CMake is given as the interpreter: a script that answers `-c EXPR` from the
    # configure cache (cmake/configure_cache.py), else `python` itself.
    cmake_python: Optional[Path] = None


STANDARD_PRESETS = ("release", "debug", "relwithdebinfo")
DEV = "dev"


def family(requested: str) -> list[str]:
    """The presets written together: release, debug and relwithdebinfo, or a custom one alone.

    A custom name (such as nox's `ci`) may point at another venv, so writing it must not touch
    the developer's standard presets.
    """
    return list(STANDARD_PRESETS) if requested in STANDARD_PRESETS else [requested]


def build_type(preset: str) -> str:
    return BUILD_TYPES.get(preset.lower(), "Release")


def digest(preset: Mapping[str, Any]) -> str:
    body = {k: v for k, v in preset.items() if k != "vendor"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _stamp(preset: dict[str, Any]) -> dict[str, Any]:
    preset["vendor"] = {VENDOR: {"digest": digest(preset)}}
    return preset


def ours(preset: Mapping[str, Any]) -> bool:
    """True when the preset was written by us and not edited since."""
    vendor = preset.get("vendor")
    mark = vendor.get(VENDOR) if isinstance(vendor, dict) else None
    return isinstance(mark, dict) and mark.get("digest") == digest(preset)


def generate(names: str | list[str], facts: Facts) -> dict[str, list[dict[str, Any]]]:
    """Our configure and build presets, one pair per name."""
    pairs = [_pair(name, facts) for name in ([names] if isinstance(names, str) else names)]
    return {kind: [pair[i] for pair in pairs] for i, kind in enumerate(KINDS)}


def _pair(name: str, facts: Facts) -> tuple[dict[str, Any], dict[str, Any]]:
    cache: dict[str, str] = {
        "CMAKE_BUILD_TYPE": build_type(name),
        "VLLM_PYTHON_EXECUTABLE": str(facts.cmake_python or facts.python),
        "CMAKE_INSTALL_PREFIX": facts.install_prefix,
        # setup.py passes it too; without it a cpu build still picks up nvcc where it exists.
        "VLLM_TARGET_DEVICE": facts.device,
        # clangd reads it; configure links it at the source root (compile_db.py).
        "CMAKE_EXPORT_COMPILE_COMMANDS": "ON",
    }
    if facts.fetchcontent:
        # setup.py builds keep FetchContent downloads here; share them instead of fetching twice.
        cache["FETCHCONTENT_BASE_DIR"] = "${sourceDir}/.deps"
    if facts.nvcc:
        cache["CMAKE_CUDA_COMPILER"] = str(facts.nvcc)
        # The edit loop (dev). nvcc's -O is the host compiler's alone, so -O1 cuts the host
        # half of a .cu unit and leaves its device code the release's, byte for byte
        # (tests/integration/test_dev_preset.py). --split-compile=0 spreads the back end over
        # every core, but the partitions change register allocation: opt-in only.
        if name == DEV:
            cache["CMAKE_CUDA_FLAGS_RELEASE"] = "-O1 -DNDEBUG"
        if name == DEV and facts.dev_split:  # elsewhere unset: CUDAFLAGS from the shell applies
            cache["CMAKE_CUDA_FLAGS"] = "--split-compile=0"
        cache["NVCC_THREADS"] = str(facts.parallelism.nvcc_threads)
    # The memory gate first (CMake takes a ;-list: command and arguments), then the cache.
    launch = (facts.gate.argv(facts.python, name) if facts.gate else []) + (
        [str(facts.launcher)] if facts.launcher else []
    )
    if launch:
        langs = ["C", "CXX"] + (["CUDA"] if facts.nvcc else []) + (["HIP"] if facts.hip else [])
        for lang in langs:
            cache[launcher_variable(lang)] = ";".join(launch)
    configure: dict[str, Any] = {
        "name": name,
        "displayName": f"{build_type(name)} ({VENDOR})",
        "binaryDir": "${sourceDir}/" + default_name(name),
        "generator": "Ninja",
    }
    # An absolute path keeps plain `cmake --preset` working outside the activated venv.
    cache["CMAKE_MAKE_PROGRAM"] = str(facts.ninja)
    # vLLM's script defines the pool but never assigns it; setup.py does both.
    cache["CMAKE_JOB_POOLS"] = f"compile={facts.parallelism.jobs}"
    cache["CMAKE_JOB_POOL_COMPILE"] = "compile"
    plan = facts.parallelism
    if plan.heavy_targets and facts.pools_script:  # units that need more memory: a pool of theirs
        cache["CMAKE_JOB_POOLS"] += f";heavy={plan.heavy_jobs}"
        cache["CMAKE_PROJECT_INCLUDE"] = str(facts.pools_script)
    if facts.parallelism.link_jobs:  # compiles go to a cluster; links stay within local memory
        cache["CMAKE_JOB_POOLS"] += f";link={facts.parallelism.link_jobs}"
        cache["CMAKE_JOB_POOL_LINK"] = "link"
    configure["cacheVariables"] = cache
    environment = dict(facts.environment)
    if facts.arch_list:
        environment["TORCH_CUDA_ARCH_LIST"] = facts.arch_list
    if environment:
        configure["environment"] = dict(sorted(environment.items()))
    build = {"name": name, "configurePreset": name, "jobs": facts.parallelism.jobs}
    return _stamp(configure), _stamp(build)


def pools_script(targets: tuple[str, ...]) -> str:
    """The CMake script that puts `targets` into the heavy pool (the preset names it as
    CMAKE_PROJECT_INCLUDE, so a raw `cmake --preset` assigns them too)."""
    names = " ".join(targets)
    return (
        "# written by vllm-build-tools from measured peak memory per compile unit\n"
        "include_guard(GLOBAL)\n"
        "if(NOT CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)\n  return()\nendif()\n"
        "function(_vllm_build_tools_heavy_pool)\n"
        f"  foreach(name IN ITEMS {names})\n"
        "    if(TARGET ${name})\n"
        "      set_property(TARGET ${name} PROPERTY JOB_POOL_COMPILE heavy)\n"
        "    endif()\n"
        "  endforeach()\n"
        "endfunction()\n"
        "cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _vllm_build_tools_heavy_pool)\n"
    )
