"""Credentials never printed, logged or written where others can read them.

A remote cache URL may carry a password (`redis://:pw@host:6379`, `http://user:pw@host`);
`redact` masks it in every text we print or log (commands, settings, notes), and
`has_credentials` tells the presets to leave such a URL out of CMakeUserPresets.json (0644).
Files that must hold a secret (the sccache-dist token) are written 0600 by `write_private`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<user>[^/@\s:]*):(?P<pw>[^@\s/]+)@")
MASK = "***"


def redact(text: str) -> str:
    """`text` with the password of every URL in it masked (the user name stays)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def has_credentials(url: str) -> bool:
    return _USERINFO.search(url) is not None


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner alone (rewritten only when it changes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        os.chmod(path, 0o600)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
