"""The one way commands run: argv lists, an environment overlay, live output, timing, dry-run.

No shell is ever involved, so paths with spaces and user strings are passed as they are.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional, Protocol

from build_tools.errors import BuildToolsError

NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (.*)")
# Edges ninja runs on every build (the install step): not work a person waits for.
ALWAYS_RUN = ("Install the project",)
UP_TO_DATE = "-- Up-to-date: "
LINKED = re.compile(
    r"^Linking \w+ (?:shared module|shared library|static library|executable) (\S+)"
)
TAIL_LINES = 25


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, argv: Sequence[object], cwd: Path, env: Optional[Mapping[str, str]] = None
    ) -> Command:
        return cls(tuple(str(a) for a in argv), cwd, dict(env or {}))

    def text(self) -> str:
        """The command as a person would paste it into a POSIX shell."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return " ".join(p for p in (env, shlex.join(self.argv)) if p)


class Sink(Protocol):
    """Where a running command's output and progress go (see report.py)."""

    def command(self, command: Command, dry_run: bool) -> None: ...
    def output(self, line: str) -> None: ...
    def progress(self, done: int, total: int) -> None: ...


@dataclass(frozen=True)
class Outcome:
    command: Command
    returncode: int
    seconds: float
    tail: tuple[str, ...]
    edges: int = 0  # ninja "[n/m]" edges that compiled or linked something
    linked: tuple[str, ...] = ()  # what those edges linked, e.g. "_C.abi3.so"
    kept: tuple[str, ...] = ()  # what `cmake --install` called "Up-to-date" (file names)


class CommandFailed(BuildToolsError):
    def __init__(self, outcome: Outcome, log: Optional[Path], fix: str) -> None:
        self.outcome = outcome
        tail = "\n".join("    " + line for line in outcome.tail)
        where = f"; full output in {log}" if log else ""
        super().__init__(
            f"`{outcome.command.text()}` failed with exit code {outcome.returncode} "
            f"(in {outcome.command.cwd}){where}. Last lines:\n{tail}",
            fix,
        )


class Runner:
    def __init__(
        self,
        sink: Sink,
        *,
        dry_run: bool = False,
        log: Optional[Path] = None,
        base_env: Optional[Mapping[str, str]] = None,
    ) -> None:
        self.sink = sink
        self.dry_run = dry_run
        self.log = log
        self.base_env = dict(os.environ if base_env is None else base_env)

    def run(
        self, command: Command, *, fix: str = "", quiet: bool = False, install: bool = False
    ) -> Outcome:
        """Run `command`, streaming its output; raise CommandFailed on a non-zero exit.

        `install` marks package installs, which a front door (nox -R) may choose to skip.
        """
        self.sink.command(command, self.dry_run)
        if self.dry_run:
            return Outcome(command, 0, 0.0, ())
        start = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        edges = 0
        linked: list[str] = []
        kept: list[str] = []
        log = self._open_log(command)
        try:
            proc = subprocess.Popen(
                command.argv,
                cwd=command.cwd,
                env={**self.base_env, **command.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                bufsize=1,
            )
        except FileNotFoundError:
            raise BuildToolsError(
                f"{command.argv[0]} was not found.", fix or f"install {command.argv[0]}"
            ) from None
        assert proc.stdout is not None
        with proc:
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                if log:
                    log.write(raw)
                match = NINJA_PROGRESS.match(line)
                if match:
                    edges += not match.group(3).startswith(ALWAYS_RUN)
                    link = LINKED.match(match.group(3))
                    if link:
                        linked.append(Path(link.group(1)).name)
                    self.sink.progress(int(match.group(1)), int(match.group(2)))
                elif line.startswith(UP_TO_DATE):
                    kept.append(Path(line[len(UP_TO_DATE) :]).name)
                if not quiet:
                    self.sink.output(line)
        if log:
            log.close()
        seconds = time.monotonic() - start
        outcome = Outcome(
            command, proc.returncode, seconds, tuple(tail), edges, tuple(linked), tuple(kept)
        )
        if proc.returncode != 0:
            raise CommandFailed(outcome, self.log, fix)
        return outcome

    def _open_log(self, command: Command) -> Optional[IO[str]]:
        if not self.log:
            return None
        try:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            handle = self.log.open("a", encoding="utf-8")
        except OSError:
            return None
        handle.write(f"\n$ (cd {shlex.quote(str(command.cwd))} && {command.text()})\n")
        return handle
