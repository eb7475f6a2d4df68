"""The shared compiler cache (ccache remote storage): reachable or not, before a build uses it.

ccache itself goes on when its remote storage is down (every lookup then misses); we say so
once, naming the URL, so a slow uncached build is never a mystery.
"""

from __future__ import annotations

import socket
from typing import Optional
from urllib.parse import urlsplit

from build_tools.settings import REMOTE_PORTS


def address(url: str) -> Optional[tuple[str, int]]:
    """host and port of a ccache remote storage URL ("redis://h:6379|read-only"), if any."""
    parts = urlsplit(url.split("|", 1)[0].strip())
    if not parts.hostname or parts.scheme not in REMOTE_PORTS:
        return None
    try:
        port = parts.port or REMOTE_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.hostname, port


def unreachable(url: str, timeout: float = 1.0) -> Optional[str]:
    """Why the remote cache at `url` cannot be used now (None when it answers a connect)."""
    where = address(url)
    if where is None:
        return f"{url} is not a redis:// or http(s):// URL ccache can use"
    try:
        with socket.create_connection(where, timeout=timeout):
            return None
    except OSError as exc:
        return f"{where[0]}:{where[1]} does not answer ({exc.strerror or exc})"
