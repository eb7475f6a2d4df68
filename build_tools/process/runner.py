"""The one way a process starts: argv lists, an environment overlay, live output, timing, dry-run.

No shell is ever involved, so paths with spaces and user strings are passed as they are.
Streamed commands run in a session of their own; signals.py forwards SIGINT, SIGTERM and SIGHUP
sent to us to it (cmake, ninja, every nvcc) and we wait for it to end, escalating to SIGTERM
and SIGKILL after a grace period, before `Interrupted` is raised: no compiler outlives an
interrupted build.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional, Protocol, Union

from build_tools.errors import BuildToolsError, Interrupted, classify
from build_tools.process.signals import GRACE_S, Forwarder
from build_tools.safety.secrets import redact

NINJA_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] (.*)")
# Edges ninja runs on every build (the install step): not work a person waits for.
ALWAYS_RUN = ("Install the project",)
UP_TO_DATE = "-- Up-to-date: "
LINKED = re.compile(
    r"^Linking \w+ (?:shared module|shared library|static library|executable) (\S+)"
)
TAIL_LINES = 40


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
        """The command as a person would paste it into a POSIX shell (a password in a URL
        masked: this text is printed and logged)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return redact(" ".join(p for p in (env, shlex.join(self.argv)) if p))


class Sink(Protocol):
    """Where a running command's output and progress go (console.py's `Console` is one)."""

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
    output: str = ""  # the whole output, for captured commands only


class CommandFailed(BuildToolsError):
    """A command exited non-zero; its kind is what its last lines say (errors.classify)."""

    def __init__(self, outcome: Outcome, log: Optional[Path], fix: Fix) -> None:
        self.outcome = outcome
        if callable(fix):
            fix = fix(outcome.tail)
        tail = "\n".join("    " + line for line in outcome.tail)
        where = f"; full output in {log}" if log else ""
        super().__init__(
            f"`{outcome.command.text()}` failed with exit code {outcome.returncode} "
            f"(in {outcome.command.cwd}){where}. Last lines:\n{tail}",
            fix,
            classify(outcome.tail).kind,
        )


# The fix line of a failure: fixed text, or chosen from the output's last lines.
Fix = Union[str, Callable[[Sequence[str]], str]]
# git run to completion with these arguments: (exit code, output); None where there is no git.
Git = Optional[Callable[[Sequence[str]], tuple[int, str]]]
# A command run to completion in a directory: (exit code, output). The pure modules that ask a
# tool something take one (cmake/unit_deps.py's `runner_capture` makes it over a `Runner`).
Capture = Callable[[Sequence[object], Path], tuple[int, str]]
# A front door may route package installs elsewhere (nox: session.run_install, so -R skips them).
Installer = Callable[[Command], None]


class Runner:
    def __init__(
        self,
        sink: Sink,
        *,
        dry_run: bool = False,
        log: Optional[Path] = None,
        base_env: Optional[Mapping[str, str]] = None,
        installer: Optional[Installer] = None,
        grace: float = GRACE_S,
    ) -> None:
        self.sink = sink
        self.dry_run = dry_run
        self.log = log
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.installer = installer
        self.grace = grace
        # Told the session of each streamed command (None when it ends): the lock records it
        # (a build that finds us killed ends what we left running); the memory sampler
        # watches it.
        self.observers: list[Callable[[Optional[int]], None]] = []

    def run(
        self, command: Command, *, fix: Fix = "", quiet: bool = False, install: bool = False
    ) -> Outcome:
        """Run `command`, streaming its output; raise CommandFailed on a non-zero exit.

        `install` marks package installs, which go to the installer hook when there is one.
        """
        self.sink.command(command, self.dry_run)
        if self.dry_run:
            return Outcome(command, 0, 0.0, ())
        if install and self.installer is not None:
            self.installer(command)
            return Outcome(command, 0, 0.0, ())
        start = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        edges = 0
        linked: list[str] = []
        kept: list[str] = []
        with self._open_log(command) as log, self._spawn(command, fix) as (proc, forwarder):
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = redact(raw.rstrip("\n"))
                tail.append(line)
                if log:
                    log.write(line + "\n")
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
        outcome = Outcome(
            command,
            proc.returncode,
            time.monotonic() - start,
            tuple(tail),
            edges,
            tuple(linked),
            tuple(kept),
        )
        if forwarder.received is not None:
            raise Interrupted(forwarder.received)
        if proc.returncode != 0:
            raise CommandFailed(outcome, self.log, fix)
        return outcome

    def capture(self, command: Command, *, timeout: Optional[float] = None) -> Outcome:
        """Run a command to completion with its output captured (also in a dry run: use it
        only for commands that change nothing). Logged; never raises on a non-zero exit."""
        start = time.monotonic()
        try:
            done = subprocess.run(command.argv, **self._io(command), timeout=timeout, check=False)
            code, output = done.returncode, done.stdout
        except FileNotFoundError:
            code, output = 127, f"{command.argv[0]}: not found\n"
        except subprocess.TimeoutExpired as exc:
            code, output = 124, _text(exc.output) + f"\ntimed out after {timeout}s\n"
        seconds = time.monotonic() - start
        output = redact(output)
        with self._open_log(command) as log:
            if log:
                log.write(output)
        tail = tuple(output.splitlines()[-TAIL_LINES:])
        return Outcome(command, code, seconds, tail, output=output)

    def _io(self, command: Command) -> dict[str, Any]:
        """Where a child runs and what it reads and writes: no stdin, output merged as text."""
        return {
            "cwd": command.cwd,
            "env": {**self.base_env, **command.env},
            "stdin": subprocess.DEVNULL,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.STDOUT,
            "text": True,
            "errors": "replace",
        }

    @contextmanager
    def _spawn(
        self, command: Command, fix: Fix
    ) -> Iterator[tuple[subprocess.Popen[str], Forwarder]]:
        try:
            proc = subprocess.Popen(
                command.argv,
                **self._io(command),
                bufsize=1,
                start_new_session=True,  # its own group: we forward signals to all of it
            )
        except FileNotFoundError:
            raise BuildToolsError(
                f"{command.argv[0]} was not found.", f"install {command.argv[0]}"
            ) from None
        for observe in self.observers:
            observe(proc.pid)
        with proc, Forwarder(proc, self.grace) as forwarder:
            try:
                yield proc, forwarder
            finally:
                proc.wait()
                if forwarder.received is not None:
                    forwarder.reap_group()
                for observe in self.observers:
                    observe(None)

    @contextmanager
    def _open_log(self, command: Command) -> Iterator[Optional[IO[str]]]:
        handle: Optional[IO[str]] = None
        if self.log:
            try:
                self.log.parent.mkdir(parents=True, exist_ok=True)
                handle = self.log.open("a", encoding="utf-8")
                handle.write(f"\n$ (cd {shlex.quote(str(command.cwd))} && {command.text()})\n")
            except OSError:
                handle = None
        try:
            yield handle
        finally:
            if handle:
                handle.close()


def _text(data: object) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data if isinstance(data, str) else ""


def in_processes(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """`function` over `items` on every CPU we may use, in worker processes (pure, CPU-bound
    work such as parsing a checkout's Python files); in order; here alone on one CPU."""
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not jobs or jobs < 2 or len(items) < 2:
        return [function(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(items) // (jobs * 8))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(function, items, chunksize=chunk))


def probe(argv: Sequence[str], env: Optional[Mapping[str, str]] = None, timeout: float = 20) -> str:
    """stdout of a short read-only probe (`tool --version`), '' when it is missing or fails."""
    code, out = probe_code(argv, env, timeout)
    return out if code == 0 else ""


def probe_code(
    argv: Sequence[str], env: Optional[Mapping[str, str]] = None, timeout: float = 20
) -> tuple[int, str]:
    """(exit code, stdout) of a short read-only probe; 127 when it cannot run (a `Git` for
    read-only questions where no runner is at hand: the doctor)."""
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return 127, ""
    return done.returncode, done.stdout
