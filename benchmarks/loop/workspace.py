"""The temporary copy the benchmark works on, the environment every child gets, and its setup.

The copy lives in a directory whose path has a space; it is bootstrapped once with
`python -m invoke bootstrap` under VLLM_BUILD_ARCH=9.0 (nvcc builds one arch), a private
CCACHE_DIR and VLLM_BUILD_CONFIG pointing at a file that does not exist. The cache scenarios
copy it again to other paths (copy_of: a second worktree, a second machine) and prepare those
copies without building them (prepare_copy).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from packaging.utils import canonicalize_name

from benchmarks.loop.harness import BenchError, Trial, must
from build_tools.checkout import source_tree
from build_tools.cmake import build_dir as bd
from build_tools.cmake import presets_file, presets_resolve
from build_tools.errors import BuildToolsError
from build_tools.machine import venv_state
from build_tools.settings import SUITE_ROOT

# What a copy of a checkout leaves behind: build outputs and per-machine state.
WORK_PRODUCTS = (
    ".venv",
    f"{bd.PREFIX}*",
    "*.so",
    "*.egg-info",
    "__pycache__",
    source_tree.STATE_DIR,
    "CMakeUserPresets.json*",
    "compile_commands.json",
    ".deps",
    "build",
)
ARCH = "9.0"  # one CUDA arch: what `invoke build` on a one-GPU box compiles
PRESET = "release"
SUMMARY = "last-summary.json"  # what every invoke task writes in the checkout's state dir


@dataclass(frozen=True)
class Workspace:
    """The temporary copy, the environment every child gets, and the files the edits touch."""

    tmp: Path
    source: Path
    env: dict[str, str]
    package: str  # the import name, e.g. "minivllm"
    cpp_file: Path
    cu_file: Path
    extension: Path  # the installed .so that both edits change

    @property
    def venv_dir(self) -> Path:
        return self.source / ".venv"

    @property
    def venv_bin(self) -> Path:
        return self.venv_dir / "bin"

    @property
    def build_dir(self) -> Path:
        """The preset's binaryDir as cmake resolves it (ours, cmake-build-<preset>, before
        the presets are written)."""
        return build_dirs(self.source, self.env).get(PRESET) or self.source / bd.default_name(
            PRESET
        )

    @property
    def ccache_dir(self) -> Path:
        return Path(self.env["CCACHE_DIR"])

    @property
    def presets(self) -> Path:
        """The CMakeUserPresets.json `invoke presets` generates (the build's launcher is here)."""
        return self.source / "CMakeUserPresets.json"

    @property
    def summary(self) -> Path:
        """The machine-readable summary of the last invoke task run on the copy."""
        return self.source / source_tree.STATE_DIR / SUMMARY


def import_name(root: Path) -> str:
    """The import name of the checkout's package: [project].name, canonicalized."""
    return canonicalize_name(source_tree.project_name(root)).replace("-", "_")


def child_env(tmp: Path) -> dict[str, str]:
    """os.environ minus the developer's own build settings, plus the benchmark's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VLLM_BUILD_", "VLLM_USE_PRECOMPILED", "VLLM_PRECOMPILED_"))
    }
    empty = tmp / "no-user-settings.toml"
    empty.touch()
    env.update(
        VLLM_BUILD_ARCH=ARCH,
        VLLM_BUILD_LAUNCHER="ccache",  # what P3, P5, P6 measure (sccache may be installed too)
        VLLM_BUILD_CONFIG=str(empty),
        CCACHE_DIR=str(tmp / "ccache"),
    )
    return env


def build_dirs(source: Path, environ: Mapping[str, str]) -> dict[str, Path]:
    """Each configure preset's binaryDir ({} where the presets cannot be read)."""
    found = {}
    try:
        presets = presets_file.load(source, environ=environ)
        for name in presets.configure_names():
            directory = presets_resolve.binary_dir(presets, name, environ)
            if directory is not None:
                found[name] = directory
    except BuildToolsError:
        pass
    return found


def copy_sources(source: Path, dest: Path) -> Path:
    """Copy a checkout's sources to `dest`, without its venv, builds (wherever its presets put
    them) and presets."""
    patterns = shutil.ignore_patterns(*WORK_PRODUCTS)
    builds = {d.resolve() for d in build_dirs(source, os.environ).values()}

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        return set(patterns(folder, names)) | {n for n in names if here / n in builds}

    shutil.copytree(source, dest, ignore=ignore)
    return dest


def make_workspace(source: Path, tmp: Path, cpp: str, cu: str) -> Workspace:
    """Copy `source` to `<tmp>/my src/<name>` and name the files the edits touch."""
    copy = copy_sources(source, tmp / "my src" / source.name)
    package = import_name(copy)
    (tmp / "ccache").mkdir()
    return Workspace(
        tmp=tmp,
        source=copy,
        env=child_env(tmp),
        package=package,
        cpp_file=copy / cpp,
        cu_file=copy / cu,
        extension=copy / package / "_C.abi3.so",
    )


def invoke_argv(*args: object) -> list[str]:
    """`<this python> -m invoke <args>`: the suite's front door without any shim."""
    return [sys.executable, "-m", "invoke", *(str(a) for a in args)]


def bootstrap(ws: Workspace) -> list[Trial]:
    """`invoke bootstrap --source <copy>` once (untimed setup: no samples)."""
    must(invoke_argv("bootstrap", "--source", ws.source), SUITE_ROOT, ws.env)
    if not ws.extension.is_file():
        raise BenchError(f"bootstrap did not install {ws.extension}")
    return []


def copy_of(ws: Workspace, where: Path, env: Mapping[str, str]) -> Workspace:
    """Another checkout of the copy's sources, at `<where>/<name>`, with its own environment.

    A second worktree (P5) or a second machine (P6): the same code at another path, without
    the venv, build dir, presets and state (WORK_PRODUCTS), not yet prepared.
    """
    copy = copy_sources(ws.source, where / ws.source.name)
    return replace(
        ws,
        source=copy,
        env=dict(env),
        cpp_file=copy / ws.cpp_file.relative_to(ws.source),
        cu_file=copy / ws.cu_file.relative_to(ws.source),
        extension=copy / ws.extension.relative_to(ws.source),
    )


def prepare_copy(copy: Workspace) -> None:
    """`invoke venv`, `deps`, `presets`, `configure` on a copy: all but the build (untimed)."""
    for task in ("venv", "deps", "presets", "configure"):
        must(invoke_argv(task, "--source", copy.source), SUITE_ROOT, copy.env)


def editable_source(ws: Workspace) -> Optional[Path]:
    """Where the venv's editable install of the package points (PEP 610), None if not editable."""
    dist = venv_state.installed(ws.venv_dir).get(canonicalize_name(ws.package))
    return venv_state.editable_source(dist) if dist is not None else None


def restore_precompiled(ws: Workspace, uv: Path) -> float:
    """Put the precompiled editable install back (VLLM_USE_PRECOMPILED=1); returns seconds."""
    done = must(uv_install_argv(ws, uv), ws.source, {**ws.env, "VLLM_USE_PRECOMPILED": "1"})
    where = editable_source(ws)
    if where is None or where.resolve() != ws.source.resolve():
        raise BenchError(
            f"{ws.package} is not an editable install of {ws.source} after restoring it"
            f" (it points at {where})"
        )
    return done.seconds


def uv_install_argv(ws: Workspace, uv: Path) -> list[object]:
    """`uv pip install -e <copy> --reinstall-package <pkg>` into the copy's venv."""
    argv: list[object] = [uv, "pip", "install", "--python", ws.venv_bin / "python"]
    return [*argv, "-e", ws.source, "--reinstall-package", ws.package]
