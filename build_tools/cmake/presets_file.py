"""Read CMake presets files and find a configure preset's build directory exactly as cmake does.

Follows cmake 4.x (presets versions 1-12), checked against the real cmake by
tests/unit/test_presets_file.py. Pure apart from reading files; `write_atomic` writes one.
Conditions are not evaluated: cmake itself reports a disabled preset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.presets_macros import Ignored, MacroError, base, expand, immediate
from build_tools.errors import BuildToolsError

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
            for key in ("environment", "cacheVariables"):
                if not isinstance(table := entry.get(key, {}), dict):
                    raise _bad(f"{where}.{key}", path, table, "an object")
                for var, value in table.items():
                    if isinstance(value, dict) and key == "cacheVariables":
                        value = value.get("value")
                    kinds = (str, bool) if key == "cacheVariables" else str
                    if not (isinstance(value, kinds) or table[var] is None):
                        raise _bad(f"{where}.{key}.{var}", path, table[var], "a string or null")


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
    return Presets(src, tuple(files), includes)


def _merged(presets: Presets, name: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
    """The preset with `inherits` applied; null entries are kept (they hide parents' keys)."""
    if (found := presets.find(name)) is None:
        raise BuildToolsError(
            f"there is no configure preset {name!r} in {presets.source_dir}.",
            f"use one of: {', '.join(presets.configure_names()) or 'none'}",
        )
    raw, path = found
    version = presets.version(path)
    result = {k: immediate(v, path, version) if k in IMMEDIATE else v for k, v in raw.items()}
    for key in MERGED & result.keys():
        result[key] = dict(result[key]) if isinstance(result[key], dict) else result[key]
    for var, value in result.get("cacheVariables", {}).items():
        if isinstance(value, dict):
            value = {**value, "value": immediate(value.get("value"), path, version)}
        result["cacheVariables"][var] = immediate(value, path, version)
    parents = raw.get("inherits", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        found = presets.find(parent)
        if parent in (*stack, name) or found is None or found[1] not in presets.reachable(path):
            where = (
                f"is in {found[1]}, which {path} does not include" if found else "no file defines"
            )
            where = "inherits it back" if parent in (*stack, name) else where
            raise BuildToolsError(
                f"configure preset {name!r} in {path} inherits {parent!r}, which {where}.",
                f"fix the inherits of {name!r}",
            )
        for key, value in _merged(presets, parent, (*stack, name)).items():
            if key in MERGED and isinstance(value, dict):
                if not isinstance(result.setdefault(key, {}), dict):
                    continue  # cmake rejects such a file; keep the preset's own value
                for sub, item in value.items():
                    result.setdefault(key, {}).setdefault(sub, item)
            elif key not in NOT_INHERITED and result.get(key) in (None, ""):
                result[key] = value  # the preset's own value wins, then its parents' in order
    return result


def resolve_configure(presets: Presets, name: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The preset with `inherits` applied as cmake does, macros unexpanded (but for the
    `${fileDir}` that presets version 12 expands on reading); null entries removed."""
    result = _merged(presets, name)
    for key in ("environment", "cacheVariables"):
        if isinstance(result.get(key), dict):
            result[key] = {k: v for k, v in result[key].items() if v is not None}
    return result


def _expanded(
    presets: Presets, name: str, environ: Mapping[str, str]
) -> tuple[dict[str, Any], Optional[str]]:
    """What cmake's ExpandMacros does for a configure preset: its merged fields and its
    expanded binaryDir; MacroError where cmake fails."""
    merged = _merged(presets, name)
    path = _file_of(presets, name)
    version = presets.version(path)
    environment: dict[str, Optional[str]] = merged.get("environment", {})
    done: dict[str, str] = {}
    busy: set[str] = set()

    def env(var: str) -> str:
        if var not in done:
            if var in busy:
                raise MacroError(f"environment variable {var} refers to itself")
            busy.add(var)
            done[var] = expand(str(environment[var]), lookup)
        return done[var]

    def lookup(space: str, macro: str) -> str:
        if space == "":
            value = base(presets.source_dir, version, macro, path.parent)
            if macro == "presetName":
                value = name
            elif macro == "generator":  # a preset's own, even when cmake picks another
                value = "" if merged.get("hidden") is True else merged.get("generator", "")
            if value is not None:
                return value
        elif space == "env" and macro and environment.get(macro) is not None:
            return env(macro)
        elif space in ("env", "penv") and macro:  # a null in `environment` falls through
            return environ.get(macro, "")
        elif space == "vendor":
            raise Ignored(f"$vendor{{{macro}}} is not a macro cmake evaluates")
        raise MacroError(f"${space}{{{macro}}} is not a macro cmake knows")

    for var in sorted(environment):  # cmake expands every entry first, then the fields
        if environment[var] is not None:
            env(var)
    raw_dir = merged.get("binaryDir") or None
    if raw_dir is None and merged.get("hidden") is not True and version < 3:
        raise MacroError("presets before version 3 need a binaryDir")
    # An expansion to nothing leaves cmake with the unexpanded text, taken as a relative path.
    directory = raw_dir and (expand(raw_dir, lookup) or raw_dir)
    values = [merged.get(k) for k in ("installDir", "toolchainFile", "graphVizFile")]
    for _, value in sorted(merged.get("cacheVariables", {}).items()):
        values.append(value.get("value") if isinstance(value, dict) else value)
    for value in values:
        if isinstance(value, str):
            expand(value, lookup)
    return merged, directory


def _file_of(presets: Presets, name: str) -> Path:
    return (presets.find(name) or ({}, presets.source_dir))[1]


def binary_dir(presets: Presets, name: str, environ: Mapping[str, str]) -> Optional[Path]:
    """Where `cmake --preset name` configures (source_dir being its source directory); None when
    no preset in the chain sets binaryDir. As cmake: ${presetName} is this preset's name even in
    an inherited field; ${fileDir} is this preset's file's directory, unless the field comes from
    a version-12 file and has no other macro; $env{} takes the merged `environment` (a null
    entry falls through to environ); ${generator} is the preset's own generator or ""."""
    for other in [p["name"] for _, data in presets.files for p in data.get("configurePresets", [])]:
        try:  # cmake expands every configure preset: one broken preset fails them all
            merged, directory = _expanded(presets, other, environ)
        except MacroError as exc:
            if other == name or not isinstance(exc, Ignored):
                raise BuildToolsError(
                    f"cmake cannot evaluate configure preset {other!r}: {exc}.",
                    f"fix that preset in {_file_of(presets, other)}",
                ) from None
            continue
        if other == name and merged.get("hidden") is True:
            raise BuildToolsError(
                f"configure preset {name!r} is hidden: cmake --preset refuses it.",
                f"use one of: {', '.join(presets.configure_names()) or 'none'}",
            )
        if other == name:
            full = directory and os.path.join(presets.source_dir, directory)
            return Path(os.path.normpath(full)) if full else None
    _merged(presets, name)  # there is no such preset: raises
    return None
