"""What a source tree needs: read from its files, never from the machine.

One place per fact: the venv and its python, the requirements file, the presets file and the
build directory of a preset are computed here and nowhere else.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.errors import BuildToolsError
from build_tools.settings import Settings, read_toml_table

PRESETS_FILE = "CMakeUserPresets.json"
_CMAKE_MIN = re.compile(
    r"cmake_minimum_required\s*\(\s*VERSION\s+(\d+)\.(\d+)(?:\.(\d+))?", re.IGNORECASE
)
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Checkout:
    """A CMake source tree with a Python package: vLLM or the bundled example."""

    root: Path
    kind: str  # "vllm" or "cmake-python"
    name: str  # the Python distribution name, e.g. "vllm" or "minivllm"
    cmake_minimum: tuple[int, int, int]
    venv_dir: Path
    device: str
    requires_python: str = ""
    uses_fetchcontent: bool = False

    @property
    def torch_pin(self) -> Optional[str]:
        """The torch version the build requirements pin (`torch==X`), if any."""
        req = self.requirements
        return requirement_pins(req).get("torch") if req else None

    @property
    def venv_python(self) -> Path:
        scripts = "Scripts" if sys.platform == "win32" else "bin"
        exe = "python.exe" if sys.platform == "win32" else "python"
        return self.venv_dir / scripts / exe

    def venv_tool(self, name: str) -> Path:
        return self.venv_python.parent / name

    @property
    def presets_path(self) -> Path:
        return self.root / PRESETS_FILE

    @property
    def requirements(self) -> Optional[Path]:
        """The build requirements file for this checkout and device, if it has one."""
        for candidate in requirements_candidates(self.device):
            path = self.root / candidate
            if path.is_file():
                return path
        return None

    def default_build_dir(self, preset: str) -> Path:
        return self.root / f"cmake-build-{preset}"


def requirements_candidates(device: str) -> list[str]:
    """Where build requirements have lived across vLLM releases, newest layout first."""
    return [
        f"requirements/build/{device}.txt",
        "requirements/build.txt" if device == "cuda" else f"requirements/{device}-build.txt",
        "requirements/build.txt",
    ]


def requirement_names(path: Path) -> list[str]:
    """Distribution names a requirements file asks for, following `-r` includes."""
    names = []
    for line in _requirement_lines(path, set()):
        match = _REQ_NAME.match(line)
        if match:
            names.append(match.group(1))
    return names


def requirement_pins(path: Path) -> dict[str, str]:
    """`name==version` pins of a requirements file (includes followed), by normalized name."""
    pins: dict[str, str] = {}
    for line in _requirement_lines(path, set()):
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)", line)
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


def _requirement_lines(path: Path, seen: set[Path]) -> list[str]:
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            lines += _requirement_lines(path.parent / line.split(None, 1)[1].strip(), seen)
        elif line and not line.startswith("-"):
            lines.append(line)
    return lines


def python_satisfies(spec: str, version: tuple[int, ...]) -> bool:
    """Whether `version` meets a requires-python spec like ">=3.10,<3.14" (X.Y.Z clauses)."""
    import operator

    ops = {
        ">=": operator.ge,
        "<=": operator.le,
        ">": operator.gt,
        "<": operator.lt,
        "==": operator.eq,
        "!=": operator.ne,
        "~=": operator.ge,
    }
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = re.match(r"^(>=|<=|==|!=|~=|>|<)\s*(\d+(?:\.\d+)*)(\.\*)?$", clause)
        if not match:
            continue  # a clause we do not understand never blocks
        wanted = tuple(int(p) for p in match.group(2).split("."))
        have = tuple(version[: len(wanted)])
        if not ops[match.group(1)](have, wanted):
            return False
    return True


def _project_name(root: Path) -> str:
    project = read_toml_table(root / "pyproject.toml", "project")
    name = project.get("name")
    if isinstance(name, str) and name:
        return name
    if (root / "vllm").is_dir():
        return "vllm"
    return root.name


def load(settings: Settings) -> Checkout:
    """Read the checkout at `settings.source`, or say why it cannot be built."""
    root = settings.source
    if not root.is_dir():
        raise BuildToolsError(
            f"--source {root} is not a directory.",
            "pass --source PATH pointing at a vLLM checkout (or omit it for the bundled example)",
        )
    cmakelists = root / "CMakeLists.txt"
    if not cmakelists.is_file():
        raise BuildToolsError(
            f"{root} is not a CMake source tree: it has no CMakeLists.txt.",
            "pass --source PATH pointing at the root of a vLLM checkout",
        )
    text = cmakelists.read_text(encoding="utf-8", errors="replace")
    match = _CMAKE_MIN.search(text)
    fetches = "FetchContent" in text or any(
        "FetchContent" in f.read_text(encoding="utf-8", errors="replace")
        for f in (root / "cmake").glob("**/*.cmake")
    )
    minimum = (
        (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))
        if match
        else (3, 26, 0)
    )
    is_vllm = (root / "setup.py").is_file() and (root / "vllm").is_dir()
    venv = Path(settings.venv).expanduser()
    return Checkout(
        root=root,
        kind="vllm" if is_vllm else "cmake-python",
        name=_project_name(root),
        cmake_minimum=minimum,
        venv_dir=venv if venv.is_absolute() else root / venv,
        device=settings.device,
        uses_fetchcontent=fetches,
        requires_python=str(
            read_toml_table(root / "pyproject.toml", "project").get("requires-python", "")
        ),
    )


def read_presets(path: Path) -> Optional[dict[str, Any]]:
    """The parsed presets file, None if absent; invalid JSON names the file and position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildToolsError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "it was left untouched.",
            f"fix or remove {path}, then run again",
        ) from None
    if not isinstance(data, dict):
        raise BuildToolsError(f"{path} does not hold a JSON object.", f"fix or remove {path}")
    return data


def find_preset(data: Optional[dict[str, Any]], kind: str, name: str) -> Optional[dict[str, Any]]:
    for preset in (data or {}).get(kind, []) or []:
        if isinstance(preset, dict) and preset.get("name") == name:
            return preset
    return None


def preset_names(data: Optional[dict[str, Any]], kind: str = "configurePresets") -> list[str]:
    return [
        p["name"] for p in (data or {}).get(kind, []) or [] if isinstance(p, dict) and "name" in p
    ]


def build_dir(checkout: Checkout, preset: str, data: Optional[dict[str, Any]]) -> Path:
    """The binaryDir of `preset` as CMake will expand it (ours: cmake-build-<preset>)."""
    found = find_preset(data, "configurePresets", preset)
    binary = found.get("binaryDir") if found else None
    if not isinstance(binary, str) or not binary:
        return checkout.default_build_dir(preset)
    expanded = (
        binary.replace("${sourceDir}", str(checkout.root))
        .replace("${presetName}", preset)
        .replace("${sourceDirName}", checkout.root.name)
    )
    path = Path(expanded)
    return path if path.is_absolute() else checkout.root / path


# What a copy of a checkout leaves behind: build outputs and per-machine state.
WORK_PRODUCTS = (
    ".venv",
    "cmake-build-*",
    "*.so",
    "*.egg-info",
    "__pycache__",
    ".vllm-build-tools",
    "CMakeUserPresets.json*",
    ".deps",
    "build",
)


def copy_sources(source: Path, dest: Path) -> Path:
    """Copy a checkout's sources to `dest`, without its venv, builds and presets."""
    import shutil

    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(*WORK_PRODUCTS))
    return dest


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def site_packages(checkout: Checkout) -> Optional[Path]:
    found = sorted(checkout.venv_dir.glob("lib/python*/site-packages")) or sorted(
        checkout.venv_dir.glob("Lib/site-packages")
    )
    return found[0] if found else None


def installed(checkout: Checkout) -> dict[str, Path]:
    """Distributions in the checkout's venv: normalized name -> .dist-info dir (no subprocess)."""
    site = site_packages(checkout)
    if site is None:
        return {}
    found = {}
    for info in site.glob("*.dist-info"):
        found[normalize(info.name[: -len(".dist-info")].rsplit("-", 1)[0])] = info
    return found


def editable_source(dist_info: Path) -> Optional[Path]:
    """The source directory of an editable install, from its direct_url.json (PEP 610)."""
    try:
        data = json.loads((dist_info / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("url", "")
    if not data.get("dir_info", {}).get("editable") or not url.startswith("file://"):
        return None
    from urllib.parse import unquote, urlparse

    return Path(unquote(urlparse(url).path))


def venv_version(checkout: Checkout) -> Optional[tuple[int, int, int]]:
    """The Python version recorded in the venv's pyvenv.cfg, if there is a venv."""
    try:
        text = (checkout.venv_dir / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("version_info", "version"):
            parts = value.strip().split(".")
            try:
                return int(parts[0]), int(parts[1]), int(re.sub(r"\D.*", "", parts[2]) or 0)
            except (ValueError, IndexError):
                return None
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
