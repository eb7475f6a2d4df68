"""The precompiled base: what the installed kernels were built from, recorded at a precompiled
install, and what changed in the checkout since.

vLLM's setup.py copies the extensions out of a wheel: the one at VLLM_PRECOMPILED_WHEEL_LOCATION,
else the one of VLLM_PRECOMPILED_WHEEL_COMMIT, else the one of the merge-base of the branch with
vLLM's main (asked of GitHub). The base records, once the install ran:

- where the kernels came from (`source`) and, where it can be known, the commit they were
  built from (`commit`: the asked commit, a `+g<sha>` in the wheel's version, the release tag,
  or the merge-base with a remote of vllm-project/vllm), and the checkout's HEAD then;
- which shared libraries the install put into the tree, with their sha256 (`kernels`);
- the tree as installed (`files`: every file but build outputs, with size, mtime and sha256),
  which is what an sdist tree without git has to compare against.

Files changed since the base (`changed`) are the tree's files whose content differs from the
record, new ones and deleted ones, plus (with git) the files changed between the base commit
and the HEAD of the install. Files a configure writes into the tree (vLLM generates Marlin and
Machete sources under csrc/) are taken into the base at the first configure after the
install (`absorb`): they come from the same sources as the wheel's kernels.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools.checkout.source_tree import STATE_DIR, SourceTree, git_head
from build_tools.checkout.wheel_origin import base_commit, kernel_source
from build_tools.cmake.build_dir import PREFIX
from build_tools.cmake.build_tree import is_shared_library
from build_tools.digest import file_sha256
from build_tools.process.runner import Git

RECORD = "precompiled-base.json"  # in the checkout's state dir
SKIPPED_DIRS = {".git", STATE_DIR, "build", "dist", ".deps", "__pycache__", ".venv", "venv"}
SKIPPED_NAMES = re.compile(r"(\.pyc|\.egg-info|CMakeUserPresets\.json.*)$")  # and libraries
# size, mtime_ns, sha256, ctime_ns: a file is read again unless all but its sha256 are the same
# (no one sets a ctime: a `cp -p` restore keeps size and mtime, never the ctime).
Stamp = tuple[int, int, str, int]


def listing(tree: SourceTree) -> dict[str, tuple[int, int]]:
    """Every file of the tree a build could read, relative to its root: (size, mtime_ns)."""
    return {rel: (info.st_size, info.st_mtime_ns) for rel, info in _stats(tree).items()}


def _stats(tree: SourceTree) -> dict[str, os.stat_result]:
    found: dict[str, os.stat_result] = {}
    venv = tree.venv_dir.resolve()
    for top, dirs, files in os.walk(tree.root):
        here = Path(top)
        dirs[:] = [
            d
            for d in dirs
            if d not in SKIPPED_DIRS
            and not d.startswith(PREFIX)
            and not d.endswith(".egg-info")
            and (here / d).resolve() != venv
        ]
        for name in files:
            path = here / name
            if SKIPPED_NAMES.search(name) or is_shared_library(name) or path.is_symlink():
                continue
            found[str(path.relative_to(tree.root))] = path.stat()
    return found


def _unmoved(info: os.stat_result, known: Optional[Stamp]) -> bool:
    """Whether the file is as `known` saw it (size, mtime and ctime)."""
    now = (info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return known is not None and (known[0], known[1], known[3]) == now


def _stamp_of(path: Path, info: os.stat_result) -> Stamp:
    return (info.st_size, info.st_mtime_ns, file_sha256(path), info.st_ctime_ns)


def snapshot(tree: SourceTree, known: Mapping[str, Stamp] = {}) -> dict[str, Stamp]:
    """The tree's files with their sha256 (a file `known` saw as it is is not read again)."""
    found: dict[str, Stamp] = {}
    for rel, info in _stats(tree).items():
        old = known.get(rel)
        found[rel] = old if old and _unmoved(info, old) else _stamp_of(tree.root / rel, info)
    return found


@dataclass
class Base:
    source: str  # where the kernels came from, in words
    wheel: str  # the wheel's location ("" when setup.py chose one)
    commit: Optional[str]  # the commit the kernels were built from, where known
    head: Optional[str]  # the checkout's commit at the install
    kernels: dict[str, Stamp]  # installed shared library (relative) -> its stamp
    files: dict[str, Stamp] = field(default_factory=dict)
    absorbed: bool = False  # the first configure's generated files are in `files`

    @property
    def recorded(self) -> str:
        """What was recorded, as install and doctor say it: the commit, the libraries."""
        commit = f" (commit {self.commit[:12]})" if self.commit else ""
        return f"recorded{commit}: {', '.join(Path(k).name for k in self.kernels) or 'none'}"

    def changed(self, tree: SourceTree, git: Git = None) -> list[str]:
        """Files changed since the base (relative to the root), deleted ones included."""
        now = snapshot(tree, self.files)
        found = {rel for rel, stamp in now.items() if self.files.get(rel, stamp)[2] != stamp[2]}
        found |= set(now) - set(self.files)
        found |= set(self.files) - set(now)
        if git is not None and self.commit and self.head and self.commit != self.head:
            code, out = git(["-C", str(tree.root), "diff", "--name-only", self.commit, self.head])
            found |= set(out.split()) if code == 0 else set()
        return sorted(found)

    def intact(self, tree: SourceTree, rel: str) -> bool:
        """Whether the precompiled kernel `rel` is still the wheel's (not rebuilt, not gone)."""
        known = self.kernels.get(rel)
        now = stamp(tree.root / rel, known) if known else None
        return bool(known and now and now[2] == known[2])

    def absorb(self, tree: SourceTree, before: Mapping[str, tuple[int, int]]) -> list[str]:
        """Take the files a configure wrote (new, or changed since `before`) into the base."""
        now = _stats(tree)
        written = [r for r, i in now.items() if before.get(r) != (i.st_size, i.st_mtime_ns)]
        for rel in written:
            self.files[rel] = _stamp_of(tree.root / rel, now[rel])
        self.absorbed = True
        return written


def path(tree: SourceTree) -> Path:
    return tree.state_dir / RECORD


def read(tree: SourceTree) -> tuple[Optional[Base], str]:
    """The recorded base, and why it cannot be read when it is there but damaged (then
    None, and never "no base": base_repair.py rebuilds it or refuses)."""
    try:
        text = path(tree).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # none, or no state dir at all
        return None, ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path(tree)} cannot be read ({exc})"
    try:
        data = json.loads(text)
        for key in ("files", "kernels"):  # JSON has lists where the stamps are tuples
            data[key] = {str(k): as_stamp(v) for k, v in data.get(key, {}).items()}
        found = Base(**data)
        if not isinstance(found.source, str) or not isinstance(found.absorbed, bool):
            raise TypeError("wrong types")
        return found, ""
    except (ValueError, TypeError, AttributeError) as exc:
        return None, f"{path(tree)} is damaged ({type(exc).__name__}: {str(exc)[:80]})"


def load(tree: SourceTree) -> Optional[Base]:
    """The recorded base; None when there is none or it is damaged (see `read`)."""
    return read(tree)[0]


def save(tree: SourceTree, base: Base) -> None:
    path(tree).parent.mkdir(parents=True, exist_ok=True)
    tmp = path(tree).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(base)) + "\n", encoding="utf-8")
    os.replace(tmp, path(tree))


def forget(tree: SourceTree) -> None:
    """A source build or another install: the kernels are no longer the wheel's."""
    path(tree).unlink(missing_ok=True)


def as_stamp(value: Any) -> Stamp:
    """A stamp read from JSON; one of an older record (no ctime) is read again when asked."""
    size, mtime, sha, *ctime = value
    return (int(size), int(mtime), str(sha), int(ctime[0]) if ctime else -1)


def stamp(path: Path, known: Optional[Stamp] = None) -> Optional[Stamp]:
    """(size, mtime_ns, sha256, ctime_ns) of a file (read only when it moved since `known`);
    None when it is gone."""
    try:
        info = path.stat()
    except OSError:
        return None
    return known if known and _unmoved(info, known) else _stamp_of(path, info)


def libraries(tree: SourceTree, links: bool = False) -> Iterator[Path]:
    """The shared libraries under the package folder (files; links to one too with `links`),
    in order."""
    package = tree.root / tree.package
    found = sorted(package.rglob("*.so*")) if package.is_dir() else []
    return (
        p for p in found if is_shared_library(p) and p.is_file() and (links or not p.is_symlink())
    )


def shared_libraries(tree: SourceTree, known: Mapping[str, Stamp] = {}) -> dict[str, Stamp]:
    """Every shared library under the package folder: relative path -> stamp."""
    found = {}
    for lib in libraries(tree):
        rel = str(lib.relative_to(tree.root))
        if now := stamp(lib, known.get(rel)):
            found[rel] = now
    return found


def from_wheel(wheel: Path, installed: Mapping[str, Stamp]) -> dict[str, Stamp]:
    """The installed libraries that are, byte for byte, the wheel's member of the same path."""
    found = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member in installed:
                    digest = hashlib.sha256(archive.read(member)).hexdigest()
                    if digest == installed[member][2]:
                        found[member] = installed[member]
    except (OSError, zipfile.BadZipFile):
        return {}
    return found


def record(
    tree: SourceTree,
    environ: Mapping[str, str],
    before: Mapping[str, Stamp],
    git: Git,
    previous: Optional[Base] = None,
) -> Base:
    """The base of the precompiled install that just ran (`before`: the shared libraries the
    tree held before it). The precompiled kernels are the libraries equal to the local wheel's
    members; without a local wheel, those the install changed or added, and those of the
    `previous` base it left as they were (a reinstall of the same wheel)."""
    after = shared_libraries(tree)
    source, wheel = kernel_source(tree, environ)
    local = Path(wheel.removeprefix("file://")).expanduser() if wheel else None
    if local is not None and local.is_file():
        kernels = from_wheel(local, after)
    else:
        kernels = {r: s for r, s in after.items() if (before.get(r) or (0, 0, ""))[2] != s[2]}
        kept = previous.kernels if previous else {}
        kernels.update({r: s for r, s in kept.items() if r in after and after[r][2] == s[2]})
    base = Base(
        source=source,
        wheel=wheel,
        commit=base_commit(tree, environ, git),
        head=git_head(tree.root),
        kernels=kernels,
        files=snapshot(tree),
    )
    return base


def as_json(base: Base) -> dict[str, Any]:
    """The base as `--json` outputs show it (the file list left out)."""
    return {k: v for k, v in asdict(base).items() if k != "files"}
