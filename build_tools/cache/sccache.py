"""sccache's counters, and the private server that makes them one build's own.

sccache counts in its server, across every client: a build's share of the user's server is
polluted by whatever else compiles through it (another build, an editor's clangd...). So
`invoke build` starts a server of its own on a free port (`SCCACHE_SERVER_PORT`, the same cache
dir and config, so the cache is shared), builds through it, reads its counters and stops it in
every case; a raw `cmake --build --preset` keeps using the user's server. The counters are per
compile unit: sccache also counts the steps it splits an nvcc compile into (device code, PTX,
cubin), which are left out, so a build of 13 units counts 13.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools.cache.ccache import hit_text, writable
from build_tools.process.runner import Command, Runner, probe

PORT = "SCCACHE_SERVER_PORT"
# What sccache counts besides the unit itself: the steps of an nvcc compile it runs one by one.
NVCC_STEPS = ("CUDA (Device code)", "PTX", "CUBIN")
STATS = ["--show-stats", "--stats-format", "json"]


FALLBACK = "sccache-fallback"  # in the state dir: where a build caches when SCCACHE_DIR cannot
# Storage other than the local dir: then the local dir is not used.
REMOTE_KEYS = ("SCCACHE_REDIS", "SCCACHE_ENDPOINT", "SCCACHE_BUCKET", "SCCACHE_GCS_BUCKET",
               "SCCACHE_MEMCACHED", "SCCACHE_WEBDAV_ENDPOINT", "SCCACHE_AZURE_CONNECTION_STRING",
               "SCCACHE_GHA_ENABLED")  # fmt: skip


def local_dir(environ: Mapping[str, str]) -> Path:
    """Where sccache keeps its local cache: SCCACHE_DIR, else its default under the user's
    cache dir."""
    if environ.get("SCCACHE_DIR"):
        return Path(environ["SCCACHE_DIR"]).expanduser()
    cache = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME", "~")) / ".cache")
    return Path(cache).expanduser() / "sccache"


def fallback_environment(
    launcher: Optional[str],
    environ: Mapping[str, str],
    state_dir: Path,
    warn: Callable[[str], None],
) -> dict[str, str]:
    """sccache fails every compile when its local cache dir cannot be written (ccache's has
    CCACHE_DISABLE for that): this build then caches in the state dir, and says so with
    sccache's own fix. Empty while the dir works (or another storage is configured)."""
    if not launcher or Path(launcher).name != "sccache" or environ.get("SCCACHE_CONF"):
        return {}
    if any(environ.get(key) for key in REMOTE_KEYS):
        return {}
    directory = local_dir(environ)
    if writable(directory):
        return {}
    fallback = state_dir / FALLBACK
    warn(
        f"the sccache directory {directory} is not writable: this build caches in {fallback} "
        "instead (SCCACHE_DIR). Make it writable, point SCCACHE_DIR at a writable folder, or "
        "use `invoke presets --launcher none`"
    )
    return {"SCCACHE_DIR": str(fallback)}


def sccache_json(sccache: Path, args: list[str], environ: Mapping[str, str]) -> Any:
    out = probe([str(sccache), *args], env=environ, timeout=30)
    try:
        return json.loads(out)
    except ValueError:
        return None


@dataclass(frozen=True)
class SccacheCount:
    """The sccache daemon's counters so far; a build's are the difference around it."""

    hits: int
    misses: int
    remote: int  # compiles that ran on an sccache-dist build server
    errors: int  # distributed compiles that failed (and then ran here)

    def since(self, before: SccacheCount) -> SccacheCount:
        return SccacheCount(
            self.hits - before.hits,
            self.misses - before.misses,
            self.remote - before.remote,
            self.errors - before.errors,
        )

    @property
    def text(self) -> str:
        return hit_text(self.hits, self.misses)


def count(sccache: Path, environ: Mapping[str, str]) -> Optional[SccacheCount]:
    """The counters of the sccache daemon this environment talks to."""
    stats = sccache_json(sccache, STATS, environ)
    if not isinstance(stats, dict) or "stats" not in stats:
        return None
    inner = stats["stats"]

    def total(key: str) -> int:
        counts = (inner.get(key) or {}).get("counts", {})
        return sum(n for language, n in counts.items() if language not in NVCC_STEPS)

    return SccacheCount(
        total("cache_hits"),
        total("cache_misses"),
        sum(inner.get("dist_compiles", {}).values()),
        int(inner.get("dist_errors", 0)),
    )


@dataclass(frozen=True)
class Client:
    """The sccache a preset launches compiles with, and what reaches its server: `overlay` over
    `base` (SCCACHE_CONF for a cluster, SCCACHE_SERVER_PORT for a private server)."""

    binary: Path
    base: Mapping[str, str]
    overlay: Mapping[str, str] = field(default_factory=dict)
    distributed: bool = False
    private: bool = False  # its server is this build's own (see the module's text)

    @property
    def environ(self) -> dict[str, str]:
        return {**self.base, **self.overlay}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def start_private(runner: Runner, client: Client, cwd: Path) -> Optional[Client]:
    """A server of this build's own (None when it does not start: the caller counts on the
    shared one). The same cache dir and config: only the port differs."""
    overlay = {**client.overlay, PORT: str(free_port())}
    done = runner.capture(Command.of([client.binary, "--start-server"], cwd, overlay), timeout=60)
    if done.returncode != 0:
        return None
    return Client(client.binary, client.base, overlay, client.distributed, private=True)


def stop_private(runner: Runner, client: Client, cwd: Path) -> None:
    """Stop this build's server (its counters go with it)."""
    if client.private:
        runner.capture(
            Command.of([client.binary, "--stop-server"], cwd, client.overlay), timeout=60
        )


STATS_FILE = "sccache-stats.txt"  # in the state dir: the last build's counters, as sccache says


def keep_stats(state_dir: Path, runner: Runner, client: Client, cwd: Path) -> None:
    """`sccache --show-stats` of the build's server, kept for `cache-stats` (which must not
    start a server of its own to ask: the build's is gone by then)."""
    done = runner.capture(Command.of([client.binary, "--show-stats"], cwd, client.overlay))
    if done.returncode == 0:
        try:
            (state_dir / STATS_FILE).write_text(done.output, encoding="utf-8")
        except OSError:
            pass
