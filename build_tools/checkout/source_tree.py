"""What a checkout is, read from its files (never from the machine): its name and kind, the
CMake minimum, FetchContent use and local-source variables, requires-python, the build
requirements file and torch pin, its venv, and the commit it is at."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from build_tools.errors import BuildToolsError
from build_tools.machine import requirements as reqs
from build_tools.machine import venv_state
from build_tools.settings import Settings
from build_tools.toml_table import read_toml_table

CMAKE_MINIMUM = (3, 26, 0)  # when CMakeLists.txt does not say (it always does for vLLM)
STATE_DIR = ".vllm-build-tools"  # in the checkout; holds logs and locks, ignores itself for git
_CMAKE_MIN = re.compile(
    r"cmake_minimum_required\s*\(\s*VERSION\s+(\d+)\.(\d+)(?:\.(\d+))?", re.IGNORECASE
)
_SRC_DIR_VAR = re.compile(r"\$ENV\{([A-Za-z0-9_]+_SRC_DIR)\}")


@dataclass(frozen=True)
class SourceTree:
    """A CMake source tree with a Python package: vLLM or the bundled example."""

    root: Path
    kind: str  # "vllm" or "cmake-python"
    name: str  # the Python distribution name, e.g. "vllm" or "minivllm"
    cmake_minimum: tuple[int, int, int]
    venv_dir: Path
    device: str
    requires_python: SpecifierSet
    uses_fetchcontent: bool = False
    src_dir_vars: tuple[str, ...] = ()  # $ENV{*_SRC_DIR} its CMake files read

    @property
    def package(self) -> str:
        """The import name of the checkout's package."""
        return canonicalize_name(self.name).replace("-", "_")

    @property
    def venv_python(self) -> Path:
        return venv_state.python_of(self.venv_dir)

    def venv_tool(self, name: str) -> Path:
        return self.venv_python.parent / name

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def venv_is_ours(self) -> bool:
        """A venv we created (marked), or one at the default place in the checkout."""
        return (self.venv_dir / venv_state.MARKER).exists() or self.venv_dir == self.root / ".venv"

    @property
    def stamp_dir(self) -> Path:
        """Where our stamps about the environment live: in our own venv (they die with it);
        for an environment we did not create, in the checkout's state dir, never in it."""
        if self.venv_is_ours:
            return self.venv_dir
        key = hashlib.sha256(str(self.venv_dir).encode()).hexdigest()[:12]
        return self.state_dir / "envs" / key

    @cached_property
    def requirements(self) -> Optional[Path]:
        """The build requirements file for this checkout and device, if it has one."""
        for candidate in requirements_candidates(self.device):
            path = self.root / candidate
            if path.is_file():
                return path
        return None

    @property
    def torch_pin(self) -> Optional[str]:
        """The torch version the build requirements pin (`torch==X`), if any."""
        return reqs.pin_of(self.requirements, "torch")


def requirements_candidates(device: str) -> list[str]:
    """Where build requirements have lived across vLLM releases, newest layout first."""
    return [
        f"requirements/build/{device}.txt",
        "requirements/build.txt" if device == "cuda" else f"requirements/{device}-build.txt",
        "requirements/build.txt",
    ]


def project_name(root: Path) -> str:
    """[project].name of the checkout's pyproject.toml (vllm for a vLLM tree without one)."""
    name = read_toml_table(root / "pyproject.toml", "project").get("name")
    if isinstance(name, str) and name:
        return name
    return "vllm" if (root / "vllm").is_dir() else root.name


def _requires_python(root: Path) -> SpecifierSet:
    text = str(read_toml_table(root / "pyproject.toml", "project").get("requires-python", ""))
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return SpecifierSet()


def cmake_files(root: Path) -> list[Path]:
    return [root / "CMakeLists.txt", *sorted((root / "cmake").glob("**/*.cmake"))]


def load(settings: Settings) -> SourceTree:
    """Read the checkout at `settings.source`, or say why it cannot be built."""
    root = settings.source
    if not root.is_dir():
        raise BuildToolsError(
            f"--source {root} is not a directory.",
            "pass --source PATH pointing at a vLLM checkout (or omit it for the bundled example)",
        )
    if not (root / "CMakeLists.txt").is_file():
        raise BuildToolsError(
            f"{root} is not a CMake source tree: it has no CMakeLists.txt.",
            "pass --source PATH pointing at the root of a vLLM checkout",
        )
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in cmake_files(root)]
    match = _CMAKE_MIN.search(texts[0])
    minimum = (
        (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
        if match
        else CMAKE_MINIMUM
    )
    venv = Path(settings.venv).expanduser()
    return SourceTree(
        root=root,
        kind="vllm"
        if (root / "setup.py").is_file() and (root / "vllm").is_dir()
        else "cmake-python",
        name=project_name(root),
        cmake_minimum=minimum,
        venv_dir=venv if venv.is_absolute() else root / venv,
        device=settings.device,
        requires_python=_requires_python(root),
        uses_fetchcontent=any("FetchContent" in text for text in texts),
        src_dir_vars=tuple(dict.fromkeys(v for t in texts for v in _SRC_DIR_VAR.findall(t))),
    )


CONTRACT = "VLLM_PYTHON_EXECUTABLE"  # what a CMakeLists.txt with vLLM's build contract reads


def enclosing_checkout(where: Path) -> Optional[Path]:
    """The nearest directory from `where` up whose CMakeLists.txt has vLLM's build contract (it
    reads VLLM_PYTHON_EXECUTABLE): the checkout a person standing in `where` works on."""
    for folder in [where, *where.parents]:
        lists = folder / "CMakeLists.txt"
        try:
            if lists.is_file() and CONTRACT in lists.read_text(encoding="utf-8", errors="replace"):
                return folder
        except OSError:
            continue
    return None


def git_head(root: Path) -> Optional[str]:
    """The commit checked out at `root`, read from .git without running git (None if unknown)."""
    git = root / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (root / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.is_file() else git
        for candidate in (git / ref, base / ref):
            if candidate.is_file():
                return candidate.read_text().strip()
        for line in (base / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        return None
    return None
