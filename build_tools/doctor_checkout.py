"""doctor's checkout checks: the venv, torch against the pin and against nvcc, precompiled
kernels against HEAD, installed .so files against the built ones, dependency sources, the
jobs plan and free disk."""

from __future__ import annotations

import hashlib
import re
import shutil
from importlib import metadata
from pathlib import Path
from typing import Optional

from packaging.version import Version

from build_tools import memory as learned
from build_tools import source_tree, venv_state
from build_tools import toolchain as tc
from build_tools.cmake import dependencies
from build_tools.diagnosis import Checkout, Finding, error, ok, warn
from build_tools.doctor_tools import nvcc_path

GiB = tc.GiB
_TORCH_CUDA = re.compile(r"^cuda\b[^=\n]*=\s*['\"](\d+)\.(\d+)", re.MULTILINE)


def venv(c: Checkout) -> list[Finding]:
    if c.tree is None:
        return []
    tree = c.tree
    if not tree.venv_python.is_file():
        return [
            error(
                "venv",
                f"there is no venv at {tree.venv_dir}"
                + (f" (it has no {tree.venv_python.name})" if tree.venv_dir.is_dir() else ""),
                "run `invoke bootstrap` (or `invoke venv`) to create it",
            )
        ]
    version = venv_state.python_version(tree.venv_dir)
    if version is not None and tree.requires_python and version not in tree.requires_python:
        return [
            warn(
                "venv",
                f"{tree.venv_dir} has Python {version}; the checkout requires "
                f"{tree.requires_python}",
                "run `invoke venv --python X.Y` with a Python the checkout supports",
            )
        ]
    return [ok("venv", f"{tree.venv_dir} (Python {version or 'of unknown version'})")]


def _torch(c: Checkout) -> Optional[metadata.Distribution]:
    return venv_state.installed(c.tree.venv_dir).get("torch") if c.tree else None


def torch(c: Checkout) -> list[Finding]:
    if c.tree is None or not c.tree.venv_python.is_file():
        return []
    pin, dist = c.tree.torch_pin, _torch(c)
    have = venv_state.version_of(dist) if dist else None
    if pin is None:
        return [
            ok("torch", f"{dist.version} (not pinned)" if dist else "not pinned, not installed")
        ]
    if have is None:
        return [warn("torch", f"the requirements pin torch=={pin}; none is installed", _DEPS)]
    if have.public.split("+")[0] != pin.split("+")[0]:
        return [
            warn(
                "torch",
                f"the venv has torch {have}, the requirements pin {pin}: kernels built against "
                "another torch fail to import",
                _DEPS,
            )
        ]
    return [ok("torch", f"{have} matches the pin")]


_DEPS = "run `invoke deps` (installs the pinned torch)"


def torch_cuda(dist: metadata.Distribution) -> Optional[tuple[int, int]]:
    """The CUDA torch was built for: its `+cuXYZ` local version, else torch/version.py."""
    version = venv_state.version_of(dist)
    local = (version.local or "") if isinstance(version, Version) else ""
    match = re.fullmatch(r"cu(\d+?)(\d)", local)
    if match:
        return int(match.group(1)), int(match.group(2))
    path = Path(str(dist.locate_file("torch/version.py")))
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    found = _TORCH_CUDA.search(text)
    return (int(found.group(1)), int(found.group(2))) if found else None


def cuda_match(c: Checkout) -> list[Finding]:
    dist = _torch(c) if c.tree and c.tree.venv_python.is_file() else None
    nvcc = nvcc_path(c)
    version = tc.tool_version(str(nvcc)) if nvcc and nvcc.is_file() else None
    if dist is None or version is None or c.settings.device != "cuda":
        return [ok("torch CUDA", "not checked (needs torch in the venv and nvcc)")]
    built_for = torch_cuda(dist)
    if built_for is None:
        return [
            warn(
                "torch CUDA",
                f"torch {dist.version} is a CPU build: CUDA kernels need a CUDA torch",
                "run `invoke deps --device cuda`",
            )
        ]
    if built_for[0] != version[0]:
        return [
            error(
                "torch CUDA",
                f"nvcc is CUDA {tc.version_text(version[:2])} but torch {dist.version} was "
                f"built for CUDA {built_for[0]}.{built_for[1]}: the kernels will not load",
                f"use a CUDA {built_for[0]} toolkit (CUDA_HOME), or a torch built for CUDA "
                f"{version[0]}",
            )
        ]
    return [ok("torch CUDA", f"nvcc {tc.version_text(version[:2])}, torch for CUDA {built_for[0]}")]


def precompiled(c: Checkout) -> list[Finding]:
    if c.tree is None:
        return []
    stamp_path = c.tree.stamp_dir / venv_state.INSTALL_STAMP
    recorded = venv_state.read_json(stamp_path)
    if not isinstance(recorded, dict):
        return [ok("precompiled kernels", "no install recorded")]
    if not recorded.get("precompiled"):
        return [ok("precompiled kernels", "not used: installed as a source build")]
    then, now = recorded.get("head"), source_tree.git_head(c.tree.root)
    if not then or not now or then == now:
        at = f"commit {then[:12]}" if isinstance(then, str) and then else "an unknown commit"
        return [ok("precompiled kernels", f"installed at {at}")]
    stamp_time = stamp_path.stat().st_mtime
    manifests = c.tree.root.glob("cmake-build-*/install_manifest*.txt")
    if any(m.stat().st_mtime > stamp_time for m in manifests):
        return [ok("precompiled kernels", "replaced by kernels built here since")]
    return [
        warn(
            "precompiled kernels",
            f"installed at commit {then[:12]}, the checkout is at {now[:12]}: they may not "
            "match the Python code (undefined symbols at import)",
            "run `invoke build` to build them, or `invoke install --force` for matching ones",
        )
    ]


def _same(a: Path, b: Path) -> bool:
    if a.stat().st_mtime_ns >= b.stat().st_mtime_ns:
        return True
    return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def installed(c: Checkout) -> list[Finding]:
    """Every .so the last install wrote, against the one the build dir holds now."""
    if c.build_dir is None:
        return []
    stale, count = [], 0
    for manifest in sorted(c.build_dir.glob("install_manifest*.txt")):
        for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines():
            path = Path(line.strip())
            if ".so" not in path.suffixes and path.suffix != ".so":
                continue
            built = c.build_dir / path.name
            if not built.is_file():
                continue
            count += 1
            if not path.is_file() or not _same(path, built):
                stale.append(path.name)
    if stale:
        return [
            warn(
                "installed kernels",
                f"{', '.join(sorted(set(stale)))} installed older than built in "
                f"{c.build_dir.name}: Python imports the old code",
                "run `invoke build` (it installs what it built)",
            )
        ]
    detail = f"{count} .so file(s) match {c.build_dir.name}" if count else "none installed yet"
    return [ok("installed kernels", detail)]


def sources(c: Checkout) -> list[Finding]:
    """Each *_SRC_DIR the checkout's CMake reads: set and existing, or left to FetchContent."""
    if c.tree is None:
        return []
    env = c.environment
    if not c.tree.src_dir_vars:
        return [ok("dependency sources", "the checkout reads no *_SRC_DIR variable")]
    found: list[Finding] = []
    for var in c.tree.src_dir_vars:
        value = env.get(var)
        if value and not Path(value).is_dir():
            found.append(
                error(
                    "dependency sources",
                    f"{var}={value} is not a directory: configure fails",
                    f"point {var} at a checkout of that dependency, or unset it",
                )
            )
    deps_dir = Path(c.settings.deps_dir).expanduser() if c.settings.deps_dir else None
    declared = dependencies.declared(source_tree.cmake_files(c.tree.root), c.tree.src_dir_vars)
    served = dependencies.serve(declared, c.tree.root, env, deps_dir)
    summary = "; ".join(f"{s.dependency.name}: {s.how}" for s in served if s.dependency.variable)
    unset = [v for v in c.tree.src_dir_vars if not env.get(v)]
    detail = summary or f"unset: {', '.join(unset)} (FetchContent fetches them)"
    return found or [ok("dependency sources", detail)]


def parallelism(c: Checkout) -> list[Finding]:
    cpus, memory = tc.available_cpus(c.machine), tc.available_memory(c.machine)
    nvcc = nvcc_path(c) if c.settings.device == "cuda" else None
    archs = c.environment.get("TORCH_CUDA_ARCH_LIST", "") or c.settings.arch
    n_archs = len([a for a in re.split(r"[;\s]+", archs) if a]) or None
    plan = tc.plan_parallelism(
        cpus,
        memory,
        cuda=nvcc is not None,
        n_archs=n_archs,
        mem_per_job_gb=c.settings.mem_per_job_gb,
        jobs=c.settings.jobs,
        nvcc_threads=c.settings.nvcc_threads,
    )
    mem = f", {memory / GiB:.1f} GiB memory" if memory else ""
    tree, build = c.tree, c.build_dir
    peaks = learned.load(tree.state_dir, build) if tree and build and memory else {}
    if peaks and memory and not c.settings.jobs:  # the plan `invoke presets` makes from them
        measured = learned.plan(peaks, max(1, cpus // plan.nvcc_threads), memory)
        plan = tc.Parallelism(measured.jobs, plan.nvcc_threads, f"{cpus} CPUs; {measured.why}")
    else:
        plan = tc.Parallelism(plan.jobs, plan.nvcc_threads, plan.why + ", fixed budget: no "
                              "measured peaks yet (every build measures them)")  # fmt: skip
    jobs_text = f"{plan.jobs} job{'s' * (plan.jobs != 1)}"
    detail = f"{jobs_text} x {plan.nvcc_threads} nvcc thread(s) ({plan.why}{mem})"
    given = c.presets.find(c.settings.preset, "buildPresets") if c.presets else None
    jobs = given[0].get("jobs") if given else None
    if isinstance(jobs, int) and jobs > plan.jobs:
        return [
            warn(
                "jobs",
                f"the build preset runs {jobs} jobs; this machine fits {detail}",
                "run `invoke presets` (plans the jobs for this machine again)",
            )
        ]
    return [ok("jobs", detail + (f"; the build preset runs {jobs}" if jobs else ""))]


def disk(c: Checkout) -> list[Finding]:
    where = c.build_dir or (c.tree.root if c.tree else None)
    if where is None:
        return []
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    want = 20 * GiB if c.tree and c.tree.kind == "vllm" else GiB
    text = f"{free / GiB:.1f} GiB free at {where}"
    fix = f"free space on that filesystem (a build needs about {want // GiB} GiB)"
    if free < min(want, GiB) // 2:
        return [error("disk", text + ": a build will fail with a full disk", fix)]
    if free < want:
        return [warn("disk", text, fix)]
    return [ok("disk", text)]


CHECKS = (venv, torch, cuda_match, precompiled, installed, sources, parallelism, disk)
