"""Replace a file atomically, keeping timestamped backups of what it held: an interrupt at any
point leaves either the old or the new file, never a partial one, and never loses the old."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional

_BACKUP = re.compile(r"\.\d{8}T\d{6}\.\d{6}\.bak")


def backups(path: Path) -> list[Path]:
    """The backups write_atomic made of path (a link: of its target), oldest first."""
    real = Path(os.path.realpath(path))
    names = os.listdir(real.parent) if real.parent.is_dir() else []
    found = [n for n in names if n.startswith(real.name) and _BACKUP.fullmatch(n[len(real.name) :])]
    return [real.with_name(n) for n in sorted(found)]


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write data to a temp file beside path, then move it onto path in one step."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: object) -> None:
    """A state file of ours written whole or not at all (a temporary file beside it, then a
    rename; no backups: it is derived and written again); OSError when it cannot be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str, *, keep: int = 5) -> Optional[Path]:
    """Replace path (a link: its target) with text, first backing the old file up beside it;
    keeps the newest `keep` (at least 1) backups and returns the new one (None: no old file)."""
    if keep < 1:
        raise ValueError("write_atomic keeps at least one backup")
    real = Path(os.path.realpath(path))
    backup: Optional[Path] = None
    mode = 0o644
    if real.exists():
        mode = stat.S_IMODE(real.stat().st_mode)
        when = datetime.now()
        while (taken := real.with_name(f"{real.name}.{when:%Y%m%dT%H%M%S.%f}.bak")).exists():
            when += timedelta(microseconds=1)
        _replace(taken, real.read_bytes(), mode)
        backup = taken
    _replace(real, text.encode("utf-8"), mode)
    for old in backups(real)[:-keep]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return backup
