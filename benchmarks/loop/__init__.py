"""The edit -> rebuild loop, side by side: `invoke build` vs raw cmake vs `uv pip install -e`,
and clean-builds from a warm, a shared (another worktree) and a remote (Redis) compiler cache.

Every round runs each contender once, the starting contender rotating from round to round;
medians over the rounds. It works on a temporary copy of the source, bootstrapped once; every
run is checked (the installed .so changed after an edit and holds the new marker; a no-op ran
nothing but the install edge), and a scenario that measured nothing fails the whole run.

    P1  edit one .cpp: invoke build | raw cmake | uv pip install -e (no precompiled)
    P2  no-op build: invoke build | raw cmake, and start-up floors
    P3  invoke clean-build of the copy: warm ccache | cold (fresh, empty) ccache
    P4  edit one .cu (needs nvcc): invoke build | raw cmake
    P5  clean-build of a 2nd worktree at another path: the 1st copy's ccache | a cold one
        (hit rate; cold/warm of the whole clean-build and of its build step)
    P6  clean-build of a 2nd machine: a shared redis-server on 127.0.0.1 filled by the 1st
        copy, an empty local ccache | cold, no remote cache (share served by Redis; cold/warm)
    P7  a cold clean-build (new build dir, empty ccache, nothing measured): with the memory
        gate | without it (the gate must hold nothing with memory to spare)
    P8  configure of a new build dir: a warm clean-build's configure step | a fresh raw
        `cmake --preset release -B <new dir>` (their build files must be identical)

    python -m benchmarks.loop [--source PATH] [--runs 5] [--json PATH] [--svg PATH] [--quick]

Modules: cli (flags, the run, the report), harness (running and timing contenders), workspace
(the copies and their environment), checks (what each run is verified against), cache_checks
(ccache's counters, the presets' cache, when a cache scenario measured nothing), scenarios
(P1, P2, P4), scenarios_cache (P3, P5, P6), scenarios_gate (P7, P8), services (the
background redis-server: the one process not started through build_tools.runner), stats
(medians, ratios, hit rates, targets, the table), svg (the chart), environment (machine facts).
"""

from benchmarks.loop.cli import main

__all__ = ["main"]
