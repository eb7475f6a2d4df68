"""A build dir as the suite reads it, in one typed view (`BuildTree`): where it is (the resolved
preset's binaryDir: `Checkout.build_tree`), what our last configure of it was from (the
configure stamp, `ConfigureStamp`), and what its installs wrote (every kind of CMake install
manifest). And the one answer to "is this file a shared library".

What a build dir is beyond that (its default name, a damaged cache, whether it may be deleted,
its removal) is `build_dir.py`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

STAMP = ".vllm-build-tools-configure.json"  # what the last configure of ours was from
# CMake's install manifests: install_manifest[_<component>].txt, or, when an install(CODE) sets
# CMAKE_INSTALL_LOCAL_ONLY (vLLM's does), install_local_manifest.txt, rewritten by every
# install whatever the component; ours keeps each component's as install_local_manifest_<c>.txt.
LOCAL_MANIFEST = "install_local_manifest.txt"
_SHARED_LIBRARY = re.compile(r"\.so(\.\d+)*$")


def is_shared_library(path: Path | str) -> bool:
    """A shared library, by its name: `_C.abi3.so`, `libx.so`, `libx.so.1.2`."""
    return _SHARED_LIBRARY.search(Path(path).name) is not None


def preset_digest(preset: Mapping[str, Any]) -> str:
    """What the stamp records of the resolved preset."""
    return hashlib.sha256(json.dumps(preset, sort_keys=True).encode()).hexdigest()


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _texts(value: Any) -> Optional[tuple[str, ...]]:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return tuple(value) if ok else None


@dataclass(frozen=True)
class ConfiguredFrom:
    """What a configure of ours is from: compared whole to tell whether it must run again (a
    field an older or damaged stamp lacks is None, and differs)."""

    preset: Optional[str]  # the resolved preset's digest
    cmake: Optional[str]  # the cmake binary
    cache_keys: Optional[tuple[str, ...]]  # the cache variables the preset sets, sorted
    generator: Optional[str]  # the preset's ("" for cmake's default)
    archs: Optional[str]  # TORCH_CUDA_ARCH_LIST in the environment configure sees

    @classmethod
    def of(cls, preset: Mapping[str, Any], cmake: Path, archs: str) -> ConfiguredFrom:
        keys = tuple(sorted(preset.get("cacheVariables") or {}))
        return cls(preset_digest(preset), str(cmake), keys, preset.get("generator", ""), archs)


@dataclass(frozen=True)
class ConfigureStamp:
    """Our last configure of a build dir: what it was from, the sm numbers its CUDA units
    compiled for then, and what it read (configure_inputs.record)."""

    made: ConfiguredFrom
    compiled_archs: Optional[tuple[int, ...]] = None
    read: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        made = self.made
        return {
            "preset": made.preset,
            "cmake": made.cmake,
            "cache_keys": list(made.cache_keys or ()),
            "generator": made.generator,
            "archs": made.archs,
            "compiled_archs": list(self.compiled_archs or ()),
            "read": dict(self.read),
        }

    @classmethod
    def from_json(cls, data: Any) -> Optional[ConfigureStamp]:
        """The stamp as written (None when it is no JSON object; a missing field None)."""
        if not isinstance(data, dict):
            return None
        made = ConfiguredFrom(
            _text(data.get("preset")),
            _text(data.get("cmake")),
            _texts(data.get("cache_keys")),
            _text(data.get("generator")),
            _text(data.get("archs")),
        )
        compiled = data.get("compiled_archs")
        if not (isinstance(compiled, list) and all(isinstance(n, int) for n in compiled)):
            compiled = None
        read = data.get("read")
        return cls(made, tuple(compiled) if compiled is not None else None,
                   read if isinstance(read, dict) else {})  # fmt: skip


@dataclass(frozen=True)
class Installed:
    """What one component's last install wrote, as its manifest says."""

    files: tuple[Path, ...]
    own: bool  # the component's own manifest (else the local one every install rewrites)

    @property
    def libraries(self) -> list[Path]:
        return [p for p in self.files if is_shared_library(p)]


def _listed(manifest: Path) -> list[Path]:
    try:
        text = manifest.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [Path(line.strip()) for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class BuildTree:
    """One build dir: its configure stamp and what its installs wrote. Read anew at each ask."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def stamp(self) -> Optional[ConfigureStamp]:
        try:
            data = json.loads((self.path / STAMP).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return ConfigureStamp.from_json(data)

    def write_stamp(self, stamp: ConfigureStamp) -> None:
        text = json.dumps(stamp.as_json(), sort_keys=True) + "\n"
        (self.path / STAMP).write_text(text, encoding="utf-8")

    def manifests(self) -> list[Path]:
        """Every install manifest the build dir holds."""
        return sorted(self.path.glob("install_manifest*.txt")) + sorted(
            self.path.glob("install_local_manifest*.txt")
        )

    def installed_files(self) -> list[Path]:
        """Every file the build dir's installs wrote (each once), as its manifests list them."""
        return list(dict.fromkeys(p for m in self.manifests() for p in _listed(m)))

    def installed_libraries(self) -> list[Path]:
        """The shared libraries among them."""
        return [p for p in self.installed_files() if is_shared_library(p)]

    def installed_by(self, component: str) -> Optional[Installed]:
        """What `component`'s last install wrote (else, under CMAKE_INSTALL_LOCAL_ONLY, the
        last install of anything); None when no manifest says."""
        for kind in ("install_manifest", "install_local_manifest"):
            name = f"{kind}_{component}.txt"
            if (self.path / name).is_file():
                return Installed(tuple(_listed(self.path / name)), own=True)
        local = self.path / LOCAL_MANIFEST
        return Installed(tuple(_listed(local)), own=False) if local.is_file() else None

    def installed_since(self, seconds: float) -> bool:
        """Whether an install wrote a manifest after `seconds` (a time.time())."""
        return any(_mtime(m) > seconds for m in self.manifests())

    def local_manifest_mtime(self) -> Optional[int]:
        try:
            return (self.path / LOCAL_MANIFEST).stat().st_mtime_ns
        except OSError:
            return None

    def keep_local_manifest(self, component: str, before: Optional[int]) -> None:
        """After `cmake --install --component X`: the local manifest it wrote (if it wrote one)
        kept as X's, since the next component's install replaces it."""
        if self.local_manifest_mtime() not in (None, before):
            kept = self.path / f"install_local_manifest_{component}.txt"
            shutil.copyfile(self.path / LOCAL_MANIFEST, kept)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
