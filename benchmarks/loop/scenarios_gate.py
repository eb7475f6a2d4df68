"""The memory gate and configure scenarios:

P7  a cold build (a fresh build dir, an empty ccache, nothing measured by the gate): `invoke
    clean-build` with the memory gate | without it (presets written untimed before each
    run). On a machine with memory to spare the gate must cost nothing: its record of held
    compiles is read after each run (`held`), and the ratio is the build steps'.
P8  configure of a new build dir: the configure step of a warm `invoke clean-build` (the
    compiler identification and the python answers reused) | a fresh raw `cmake --preset
    release -B <new dir>` (what a person runs). The build.ninja and compile_commands.json of
    each are compared with the other's (paths aside): reuse must be exact.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks.loop.harness import BenchError, Contender, Trial, must, play, progress
from benchmarks.loop.workspace import PRESET, Workspace, invoke_argv
from build_tools.cmake.configure_cache import ninja_escaped
from build_tools.insight import held
from build_tools.process.runner import Outcome
from build_tools.settings import SUITE_ROOT

GATE, NO_GATE = "clean-build, memory gate", "clean-build, no memory gate"
WARM_CONFIGURE, RAW_CONFIGURE = "invoke clean-build (configure step)", "raw cmake --preset (fresh)"
GENERATED = ("build.ninja", "compile_commands.json")


def _cold(ws: Workspace, gate: bool) -> Contender:
    """A cold clean-build with the gate on or off (its presets written first, untimed)."""
    state = ws.source / ".vllm-build-tools"

    def prepare(trial: Trial) -> dict[str, str]:
        env = {**ws.env, "VLLM_BUILD_MEMORY_GATE": "true" if gate else "false"}
        must(invoke_argv("presets", "--force", "--source", ws.source), SUITE_ROOT, env)
        shutil.rmtree(state / "memory", ignore_errors=True)
        cache = ws.tmp / f"p7-ccache-{trial.marker}"
        shutil.rmtree(cache, ignore_errors=True)
        return {"CCACHE_DIR": str(cache), "VLLM_BUILD_MEMORY_GATE": "true" if gate else "false"}

    def verify(trial: Trial, done: Outcome) -> None:
        record = held.read_waits(state, ws.build_dir, 0).decode("utf-8", "replace")
        found = held.parse_waits(record)
        trial.checks["held"] = len(found.began)
        trial.checks["paused"] = len(found.paused)
        if not ws.extension.is_file():
            raise BenchError(f"P7 {trial.contender} left no {ws.extension}")

    def cleanup(trial: Trial) -> None:
        shutil.rmtree(ws.tmp / f"p7-ccache-{trial.marker}", ignore_errors=True)

    name = GATE if gate else NO_GATE
    argv = tuple(invoke_argv("clean-build", "--source", ws.source))
    return Contender(name, argv, SUITE_ROOT, ws.env, prepare, verify, cleanup)


def scenario_p7(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P7: cold clean-builds with and without the memory gate."""
    trials = play("P7", [_cold(ws, True), _cold(ws, False)], rounds, counter, ws.summary)
    must(invoke_argv("presets", "--force", "--source", ws.source), SUITE_ROOT, ws.env)
    return trials


def _normalized(directory: Path) -> dict[str, str]:
    found = {}
    for name in GENERATED:
        text = (directory / name).read_text(encoding="utf-8")
        for spelling in (str(directory), ninja_escaped(str(directory))):
            text = text.replace(spelling, "<BUILD>")
        found[name] = text
    return found


def scenario_p8(ws: Workspace, rounds: int, counter: Iterator[int]) -> list[Trial]:
    """P8: a warm clean-build's configure step vs a fresh raw `cmake --preset` into a new dir."""
    progress("P8: priming the configure cache (untimed) ...")
    must(invoke_argv("clean-build", "--source", ws.source), SUITE_ROOT, ws.env)
    raw_dir = ws.tmp / "p8 raw build"

    def fresh_dir(trial: Trial) -> dict[str, str]:
        shutil.rmtree(raw_dir, ignore_errors=True)
        return {}

    def same(trial: Trial, done: Outcome) -> None:
        if (ws.build_dir / "build.ninja").is_file() and (raw_dir / "build.ninja").is_file():
            trial.checks["identical"] = _normalized(ws.build_dir) == _normalized(raw_dir)

    warm = Contender(
        WARM_CONFIGURE,
        tuple(invoke_argv("clean-build", "--source", ws.source)),
        SUITE_ROOT,
        ws.env,
        verify=same,
    )
    cmake = ws.venv_bin / "cmake"
    raw = Contender(
        RAW_CONFIGURE,
        (str(cmake), "--preset", PRESET, "-B", str(raw_dir)),
        ws.source,
        ws.env,
        fresh_dir,
        same,
    )
    return play("P8", [warm, raw], rounds, counter, ws.summary)


def problems(trials: Sequence[Trial]) -> list[tuple[str, tuple[str, ...]]]:
    """What P7 and P8 must show besides their times: the gate held no compile while memory
    was plentiful, and a reused configure wrote a fresh one's files."""
    found: list[tuple[str, tuple[str, ...]]] = []
    held_runs = [t for t in trials if t.scenario == "P7" and t.contender == GATE]
    if any(t.checks.get("held") for t in held_runs):
        found.append(
            ("P7: the memory gate held a compile with memory to spare", ("P7 gate/no-gate",))
        )
    same = [t.checks.get("identical") for t in trials if t.scenario == "P8"]
    if not same or not all(same):
        found.append(
            (
                "P8: a reused configure's build files differ from a fresh one's",
                ("P8 configure warm/raw",),
            )
        )
    return found
