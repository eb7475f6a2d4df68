"""watch's pieces: what it watches, what it ignores, the status line, a real watcher."""

from __future__ import annotations

import io
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from watchfiles import Change

from build_tools.console import Console, StepResult, StepStatus
from build_tools.errors import BuildToolsError, Interrupted
from build_tools.loop import watch
from build_tools.settings import resolve


def test_watched_dirs_cover_csrc_and_cmake_recursively(example_copy: Path) -> None:
    (example_copy / "csrc" / "moe" / "__pycache__").mkdir()
    dirs = watch.watched_dirs(example_copy)
    assert dirs[0] == example_copy
    assert example_copy / "csrc" / "moe" in dirs and example_copy / "cmake" in dirs
    assert example_copy / "csrc" / "moe" / "__pycache__" not in dirs
    assert not any(".venv" in d.parts for d in dirs), dirs


def test_the_filter_keeps_sources_and_build_files_only(example_copy: Path) -> None:
    keep = watch.relevant(example_copy)
    kept = ["csrc/x.cu", "csrc/moe/y.cpp", "cmake/utils.cmake", "CMakeLists.txt"]
    kept += ["CMakeUserPresets.json", "CMakePresets.json"]
    for name in kept:
        assert keep(Change.modified, str(example_copy / name)), name
    ignored = ["compile_commands.json", "then.txt", "minivllm/_C.abi3.so", "csrc/.x.cu.swp"]
    ignored += ["csrc/x.cu~", "CMakeUserPresets.json.20260101.bak", "../elsewhere.cpp"]
    for name in ignored:
        assert not keep(Change.modified, str(example_copy / name)), name


def test_status_lines() -> None:
    ok = watch.status(watch.Cycle(True, 2.14, 1), "ok", "csrc/x.cu")
    assert ok.endswith("] csrc/x.cu: build ok in 2.1 s (1 unit) · then: ok")
    assert ok.startswith("[") and ok[9] == "]"
    assert watch.status(watch.Cycle(True, 0.1, 0), None, "").endswith(
        "build ok in 0.1 s (up to date)"
    )
    assert "(3 units)" in watch.status(watch.Cycle(True, 1, 3), None, "")
    failed = watch.Cycle(False, 1.0, 0, BuildToolsError("it broke", "fix it"))
    assert "build FAILED after 1.0 s" in watch.status(failed, None, "csrc/x.cu")


def test_a_cycle_shows_warnings_and_nothing_else() -> None:
    out = io.StringIO()
    quiet = watch.Quiet(Console(out))
    quiet.step("build")
    quiet.note("a note")
    quiet.output("[1/2] Building CXX object x.o")
    quiet.done(StepResult("build", StepStatus.RAN, "", 1.0))
    quiet.summary([], 1.0)
    quiet.warn("the cache is read-only")
    assert out.getvalue() == "warning: the cache is read-only\n"


def test_changes_come_after_an_empty_first_batch(example_copy: Path) -> None:
    batches = watch.changes(example_copy)
    assert next(batches) == set()  # the watcher runs from here on
    (example_copy / "csrc" / "layernorm.cpp").write_text("// saved\n")
    (example_copy / "README.md").write_text("not watched\n")
    seen: set[Path] = set()
    for _ in range(40):  # empty batches come back every half second
        seen |= next(batches)
        if seen:
            break
    batches.close()
    assert seen == {example_copy / "csrc" / "layernorm.cpp"}


def raising(exc: BaseException) -> Callable[..., None]:
    def loop(*args: object) -> None:
        raise exc

    return loop


@pytest.mark.parametrize(
    "stop", [KeyboardInterrupt(), Interrupted(signal.SIGINT)], ids=["idle", "mid-build"]
)
def test_ctrl_c_stops_watching_without_an_error(
    example_copy: Path, monkeypatch: pytest.MonkeyPatch, stop: BaseException
) -> None:
    """issue 26: Ctrl-C is how watch is meant to end: "stopped", no error (exit 0), whether
    it comes while waiting for a save or during a build; SIGTERM stays an interrupt."""
    monkeypatch.setattr(watch, "_loop", raising(stop))
    out = io.StringIO()
    settings = resolve({"source": str(example_copy)}, environ={}, suite_root=example_copy)
    watch.watch(settings, shown=Console(out))
    assert out.getvalue() == f"stopped watching {example_copy}\n"
    monkeypatch.setattr(watch, "_loop", raising(Interrupted(signal.SIGTERM)))
    with pytest.raises(Interrupted) as raised:
        watch.watch(settings, shown=Console(io.StringIO()))
    assert raised.value.code == 128 + signal.SIGTERM
