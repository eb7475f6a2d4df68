"""A configure preset as cmake resolves it: `inherits` applied, macros expanded, its build
directory. Follows cmake 4.x, checked against the real cmake by tests/unit/test_presets_file.py.
Conditions are not evaluated: cmake itself reports a disabled preset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional

from build_tools.cmake.presets_file import IMMEDIATE, MERGED, NOT_INHERITED, Presets
from build_tools.cmake.presets_macros import Ignored, MacroError, base, expand, immediate
from build_tools.errors import BuildToolsError


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


def _expander(
    presets: Presets, name: str, environ: Mapping[str, str]
) -> tuple[dict[str, Any], Callable[[str], str]]:
    """The merged preset and the expansion of a value as cmake's ExpandMacros does it for that
    preset (MacroError where cmake fails); every `environment` entry expanded first, as cmake
    does."""
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
    return merged, lambda text: expand(text, lookup)


def _expanded(
    presets: Presets, name: str, environ: Mapping[str, str]
) -> tuple[dict[str, Any], Optional[str]]:
    """What cmake's ExpandMacros does for a configure preset: its merged fields and its
    expanded binaryDir; MacroError where cmake fails."""
    merged, expanded = _expander(presets, name, environ)
    version = presets.version(_file_of(presets, name))
    raw_dir = merged.get("binaryDir") or None
    if raw_dir is None and merged.get("hidden") is not True and version < 3:
        raise MacroError("presets before version 3 need a binaryDir")
    # An expansion to nothing leaves cmake with the unexpanded text, taken as a relative path.
    directory = raw_dir and (expanded(raw_dir) or raw_dir)
    values = [merged.get(k) for k in ("installDir", "toolchainFile", "graphVizFile")]
    for _, value in sorted(merged.get("cacheVariables", {}).items()):
        values.append(value.get("value") if isinstance(value, dict) else value)
    for value in values:
        if isinstance(value, str):
            expanded(value)
    return merged, directory


def expand_value(
    presets: Presets, name: str, environ: Mapping[str, str], value: Any
) -> Optional[str]:
    """A value of configure preset `name` (a string, or a cacheVariables `{"value": ...}`) as
    cmake expands it; None when it is not a string or cmake could not expand it."""
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str):
        return None
    try:
        return _expander(presets, name, environ)[1](value)
    except MacroError:
        return None


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
