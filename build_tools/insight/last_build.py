"""The last build of the preset's build dir, read from its ninja log, the presets and ccache's
stats log: `invoke report` (tables, a trace and a chart) and the one-line digest that follows
every build that compiled something."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from build_tools.cache import ccache, sccache
from build_tools.checkout import source_tree
from build_tools.checkout.view import Checkout
from build_tools.cmake.project import read_cache
from build_tools.console import Console, make_console
from build_tools.errors import BuildToolsError
from build_tools.insight import cost, held, ninja_log
from build_tools.safety import safe_paths
from build_tools.settings import Settings

TRACE, CHART = "build-trace.json", "build-report.svg"
KEPT_STATS = "last-build-ccache.log"  # the stats log of the last build that compiled something
KEPT_SCCACHE = "last-build-sccache.json"  # its sccache counters (hits, misses), with sccache


@dataclass(frozen=True)
class Built:
    """What a build step did, for the steps after it (cache-stats)."""

    up_to_date: bool  # ninja ran nothing
    cache: Optional[str] = None  # its cache hits (and what held it), where they were counted


def build_jobs(checkout: Checkout) -> Optional[int]:
    """The jobs the build was given: the build preset's `jobs`, else CMake's compile pool."""
    jobs = checkout.build_preset.get("jobs")
    if isinstance(jobs, int) and not isinstance(jobs, bool) and jobs > 0:
        return jobs
    pools = (read_cache(checkout.build_dir) or {}).get("CMAKE_JOB_POOLS", "")
    match = re.search(r"(?:^|;)compile=(\d+)", pools)
    return int(match.group(1)) if match else None


def load(checkout: Checkout, entries: Optional[Sequence[ninja_log.Entry]] = None) -> cost.BuildCost:
    """The report of `entries`, by default the last build that compiled something."""
    directory, state = checkout.build_dir, checkout.tree.state_dir
    if entries is None:
        log = ninja_log.read(directory)
        entries = ninja_log.last_build(log.entries, log.version)
    results = ccache.read_stats_log(state / KEPT_STATS)
    waits = held.held_ms(state, directory, entries)
    found = cost.analyse(entries, build_jobs(checkout), results, waits)
    counted = None if found.cache else _kept_sccache(state)
    if counted is None:
        return found
    hits, misses = counted
    rate = cost.CacheRate(hits, misses, max(0, len(found.units) - hits - misses))
    return dataclasses.replace(found, cache=rate)


def _kept_sccache(state: Path) -> Optional[tuple[int, int]]:
    """The last compiling build's sccache (hits, misses), where sccache counted them."""
    try:
        data = json.loads((state / KEPT_SCCACHE).read_text(encoding="utf-8"))
        return int(data["hits"]), int(data["misses"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def digest(
    checkout: Checkout,
    console: Console,
    edges: int,
    counted: Optional[sccache.SccacheCount] = None,
) -> Optional[str]:
    """After a build: one line on what it cost, when it compiled something. The build that
    just ran is the log's newest; its ccache stats log (or sccache's `counted`) is kept for
    `invoke report`. Returns this build's cache hit text, for the step's result (and so the
    JSON summary)."""
    if not edges:
        return None
    state = checkout.tree.state_dir
    try:
        log = ninja_log.read(checkout.build_dir)
        found = ninja_log.builds(log.entries, log.version)
        if not found or not any(e.kind == "compile" for e in found[-1]):
            return None
        if (state / ccache.STATS_LOG).is_file():
            os.replace(state / ccache.STATS_LOG, state / KEPT_STATS)
        else:  # this build's hit rate is not known: never show an older build's
            (state / KEPT_STATS).unlink(missing_ok=True)
        if counted is not None:
            hits = {"hits": counted.hits, "misses": counted.misses}
            state.mkdir(exist_ok=True)
            (state / KEPT_SCCACHE).write_text(json.dumps(hits) + "\n", encoding="utf-8")
        else:
            (state / KEPT_SCCACHE).unlink(missing_ok=True)
        summary = load(checkout, found[-1])
    except (BuildToolsError, OSError):
        return None
    console.note(cost.digest(summary))
    return summary.cache.text if summary.cache else None


def write_files(checkout: Checkout, report: cost.BuildCost) -> tuple[Path, Path]:
    """The trace and the chart, in the checkout's state dir."""
    title = f"{checkout.tree.name}: {checkout.build_dir.name}"
    state = checkout.tree.state_dir
    state.mkdir(exist_ok=True)
    trace, chart = state / TRACE, state / CHART
    from build_tools.insight import timeline  # only `invoke report` writes files: keep builds lean

    trace.write_text(timeline.trace(report, title), encoding="utf-8")
    chart.write_text(timeline.svg(report, title), encoding="utf-8")
    return trace, chart


def show(console: Console, report: cost.BuildCost, files: Sequence[Path]) -> None:
    """The report as tables and lines."""
    s = cost.seconds
    console.table(
        f"slowest of {len(report.units)} compiled units",
        [[u.name, u.target, u.time_text] for u in report.slowest()],
        ("unit", "target", "time (of it held by the memory gate)"),
    )
    console.table(
        "targets",
        [[t.name, str(t.units), s(t.compile_ms), s(t.link_ms)] for t in report.targets()],
        ("target", "units", "compile (summed)", "link"),
    )
    console.output(
        f"{cost.parallelism_text(report)}: {s(report.busy_ms)} of work in {s(report.wall_ms)}"
    )
    if report.held_ms:
        waited = [u for u in report.units if u.held_ms]
        console.output(
            f"the memory gate held {len(waited)} compile(s) {s(report.held_ms)} in all before "
            f"they compiled; their own compile time: {s(sum(u.own_ms for u in waited))}"
        )
    if report.critical:
        chain = " -> ".join(f"{u.name} {u.time_text}" for u in report.critical)
        console.output(f"critical path: {chain} (the build ended at {s(report.wall_ms)})")
        last = report.critical[-1]
        if last.kind == "link" and last.target:
            slow = ", ".join(f"{u.name} {s(u.ms)}" for u in report.slowest_of(last.target))
            console.output(f"slowest units of {last.target}: {slow}")
    console.output(report.cache.text if report.cache else "cache hit rate: not known")
    for path in files:
        console.output(f"wrote {path}")


def report(checkout: Checkout, console: Console, *, as_json: bool) -> dict[str, Any]:
    """What `invoke report` does; the JSON it prints with --json."""
    found = load(checkout)
    if not found.units:
        raise BuildToolsError(
            f"The last build in {checkout.build_dir} compiled nothing, so there is nothing to "
            "report; build first.",
            "run `invoke build` (after an edit, or `invoke clean-build` for a full build)",
        )
    files = write_files(checkout, found)
    data = {
        **cost.as_json(found),
        "build_dir": str(checkout.build_dir),
        "trace": str(files[0]),
        "svg": str(files[1]),
    }
    if as_json:
        console.output(json.dumps(data, indent=1))
    else:
        show(console, found, files)
    return data


def main(settings: Settings, *, as_json: bool) -> dict[str, Any]:
    """What `invoke report` does: it reads the checkout, runs nothing and starts no log."""
    console = Console() if as_json else make_console()
    console.speak_as(settings)
    tree = source_tree.load(settings)
    safe_paths.check(tree.root, "source")
    return report(Checkout(tree, settings.preset, dict(os.environ)), console, as_json=as_json)
