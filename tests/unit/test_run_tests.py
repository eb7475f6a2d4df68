"""How `invoke test` says pytest's end (loop/tests.py run_tests): each exit code its own
sentence and fix, and the exit code it ends with."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from build_tools.console import Console
from build_tools.errors import BuildToolsError
from build_tools.loop import tests
from build_tools.process.runner import Command, CommandFailed, Fix, Outcome, Runner
from build_tools.run import make_run
from build_tools.settings import Settings


class Pytest(Runner):
    """pytest as a runner sees it: it ends with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(Console(io.StringIO()))
        self.code = code

    def run(
        self, command: Command, *, fix: Fix = "", quiet: bool = False, install: bool = False
    ) -> Outcome:
        raise CommandFailed(Outcome(command, self.code, 0.1, ("pytest's last line",)), None, fix)


def ended(source: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> BuildToolsError:
    monkeypatch.setattr(tests, "ensure_test_env", lambda ctx, named: None)
    console = Console(io.StringIO())
    ctx = make_run(Settings(source=source), console=console, runner=Pytest(code))
    with pytest.raises(BuildToolsError) as caught:
        tests.run_tests(ctx, ["tests/kernels/test_x.py"])
    return caught.value


def test_each_pytest_exit_code_has_its_own_sentence_and_is_the_exit_code(
    example_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 26: `--tests does/not/exist.py` (exit 4) was "the tests above failed: fix the
    kernel"; 1 to 5 each say what they are, and the run exits with pytest's code."""
    said = {code: ended(example_copy, monkeypatch, code) for code in (1, 2, 3, 4, 5)}
    assert len({e.problem.split(". `")[0] for e in said.values()}) == 5, said
    assert len({e.fix for e in said.values()}) == 5, said
    assert all(e.code == code for code, e in said.items()), said
    assert all("pytest's last line" in e.problem for e in said.values()), said
    assert "fix the kernel" in said[1].fix
    assert all("fix the kernel" not in e.fix for code, e in said.items() if code != 1), said
    assert "interrupted" in said[2].problem and "internal error" in said[3].problem
    assert "usage error" in said[4].problem and "no tests" in said[5].problem
    other = ended(example_copy, monkeypatch, 9)
    assert other.code == 9 and "pytest ended with exit code 9." in other.problem, other
