"""Read CMake presets files as cmake does: shapes checked, `include`s followed, names unique.

Follows cmake 4.x (presets versions 1-12), checked against the real cmake by
tests/unit/test_presets_file.py. Pure: it reads files and writes none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.presets_macros import MacroError, base, expand
from build_tools.errors import BuildToolsError, ErrorKind

PROJECT_FILE = "CMakePresets.json"
USER_FILE = "CMakeUserPresets.json"
KINDS = ("configurePresets", "buildPresets", "testPresets", "packagePresets", "workflowPresets")
NOT_INHERITED = {"name", "hidden", "inherits", "displayName", "description", "vendor"}
MERGED = {"cacheVariables", "environment", "warnings", "errors", "debug", "trace"}
# Fields that presets version 12 expands as the file is read, when `${fileDir}` is their only macro.
IMMEDIATE = ("binaryDir", "installDir", "toolchainFile", "graphVizFile")


def _bad(key: str, path: Path, value: Any, expected: str) -> BuildToolsError:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    what = names.get(type(value), "a list" if isinstance(value, list) else "an object")
    return BuildToolsError(
        f"{key} in {path} is {'null' if value is None else what}, not {expected};"
        " it was left untouched.",
        f"fix that key in {path} (cmake would reject the file too)",
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def validate_shape(data: Any, path: Path) -> None:
    """A BuildToolsError naming the key where data is not shaped like a presets file."""
    if not isinstance(data, dict):
        raise _bad("the top level", path, data, "an object")
    if "version" in data and type(data["version"]) is not int:
        raise _bad("version", path, data["version"], "an integer")
    if "include" in data and not _strings(data["include"]):
        raise _bad("include", path, data["include"], "a list of strings")
    for kind in KINDS:
        if not isinstance(entries := data.get(kind, []), list):
            raise _bad(kind, path, entries, "a list")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise _bad(f"{kind}[{i}]", path, entry, "an object")
            if not isinstance(name := entry.get("name"), str) or not name:
                raise _bad(f"{kind}[{i}].name", path, name, "a non-empty string")
            where = f"{kind}[{name!r}]"
            inherits = entry.get("inherits", [])
            if not (isinstance(inherits, str) or _strings(inherits)):
                raise _bad(f"{where}.inherits", path, inherits, "a string or a list of strings")
            if not isinstance(entry.get("hidden", False), bool):
                raise _bad(f"{where}.hidden", path, entry["hidden"], "a boolean")
            for key in ("binaryDir", "generator", "installDir", "toolchainFile"):
                if not isinstance(entry.get(key, ""), str):
                    raise _bad(f"{where}.{key}", path, entry[key], "a string")
            if kind == "buildPresets":
                _check_build_preset(entry, where, path)
            for key in ("environment", "cacheVariables"):
                if not isinstance(table := entry.get(key, {}), dict):
                    raise _bad(f"{where}.{key}", path, table, "an object")
                for var, value in table.items():
                    if isinstance(value, dict) and key == "cacheVariables":
                        value = value.get("value")
                    kinds = (str, bool) if key == "cacheVariables" else str
                    if not (isinstance(value, kinds) or table[var] is None):
                        raise _bad(f"{where}.{key}.{var}", path, table[var], "a string or null")


def _check_build_preset(entry: dict[str, Any], where: str, path: Path) -> None:
    if not isinstance(entry.get("configurePreset", ""), str):
        raise _bad(f"{where}.configurePreset", path, entry["configurePreset"], "a string")
    jobs = entry.get("jobs", 0)
    if type(jobs) is not int or jobs < 0:
        raise _bad(f"{where}.jobs", path, jobs, "a whole number of jobs")
    targets = entry.get("targets", [])
    if not (isinstance(targets, str) or _strings(targets)):
        raise _bad(f"{where}.targets", path, targets, "a string or a list of strings")


def read_object(path: Path) -> Optional[dict[str, Any]]:
    """The file's JSON object (a BOM is skipped, as cmake does); None when there is no file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildToolsError(f"{path} could not be read ({exc}).", f"fix {path}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BuildToolsError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg});"
            " it was left untouched.",
            f"fix or remove {path}, then run again",
        ) from exc
    validate_shape(data, path)
    return dict(data)


@dataclass(frozen=True)
class Presets:
    source_dir: Path
    files: tuple[tuple[Path, dict[str, Any]], ...]  # in the order cmake reads them
    includes: Mapping[Path, tuple[Path, ...]] = field(default_factory=dict)  # file: its includes

    def configure_names(self) -> list[str]:
        """Visible configure presets in cmake's order (that of `cmake --list-presets`)."""
        presets = [p for _, data in self.files for p in data.get("configurePresets", [])]
        return [p["name"] for p in presets if p.get("hidden") is not True]

    def find(
        self, name: str, kind: str = "configurePresets"
    ) -> Optional[tuple[dict[str, Any], Path]]:
        for path, data in self.files:
            for preset in data.get(kind, []):
                if preset["name"] == name:
                    return preset, path
        return None

    def version(self, path: Path) -> int:
        return next((int(data.get("version", 0)) for p, data in self.files if p == path), 0)

    def reachable(self, path: Path) -> set[Path]:
        """path and every file it includes, directly or not: where its parents may live."""
        seen, todo = set(), [path]
        while todo:
            if (file := todo.pop()) not in seen:
                seen.add(file)
                todo.extend(self.includes.get(file, ()))
        return seen


def load(source_dir: Path, *, environ: Optional[Mapping[str, str]] = None) -> Presets:
    """`environ` (default os.environ) serves `$penv{}` in `include`; source_dir is taken as
    given (made absolute): cmake run with cwd=source_dir sees it with links resolved."""
    src = Path(os.path.abspath(source_dir))
    penv = os.environ if environ is None else environ
    files: list[tuple[Path, dict[str, Any]]] = []
    includes: dict[Path, tuple[Path, ...]] = {}
    known: dict[Path, Path] = {}  # resolved path: the path read

    def target(text: str, path: Path, version: int) -> Path:
        def lookup(space: str, name: str) -> str:
            value = base(src, version, name, path.parent) if not space and version >= 9 else None
            value = penv.get(name, "") if space == "penv" and name else value
            if value is None:
                raise MacroError(f"include {text!r} uses a macro cmake cannot expand there")
            return value

        try:  # macros in includes: $penv{} from version 7, the plain ones from version 9
            expanded = expand(text, lookup) if version >= 7 else text
        except MacroError as exc:
            raise BuildToolsError(f"{path}: {exc}.", f"fix that include in {path}") from exc
        return Path(os.path.normpath(path.parent / expanded))

    def read(path: Path, data: dict[str, Any], stack: tuple[Path, ...], extra: list[Path]) -> None:
        known[path.resolve()] = path
        files.append((path, data))
        version = int(data.get("version", 0))
        edges = []
        for child in [target(t, path, version) for t in data.get("include", [])] + extra:
            if child.resolve() in stack:
                raise BuildToolsError(
                    f"{path} includes {child}, which includes {path} again: an include cycle.",
                    f"remove one of the two includes in {path} or {child}",
                )
            if child.resolve() not in known:
                if (child_data := read_object(child)) is None:
                    raise BuildToolsError(
                        f"{path} includes {child}, which does not exist.",
                        f"create {child} or remove it from the include of {path}",
                    )
                read(child, child_data, (*stack, child.resolve()), [])
            edges.append(known[child.resolve()])
        includes[path] = tuple(edges)

    # cmake reads the user file first (its own presets, its includes, then CMakePresets.json).
    user, project = src / USER_FILE, src / PROJECT_FILE
    user_data, project_data = read_object(user), read_object(project)
    if user_data is not None:
        read(user, user_data, (user.resolve(),), [project] if project_data is not None else [])
    elif project_data is not None:
        read(project, project_data, (project.resolve(),), [])
    seen: dict[tuple[str, str], Path] = {}
    for path, data in files:
        for kind in KINDS:
            for preset in data.get(kind, []):
                if (key := (kind, preset["name"])) in seen:
                    raise BuildToolsError(
                        f"{kind} {key[1]!r} is defined twice, in {seen[key]} and {path}.",
                        "rename or remove one of them",
                    )
                seen[key] = path
    configures = {name for kind, name in seen if kind == "configurePresets"}
    for path, data in files:
        for preset in data.get("buildPresets", []):
            wanted = preset.get("configurePreset")
            if wanted is not None and wanted not in configures:
                raise BuildToolsError(
                    f"build preset {preset['name']!r} in {path} names configure preset "
                    f"{wanted!r}, which no presets file defines.",
                    f"fix its configurePreset in {path} (cmake would refuse the file too)",
                    kind=ErrorKind.BAD_INPUT,
                )
    return Presets(src, tuple(files), includes)
