"""doctor's build-dir checks: what state the preset's build dir is in (half deleted, leftovers
of an interrupted clean), and whether its CMakeCache.txt still says what the preset says
(generator, compiler cache, VLLM_PYTHON_EXECUTABLE, TORCH_CUDA_ARCH_LIST)."""

from __future__ import annotations

import re
from typing import Optional

from build_tools.cmake import archs
from build_tools.cmake import build_dir as bd
from build_tools.cmake.project import CACHE_FILE, LAUNCHERS, compile_commands, read_cache
from build_tools.doctor.findings import Finding, Subject, ok, warn
from build_tools.doctor.tools import nvcc_path
from build_tools.machine import toolchain as tc

_SM = re.compile(r"\b(?:sm|compute)_(\d+)[af]?\b")


def state(c: Subject) -> list[Finding]:
    directory = c.build_dir
    if directory is None:
        return []
    found: list[Finding] = []
    leftovers = bd.leftovers(directory)
    if leftovers:
        names = ", ".join(p.name for p in leftovers)
        found.append(
            warn(
                "build dir",
                f"an interrupted removal left {names} behind",
                "run `invoke build` (it finishes removing them)",
            )
        )
    if not directory.is_dir():
        return found or [ok("build dir", f"{directory} is not configured yet")]
    has_cache = (directory / CACHE_FILE).is_file()
    if not has_cache and any(directory.iterdir()):
        found.append(
            warn(
                "build dir",
                f"{directory} has files but no {CACHE_FILE}: half deleted, or not a build dir",
                "run `invoke clean-build` (checks it is a build dir first), or check binaryDir",
            )
        )
    elif has_cache and not bd.has_generator_files(directory):
        found.append(
            warn(
                "build dir",
                f"{directory} has a {CACHE_FILE} but no build.ninja: half deleted",
                "run `invoke build` (it configures again)",
            )
        )
    return found or [ok("build dir", f"{directory} is configured")]


def compiled_archs(c: Subject) -> Optional[set[int]]:
    """The sm numbers the CUDA units of the build dir compile for (its compile_commands.json)."""
    entries = compile_commands(c.build_dir) if c.build_dir else None
    if entries is None:
        return None
    found: set[int] = set()
    for entry in entries:
        if str(entry.get("file", "")).endswith(".cu"):
            command = entry.get("command") or " ".join(entry.get("arguments") or [])
            found.update(int(n) for n in _SM.findall(str(command)))
    return found


def _arch_drift(c: Subject) -> Optional[str]:
    wanted = c.environment.get("TORCH_CUDA_ARCH_LIST", "").strip()
    compiled = compiled_archs(c)
    if not wanted or not compiled:
        return None
    asked = archs.sm_numbers(wanted)
    nvcc = nvcc_path(c)
    version = tc.tool_version(str(nvcc)) if nvcc and nvcc.is_file() else None
    supported = None
    if c.tree is not None and version is not None:
        supported = archs.supported_archs(c.tree.root / "CMakeLists.txt", version)
    if supported:  # the project drops what this nvcc cannot build
        asked &= archs.sm_numbers(supported)
    if compiled - asked or asked - compiled:
        have = " ".join(f"{n // 10}.{n % 10}" for n in sorted(compiled))
        return f"TORCH_CUDA_ARCH_LIST is {wanted!r}, the build dir compiles for {have}"
    return None


def preset_vs_cache(c: Subject) -> list[Finding]:
    """The preset against what the build dir was configured with."""
    directory = c.build_dir
    cache = read_cache(directory) if directory else None
    preset = c.checkout.configure_preset if c.checkout else {}
    if directory is None or cache is None or not preset:
        return []
    differ = []
    generator = preset.get("generator")
    if isinstance(generator, str) and generator != cache.get("CMAKE_GENERATOR", ""):
        differ.append(f"generator: preset {generator}, cache {cache.get('CMAKE_GENERATOR')}")
    for key in (*LAUNCHERS, "VLLM_PYTHON_EXECUTABLE"):
        want = c.cache_value(key) if key in preset.get("cacheVariables", {}) else ""
        have = cache.get(key, "")
        if want is not None and want != have:
            differ.append(f"{key}: preset {want or '(unset)'}, cache {have or '(unset)'}")
    arch = _arch_drift(c)
    if arch:
        differ.append(arch)
    if not differ:
        return [ok("preset vs cache", f"{directory.name} matches preset {c.settings.preset!r}")]
    stamp = bd.read_stamp(directory)
    if isinstance(stamp, dict) and stamp.get("preset") != bd.preset_digest(preset):
        fix = "run `invoke build`: the preset changed since the last configure, so it reconfigures"
    else:
        fix = (
            f"run `invoke clean-build`, or `cmake --preset {c.settings.preset}` to apply the "
            "preset again"
        )
    return [warn("preset vs cache", "; ".join(differ), fix)]


CHECKS = (state, preset_vs_cache)
