"""What a person reads: rich on a terminal (never showing markup), plain lines elsewhere."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from build_tools.console import (
    Console,
    RichConsole,
    StepResult,
    StepStatus,
    make_console,
    summary_data,
    with_flags,
)
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.process.runner import Command, CommandFailed, Outcome
from build_tools.run import make_run
from build_tools.settings import Settings


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_no_markup_text() -> None:
    out = Terminal()
    console = RichConsole(out)
    console.terminal._force_terminal = True  # what a terminal would set
    for done in range(1, 6):
        console.progress(done, 5)
    console.note("a path with [brackets] and [cyan]no markup[/]")
    console._stop_progress()
    text = out.getvalue()
    assert "building" in text and "[cyan]building" not in text
    assert "[brackets]" in text and "[cyan]no markup[/]" in text


def test_plain_in_ci_and_pipes_rich_on_a_terminal() -> None:
    assert type(make_console(io.StringIO(), {})) is Console
    assert type(make_console(Terminal(), {"CI": "true"})) is Console
    assert type(make_console(Terminal(), {"NO_COLOR": "1"})) is Console
    assert type(make_console(Terminal(), {})) is RichConsole


def test_summary_lines_and_json() -> None:
    results = [
        StepResult("configure", StepStatus.SKIPPED, "configured", 0.01),
        StepResult("build", StepStatus.RAN, "_C: 2 build edge(s) ran", 1.5),
    ]
    out = io.StringIO()
    Console(out).summary(results, 1.6)
    assert out.getvalue() == "done in 1.6s: 1 ran, 1 skipped\n"
    data = summary_data("build", results, 1.6, None)
    assert data["exit"] == 0 and [s["status"] for s in data["steps"]] == ["skipped", "ran"]
    assert "failure" not in data, data


def test_a_step_that_raises_is_in_the_summary_as_failed_with_its_kind(
    example_copy: Path,
) -> None:
    """The JSON summary says which step failed and how, not only that the run did."""
    ctx = make_run(Settings(source=example_copy), console=Console(io.StringIO()))
    with pytest.raises(BuildToolsError) as raised, ctx.step("build"):
        raise CommandFailed(Outcome(Command.of(["ninja"], example_copy), 1, 0.1, TAIL), None, "x")
    data = summary_data("build", ctx.results, 0.2, raised.value)
    assert data["exit"] == 1 and data["failure"] == "disk full", data
    (step,) = data["steps"]
    assert step["status"] == "failed" and step["failure"] == "disk full", step
    with pytest.raises(BuildToolsError) as interrupted, ctx.step("configure"):
        raise KeyboardInterrupt
    assert ctx.results[-1].kind is ErrorKind.INTERRUPTED and interrupted.value.code == 130


TAIL = ("FAILED: CMakeFiles/_C.dir/a.cpp.o", "a.cpp: fatal error: No space left on device")


def test_suggested_commands_carry_the_flags_the_person_gave() -> None:
    """issue 17/19: a fix line copied from our output acts on the same checkout."""
    flags = ["--source", "/home/me/my vllm", "--preset", "dev"]
    text = "run `invoke build` (it installs); or `invoke presets --preset dev --force`"
    got = with_flags(text, flags)
    assert got == (
        "run `invoke build --source '/home/me/my vllm' --preset dev` (it installs); or "
        "`invoke presets --source '/home/me/my vllm' --preset dev --force`"
    ), got
    assert with_flags(text, []) == text, "no flags given: the text as it is"
    assert with_flags("`invoke targets`", [], "vllm-build") == "`vllm-build targets`"
