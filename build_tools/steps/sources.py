"""sources: every dependency the checkout's CMake fetches, its pin, and what will serve it."""

from __future__ import annotations

from build_tools import drift
from build_tools.cmake import dependencies
from build_tools.run import Run


def sources(ctx: Run) -> list[dependencies.Served]:
    """List the dependencies (FetchContent) with pin, variable and what will serve each."""
    found = drift.dependency_sources(ctx.tree, ctx.machine.environ, ctx.settings.deps_dir)
    if not found:
        ctx.console.output(
            f"{ctx.tree.root} fetches nothing at configure time (no FetchContent_Declare in its "
            "CMake files): there is no dependency to serve."
        )
        return found
    rows = [
        [s.dependency.name, s.dependency.pin, s.dependency.variable or "-", s.how.value, s.where]
        for s in found
    ]
    headers = ["dependency", "pin", "local source variable", "served by", "from"]
    ctx.console.table(f"dependencies of {ctx.tree.root}", rows, headers)
    return found
