"""The edit -> rebuild loop, side by side: `invoke build` vs raw cmake vs `uv pip install -e`.

Every round runs each contender once, the starting contender rotating from round to round;
medians over the rounds. It works on a temporary copy of the source, bootstrapped once; every
run is checked (the installed .so changed after an edit and holds the new marker; a no-op ran
nothing but the install edge), and a scenario that measured nothing fails the whole run.

    python -m benchmarks.loop [--source PATH] [--runs 5] [--json PATH] [--svg PATH] [--quick]

Modules: cli (flags, the run, the report), harness (running and timing contenders), workspace
(the copy and its environment), checks (what each run is verified against), scenarios (P1-P4),
stats (medians, ratios, targets, the table), svg (the chart), environment (machine facts).
"""

from benchmarks.loop.cli import main

__all__ = ["main"]
