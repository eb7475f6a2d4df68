"""doctor's build-dir checks: what state the preset's build dir is in (half deleted, leftovers
of an interrupted clean), and whether its CMakeCache.txt still says what the preset says
(generator, compiler cache, VLLM_PYTHON_EXECUTABLE, TORCH_CUDA_ARCH_LIST)."""

from __future__ import annotations

from typing import Optional

from build_tools.cmake import archs
from build_tools.cmake import build_dir as bd
from build_tools.cmake.build_tree import ConfigureStamp, preset_digest
from build_tools.cmake.project import CACHE_FILE, LAUNCHERS, compile_commands, read_cache
from build_tools.doctor.findings import Finding, Subject, ok, warn


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


def _arch_drift(c: Subject, stamp: Optional[ConfigureStamp]) -> Optional[str]:
    """The arch list against the one the build dir was configured for. The project's CMake
    derives its own per-kernel subsets from the asked list (vLLM builds some kernels for
    8.0-8.9 whatever is asked), so the asked list is compared with the asked list of our last
    configure, and what the build dir compiles for with what it compiled for then; never the
    asked list with the compiled one."""
    if stamp is None or stamp.made.archs is None or c.build_dir is None:
        return None
    wanted, configured = c.environment.get("TORCH_CUDA_ARCH_LIST", ""), stamp.made.archs
    if wanted != configured:
        return (
            f"TORCH_CUDA_ARCH_LIST is {wanted or '(unset)'!r}, the build dir was configured "
            f"for {configured or '(unset)'!r}"
        )
    entries = compile_commands(c.build_dir)
    then = stamp.compiled_archs
    now = tuple(sorted(archs.compiled(entries))) if entries is not None else None
    if then is not None and now is not None and now != then:
        shown = " ".join(f"{n // 10}.{n % 10}" for n in now)
        return f"the build dir now compiles for {shown}: configured again outside our tasks"
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
    stamp = c.build_tree.stamp() if c.build_tree else None
    arch = _arch_drift(c, stamp)
    if arch:
        differ.append(arch)
    if not differ:
        return [ok("preset vs cache", f"{directory.name} matches preset {c.settings.preset!r}")]
    if stamp is not None and stamp.made.preset != preset_digest(preset):
        fix = "run `invoke build`: the preset changed since the last configure, so it reconfigures"
    else:
        fix = "run `invoke configure --force`: it applies the preset again (objects are kept)"
    return [warn("preset vs cache", "; ".join(differ), fix)]


CHECKS = (state, preset_vs_cache)
