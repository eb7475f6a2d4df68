"""What the load check adds to the edit loop: `python -m benchmarks.load_check [--runs N]`.

A copy of the bundled example is bootstrapped; then each round edits a C++ source of `_moe_C`
and runs `invoke build` twice, with the load check and with `--no-load-check`, in alternating
order (every build compiles that unit, relinks and installs `_moe_C`). Printed and written as
JSON: the median wall time of each, the difference, their ratio and the load step's own time
(from last-summary.json). No timed assertion: the figure goes into docs/vllm-guide.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from benchmarks.loop.harness import must, step_seconds
from benchmarks.loop.workspace import copy_sources
from build_tools.settings import EXAMPLE_SOURCE, SUITE_ROOT

EDITED = "csrc/moe/topk_softmax.cpp"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--json", type=Path, help="where to write the results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        root = copy_sources(EXAMPLE_SOURCE, Path(tmp) / "my src" / "minivllm")
        config = Path(tmp) / "none.toml"
        config.touch()
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "VLLM_BUILD_CONFIG": str(config),
            "VLLM_BUILD_ARCH": "9.0",
            "CCACHE_DIR": str(Path(tmp) / "ccache"),
        }
        invoke = [sys.executable, "-m", "invoke"]
        must([*invoke, "bootstrap", "--source", root], SUITE_ROOT, env)
        times: dict[str, list[float]] = {"with": [], "without": []}
        load_step: list[float] = []
        source = root / EDITED
        original = source.read_text()
        for n in range(args.runs):
            order = ["with", "without"] if n % 2 == 0 else ["without", "with"]
            for i, kind in enumerate(order):
                source.write_text(original + f"\n// load-bench edit {n}.{i}\n")
                flag = [] if kind == "with" else ["--no-load-check"]
                done = must([*invoke, "build", "--source", root, *flag], SUITE_ROOT, env)
                times[kind].append(done.seconds)
                if kind == "with":
                    load_step.append(
                        step_seconds(root / ".vllm-build-tools/last-summary.json")["load"]
                    )
        result = {
            "runs": args.runs,
            "with_s": statistics.median(times["with"]),
            "without_s": statistics.median(times["without"]),
            "load_step_s": statistics.median(load_step),
            "samples": times,
            "load_step_samples": load_step,
        }
    result["added_s"] = result["with_s"] - result["without_s"]
    result["ratio"] = result["with_s"] / result["without_s"]
    print(
        f"edit -> invoke build of the example, median of {args.runs}: "
        f"{result['with_s']:.3f} s with the load check, {result['without_s']:.3f} s without "
        f"(+{result['added_s']:.3f} s, ratio {result['ratio']:.3f}); "
        f"the load step itself {result['load_step_s']:.3f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
