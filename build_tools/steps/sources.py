"""sources: every dependency the checkout's CMake fetches, its pin, and what will serve it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from build_tools import source_tree
from build_tools.cmake import dependencies
from build_tools.context import Context


def served(ctx: Context, preset_env: Mapping[str, str] | None = None) -> list[dependencies.Served]:
    """What serves each dependency; `preset_env` is what the configure preset will add to the
    environment (the *_SRC_DIR variables `invoke presets` wrote), taken over the process's."""
    tree = ctx.tree
    deps_dir = Path(ctx.settings.deps_dir).expanduser() if ctx.settings.deps_dir else None
    declared = dependencies.declared(source_tree.cmake_files(tree.root), tree.src_dir_vars)
    environ = {**ctx.machine.environ, **(preset_env or {})}
    return dependencies.serve(declared, tree.root, environ, deps_dir)


def sources(ctx: Context) -> list[dependencies.Served]:
    """List the dependencies (FetchContent) with pin, variable and what will serve each."""
    found = served(ctx)
    rows = [
        [s.dependency.name, s.dependency.pin, s.dependency.variable or "-", s.how, s.where]
        for s in found
    ]
    headers = ["dependency", "pin", "local source variable", "served by", "from"]
    ctx.reporter.table(f"dependencies of {ctx.tree.root}", rows, headers)
    return found


def warn_network(ctx: Context, preset_env: Mapping[str, str]) -> None:
    """Before a configure: the dependencies CMake will clone (offline, that fails)."""
    remote = [s for s in served(ctx, preset_env) if s.how == "network" and s.dependency.variable]
    if remote:
        names = ", ".join(f"{s.dependency.name} ({s.dependency.variable})" for s in remote)
        ctx.reporter.warn(
            f"CMake will fetch {names} from the network; offline, set those variables or "
            "`deps_dir` to local copies (`invoke sources` lists them)"
        )
