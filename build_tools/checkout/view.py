"""A read-only view of one checkout for one preset: the presets as cmake reads them, the
preset resolved (inherits applied), its values expanded as cmake expands them, its build dir.

What every step and every doctor check reads about the checkout, each fact computed in one
place and once: a view is immutable, and after a write (the presets step) the run takes a new
one (`reread`). Reading may raise BuildToolsError (a broken presets file); the doctor turns
that into a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from build_tools.checkout.source_tree import SourceTree
from build_tools.cmake import build_dir as bd
from build_tools.cmake import presets_file, presets_resolve
from build_tools.cmake.build_tree import BuildTree
from build_tools.cmake.project import LAUNCHERS, compile_cache, gate_script
from build_tools.errors import BuildToolsError
from build_tools.safety import safe_paths


@dataclass(frozen=True)
class Checkout:
    tree: SourceTree
    preset: str  # the configure preset asked for
    environ: Mapping[str, str]  # the environment cmake is run with

    def reread(self) -> Checkout:
        """A fresh view: for after something was written (the presets file)."""
        return Checkout(self.tree, self.preset, self.environ)

    @cached_property
    def presets(self) -> presets_file.Presets:
        return presets_file.load(self.tree.root, environ=self.environ)

    @property
    def has_preset(self) -> bool:
        return self.presets.find(self.preset) is not None

    @cached_property
    def configure_preset(self) -> dict[str, Any]:
        """The asked configure preset, inherits applied ({} while it is not written yet)."""
        if not self.has_preset:
            return {}
        return presets_resolve.resolve_configure(self.presets, self.preset, self.environ)

    @cached_property
    def build_preset(self) -> dict[str, Any]:
        """The build preset of the same name ({} when there is none)."""
        found = self.presets.find(self.preset, "buildPresets")
        return dict(found[0]) if found else {}

    @cached_property
    def build_dir(self) -> Path:
        """The preset's binaryDir as cmake resolves it; ours (cmake-build-<name>) while the
        preset is not written yet."""
        found = None
        if self.has_preset:
            found = presets_resolve.binary_dir(self.presets, self.preset, self.environ)
        directory = found or self.tree.root / bd.default_name(self.preset)
        return safe_paths.check(directory, "build dir")

    @property
    def build_tree(self) -> BuildTree:
        """The build dir's view: its configure stamp, what its installs wrote."""
        return BuildTree(self.build_dir)

    @cached_property
    def build_trees(self) -> tuple[BuildTree, ...]:
        """The build dirs of every configure preset (binaryDir as cmake resolves it), this
        preset's first; a preset cmake cannot evaluate has none."""
        found = {self.build_dir: None}
        for name in self.presets.configure_names() if self.has_preset else ():
            try:
                directory = presets_resolve.binary_dir(self.presets, name, self.environ)
            except BuildToolsError:
                continue
            if directory is not None:
                found.setdefault(directory)
        return tuple(BuildTree(d) for d in found)

    @property
    def cache_variables(self) -> dict[str, Any]:
        return dict(self.configure_preset.get("cacheVariables") or {})

    def expand(self, value: Any) -> Optional[str]:
        """A value of the preset as cmake expands it (None: not a string, or cmake cannot)."""
        if not self.has_preset:
            return value if isinstance(value, str) else None
        return presets_resolve.expand_value(self.presets, self.preset, self.environ, value)

    def cache_value(self, key: str) -> Optional[str]:
        """A cache variable of the preset, expanded (None when the preset does not set it)."""
        value = self.cache_variables.get(key)
        return None if value is None else self.expand(value)

    @cached_property
    def preset_environment(self) -> dict[str, str]:
        """The preset's `environment`, expanded: what configure adds to ours."""
        raw = self.configure_preset.get("environment") or {}
        expanded = {k: self.expand(v) for k, v in raw.items()}
        return {k: v for k, v in expanded.items() if v is not None}

    @property
    def environment(self) -> dict[str, str]:
        """The environment configure sees: ours, then the preset's over it."""
        return {**self.environ, **self.preset_environment}

    @property
    def launcher(self) -> Optional[str]:
        """The compiler cache the preset launches compiles with (None: none); never the memory
        gate that may come first (see `gate`)."""
        for key in LAUNCHERS:
            value = self.cache_value(key)
            if value:
                return compile_cache(value)
        return None

    @property
    def pools_script(self) -> Path:
        """Where the heavy-pool script of the preset's build dir lives, beside the measured
        peaks it is planned from (the presets step writes it; the preset names it as
        CMAKE_PROJECT_INCLUDE)."""
        return self.tree.state_dir / "memory" / f"{self.build_dir.name}-pools.cmake"

    @property
    def gate(self) -> Optional[Path]:
        """The memory gate script the preset runs before each compile (None: none)."""
        for key in LAUNCHERS:
            found = gate_script(self.cache_value(key))
            if found:
                return Path(found)
        return None
