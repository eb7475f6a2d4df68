"""The errors every front door turns into one clear message and a non-zero exit."""

from __future__ import annotations

import signal


class BuildToolsError(Exception):
    """A failure a person can act on: what went wrong, in one sentence, and the fix."""

    code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class Interrupted(BuildToolsError):
    """A signal ended the run; the exit code is 128 + its number (130 for Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum
        self.code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"interrupted ({name}); every command we started has ended.",
            "run the same command again: it resumes where the build stopped",
        )
