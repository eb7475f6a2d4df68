"""What a configured build dir's CMake File API reply says of the project: its targets (each
one's compiled sources and artifacts), its install rules and components, and the files
configure read. Written by any configure, ours or a raw `cmake --preset`, once the query file
we put into the build dir asks for it; never read from generated files.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from build_tools.errors import BuildToolsError, ErrorKind

CLIENT = "client-vllm-build-tools"
QUERY = {"requests": [{"kind": "codemodel", "version": 2}, {"kind": "cmakeFiles", "version": 1}]}
# What the generator adds besides the project's own targets, and the task that does what a
# person asking for one of them wants (never `cmake --build --target clean` behind our back).
GENERATOR_TARGETS = {
    "all": "`invoke build` (no --target) builds and installs every target",
    "install": "`invoke build` (no --target) builds and installs every target",
    "install/local": "`invoke build` (no --target) builds and installs every target",
    "install/strip": "`invoke build` (no --target) builds and installs every target",
    "clean": "`invoke clean-build` starts the build dir afresh (after checking it)",
    "help": "`invoke targets` lists the extension targets",
    "rebuild_cache": "`invoke configure` runs cmake again",
    "edit_cache": "`invoke configure` runs cmake again (edit the preset to change a value)",
    "list_install_components": "`invoke targets` lists the extension targets",
}


def api_dir(build_dir: Path) -> Path:
    return build_dir / ".cmake" / "api" / "v1"


def request_codemodel(build_dir: Path) -> None:
    """Ask the next configure of `build_dir` for the codemodel and cmakeFiles replies (a query
    an older suite wrote is brought up to date)."""
    query = api_dir(build_dir) / "query" / CLIENT / "query.json"
    text = json.dumps(QUERY) + "\n"
    try:
        if query.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    query.parent.mkdir(parents=True, exist_ok=True)
    query.write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class Target:
    """One target as the codemodel describes it.

    `sources` are the sources it compiles (a `compileGroupIndex`), in CMake's order, relative
    to the source dir (absolute when outside it); `generated` are those of them that are
    GENERATED (a build step writes them). `artifacts` are what it builds, relative to the build
    dir (absolute when outside it): `_C.abi3.so`, or an OBJECT library's object files.
    """

    name: str
    type: str
    sources: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    generated: tuple[str, ...] = ()
    id: str = ""


@dataclass(frozen=True)
class InstallRule:
    """One `install()` rule: its component and type (`target`, `file`, `directory`, ...), its
    destination (relative to the install prefix, or absolute) and the files it installs as
    (from, to) pairs: `from` relative to the build dir for a target's files, to the source dir
    for `file`/`directory` rules (absolute when outside), `to` relative to the destination.
    `target` names the installed target of a `target` rule."""

    component: str
    type: str
    destination: str = ""
    files: tuple[tuple[str, str], ...] = ()
    target: Optional[str] = None

    def installed(self) -> list[str]:
        """Where each file lands, relative to the install prefix (absolute when the destination
        is): `minivllm/_C.abi3.so`."""
        return [str(PurePosixPath(self.destination or ".") / to) for _, to in self.files]


@dataclass(frozen=True)
class CodeModel:
    """The configured project: its targets (name -> CMake type) and install components; each
    target's sources and artifacts (`details`), the install rules, and the CMake files its
    configure read (`cmake_inputs`, relative to the source dir; empty when the reply predates
    our cmakeFiles query)."""

    targets: dict[str, str]
    components: tuple[str, ...]
    details: dict[str, Target] = field(default_factory=dict)
    installs: tuple[InstallRule, ...] = ()
    cmake_inputs: tuple[str, ...] = ()
    source_dir: Optional[Path] = None
    build_dir: Optional[Path] = None

    def read_by_configure(self, path: str) -> bool:
        """Whether a change to `path` (relative to the source dir) means configuring again: a
        file the last configure read (the cmakeFiles reply), else any CMake-shaped file
        (`CMakeLists.txt`, `*.cmake`, anything under `cmake/`, the presets files)."""
        name = PurePosixPath(path)
        return (
            path in self.cmake_inputs
            or name.name in ("CMakeLists.txt", "CMakePresets.json", "CMakeUserPresets.json")
            or name.suffix == ".cmake"
            or name.parts[:1] == ("cmake",)
        )

    def target(self, name: str) -> Target:
        """The target's details (only its name and type when the reply has none)."""
        return self.details.get(name) or Target(name, self.targets.get(name, ""))

    def installed_by(self, component: str) -> list[InstallRule]:
        """The install rules of one component (`cmake --install --component X` runs them)."""
        return [rule for rule in self.installs if rule.component == component]

    def components_of(self, target: str) -> list[str]:
        """The components whose rules install `target`'s files."""
        return list(dict.fromkeys(r.component for r in self.installs if r.target == target))

    @property
    def extension_targets(self) -> list[str]:
        """Install components that are also build targets (vLLM's _C, _moe_C, ...)."""
        return [c for c in self.components if c in self.targets] or list(self.components)

    def require(self, target: str, where: Path) -> None:
        """BuildToolsError unless `target` is one of the project's own targets: a generator's
        target (clean, all, help, ...) is refused with the task that does it, an unknown one
        with the closest names."""
        if target in self.targets:
            return
        if target in GENERATOR_TARGETS or target.startswith(("install/", "CMakeFiles/")):
            task = GENERATOR_TARGETS.get(target, GENERATOR_TARGETS["install"])
            raise BuildToolsError(
                f"--target {target} is not an extension target but one of CMake's own; "
                "`build --target` builds and installs extensions.",
                f"{task}; extension targets here: {', '.join(self.extension_targets) or 'none'}",
                kind=ErrorKind.BAD_INPUT,
            )
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


def _responses(reply: Path) -> list[dict[str, Any]]:
    """Our query's responses in the newest reply index (KeyError, ValueError... when none)."""
    index = _read(max(reply.glob("index-*.json")))
    return list(index["reply"][CLIENT]["query.json"]["responses"])


def read_codemodel(build_dir: Path) -> Optional[CodeModel]:
    """The codemodel of the last configure, None when there is no reply (or it is unreadable)."""
    reply = api_dir(build_dir) / "reply"
    try:
        responses = _responses(reply)
        model_file = next(r["jsonFile"] for r in responses if r.get("kind") == "codemodel")
        model = _read(reply / model_file)
        config = model["configurations"][0]
        details = {}
        for entry in config["targets"]:
            details[entry["name"]] = _target(entry, _read(reply / entry["jsonFile"]))
        by_id = {t.id: t.name for t in details.values() if t.id}
        installs: list[InstallRule] = []
        for directory in config.get("directories", []):
            if "jsonFile" in directory:
                for installer in _read(reply / directory["jsonFile"]).get("installers", []):
                    installs.append(_install_rule(installer, by_id))
        files = next((r["jsonFile"] for r in responses if r.get("kind") == "cmakeFiles"), None)
        inputs = _cmake_inputs(_read(reply / files)) if files else ()
    except (OSError, ValueError, KeyError, IndexError, StopIteration, TypeError, AttributeError):
        return None
    components = dict.fromkeys(
        r.component for r in installs if r.component and r.component != "Unspecified"
    )
    paths = model.get("paths") if isinstance(model.get("paths"), dict) else {}
    return CodeModel(
        {name: t.type for name, t in details.items()},
        tuple(components),
        details,
        tuple(installs),
        inputs,
        Path(paths["source"]) if paths.get("source") else None,
        Path(paths["build"]) if paths.get("build") else None,
    )


def _target(entry: dict[str, Any], data: dict[str, Any]) -> Target:
    sources = [s for s in data.get("sources") or () if "compileGroupIndex" in s]
    return Target(
        entry["name"],
        data.get("type", ""),
        tuple(s["path"] for s in sources),
        tuple(a["path"] for a in data.get("artifacts") or ()),
        tuple(s["path"] for s in sources if s.get("isGenerated")),
        data.get("id") or entry.get("id", ""),
    )


def _install_rule(installer: dict[str, Any], by_id: dict[str, str]) -> InstallRule:
    files: list[tuple[str, str]] = []
    for path in installer.get("paths") or ():
        if isinstance(path, dict):
            files.append((path["from"], path["to"]))
        else:  # "a/b/c": from a/b/c, to the part after the last "/" (CMake's rule)
            files.append((path, path.rpartition("/")[2]))
    target_id = installer.get("targetId")
    return InstallRule(
        installer.get("component", ""),
        installer.get("type", ""),
        installer.get("destination", ""),
        tuple(files),
        by_id.get(target_id, target_id) if target_id else None,
    )


def _cmake_inputs(data: dict[str, Any]) -> tuple[str, ...]:
    """The files of the project that its configure read (CMake's own modules, files outside
    the tree and generated ones left out): a change to one of them means reconfiguring."""
    return tuple(
        entry["path"]
        for entry in data.get("inputs") or ()
        if not entry.get("isExternal") and not entry.get("isGenerated") and not entry.get("isCMake")
    )


def files_read(build_dir: Path) -> Optional[list[str]]:
    """Every file the last configure read but CMake's own modules (the cmakeFiles reply;
    relative paths are the source dir's), None without a reply."""
    reply = api_dir(build_dir) / "reply"
    try:
        files = next(r["jsonFile"] for r in _responses(reply) if r.get("kind") == "cmakeFiles")
        data = _read(reply / files)
        return [e["path"] for e in data.get("inputs") or () if not e.get("isCMake")]
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None
