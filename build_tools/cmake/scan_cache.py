"""The dependency scans of one build dir, kept in the state dir between runs.

One JSON file per build dir (`unit-deps/<build dir name>.json`): scans by key (a digest of the
build dir and the unit's command), each the indexes of the files it listed, and each file's
(mtime_ns, size) when it was scanned. A scan is dropped when any file it listed changed size or
mtime, or vanished. A failed scan is kept too (its error, under the unit's source), until the
source changes: the next plan does not pay for it again (a failed scan counts as affected).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from build_tools.safety import atomic_file

CACHE_DIR = "unit-deps"  # in the state dir: one JSON file of scans per build dir
CACHE_VERSION = 2

# A file's (mtime_ns, size), None when it is gone.
Stat = Callable[[str], Optional[tuple[int, int]]]


def cache_path(state_dir: Path, build_dir: Path) -> Path:
    return state_dir / CACHE_DIR / f"{build_dir.name}.json"


def scan_key(build_dir: Path, command: str) -> str:
    """What a scan is kept under: its directory and command."""
    return hashlib.sha256(f"{build_dir}\0{command}".encode()).hexdigest()[:32]


def memo_stat() -> Stat:
    """A `Stat` that asks the file system once per path."""
    memo: dict[str, Optional[tuple[int, int]]] = {}

    def stat(path: str) -> Optional[tuple[int, int]]:
        if path not in memo:
            try:
                st = os.stat(path)
                memo[path] = (st.st_mtime_ns, st.st_size)
            except OSError:
                memo[path] = None
        return memo[path]

    return stat


@dataclass
class ScanCache:
    """Scans by key: the indexes of the files each listed; `stats` holds each file's
    (mtime_ns, size) when it was scanned."""

    path: Path
    files: list[str] = field(default_factory=list)
    stats: list[Optional[tuple[int, int]]] = field(default_factory=list)
    entries: dict[str, list[int]] = field(default_factory=dict)
    failures: dict[str, tuple[str, list[int]]] = field(default_factory=dict)  # error, files
    dirty: bool = False
    _index: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, stat: Stat) -> ScanCache:
        """The cache, without the entries that list a file changed since (or gone)."""
        cache = cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != CACHE_VERSION:
                return cache
            files = [str(f) for f in data["files"]]
            recorded = [tuple(s) if s else None for s in data["stats"]]
            entries = {str(k): [int(i) for i in v] for k, v in data["entries"].items()}
            failures = {
                str(k): (str(error), [int(i) for i in v])
                for k, (error, v) in data["failures"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return cache
        changed = {i for i, f in enumerate(files) if i >= len(recorded) or stat(f) != recorded[i]}
        for key, indexes in entries.items():
            if not changed.intersection(indexes) and all(i < len(files) for i in indexes):
                cache.put(key, [files[i] for i in indexes], stat)
        for key, (error, indexes) in failures.items():
            if not changed.intersection(indexes) and all(i < len(files) for i in indexes):
                cache.put_failure(key, error, [files[i] for i in indexes], stat)
        cache.dirty = (len(cache.entries), len(cache.failures)) != (len(entries), len(failures))
        return cache

    def get(self, key: str) -> Optional[list[str]]:
        indexes = self.entries.get(key)
        return None if indexes is None else [self.files[i] for i in indexes]

    def failure(self, key: str) -> Optional[str]:
        """The error of a failed scan kept under `key` (None: none kept)."""
        found = self.failures.get(key)
        return found[0] if found else None

    def put_failure(self, key: str, error: str, files: Iterable[str], stat: Stat) -> None:
        """A failed scan, kept until one of `files` (its source) changes."""
        indexes = [self._indexed(name, stat) for name in files]
        self.failures[key] = (error, indexes)
        self.dirty = True

    def _indexed(self, name: str, stat: Stat) -> int:
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = len(self.files)
            self.files.append(name)
            self.stats.append(stat(name))
        return index

    def put(self, key: str, files: Iterable[str], stat: Stat) -> None:
        indexes = []
        for name in files:
            index = self._index.get(name)
            if index is None:
                index = self._index[name] = len(self.files)
                self.files.append(name)
                self.stats.append(stat(name))
            elif self.stats[index] != stat(name):  # changed while we ran: older entries go
                self.stats[index] = stat(name)
                self.entries = {k: v for k, v in self.entries.items() if index not in v}
            indexes.append(index)
        self.entries[key] = indexes
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        data = {
            "version": CACHE_VERSION,
            "files": self.files,
            "stats": self.stats,
            "entries": self.entries,
            "failures": {k: [error, v] for k, (error, v) in self.failures.items()},
        }
        atomic_file.write_json(self.path, data)
        self.dirty = False
