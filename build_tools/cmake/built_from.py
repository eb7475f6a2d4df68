"""What each object of a build dir was built from, by content: ninja trusts clocks, we check.

Ninja rebuilds an object when an input's mtime is newer than the object's. An edit given an
older or equal mtime (`cp -p` of a saved copy, `rsync -a`, `tar x`, a restored backup, a venv
whose headers uv linked with their old mtimes) is then never compiled, and an input whose mtime
lies in the future recompiles its units on every build. So, per build dir, the state dir keeps
(`built-from/<build dir name>.json`):

- `files`: each input's sha256 with the (size, mtime, ctime, inode) it was read at, so a file is
  hashed again only when one of them moved (ctime cannot be set by hand: a `cp -p` restore moves
  it);
- `objects`: each object's (size, mtime) when recorded and one digest over the path and sha256
  of every input ninja's deps log lists for it: what it was built from.

Before a build (`check`): an object whose record still describes it (same size and mtime) and
whose inputs' content now differs is stale; an object without such a record (built by a raw
`cmake --build`, or before this record existed) is trusted only when none of its inputs changed
(ctime) after it was written. Inputs with an mtime in the future are named. After a build
(`update`): each object's record is kept, or written from the content now when no input changed
since the build started (an input edited during the build leaves its objects unrecorded, so
the next build compiles them again). Pure over the file system; ninja's records come from the
caller (`ninja_tool.Ninja.deps_log`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from build_tools.cmake.ninja_tool import Recorded
from build_tools.digest import file_sha256
from build_tools.safety import atomic_file

RECORD_DIR = "built-from"  # in the state dir: one JSON file per build dir
VERSION = 1
FUTURE_SLACK_NS = 2 * 10**9  # clocks of a network file system may run this far ahead
GONE = "-"  # the digest of an input that no longer exists

Key = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


@dataclass(frozen=True)
class Stale:
    """An object to compile again, and why (`changed`: its inputs that differ, as ninja
    names them; empty when only the digest tells)."""

    object: str
    changed: tuple[str, ...]
    why: str  # "content" (its record says otherwise) or "changed after it was built"


@dataclass(frozen=True)
class Verdict:
    stale: tuple[Stale, ...] = ()
    future: tuple[str, ...] = ()  # inputs (absolute) whose mtime lies in the future
    unreadable: str = ""  # the record could not be read (then no object has a record)


def record_path(state_dir: Path, build_dir: Path) -> Path:
    return state_dir / RECORD_DIR / f"{build_dir.name}.json"


@dataclass
class BuiltFrom:
    """The record of one build dir (see the module doc)."""

    path: Path
    build_dir: Path
    files: dict[str, tuple[Key, str]] = field(default_factory=dict)
    objects: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    unreadable: str = ""
    dirty: bool = False
    _stats: dict[str, Optional[os.stat_result]] = field(default_factory=dict)
    _changed: set[str] = field(default_factory=set)  # hashed again: content moved since seen
    _norm: dict[str, str] = field(default_factory=dict)  # a deps log spelling -> absolute

    @classmethod
    def load(cls, state_dir: Path, build_dir: Path) -> BuiltFrom:
        found = cls(record_path(state_dir, build_dir), build_dir)
        try:
            data = json.loads(found.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return found
        except (OSError, ValueError) as exc:
            found.unreadable = f"{found.path} could not be read ({exc})"
            return found
        try:
            if data.get("version") != VERSION:
                return found
            for name, ((size, mtime, ctime, inode), sha) in data["files"].items():
                found.files[str(name)] = ((int(size), int(mtime), int(ctime), int(inode)), str(sha))
            for name, (size, mtime, digest) in data["objects"].items():
                found.objects[str(name)] = (int(size), int(mtime), str(digest))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            found.files, found.objects = {}, {}
            found.unreadable = f"{found.path} is damaged ({exc!r})"
        return found

    # -------------------------------------------------------------- files

    def _stat(self, path: str) -> Optional[os.stat_result]:
        if path not in self._stats:
            try:
                self._stats[path] = os.stat(path)
            except OSError:
                self._stats[path] = None
        return self._stats[path]

    def digest(self, path: str) -> str:
        """The file's sha256 now (read again only when its size, mtime, ctime or inode moved)."""
        info = self._stat(path)
        if info is None:
            return GONE
        key = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        known = self.files.get(path)
        if known is not None and known[0] == key:
            return known[1]
        try:
            sha = file_sha256(path)
        except OSError:
            return GONE
        if known is not None and known[1] != sha:
            self._changed.add(path)
        self.files[path] = (key, sha)
        self.dirty = True
        return sha

    def _absolute(self, paths: Iterable[str]) -> list[str]:
        found = set()
        for path in paths:  # objects share most inputs: each spelling normalized once
            full = self._norm.get(path)
            if full is None:
                full = self._norm[path] = os.path.normpath(os.path.join(self.build_dir, path))
            found.add(full)
        return sorted(found)

    def _combined(self, inputs: Iterable[str]) -> str:
        digest = hashlib.sha256()
        for path in inputs:
            digest.update(f"{path}\0{self.digest(path)}\n".encode())
        return digest.hexdigest()

    def _object(self, name: str) -> Optional[os.stat_result]:
        return self._stat(os.path.join(self.build_dir, name))

    def _changed_after(self, inputs: Iterable[str], bound_ns: int) -> list[str]:
        """Inputs gone, or whose inode changed (ctime) after `bound_ns`."""
        late = []
        for path in inputs:
            info = self._stat(path)
            if info is None or info.st_ctime_ns > bound_ns:
                late.append(path)
        return late

    # -------------------------------------------------------------- before and after a build

    def check(self, records: Mapping[str, Recorded], now_ns: int) -> Verdict:
        """The objects ninja trusts that were built from other content than their inputs hold
        now, and the inputs whose mtime lies in the future (see the module doc)."""
        self._stats.clear()  # one look at the file system per question
        stale: list[Stale] = []
        future: set[str] = set()
        for name, record in sorted(records.items()):
            inputs = self._absolute(record.paths)
            for path in inputs:
                found = self._stat(path)
                if found is not None and found.st_mtime_ns > now_ns + FUTURE_SLACK_NS:
                    future.add(path)
            info = self._object(name)
            if not record.valid or info is None:
                continue  # ninja compiles it anyway
            mine = self.objects.get(name)
            if mine is not None and mine[:2] == (info.st_size, info.st_mtime_ns):
                if self._combined(inputs) != mine[2]:
                    moved = tuple(p for p in inputs if p in self._changed or self.digest(p) == GONE)
                    stale.append(Stale(name, moved, "content"))
                continue
            late = self._changed_after(inputs, info.st_mtime_ns)
            if late:
                stale.append(Stale(name, tuple(late), "changed after it was built"))
        return Verdict(tuple(stale), tuple(sorted(future)), self.unreadable)

    def update(self, records: Mapping[str, Recorded], since_ns: int) -> None:
        """After a build that started at `since_ns`: what each object was built from."""
        self._stats.clear()
        kept: dict[str, tuple[int, int, str]] = {}
        for name, record in records.items():
            info = self._object(name)
            if not record.valid or info is None:
                continue
            stamp = (info.st_size, info.st_mtime_ns)
            mine = self.objects.get(name)
            if mine is not None and mine[:2] == stamp:
                kept[name] = mine
                continue
            inputs = self._absolute(record.paths)
            # Built in this build: from what its inputs held when the build started.
            if not self._changed_after(inputs, min(info.st_mtime_ns, since_ns)):
                kept[name] = (*stamp, self._combined(inputs))
        if kept != self.objects:
            self.objects, self.dirty = kept, True
        used = {p for r in records.values() for p in self._absolute(r.paths)}
        if set(self.files) - used:
            self.files = {p: v for p, v in self.files.items() if p in used}
            self.dirty = True

    def save(self) -> None:
        if not self.dirty and not self.unreadable:
            return
        data = {
            "version": VERSION,
            "files": {p: [list(k), sha] for p, (k, sha) in sorted(self.files.items())},
            "objects": {o: list(v) for o, v in sorted(self.objects.items())},
        }
        atomic_file.write_json(self.path, data)
        self.dirty, self.unreadable = False, ""
