"""What of the machine and the environment shapes the numbers: host, tool versions, the code
under test, pyenv shims, bytecode caching. Recorded in the JSON next to the samples."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from benchmarks.loop.workspace import ARCH, Workspace
from build_tools.process.runner import probe
from build_tools.settings import SUITE_ROOT


def first_line(argv: list[object], pick: int = 0) -> str:
    """Line `pick` of a version probe's output, '' when the tool is missing or fails."""
    lines = [line for line in probe([str(a) for a in argv]).splitlines() if line.strip()]
    return lines[pick].strip() if lines else ""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_facts() -> dict[str, Any]:
    """Host, platform, CPU model and count, memory."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()[0]
    except OSError:
        pass
    return {
        "node": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "memory": " ".join(mem.split()[1:]),
    }


def tool_versions(ws: Workspace, uv: Path) -> dict[str, str]:
    """Versions of everything the contenders run."""
    try:
        invoke_version = metadata.version("invoke")
    except metadata.PackageNotFoundError:
        invoke_version = ""
    nvcc = shutil.which("nvcc", path=ws.env.get("PATH", "")) or "/usr/local/cuda/bin/nvcc"
    return {
        "python": f"{sys.version.split()[0]} ({sys.executable})",
        "venv python": first_line([ws.venv_bin / "python", "--version"]),
        "invoke": invoke_version,
        "uv": first_line([uv, "--version"]),
        "cmake": first_line([ws.venv_bin / "cmake", "--version"]),
        "ninja": first_line([ws.venv_bin / "ninja", "--version"]),
        "ccache": first_line(["ccache", "--version"]),
        "nvcc": first_line([nvcc, "--version"], pick=-1),
        "c++": first_line(["c++", "--version"]),
        "suite commit": git_describe(),
    }


def git_describe() -> str:
    """The suite's commit (with -dirty when tracked files are modified)."""
    return first_line(["git", "-C", SUITE_ROOT, "describe", "--always", "--dirty"])


def code_fingerprint() -> str:
    """sha256 of tasks.py and build_tools/: the code under test, which others may be editing."""
    digest = hashlib.sha256()
    paths = [SUITE_ROOT / "tasks.py", *(SUITE_ROOT / "build_tools").rglob("*.py")]
    for path in sorted(paths):
        digest.update(str(path.relative_to(SUITE_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:16]


def is_shim(path: Optional[str]) -> bool:
    """A pyenv shim: a bash script that runs `pyenv exec` before the real program."""
    if not path:
        return False
    try:
        head = Path(path).read_bytes()[:600]
    except OSError:
        return False
    return head.startswith(b"#!") and b"libexec/pyenv" in head


def pyenv_shim(name: str, env: Mapping[str, str]) -> Optional[str]:
    """The pyenv shim for `name` a shell would run: the first one on PATH, else PYENV_ROOT's.

    Under `pyenv exec` (how a shim started this process) PATH begins with the selected
    version's bin dir, so `shutil.which` finds the real program, not the shim a person types.
    """
    dirs = env.get("PATH", "").split(os.pathsep)
    if env.get("PYENV_ROOT"):
        dirs.append(str(Path(env["PYENV_ROOT"]) / "shims"))
    for directory in dirs:
        candidate = Path(directory or ".") / name
        if candidate.is_file() and is_shim(str(candidate)):
            return str(candidate)
    return None


def environment_notes(ws: Workspace, uv: Path) -> dict[str, Any]:
    """What of the environment changes the numbers: shims, bytecode, the arch."""
    path = ws.env.get("PATH", "")
    return {
        "VLLM_BUILD_ARCH": ARCH,
        "uv contender TORCH_CUDA_ARCH_LIST": ARCH,
        "CCACHE_DIR": str(ws.ccache_dir),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "invoke sets sys.dont_write_bytecode unless --write-pyc": True,
        "invoke on this process's PATH": shutil.which("invoke", path=path),
        "invoke pyenv shim": pyenv_shim("invoke", ws.env),
        "python3 on this process's PATH": shutil.which("python3", path=path),
        "python3 pyenv shim": pyenv_shim("python3", ws.env),
        "uv on PATH": shutil.which("uv", path=path),
        "uv pyenv shim": pyenv_shim("uv", ws.env),
        "uv binary timed": str(uv),
        "source copy": str(ws.source),
    }
