"""What the checkout's CMake fetches (FetchContent_Declare, and FetchContent_Populate with its own
download options, as vLLM 0.34.0 declares DeepGEMM), read from its files, and what will serve
each dependency: a local source directory, a populated `.deps`, or the network.

Nothing is hard-coded: the names, repositories, pins and `*_SRC_DIR` variables are read from
CMakeLists.txt and cmake/**/*.cmake, so a new vLLM release's dependencies are found as they come.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from packaging.utils import canonicalize_name

from build_tools.cmake.listfile import commands

_SET = re.compile(r'^\s*set\s*\(\s*(\w+)\s+"?([^"\s)]+)"?\s*\)', re.IGNORECASE | re.MULTILINE)
_VAR = re.compile(r"\$(?:ENV)?\{(\w+)\}")


@dataclass(frozen=True)
class Dependency:
    name: str
    repository: str = ""
    pin: str = ""
    variable: str = ""  # the *_SRC_DIR environment variable that points CMake at a local copy
    declared_in: str = ""


class ServedBy(enum.Enum):
    """What serves a dependency at configure time; the value is how it is said."""

    LOCAL = "local source"
    POPULATED = "populated .deps"
    NETWORK = "network"


@dataclass(frozen=True)
class Served:
    dependency: Dependency
    how: ServedBy
    where: str  # the directory or URL


DOWNLOADS = ("GIT_REPOSITORY", "URL", "SVN_REPOSITORY", "HG_REPOSITORY")


def _calls(text: str) -> list[list[str]]:
    """The argument words of every call that declares where a dependency comes from:
    FetchContent_Declare(...), and FetchContent_Populate(...) given download options (its
    one-argument form only populates a declared one)."""
    found = []
    for name, args in commands(text):
        words = args.split()
        populate = name == "fetchcontent_populate" and any(w in DOWNLOADS for w in words)
        if name == "fetchcontent_declare" or populate:
            found.append(words)
    return found


def _stem(variable: str) -> str:
    """The dependency a `*_SRC_DIR` variable names: VLLM_CUTLASS_SRC_DIR -> cutlass."""
    return canonicalize_name(variable.removesuffix("_SRC_DIR").removeprefix("VLLM_"))


def _value(words: list[str], key: str, variables: Mapping[str, str]) -> str:
    if key not in words or words.index(key) + 1 >= len(words):
        return ""
    raw = words[words.index(key) + 1].strip('"')
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), raw)


def declared(files: Sequence[Path], env_vars: Sequence[str]) -> list[Dependency]:
    """Every dependency the files declare, merged by name: its repository and pin from the
    networked declaration, its `*_SRC_DIR` variable from the local one."""
    found: dict[str, Dependency] = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        variables = dict(_SET.findall(text))
        for words in _calls(text):
            if not words:
                continue
            name = words[0]
            old = found.get(name, Dependency(name, declared_in=path.name))
            source = _value(words, "SOURCE_DIR", {})
            referenced = _VAR.findall(source)
            variable = next((v for v in referenced if v in env_vars), old.variable)
            if not variable:  # read beside the call, named like the dependency (DeepGEMM's)
                named = [v for v in env_vars if f"{{{v}}}" in text and _stem(v) == _stem(name)]
                variable = named[0] if named else ""
            found[name] = Dependency(
                name,
                _value(words, "GIT_REPOSITORY", variables)
                or _value(words, "URL", variables)
                or old.repository,
                _value(words, "GIT_TAG", variables) or old.pin,
                variable,
                old.declared_in,
            )
    return list(found.values())


def _names(dep: Dependency) -> set[str]:
    """What a folder holding this dependency may be called: its CMake name or its repo's."""
    repo = Path(dep.repository.rstrip("/")).name.removesuffix(".git") if dep.repository else ""
    return {canonicalize_name(n) for n in (dep.name, repo) if n}


def local_source(
    dep: Dependency, environ: Mapping[str, str], deps_dir: Optional[Path]
) -> Optional[Path]:
    """The local copy to build from: the variable set in the environment, else a folder of
    `deps_dir` named like the dependency or its repository."""
    if dep.variable and environ.get(dep.variable):
        return Path(environ[dep.variable])
    if deps_dir is not None and deps_dir.is_dir() and dep.variable:
        for child in sorted(deps_dir.iterdir()):
            named = canonicalize_name(child.name) in _names(dep)
            if named and child.is_dir() and any(child.iterdir()):  # an empty folder is no source
                return child
    return None


def serve(
    deps: Sequence[Dependency],
    root: Path,
    environ: Mapping[str, str],
    deps_dir: Optional[Path],
) -> list[Served]:
    """For each dependency, what will serve it at configure time."""
    served = []
    for dep in deps:
        local = local_source(dep, environ, deps_dir)
        populated = root / ".deps" / f"{dep.name.lower()}-src"
        if local is not None:
            served.append(Served(dep, ServedBy.LOCAL, str(local)))
        elif populated.is_dir() and any(populated.iterdir()):
            served.append(Served(dep, ServedBy.POPULATED, str(populated)))
        else:
            served.append(Served(dep, ServedBy.NETWORK, dep.repository or "(no repository named)"))
    return served
