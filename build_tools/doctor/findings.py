"""What `invoke doctor` finds, and what it looks at: the machine, the settings and the
checkout as far as it can be read.

A `Finding` is one check's verdict (ok, warn or error), what it saw and the fix. `Subject`
holds what every check reads; the source tree and the checkout view are None where they could
not be read, and `read_subject`'s findings say why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from build_tools.checkout import source_tree
from build_tools.checkout.view import Checkout
from build_tools.cmake import build_dir as bd
from build_tools.cmake.build_tree import BuildTree
from build_tools.errors import BuildToolsError
from build_tools.machine import toolchain as tc
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
class Subject:
    settings: Settings
    machine: tc.Machine
    tree: Optional[source_tree.SourceTree] = None
    checkout: Optional[Checkout] = None  # None while its presets cannot be read
    findings: list[Finding] = field(default_factory=list)  # what reading it found

    @property
    def venv_bin(self) -> Path:
        return self.tree.venv_python.parent if self.tree else Path("/nonexistent")

    @property
    def build_dir(self) -> Optional[Path]:
        """The preset's build dir; ours by default where the presets cannot be read."""
        if self.checkout is not None:
            return self.checkout.build_dir
        return self.tree.root / bd.default_name(self.settings.preset) if self.tree else None

    @property
    def build_tree(self) -> Optional[BuildTree]:
        return BuildTree(self.build_dir) if self.build_dir else None

    @property
    def build_trees(self) -> tuple[BuildTree, ...]:
        """Every configure preset's build dir (the preset's alone where they cannot be read)."""
        if self.checkout is not None:
            return self.checkout.build_trees
        return (self.build_tree,) if self.build_tree else ()

    @property
    def environment(self) -> dict[str, str]:
        """The environment configure sees: ours, then the preset's `environment` over it."""
        return self.checkout.environment if self.checkout else dict(self.machine.environ)

    def cache_value(self, key: str) -> Optional[str]:
        """A cache variable of the preset, expanded (None when unset or unreadable)."""
        return self.checkout.cache_value(key) if self.checkout else None


def read_subject(settings: Settings, machine: tc.Machine) -> Subject:
    """The checkout as far as it can be read; what stopped the reading is in `findings`."""
    found = Subject(settings, machine)
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
    view = Checkout(tree, settings.preset, machine.environ)
    try:
        if not view.has_preset:
            found.findings.append(
                warn(
                    "preset",
                    f"there is no configure preset {settings.preset!r} yet",
                    f"run `invoke presets --preset {settings.preset}` (a build writes it too)",
                )
            )
        else:
            found.findings.append(
                ok("preset", f"{settings.preset!r}, building in {view.build_dir}")
            )
        view.configure_preset  # noqa: B018  (read now: a broken preset is one finding here)
        found.checkout = view
    except BuildToolsError as exc:
        found.findings.append(error("preset", exc.problem, exc.fix))
    return found
