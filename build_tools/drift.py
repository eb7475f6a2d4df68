"""Questions a step and the doctor both ask, each answered in one place: has the venv the torch
the checkout pins, are the precompiled kernels from the commit the checkout is at, what serves
each dependency CMake fetches, are the build requirements installed, and does every installed
.so match the one the build dir holds.

Each is a pure function of the checkout, its venv and its build dir (files read, nothing run,
nothing written): a step warns from the answer, the doctor turns it into a finding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from build_tools.checkout import source_tree
from build_tools.checkout.source_tree import SourceTree
from build_tools.cmake import dependencies
from build_tools.cmake.build_tree import BuildTree
from build_tools.machine import requirements as reqs
from build_tools.machine import venv_state

# ---------------------------------------------------------------- torch


@dataclass(frozen=True)
class TorchPin:
    pin: Optional[str]  # the version the build requirements pin (torch==X)
    have: Optional[Version]  # the venv's
    requirements: str  # the file that pins it, for messages

    @property
    def mismatch(self) -> Optional[str]:
        """What differs, when the venv has a torch and it is not the pinned one."""
        if self.pin is None or self.have is None:
            return None
        if self.have.public.split("+")[0] == self.pin.split("+")[0]:
            return None
        return f"the venv has torch {self.have} but {self.requirements} pins torch=={self.pin}"

    @property
    def warning(self) -> Optional[str]:
        return _mismatch(self.mismatch, "invoke deps") if self.mismatch else None


def _mismatch(cause: str, fix: str) -> str:
    """Kernels that do not match their Python side (torch, the commit) fail at import."""
    return f"{cause}: kernels that do not match fail to import with undefined symbols; run `{fix}`"


def torch_pin(tree: SourceTree) -> TorchPin:
    torch = venv_state.installed(tree.venv_dir).get("torch")
    have = venv_state.version_of(torch) if torch else None
    named = tree.requirements.name if tree.requirements else "the requirements"
    return TorchPin(tree.torch_pin, have, named)


# ---------------------------------------------------------------- precompiled kernels

KernelState = Literal["none", "source", "current", "rebuilt", "stale"]


@dataclass(frozen=True)
class Precompiled:
    """How the checkout's kernels were installed, against the commit it is at now."""

    state: KernelState  # no install recorded, a source build, same commit, rebuilt here, stale
    then: Optional[str] = None  # the commit of the install
    now: Optional[str] = None  # the checkout's commit

    @property
    def warning(self) -> Optional[str]:
        if self.state != "stale" or not self.then or not self.now:
            return None
        cause = f"the precompiled kernels are from commit {self.then[:12]}, the checkout is at "
        fix = "invoke build` (or `invoke install --force` for matching ones"
        return _mismatch(cause + self.now[:12], fix)


def install_stamp(tree: SourceTree) -> Path:
    return tree.stamp_dir / venv_state.INSTALL_STAMP


def precompiled_kernels(tree: SourceTree, build_trees: Sequence[BuildTree]) -> Precompiled:
    """Precompiled kernels from another commit than the checkout's may not match its Python
    code; kernels built and installed here since (from any of `build_trees`: every configure
    preset's build dir) replace them."""
    stamp_path = install_stamp(tree)
    recorded = venv_state.read_json(stamp_path)
    if not isinstance(recorded, dict):
        return Precompiled("none")
    if not recorded.get("precompiled"):
        return Precompiled("source")
    then, now = recorded.get("head"), source_tree.git_head(tree.root)
    then = then if isinstance(then, str) and then else None
    if not then or not now or then == now:
        return Precompiled("current", then, now)
    stamp_time = stamp_path.stat().st_mtime
    if any(b.installed_since(stamp_time) for b in build_trees):
        return Precompiled("rebuilt", then, now)
    return Precompiled("stale", then, now)


# ---------------------------------------------------------------- dependency sources


def dependency_sources(
    tree: SourceTree, environ: Mapping[str, str], deps_dir: str
) -> list[dependencies.Served]:
    """What serves each dependency the checkout's CMake fetches (`environ`: the environment
    configure sees, the preset's *_SRC_DIR variables included)."""
    folder = Path(deps_dir).expanduser() if deps_dir else None
    declared = dependencies.declared(source_tree.cmake_files(tree.root), tree.src_dir_vars)
    return dependencies.serve(declared, tree.root, environ, folder)


@dataclass(frozen=True)
class SrcDirs:
    """The *_SRC_DIR variables the checkout's CMake reads: each with a local copy (the
    environment's, else one under deps_dir) and its path, and those left unset (CMake fetches
    what they name)."""

    local: Mapping[str, str]
    unset: tuple[str, ...]


def src_dirs(tree: SourceTree, environ: Mapping[str, str], deps_dir: str) -> SrcDirs:
    found = {v: environ[v] for v in tree.src_dir_vars if environ.get(v)}
    for served in dependency_sources(tree, environ, deps_dir):
        variable = served.dependency.variable
        if variable and served.how is dependencies.ServedBy.LOCAL:
            found.setdefault(variable, str(Path(served.where).resolve()))
    return SrcDirs(found, tuple(v for v in tree.src_dir_vars if v not in found))


def network_fetches(
    tree: SourceTree, environ: Mapping[str, str], deps_dir: str
) -> list[dependencies.Served]:
    """The dependencies configure would clone (offline, that fails)."""
    served = dependency_sources(tree, environ, deps_dir)
    return [s for s in served if s.how is dependencies.ServedBy.NETWORK and s.dependency.variable]


# ---------------------------------------------------------------- build requirements


def _deps_stamp(tree: SourceTree) -> Optional[dict[str, str]]:
    req = tree.requirements
    return {"file": str(req), "sha256": reqs.digest(req)} if req else None


def requirements_installed(tree: SourceTree) -> bool:
    """The build requirements were installed from this exact file and are all still there."""
    req, stamp = tree.requirements, _deps_stamp(tree)
    if req is None or venv_state.read_json(tree.stamp_dir / venv_state.DEPS_STAMP) != stamp:
        return False
    have = venv_state.installed(tree.venv_dir)
    return all(canonicalize_name(name) in have for name in reqs.names(req))


def record_requirements(tree: SourceTree) -> None:
    """After installing them: what `requirements_installed` compares against."""
    tree.stamp_dir.mkdir(parents=True, exist_ok=True)
    venv_state.write_json(tree.stamp_dir / venv_state.DEPS_STAMP, _deps_stamp(tree))


def unsatisfied(tree: SourceTree, req: Path) -> list[Requirement]:
    """Requirements the environment does not meet (markers evaluated for this Python)."""
    have = venv_state.installed(tree.venv_dir)
    missing = []
    for wanted in reqs.requirements(req):
        if wanted.marker is not None and not wanted.marker.evaluate():
            continue
        dist = have.get(canonicalize_name(wanted.name))
        version = venv_state.version_of(dist) if dist else None
        if version is None or not wanted.specifier.contains(version, prereleases=True):
            missing.append(wanted)
    return missing


# ---------------------------------------------------------------- installed extensions


def _same(installed: Path, built: Path) -> bool:
    # CMake's install keeps the built file's mtime to the second, and may rewrite its RPATH
    # (the bytes then differ): installed in the second it was built or later is installed.
    if installed.stat().st_mtime_ns // 10**9 >= built.stat().st_mtime_ns // 10**9:
        return True
    return hashlib.sha256(installed.read_bytes()).digest() == (
        hashlib.sha256(built.read_bytes()).digest()
    )


@dataclass(frozen=True)
class Installs:
    checked: int  # installed files that the build dir also holds
    stale: tuple[str, ...]  # of those, installed older than built (names)


def installs(build: BuildTree) -> Installs:
    """Every shared library the installs wrote, against the one the build dir holds now."""
    stale, checked, build_dir = [], 0, build.path
    for path in build.installed_libraries():
        built = build_dir / path.name  # a target's artifact, or a custom command's one level down
        if not built.is_file():
            built = next(iter(sorted(build_dir.glob(f"*/{path.name}"))), built)
        if not built.is_file():
            continue
        checked += 1
        if not path.is_file() or not _same(path, built):
            stale.append(path.name)
    return Installs(checked, tuple(sorted(set(stale))))
