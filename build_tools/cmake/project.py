"""The one owner of CMake command lines, and what a configured build dir holds (File API).

Targets and install components come from the CMake File API's codemodel reply (a query file we
write into the build dir before configure; any later configure, ours or a raw `cmake --preset`,
refreshes the reply), never from parsing generated files.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.errors import BuildToolsError

CLIENT = "client-vllm-build-tools"
QUERY = {"requests": [{"kind": "codemodel", "version": 2}]}
# What `cmake --build --target` accepts besides the project's own targets.
BUILTIN_TARGETS = ("all", "install", "install/local", "install/strip", "clean")


def launcher_variable(language: str) -> str:
    return f"CMAKE_{language}_COMPILER_LAUNCHER"


# The cache variables that put a compiler cache in front of each language's compiler (the C++
# one first: the one a preset always sets when it uses a launcher).
LAUNCHERS = tuple(launcher_variable(lang) for lang in ("CXX", "C", "CUDA", "HIP"))
# Our presets may put the memory gate first: `python;-S;-E;<gate>;<options>;--;[cache]`.
GATE_NAME = "memory-gate.py"
GATE_END = "--"


def compile_cache(value: Optional[str]) -> Optional[str]:
    """The compiler cache a launcher value runs (None: none): the value's first item, or,
    when the memory gate comes first, the item after the gate's `--`."""
    items = [item for item in (value or "").split(";") if item]
    if gate_script(value) is not None:
        rest = items[items.index(GATE_END) + 1 :]
        return rest[0] if rest else None
    return items[0] if items else None


def gate_script(value: Optional[str]) -> Optional[str]:
    """The memory gate a launcher value runs first (None: none)."""
    items = (value or "").split(";")
    if GATE_END not in items:
        return None
    head = items[: items.index(GATE_END)]
    return next((item for item in head if Path(item).name == GATE_NAME), None)


@dataclass(frozen=True)
class CMake:
    """argv for one cmake binary over one source tree (commands run from the source root)."""

    binary: Path
    source: Path

    def configure(self, preset: str, *, fresh: bool = False) -> list[object]:
        return [self.binary, "--preset", preset, *(["--fresh"] if fresh else [])]

    def build(self, preset: str, target: str = "install") -> list[object]:
        return [self.binary, "--build", "--preset", preset, "--target", target]

    def install(self, build_dir: Path, component: str) -> list[object]:
        return [self.binary, "--install", build_dir, "--component", component]

    def list_presets(self) -> list[object]:
        return [self.binary, "--list-presets=all"]


def api_dir(build_dir: Path) -> Path:
    return build_dir / ".cmake" / "api" / "v1"


def request_codemodel(build_dir: Path) -> None:
    """Ask the next configure of `build_dir` for a codemodel reply."""
    query = api_dir(build_dir) / "query" / CLIENT / "query.json"
    if not query.is_file():
        query.parent.mkdir(parents=True, exist_ok=True)
        query.write_text(json.dumps(QUERY) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class CodeModel:
    """The configured project: its targets (name -> CMake type) and install components."""

    targets: dict[str, str]
    components: tuple[str, ...]

    @property
    def extension_targets(self) -> list[str]:
        """Install components that are also build targets (vLLM's _C, _moe_C, ...)."""
        return [c for c in self.components if c in self.targets] or list(self.components)

    def knows(self, target: str) -> bool:
        return target in self.targets or target in BUILTIN_TARGETS

    def require(self, target: str, where: Path) -> None:
        """BuildToolsError naming the closest targets when `target` is not one of `where`."""
        if self.knows(target):
            return
        candidates = self.extension_targets
        names = list(dict.fromkeys(candidates + list(self.targets)))
        close = difflib.get_close_matches(target, names, 3, 0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "none is close"
        raise BuildToolsError(
            f"{target!r} is not a target of {where.name} ({hint}).",
            f"extension targets here: {', '.join(candidates) or 'none'} "
            "(`invoke targets` lists them)",
        )


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_codemodel(build_dir: Path) -> Optional[CodeModel]:
    """The codemodel of the last configure, None when there is no reply (or it is unreadable)."""
    reply = api_dir(build_dir) / "reply"
    try:
        index = _read(max(reply.glob("index-*.json")))
        responses = index["reply"][CLIENT]["query.json"]["responses"]
        model_file = next(r["jsonFile"] for r in responses if r.get("kind") == "codemodel")
        config = _read(reply / model_file)["configurations"][0]
        targets: dict[str, str] = {}
        for entry in config["targets"]:
            targets[entry["name"]] = _read(reply / entry["jsonFile"]).get("type", "")
        components: dict[str, None] = {}
        for directory in config.get("directories", []):
            if "jsonFile" not in directory:
                continue
            for installer in _read(reply / directory["jsonFile"]).get("installers", []):
                name = installer.get("component")
                if name and name != "Unspecified":
                    components.setdefault(name)
    except (OSError, ValueError, KeyError, IndexError, StopIteration, TypeError):
        return None
    return CodeModel(targets, tuple(components))


CACHE_FILE = "CMakeCache.txt"
COMPILE_COMMANDS = "compile_commands.json"  # with CMAKE_EXPORT_COMPILE_COMMANDS=ON


def read_cache(build_dir: Path) -> Optional[dict[str, str]]:
    """The build dir's CMakeCache.txt, `NAME:TYPE=VALUE` -> {NAME: VALUE}; None without one."""
    try:
        text = (build_dir / CACHE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith(("#", "//")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.split(":", 1)[0].strip('"')] = value
    return values


def compile_commands(build_dir: Path) -> Optional[list[dict[str, Any]]]:
    """The build dir's compilation database (None when absent or unreadable)."""
    try:
        data = _read(build_dir / COMPILE_COMMANDS)
    except (OSError, ValueError):
        return None
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else None
