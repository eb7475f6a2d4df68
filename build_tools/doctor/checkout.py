"""doctor's checkout checks: the venv, torch against the pin and against nvcc, precompiled
kernels against HEAD, installed .so files against the built ones, dependency sources, the
jobs plan and free disk."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Optional

from packaging.version import Version

from build_tools import drift
from build_tools.checkout import base, base_repair, provenance
from build_tools.doctor.findings import Finding, Subject, error, ok, warn
from build_tools.doctor.tools import nvcc_path
from build_tools.errors import BuildToolsError
from build_tools.machine import toolchain as tc
from build_tools.machine import venv_state
from build_tools.plan import facts
from build_tools.plan.jobs import GiB
from build_tools.process.runner import probe_code

_TORCH_CUDA = re.compile(r"^cuda\b[^=\n]*=\s*['\"](\d+)\.(\d+)", re.MULTILINE)


def venv(c: Subject) -> list[Finding]:
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


def _torch(c: Subject) -> Optional[metadata.Distribution]:
    return venv_state.installed(c.tree.venv_dir).get("torch") if c.tree else None


def torch(c: Subject) -> list[Finding]:
    if c.tree is None or not c.tree.venv_python.is_file():
        return []
    pinned = drift.torch_pin(c.tree)
    pin, have = pinned.pin, pinned.have
    if pin is None:
        return [ok("torch", f"{have} (not pinned)" if have else "not pinned, not installed")]
    if have is None:
        return [warn("torch", f"the requirements pin torch=={pin}; none is installed", _DEPS)]
    if pinned.mismatch:
        return [warn("torch", f"{pinned.mismatch}: kernels built against it fail to import", _DEPS)]
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


def cuda_match(c: Subject) -> list[Finding]:
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


def precompiled(c: Subject) -> list[Finding]:
    if c.tree is None:
        return []
    damaged = base.read(c.tree)[1]
    if damaged:
        try:
            _, how = base_repair.repair(c.tree, _git, damaged)
        except BuildToolsError as refused:
            return [error("precompiled kernels", refused.problem.rstrip("."), refused.fix)]
        said = f"{damaged}: `invoke build` rebuilds it from {how}"
        return [warn("precompiled kernels", said, "run `invoke build`")]
    kernels = drift.precompiled_kernels(c.tree, c.build_trees)
    then = kernels.then
    if kernels.state == "none":
        return [ok("precompiled kernels", "no install recorded")]
    if kernels.state == "source":
        return [ok("precompiled kernels", "not used: installed as a source build")]
    if kernels.state == "current":  # as the install said it, where it recorded the base
        recorded = base.load(c.tree)
        at = f"installed at commit {then[:12]}" if then else "installed; no commit recorded"
        return [ok("precompiled kernels", recorded.recorded if recorded else at)]
    if kernels.state == "rebuilt":
        return [ok("precompiled kernels", "replaced by kernels built here since")]
    return [
        warn(
            "precompiled kernels",
            f"installed at commit {(then or '')[:12]}, the checkout is at "
            f"{(kernels.now or '')[:12]}: they may not match the Python code (undefined "
            "symbols at import)",
            "run `invoke build` to build them, or `invoke install --force` for matching ones",
        )
    ]


def installed(c: Subject) -> list[Finding]:
    """Every .so the last install wrote, against the one the build dir holds now."""
    if c.build_tree is None or c.build_dir is None:
        return []
    found = drift.installs(c.build_tree)
    if found.stale:
        return [
            warn(
                "installed kernels",
                f"{', '.join(found.stale)} installed older than built in "
                f"{c.build_dir.name}: Python imports the old code",
                "run `invoke build` (it installs what it built)",
            )
        ]
    name = c.build_dir.name
    detail = f"{found.checked} .so file(s) match {name}" if found.checked else "none installed yet"
    return [ok("installed kernels", detail)]


def sources(c: Subject) -> list[Finding]:
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
    served = drift.dependency_sources(c.tree, env, c.settings.deps_dir)
    summary = "; ".join(
        f"{s.dependency.name}: {s.how.value}" for s in served if s.dependency.variable
    )
    unset = drift.src_dirs(c.tree, env, c.settings.deps_dir).unset
    detail = summary or f"unset: {', '.join(unset)} (FetchContent fetches them)"
    return found or [ok("dependency sources", detail)]


def parallelism(c: Subject) -> list[Finding]:
    """The jobs plan `invoke presets` would make now, against what the build preset runs."""
    if c.tree is None or c.build_dir is None:
        return []
    memory = tc.available_memory(c.machine)
    nvcc = nvcc_path(c) if c.settings.device == "cuda" else None
    arch_list = c.environment.get("TORCH_CUDA_ARCH_LIST", "") or c.settings.arch
    where = (c.tree.state_dir, c.build_dir)
    plan = facts.job_plan(c.settings, c.machine, where, cuda=nvcc is not None, arch_list=arch_list)
    mem = f", {memory / GiB:.1f} GiB memory" if memory else ""
    jobs_text = f"{plan.jobs} job{'s' * (plan.jobs != 1)}"
    detail = f"{jobs_text} x {plan.nvcc_threads} nvcc thread(s) ({plan.why}{mem})"
    given = c.checkout.build_preset.get("jobs") if c.checkout else None
    if isinstance(given, int) and given > plan.jobs:
        return [
            warn(
                "jobs",
                f"the build preset runs {given} jobs; this machine fits {detail}",
                "run `invoke presets` (plans the jobs for this machine again)",
            )
        ]
    return [ok("jobs", detail + (f"; the build preset runs {given}" if given else ""))]


def disk(c: Subject) -> list[Finding]:
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


def kernels(c: Subject) -> list[Finding]:
    """Where each installed extension came from, and a mix of bases that may not load
    together: the wheel's kernels beside ones built here, with sources changed since."""
    if c.tree is None:
        return []
    record = provenance.load(c.tree)
    if not record:
        return [ok("extensions", "no provenance recorded (no install or build by us yet)")]
    found: list[Finding] = []
    for rel, origin in sorted(record.items()):
        name = Path(rel).name
        now = provenance.installed_now(c.tree, rel, origin)
        if now is None:
            found.append(warn("extensions", f"{name} is gone ({origin.text()})", _BUILD))
        elif not now:
            found.append(warn("extensions", f"{name} changed since it was installed by us", _BUILD))
        else:
            found.append(ok("extensions", f"{name}: {origin.text()}"))
    recorded = base.load(c.tree)
    changed = recorded.changed(c.tree) if recorded else []
    kinds = {o.origin for o in record.values()}
    built = max((o.at for o in record.values() if o.origin == provenance.BUILT), default=0.0)
    pending = [f for f in changed if _changed_after(c.tree.root / f, built)]
    if pending and provenance.PRECOMPILED in kinds:
        more = f" (+{len(pending) - 3} more)" if len(pending) > 3 else ""
        mixed = " beside extensions built here" if provenance.BUILT in kinds else ""
        found.append(
            warn(
                "extensions",
                f"{len(pending)} file(s) changed since the precompiled kernels were installed "
                f"and since the last build ({', '.join(pending[:3])}{more}): the wheel's "
                f"extensions{mixed} may not match this tree",
                "run `invoke build --plan` to see which extensions that affects, then "
                "`invoke build` to build them",
            )
        )
    elif changed:
        detail = f"{len(changed)} file(s) differ from the precompiled base, all built since"
        found.append(ok("extensions", detail))
    return found


def _changed_after(path: Path, when: float) -> bool:
    """Written after `when`: by its ctime, which a `cp -p` restore or `touch -d` cannot set
    back (an mtime can, and would hide the change)."""
    try:
        return path.stat().st_ctime > when
    except OSError:
        return not when  # deleted: pending until something was built


_BUILD = "run `invoke build` (it builds and installs what differs)"


def _git(args: Sequence[str]) -> tuple[int, str]:
    return probe_code(["git", *args])


CHECKS = (venv, torch, cuda_match, precompiled, installed, kernels, sources, parallelism, disk)
