"""What was parsed of a checkout's files, kept per file in the checkout's state dir: reused
while a file's size and mtime are unchanged or, when they changed, while its content digest
is (a touched file is not parsed again); an edited file alone is parsed again. Files gone
are dropped when it is saved; a damaged or older index is parsed afresh."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Optional, TypeVar

T = TypeVar("T")


def digest_of(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class Kept(Generic[T]):
    size: int
    mtime_ns: int
    digest: str
    value: Optional[T]  # None: the file does not parse


class FileCache(Generic[T]):
    """One kind of parse of one checkout's files (`file` None: in memory only)."""

    def __init__(self, root: Path, file: Optional[Path], version: int) -> None:
        self.root = root
        self.file = file
        self.version = version
        self.kept: dict[str, Kept[T]] = self._read()
        self.parsed = 0  # files parsed in this run
        self._changed = False

    def _read(self) -> dict[str, Kept[T]]:
        if self.file is None:
            return {}
        try:
            with self.file.open("rb") as handle:
                version, kept = pickle.load(handle)
            return kept if version == self.version and isinstance(kept, dict) else {}
        except Exception:  # damaged, or written by another version: parse afresh
            return {}

    def fresh(self, path: str, info: os.stat_result) -> bool:
        kept = self.kept.get(path)
        return kept is not None and (kept.size, kept.mtime_ns) == (info.st_size, info.st_mtime_ns)

    def get(self, path: str, parse: Callable[[bytes, str], Optional[T]]) -> Optional[T]:
        """The file parsed (kept, else `parse(content, path)`); None when it is missing."""
        full = self.root / path
        try:
            info = full.stat()
            if self.fresh(path, info):
                return self.kept[path].value
            data = full.read_bytes()
        except OSError:
            return None
        digest = digest_of(data)
        kept = self.kept.get(path)
        if kept is not None and kept.digest == digest:
            kept.size, kept.mtime_ns = info.st_size, info.st_mtime_ns
        else:
            kept = Kept(info.st_size, info.st_mtime_ns, digest, parse(data, path))
            self.parsed += 1
        self.put(path, kept)
        return kept.value

    def put(self, path: str, kept: Kept[T]) -> None:
        self.kept[path] = kept
        self._changed = True

    def save(self) -> None:
        """Keep what was parsed; a failure only costs time on the next run."""
        if self.file is None or not self._changed:
            return
        kept = {p: k for p, k in self.kept.items() if (self.root / p).is_file()}
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_suffix(".tmp")
            with tmp.open("wb") as handle:
                pickle.dump((self.version, kept), handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.file)
        except OSError:
            pass
