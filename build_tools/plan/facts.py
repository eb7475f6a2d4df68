"""Everything the presets need from the machine, gathered once, with notes a person should read.

Pure of writes: what must exist on disk for the presets (the heavy-pool script, the sccache-dist
client config) is returned or written by the presets step, never in a dry run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools import drift
from build_tools.cache import dist, policy
from build_tools.checkout.view import Checkout
from build_tools.cmake import archs
from build_tools.cmake.presets_gen import Facts
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.insight import memory
from build_tools.machine import toolchain as tc
from build_tools.machine import venv_state
from build_tools.plan import jobs, state_scripts
from build_tools.process.runner import Capture
from build_tools.settings import Settings

TORCH_CACHE = "torch-cuda-home.json"  # in the checkout's state dir, never in the venv


@dataclass(frozen=True)
class Inputs:
    """What the facts are gathered from: the settings, the checkout and its preset, the
    machine, `capture` to ask the venv's Python (where torch finds CUDA), and the folder that
    keeps configure's answers (None: `configure_cache = none`)."""

    settings: Settings
    checkout: Checkout
    machine: tc.Machine
    capture: Capture
    configure_cache: Optional[Path]


def torch_cuda_home(given: Inputs) -> Optional[str]:
    """torch.utils.cpp_extension.CUDA_HOME as the venv's python sees it, cached.

    Asked of the venv's interpreter (torch is never imported here) and only when torch is
    installed; cached per torch version and CUDA_HOME/CUDA_PATH, so later runs pay nothing.
    """
    tree = given.checkout.tree
    torch = venv_state.installed(tree.venv_dir).get("torch")
    if torch is None or not tree.venv_python.is_file():
        return None
    env = given.machine.environ
    key = {
        "torch": f"{torch.version}@{tree.venv_dir}",
        "CUDA_HOME": env.get("CUDA_HOME", ""),
        "CUDA_PATH": env.get("CUDA_PATH", ""),
    }
    cache_path = tree.state_dir / TORCH_CACHE
    cached = venv_state.read_json(cache_path)
    if isinstance(cached, dict) and cached.get("key") == key:
        return str(cached.get("cuda_home") or "") or None
    code = "from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or '')"
    returncode, output = given.capture([tree.venv_python, "-c", code], tree.root)
    lines = output.strip().splitlines() if returncode == 0 else []
    out = lines[-1].strip() if lines else ""
    if not given.settings.dry_run:
        try:
            cache_path.parent.mkdir(exist_ok=True)
            cache_path.write_text(json.dumps({"key": key, "cuda_home": out}) + "\n")
        except OSError:
            pass
    return out or None


def _arch_list(given: Inputs, nvcc: Path, notes: list[str]) -> Optional[str]:
    """TORCH_CUDA_ARCH_LIST for the preset, and a note saying where it came from and what
    the project would have built without it: never left to chance silently."""
    settings = given.settings
    if settings.arch:
        _check_archs(settings, nvcc)
        notes.append(f"CUDA archs {settings.arch} (arch from {settings.origin('arch')})")
        return settings.arch
    local = tc.gpu_archs(given.machine)
    if settings.all_archs:
        version = tc.tool_version(str(nvcc)) or (0, 0, 0)
        listed = archs.supported_archs(given.checkout.tree.root / "CMakeLists.txt", version)
        if listed:
            notes.append(
                f"--all-archs: the project's CUDA_SUPPORTED_ARCHS for nvcc "
                f"{tc.version_text(version[:2])}: {listed}"
            )
            return listed
        notes.append("--all-archs: the project names no CUDA_SUPPORTED_ARCHS; its own default")
        return None
    if local:
        arch_list = ";".join(local)
        notes.append(
            f"local GPU arch {arch_list} (torch's CMake would autodetect the same; "
            "--all-archs: the project's full list)"
        )
        return arch_list
    notes.append(
        "no local GPU and no arch asked for: the project's default list (for vLLM: torch's "
        "list for this nvcc, several archs); --arch X.Y builds one"
    )
    return None


def _check_archs(settings: Settings, nvcc: Path) -> None:
    """An asked arch list that nvcc cannot build fails here, before a preset is written, not
    in a configure that fails far from the cause."""
    supported = tc.nvcc_archs(str(nvcc))
    wrong = archs.problems(settings.arch, supported)
    if wrong:
        version = tc.tool_version(str(nvcc))
        which = f"nvcc {tc.version_text(version)}" if version else f"the nvcc at {nvcc}"
        valid = f"{which} builds {' '.join(supported)}" if supported else "e.g. 9.0 or 8.0;9.0a"
        raise BuildToolsError(
            f"arch = {settings.arch!r} from {settings.origin('arch')} is not a CUDA arch list "
            f"for this machine: {'; '.join(wrong)}.",
            f"pass --arch with archs {valid} (separated by ';' or spaces)",
            kind=ErrorKind.BAD_INPUT,
        )


def job_plan(
    settings: Settings,
    machine: tc.Machine,
    where: tuple[Path, Path],
    *,
    cuda: bool,
    arch_list: Optional[str],
    cluster: Optional[tuple[int, str]] = None,
) -> jobs.JobPlan:
    """The plan for this machine, the settings, and the peaks measured `where` (the
    checkout's state dir and the build dir): what `invoke presets` writes, `doctor` shows."""
    total = tc.available_memory(machine)
    demand = jobs.Demand(
        cuda=cuda,
        n_archs=len(archs.items(arch_list)) or None if arch_list else None,
        mem_per_job_gb=settings.mem_per_job_gb,
        jobs=settings.jobs,
        nvcc_threads=settings.nvcc_threads,
    )
    peaks = memory.load(*where) if total else {}
    return jobs.plan(tc.available_cpus(machine), total, demand, peaks, cluster)


def _cluster(given: Inputs, launcher: Optional[Path]) -> Optional[tuple[int, str]]:
    """The CPUs an sccache-dist cluster offers, when this build distributes its compiles."""
    if not given.settings.dist or launcher is None:
        return None
    conf = given.checkout.tree.state_dir / dist.CONFIG
    environ = {**given.machine.environ, "SCCACHE_CONF": str(conf)}
    cpus, said = dist.cluster_cpus(launcher, environ)
    return (cpus, said) if cpus else None


def gather(given: Inputs) -> tuple[Facts, list[str]]:
    settings, tree, machine = given.settings, given.checkout.tree, given.machine
    notes: list[str] = []
    venv_bin = tree.venv_python.parent
    nvcc = None if settings.device != "cuda" else tc.find_nvcc(machine, torch_cuda_home(given))
    if settings.device == "cuda" and nvcc is None:
        notes.append(
            "no CUDA compiler found (torch's CUDA_HOME, CUDA_HOME, CUDA_PATH, PATH, "
            "/usr/local/cuda): the preset has no CMAKE_CUDA_COMPILER, CUDA code is skipped"
        )
    arch_list = _arch_list(given, nvcc, notes) if nvcc else None
    ninja = tc.find_ninja(machine, venv_bin)
    if ninja is None and settings.dry_run:
        ninja = venv_bin / "ninja"  # what `deps` installs
    if ninja is None:
        raise BuildToolsError(
            "ninja was not found (in the venv or on PATH); the presets pin the Ninja generator.",
            "run `invoke deps` (installs ninja into the venv) or `python3 -m pip install ninja`",
        )
    found = drift.src_dirs(tree, machine.environ, settings.deps_dir)
    if found.unset:
        notes.append(f"no local source for {', '.join(found.unset)}: CMake fetches those itself")
    sources = dict(found.local)
    launcher = tc.find_launcher(machine, settings.launcher, (venv_bin,))
    cache_env = policy.preset_environment(
        settings, tree.state_dir, launcher, notes, dry_run=settings.dry_run
    )
    sources.update(cache_env)
    plan = job_plan(
        settings,
        machine,
        (tree.state_dir, given.checkout.build_dir),
        cuda=nvcc is not None,
        arch_list=arch_list,
        cluster=_cluster(given, launcher),
    )
    notes.append(
        f"jobs={plan.jobs}"
        + (f" NVCC_THREADS={plan.nvcc_threads}" if nvcc else "")
        + f" ({plan.why})"
    )
    facts = Facts(
        python=tree.venv_python,
        cmake_minimum=tree.cmake_minimum,
        parallelism=plan,
        ninja=ninja,
        nvcc=nvcc,
        launcher=launcher,
        arch_list=arch_list,
        device=settings.device,
        hip=settings.device == "rocm",
        fetchcontent=tree.uses_fetchcontent,
        environment=sources,
        install_prefix=settings.install_prefix or "${sourceDir}",
        pools_script=given.checkout.pools_script if plan.heavy_targets else None,
        dev_split=settings.dev_split,
        gate=state_scripts.memory_gate(tree.state_dir, machine.environ)
        if settings.memory_gate
        else None,
        cmake_python=state_scripts.cmake_interpreter(tree.state_dir, given.configure_cache, notes),
    )
    return facts, notes
