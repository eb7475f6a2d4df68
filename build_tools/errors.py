"""The one error type every front door turns into a clear message and a non-zero exit."""

from __future__ import annotations


class BuildToolsError(Exception):
    """A failure a person can act on: what went wrong, in one sentence, and the fix."""

    def __init__(self, problem: str, fix: str = "", *, code: int = 1) -> None:
        self.problem = problem
        self.fix = fix
        self.code = code
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem
