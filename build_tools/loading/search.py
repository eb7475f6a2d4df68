"""Where the dynamic loader would find each library an extension needs, read from files:
what the process has loaded already (the interpreter; torch's libraries and the CUDA
libraries torch loads, when the environment has torch), then the needing library's DT_RPATH,
LD_LIBRARY_PATH, its DT_RUNPATH ($ORIGIN expanded), the directories of /etc/ld.so.conf and
the default ones; and the libraries that are the GPU driver's, which a machine without a
driver lacks.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from build_tools.loading import elf

DEFAULT_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
)
# Installed with the GPU driver, never with a toolkit or a wheel: a machine without a driver
# lacks them, so an extension that needs one cannot be loaded there at all.
DRIVER = re.compile(r"^lib(cuda|nvidia-ml|nvidia-ptxjitcompiler)\.so(\.\d+)*$")
# Symbols such a driver library provides (the driver API, NVML): not checkable without it.
DRIVER_SYMBOL = re.compile(r"^(cu[A-Z]\w*|nvml\w+)$")


def ld_so_conf(path: Path = Path("/etc/ld.so.conf")) -> list[str]:
    """The directories /etc/ld.so.conf names, its `include` globs followed."""
    found: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return found
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if line.startswith("include "):
            pattern = line.split(None, 1)[1]
            pattern = pattern if pattern.startswith("/") else str(path.parent / pattern)
            for included in sorted(glob.glob(pattern)):
                found += ld_so_conf(Path(included))
        elif line:
            found.append(line)
    return found


@dataclass
class Search:
    """The loader's search, for one environment; libraries read once."""

    ld_library_path: tuple[str, ...] = ()
    system: tuple[str, ...] = DEFAULT_DIRS
    loaded: dict[str, Path] = field(default_factory=dict)  # soname -> file, loaded already
    _read: dict[Path, Optional[elf.Library]] = field(default_factory=dict)

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Search:
        paths = tuple(p for p in environ.get("LD_LIBRARY_PATH", "").split(":") if p)
        system = tuple(dict.fromkeys([*ld_so_conf(), *DEFAULT_DIRS]))
        return cls(paths, system)

    def library(self, path: Path) -> Optional[elf.Library]:
        real = path.resolve()
        if real not in self._read:
            self._read[real] = elf.read(real)
        return self._read[real]

    def find(self, soname: str, needing: elf.Library) -> Optional[Path]:
        """The file `needing`'s DT_NEEDED entry `soname` resolves to (None: nowhere)."""
        if soname in self.loaded:
            return self.loaded[soname]
        if "/" in soname:
            return Path(soname) if Path(soname).is_file() else None
        origin = str(needing.path.resolve().parent)
        rpath = () if needing.runpath else needing.rpath
        for directory in (*rpath, *self.ld_library_path, *needing.runpath, *self.system):
            expanded = directory.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
            candidate = Path(expanded) / soname
            if candidate.is_file():
                return candidate
        return None

    def closure(
        self, roots: Sequence[elf.Library]
    ) -> Iterator[tuple[elf.Library, str, Optional[Path]]]:
        """Breadth first over DT_NEEDED from `roots`, as the loader loads them: each
        (needing library, soname, the file it resolves to or None), every file once."""
        seen = {r.path.resolve() for r in roots}
        queue = list(roots)
        while queue:
            current = queue.pop(0)
            for soname in current.needed:
                found = self.find(soname, current)
                yield current, soname, found
                if found is None or found.resolve() in seen:
                    continue
                seen.add(found.resolve())
                library = self.library(found)
                if library is not None:
                    queue.append(library)

    def preload(self, roots: Sequence[Path]) -> list[elf.Library]:
        """Mark `roots` and what they need as loaded (the interpreter, `import torch`)."""
        libraries = [lib for p in roots if p.is_file() and (lib := self.library(p)) is not None]
        done = list(libraries)
        for library in libraries:
            self.loaded.setdefault(library.soname or library.path.name, library.path)
        for _, soname, found in self.closure(libraries):
            if found is not None and soname not in self.loaded:
                self.loaded[soname] = found
                needed = self.library(found)
                if needed is not None:
                    done.append(needed)
        return done


def torch_roots(site_packages: Sequence[Path]) -> list[Path]:
    """What `import torch` loads first: torch._C and libtorch_global_deps (which brings the
    CUDA libraries of the environment's nvidia packages)."""
    for site in site_packages:
        torch = site / "torch"
        if torch.is_dir():
            found = sorted(torch.glob("_C.*.so")) + sorted(torch.glob("_C.so"))
            deps = torch / "lib" / "libtorch_global_deps.so"
            return [*found[:1], *([deps] if deps.is_file() else [])]
    return []
