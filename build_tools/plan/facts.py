"""Everything the presets need from the machine, gathered once, with notes a person should read.

Pure of writes: what must exist on disk for the presets (the heavy-pool script, the sccache-dist
client config) is returned or written by the presets step, never in a dry run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from build_tools import drift
from build_tools.cache import dist, policy
from build_tools.cmake import archs
from build_tools.cmake import build_dir as bd
from build_tools.cmake import presets_gen as gen
from build_tools.cmake.presets_gen import Facts
from build_tools.cmake.project import LAUNCHERS, compile_cache, gate_items
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.insight import memory
from build_tools.machine import toolchain as tc
from build_tools.machine import venv_state
from build_tools.plan import asked, jobs, state_scripts
from build_tools.run import Run
from build_tools.settings import Settings

TORCH_CACHE = "torch-cuda-home.json"  # in the checkout's state dir, never in the venv


def torch_cuda_home(ctx: Run) -> Optional[str]:
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
    if not ctx.dry_run:
        try:
            cache_path.parent.mkdir(exist_ok=True)
            cache_path.write_text(json.dumps({"key": key, "cuda_home": out}) + "\n")
        except OSError:
            pass
    return out or None


def _arch_list(ctx: Run, nvcc: Path, notes: list[str]) -> Optional[str]:
    """TORCH_CUDA_ARCH_LIST for the preset, and a note saying where it came from and what
    the project would have built without it: never left to chance silently."""
    settings = ctx.settings
    if settings.arch:
        _check_archs(settings, nvcc)
        notes.append(f"CUDA archs {settings.arch} (arch from {settings.origin('arch')})")
        return settings.arch
    local = tc.gpu_archs(ctx.machine)
    if settings.all_archs:
        version = tc.tool_version(str(nvcc)) or (0, 0, 0)
        listed = archs.supported_archs(ctx.tree.root / "CMakeLists.txt", version)
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


def pools_script_path(ctx: Run) -> Path:
    """Where the heavy-pool script of the preset's build dir lives (the presets step writes it)."""
    return ctx.tree.state_dir / "memory" / f"{ctx.checkout.build_dir.name}-pools.cmake"


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


def _cluster(ctx: Run, launcher: Optional[Path]) -> Optional[tuple[int, str]]:
    """The CPUs an sccache-dist cluster offers, when this build distributes its compiles."""
    if not ctx.settings.dist or launcher is None:
        return None
    conf = ctx.tree.state_dir / dist.CONFIG
    cpus, said = dist.cluster_cpus(launcher, {**ctx.machine.environ, "SCCACHE_CONF": str(conf)})
    return (cpus, said) if cpus else None


def gather(ctx: Run) -> tuple[Facts, list[str]]:
    settings, tree, machine = ctx.settings, ctx.tree, ctx.machine
    notes: list[str] = []
    venv_bin = tree.venv_python.parent
    nvcc = None if settings.device != "cuda" else tc.find_nvcc(machine, torch_cuda_home(ctx))
    if settings.device == "cuda" and nvcc is None:
        notes.append(
            "no CUDA compiler found (torch's CUDA_HOME, CUDA_HOME, CUDA_PATH, PATH, "
            "/usr/local/cuda): the preset has no CMAKE_CUDA_COMPILER, CUDA code is skipped"
        )
    arch_list = _arch_list(ctx, nvcc, notes) if nvcc else None
    ninja = tc.find_ninja(machine, venv_bin)
    if ninja is None and ctx.dry_run:
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
    launcher = tc.find_launcher(machine, settings.launcher, (venv_bin, *machine.suite_bin))
    cache_env = policy.preset_environment(
        settings, tree.state_dir, launcher, notes, dry_run=ctx.dry_run
    )
    sources.update(cache_env)
    plan = job_plan(
        settings,
        machine,
        (tree.state_dir, ctx.checkout.build_dir),
        cuda=nvcc is not None,
        arch_list=arch_list,
        cluster=_cluster(ctx, launcher),
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
        pools_script=pools_script_path(ctx) if plan.heavy_targets else None,
        dev_split=settings.dev_split,
        gate=state_scripts.memory_gate(ctx),
        cmake_python=state_scripts.cmake_interpreter(ctx, notes),
    )
    return facts, notes


# --------------------------------------------------------------- what a configured build keeps

NOTICES = "notices.json"  # in the state dir: what was said once already


def keep_configured(
    ctx: Run, name: str, found: Facts, existing: Optional[Mapping[str, Any]]
) -> tuple[Facts, list[str]]:
    """Auto-detected choices that are part of every compile command (the compiler cache, the
    CUDA archs, NVCC_THREADS, nvcc itself) stay what preset `name`'s configured build dir was
    configured with: a tool appearing on the machine never recompiles everything unasked. What
    the person set (flag, environment, settings file) or `--force` applies; a kept tool that
    is gone is replaced (it could only fail). The jobs follow the machine: they change no
    object. Returns the facts for `name` and what changed on the machine, with how to switch."""
    settings = ctx.settings
    if existing is None or settings.force or gen.VENDOR not in (existing.get("vendor") or {}):
        return found, []
    if not bd.cache_readable(ctx.tree.root / bd.default_name(name)):
        return found, []  # not configured yet: nothing to keep
    cache = existing.get("cacheVariables") or {}
    env = existing.get("environment") or {}
    said: list[str] = []
    kept = found

    def switch(what: str, old: str, new: str, command: str) -> None:
        said.append(
            f"{what} on this machine is now {new}, but preset {name!r} was configured with "
            f"{old}: kept {old}, so nothing recompiles. To switch: `{command}` (it changes "
            "every compile command, so every unit recompiles)"
        )

    configured = cache.get(LAUNCHERS[0])
    if settings.launcher == "auto" and settings.origin("launcher") == "default":
        old, new = compile_cache(configured), str(found.launcher) if found.launcher else None
        if old != new and (old is None or Path(old).is_file()):
            kept = replace(kept, launcher=Path(old) if old else None)
            name_new = Path(new).name if new else "none"
            switch("the compiler cache", Path(old).name if old else "none", name_new,
                   f"invoke presets --launcher {name_new}")  # fmt: skip
    gate_then = gate_items(configured)
    if found.gate and gate_then:
        kept = replace(kept, gate=replace(found.gate, configured=gate_then))
    elif found.gate and settings.origin("memory_gate") == "default":
        kept = replace(kept, gate=None)
        switch("the memory gate", "none", "on", "invoke presets --force")
    old, new = env.get(asked.VARIABLE), found.arch_list
    if not settings.all_archs and found.nvcc and old != new:
        if asked.asked_anew(ctx, "arch"):
            said.append(asked.notice(ctx, name, "arch", old, new))
        else:  # detected, or asked before (an exported variable gone: a lower layer's value)
            kept = replace(kept, arch_list=old)
            to = f"invoke presets --arch '{new}'" if new else "invoke presets --force"
            switch("the CUDA arch list", old or "the project's default", new or "the default", to)
    threads = cache.get(asked.THREADS)
    if found.nvcc and threads and threads.isdigit():
        new_threads = found.parallelism.nvcc_threads
        if int(threads) != new_threads and asked.asked_anew(ctx, "nvcc_threads"):
            said.append(asked.notice(ctx, name, "nvcc_threads", threads, str(new_threads)))
        elif int(threads) != new_threads:  # detected, or asked before
            plan = replace(job_plan_of(kept), nvcc_threads=int(threads))
            kept = replace(kept, parallelism=plan)
            switch("NVCC_THREADS", threads, str(new_threads),
                   f"invoke presets --nvcc-threads {new_threads}")  # fmt: skip
    old_nvcc = cache.get("CMAKE_CUDA_COMPILER")
    if old_nvcc and found.nvcc and str(found.nvcc) != old_nvcc and Path(old_nvcc).is_file():
        kept = replace(kept, nvcc=Path(old_nvcc))
        switch("nvcc", old_nvcc, str(found.nvcc), "invoke presets --force")
    return kept, said


def job_plan_of(found: Facts) -> jobs.JobPlan:
    plan = found.parallelism
    assert isinstance(plan, jobs.JobPlan), plan  # gather puts one there
    return plan


def say_once(ctx: Run, notices: list[str]) -> None:
    """Each notice once per checkout (the state dir remembers); in a dry run, every time."""
    path = ctx.tree.state_dir / NOTICES
    known = venv_state.read_json(path)
    seen = set(known) if isinstance(known, list) else set()
    new = [n for n in notices if n not in seen]
    for notice in new if not ctx.dry_run else notices:
        ctx.console.note(notice)
    if new and not ctx.dry_run:
        try:
            path.parent.mkdir(exist_ok=True)
            venv_state.write_json(path, sorted(seen | set(new)))
        except OSError:
            pass
