"""Everything the presets need from the machine, gathered once, with notes a person should read."""

from __future__ import annotations

import json
from typing import Optional

from build_tools import toolchain as tc
from build_tools import venv_state
from build_tools.cmake.presets_gen import Facts
from build_tools.context import Context
from build_tools.errors import BuildToolsError

TORCH_CACHE = "torch-cuda-home.json"  # in the checkout's state dir, never in the venv


def torch_cuda_home(ctx: Context) -> Optional[str]:
    """torch.utils.cpp_extension.CUDA_HOME as the venv's python sees it, cached.

    Asked of the venv's interpreter (torch is never imported here) and only when torch is
    installed; cached per torch version and CUDA_HOME/CUDA_PATH, so later runs pay nothing.
    """
    torch = venv_state.installed(ctx.tree.venv_dir).get("torch")
    if torch is None or not ctx.tree.venv_python.is_file():
        return None
    env = ctx.machine.environ
    key = {
        "torch": f"{torch.version}@{ctx.tree.venv_dir}",
        "CUDA_HOME": env.get("CUDA_HOME", ""),
        "CUDA_PATH": env.get("CUDA_PATH", ""),
    }
    cache_path = ctx.tree.state_dir / TORCH_CACHE
    cached = venv_state.read_json(cache_path)
    if isinstance(cached, dict) and cached.get("key") == key:
        return str(cached.get("cuda_home") or "") or None
    code = "from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or '')"
    done = ctx.runner.capture(ctx.command([ctx.tree.venv_python, "-c", code]), timeout=120)
    lines = done.output.strip().splitlines() if done.returncode == 0 else []
    out = lines[-1].strip() if lines else ""
    try:
        cache_path.parent.mkdir(exist_ok=True)
        cache_path.write_text(json.dumps({"key": key, "cuda_home": out}) + "\n")
    except OSError:
        pass
    return out or None


def _arch_list(ctx: Context, notes: list[str]) -> Optional[str]:
    settings = ctx.settings
    if settings.arch:
        notes.append(f"CUDA archs {settings.arch} (arch from {settings.origin('arch')})")
        return settings.arch
    if settings.all_archs:
        notes.append("--all-archs: keeping the project's CUDA arch list")
        return None
    local = tc.gpu_archs(ctx.machine)
    if local:
        arch_list = ";".join(local)
        notes.append(f"local GPU arch {arch_list} (use --all-archs for the project's full list)")
        return arch_list
    notes.append("no local GPU found: keeping the project's CUDA arch list")
    return None


def gather(ctx: Context) -> tuple[Facts, list[str]]:
    settings, tree, machine = ctx.settings, ctx.tree, ctx.machine
    notes: list[str] = []
    venv_bin = tree.venv_python.parent
    nvcc = None if settings.device != "cuda" else tc.find_nvcc(machine, torch_cuda_home(ctx))
    if settings.device == "cuda" and nvcc is None:
        notes.append(
            "no CUDA compiler found (torch's CUDA_HOME, CUDA_HOME, CUDA_PATH, PATH, "
            "/usr/local/cuda): the preset has no CMAKE_CUDA_COMPILER, CUDA code is skipped"
        )
    arch_list = _arch_list(ctx, notes) if nvcc else None
    n_archs = len(arch_list.replace(" ", ";").split(";")) if arch_list else None
    parallelism = tc.plan_parallelism(
        tc.available_cpus(machine),
        tc.available_memory(machine),
        cuda=nvcc is not None,
        n_archs=n_archs,
        mem_per_job_gb=settings.mem_per_job_gb,
        jobs=settings.jobs,
        nvcc_threads=settings.nvcc_threads,
    )
    notes.append(
        f"jobs={parallelism.jobs}"
        + (f" NVCC_THREADS={parallelism.nvcc_threads}" if nvcc else "")
        + f" ({parallelism.why})"
    )
    ninja = tc.find_ninja(machine, venv_bin)
    if ninja is None and ctx.dry_run:
        ninja = venv_bin / "ninja"  # what `deps` installs
    if ninja is None:
        raise BuildToolsError(
            "ninja was not found (in the venv or on PATH); the presets pin the Ninja generator.",
            "run `invoke deps` (installs ninja into the venv) or `python3 -m pip install ninja`",
        )
    sources = {v: machine.environ[v] for v in tree.src_dir_vars if machine.environ.get(v)}
    unset = [name for name in tree.src_dir_vars if name not in sources]
    if unset:
        notes.append(f"not set, so CMake fetches these itself: {', '.join(unset)}")
    facts = Facts(
        python=tree.venv_python,
        cmake_minimum=tree.cmake_minimum,
        parallelism=parallelism,
        ninja=ninja,
        nvcc=nvcc,
        launcher=tc.find_launcher(machine, settings.launcher, (venv_bin, *machine.suite_bin)),
        arch_list=arch_list,
        device=settings.device,
        hip=settings.device == "rocm",
        fetchcontent=tree.uses_fetchcontent,
        environment=sources,
        install_prefix=settings.install_prefix or "${sourceDir}",
    )
    return facts, notes
