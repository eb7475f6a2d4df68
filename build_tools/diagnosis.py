"""What `invoke doctor` finds, and the checkout it looks at, read once and never trusted whole.

A `Finding` is one check's verdict (ok, warn or error), what it saw and the fix. `Checkout`
holds what every check reads (the source tree, presets, the resolved preset, the build dir);
each part is None where it could not be read, and the reason is a finding of its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools import source_tree
from build_tools import toolchain as tc
from build_tools.cmake import presets_file
from build_tools.cmake.presets_macros import MacroError, base, expand
from build_tools.errors import BuildToolsError
from build_tools.settings import Settings


class Verdict(enum.Enum):
    OK = "ok"
    WARN = "warn"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    name: str
    verdict: Verdict
    detail: str
    fix: str = ""


def ok(name: str, detail: str) -> Finding:
    return Finding(name, Verdict.OK, detail)


def warn(name: str, detail: str, fix: str) -> Finding:
    return Finding(name, Verdict.WARN, detail, fix)


def error(name: str, detail: str, fix: str) -> Finding:
    return Finding(name, Verdict.ERROR, detail, fix)


@dataclass
class Checkout:
    settings: Settings
    machine: tc.Machine
    tree: Optional[source_tree.SourceTree] = None
    presets: Optional[presets_file.Presets] = None
    preset: dict[str, Any] = field(default_factory=dict)  # resolved; {} while it does not exist
    build_dir: Optional[Path] = None
    findings: list[Finding] = field(default_factory=list)  # what reading it found

    @property
    def venv_bin(self) -> Path:
        return self.tree.venv_python.parent if self.tree else Path("/nonexistent")

    @property
    def cache_variables(self) -> dict[str, Any]:
        return dict(self.preset.get("cacheVariables") or {})

    @property
    def environment(self) -> dict[str, str]:
        """The environment configure sees: ours, then the preset's `environment` over it."""
        preset_env = self.preset.get("environment") or {}
        merged = dict(self.machine.environ)
        merged.update({k: self.expand(str(v)) or "" for k, v in preset_env.items()})
        return merged

    def expand(self, value: Any) -> Optional[str]:
        """A preset value with cmake's macros expanded; None when it is not a string or uses a
        macro this check does not evaluate."""
        if isinstance(value, dict):
            value = value.get("value")
        if not isinstance(value, str) or self.tree is None:
            return None
        root, environ = self.tree.root, self.machine.environ
        preset_env: Mapping[str, Any] = self.preset.get("environment") or {}

        def lookup(space: str, name: str) -> str:
            if space == "" and name == "presetName":
                return self.settings.preset
            if space == "":
                found = base(root, 99, name, root)
                if found is not None:
                    return found
            if space in ("env", "penv"):
                own = preset_env.get(name) if space == "env" else None
                return (
                    str(own) if isinstance(own, str) and "$" not in own else environ.get(name, "")
                )
            raise MacroError(name)

        try:
            return expand(value, lookup)
        except MacroError:
            return None


def read_checkout(settings: Settings, machine: tc.Machine) -> Checkout:
    """The checkout as far as it can be read; what stopped the reading is in `findings`."""
    found = Checkout(settings, machine)
    try:
        found.tree = source_tree.load(settings)
    except BuildToolsError as exc:
        found.findings.append(error("checkout", exc.problem, exc.fix))
        return found
    tree = found.tree
    kind = "vLLM" if tree.kind == "vllm" else "CMake + Python project"
    minimum = tc.version_text(tree.cmake_minimum)
    found.findings.append(
        ok("checkout", f"{tree.name} ({kind}) at {tree.root}; CMake >= {minimum}")
    )
    found.build_dir = tree.root / f"cmake-build-{settings.preset}"
    try:
        found.presets = presets_file.load(tree.root, environ=machine.environ)
        if found.presets.find(settings.preset) is None:
            found.findings.append(
                warn(
                    "preset",
                    f"there is no configure preset {settings.preset!r} yet",
                    f"run `invoke presets --preset {settings.preset}` (a build writes it too)",
                )
            )
            return found
        found.preset = presets_file.resolve_configure(
            found.presets, settings.preset, machine.environ
        )
        found.build_dir = (
            presets_file.binary_dir(found.presets, settings.preset, machine.environ)
            or found.build_dir
        )
        found.findings.append(ok("preset", f"{settings.preset!r}, building in {found.build_dir}"))
    except BuildToolsError as exc:
        found.findings.append(error("preset", exc.problem, exc.fix))
    return found
