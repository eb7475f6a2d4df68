"""What a person reads: steps, commands, live output, progress and the closing summary.

Rich on a terminal; plain lines when output is not a TTY, in CI, or with NO_COLOR set.
rich is imported only when a terminal console is made.
"""

from __future__ import annotations

import enum
import os
import re
import shlex
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, TextIO

from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.process.runner import Command
from build_tools.safety.secrets import redact
from build_tools.settings import Settings


class StepStatus(enum.Enum):
    RAN = "ran"
    SKIPPED = "skipped"  # already done
    DRY_RUN = "dry-run"  # would run
    FAILED = "failed"  # raised: the front door says why


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    name: str
    status: StepStatus
    detail: str = ""
    seconds: float = 0.0
    kind: ErrorKind = ErrorKind.ERROR  # a failed step's kind of failure
    outcome: object = None  # what the step said for the steps after it (steps/build.py's Built)

    @property
    def ran(self) -> bool:
        return self.status is StepStatus.RAN


def summary_data(
    command: str, results: Sequence[StepResult], seconds: float, failure: Optional[BuildToolsError]
) -> dict[str, Any]:
    """The machine-readable summary every front door writes (benchmarks read it); a failed
    run names its kind of failure and, in the step that raised, why."""
    code = failure.code if failure is not None else 0
    return {
        "command": command,
        "seconds": round(seconds, 4),
        "exit": code,
        **({"failure": failure.kind.value} if failure is not None else {}),
        "steps": [
            {
                "name": r.name,
                "status": r.status.value,
                "seconds": round(r.seconds, 4),
                "detail": r.detail,
                **({"failure": r.kind.value} if r.status is StepStatus.FAILED else {}),
            }
            for r in results
        ],
    }


# The settings that say which checkout, preset and environment a command acts on.
WHERE = ("source", "preset", "venv")


def flags_of(settings: Settings) -> list[str]:
    """The --source/--preset/--venv given on the command line: what a command we print needs
    to act on the same checkout when it is copied and run (the other layers hold anyway)."""
    flags: list[str] = []
    for key in WHERE:
        if settings.origin(key).startswith("flag"):
            flags += [f"--{key}", str(getattr(settings, key))]
    return flags


_SUGGESTED = re.compile(r"`(invoke|vllm-build) ([a-z][a-z-]*)([^`]*)`")


def with_flags(text: str, flags: Sequence[str], program: str = "invoke") -> str:
    """Every `invoke TASK ...` a message suggests, as the person must type it: with the
    --source/--preset/--venv they gave (those the suggestion does not set itself)."""

    def fill(match: re.Match[str]) -> str:
        rest = match.group(3)
        given = shlex.split(rest) if "'" not in rest and '"' not in rest else rest.split()
        extra: list[str] = []
        for flag, value in zip(flags[::2], flags[1::2], strict=True):
            if flag not in given:
                extra += [flag, value]
        added = f" {shlex.join(extra)}" if extra else ""
        return f"`{program} {match.group(2)}{added}{rest}`"

    return _SUGGESTED.sub(fill, text) if flags or program != "invoke" else text


def command_line(command: Command, dry_run: bool) -> str:
    """`$ cmd` for what runs now; a paste-able `cd DIR && cmd` for what a dry run would run."""
    if dry_run:
        return f"would run: cd {shlex.quote(str(command.cwd))} && {command.text()}"
    return f"$ {command.text()}"


class Console:
    """Line-oriented output for CI logs and pipes. Commands our own messages suggest are
    printed runnable as they stand (`with_flags`: the flags the person gave, `program`)."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream or sys.stdout
        self.flags: list[str] = []
        self.program = "invoke"
        # A build's watchers (insight/held.py) say things from their thread: whole lines only.
        self._lock = threading.Lock()

    def speak_as(self, settings: Settings) -> None:
        """Spell the commands we suggest as the person typed theirs (program and flags)."""
        self.flags, self.program = flags_of(settings), settings.program

    def ours(self, text: str) -> str:
        """One of our own messages, its suggested commands made runnable as printed (and a
        password in a URL masked)."""
        return redact(with_flags(text, self.flags, self.program))

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def step(self, name: str) -> None:
        self._print(f"==> {name}")

    def command(self, command: Command, dry_run: bool) -> None:
        self._print(command_line(command, dry_run))

    def output(self, line: str) -> None:
        self._print(line)

    def progress(self, done: int, total: int) -> None:
        pass  # ninja's own "[n/m]" lines already say it

    def end_progress(self) -> None:
        """Take down a progress display before what follows (the rich one has a bar)."""

    def note(self, text: str) -> None:
        self._print(f"    {self.ours(text)}")

    def warn(self, text: str) -> None:
        self._print(f"warning: {self.ours(text)}")

    def done(self, result: StepResult) -> None:
        timing = f" ({result.seconds:.1f}s)" if result.ran else ""
        detail = f": {result.detail}" if result.detail else ""
        self._print(f"    {result.name} {result.status.value}{timing}{detail}")

    def summary(self, results: Sequence[StepResult], seconds: float) -> None:
        counts = {s: sum(1 for r in results if r.status is s) for s in StepStatus}
        text = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
        self._print(f"done in {seconds:.1f}s: {text or 'nothing to do'}")

    def table(self, title: str, rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
        widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=False)]
        self._print(title)
        for row in [headers, *rows]:
            cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
            self._print(("  " + "  ".join(cells)).rstrip())


COLOURS = {
    StepStatus.RAN: "green",
    StepStatus.SKIPPED: "dim",
    StepStatus.DRY_RUN: "yellow",
    StepStatus.FAILED: "red",
}


def _t(text: str, style: str = "") -> Any:
    """rich's Text: shown as written, never parsed as markup."""
    from rich.text import Text

    return Text(text, style=style)


class RichConsole(Console):
    """Colour, a progress bar fed by ninja's "[n/m]" lines, and a summary table.

    Our texts hold paths and compiler output, so they are never read as rich markup.
    """

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        super().__init__(stream)
        from rich.console import Console as Terminal

        self.terminal = Terminal(file=self.stream, highlight=False)
        self._progress: Any = None
        self._task: Any = None

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def end_progress(self) -> None:
        self._stop_progress()

    def step(self, name: str) -> None:
        self._stop_progress()
        self.terminal.print(_t(f"==> {name}", style="bold cyan"))

    def command(self, command: Command, dry_run: bool) -> None:
        self._stop_progress()
        style = "yellow" if dry_run else "bold"
        self.terminal.print(
            command_line(command, dry_run), style=style, markup=False, soft_wrap=True
        )

    def output(self, line: str) -> None:
        self.terminal.print(line, markup=False, soft_wrap=True)

    def progress(self, done: int, total: int) -> None:
        if total <= 1:  # a no-op build's lone install edge: no bar worth drawing
            return
        if self._progress is None:
            from rich import progress as bar

            self._progress = bar.Progress(
                bar.TextColumn("building", style="cyan", markup=False),
                bar.BarColumn(),
                bar.MofNCompleteColumn(),
                bar.TimeElapsedColumn(),
                console=self.terminal,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("build", total=total)
        self._progress.update(self._task, completed=done, total=total)

    def note(self, text: str) -> None:
        self.terminal.print(_t(f"    {self.ours(text)}", style="dim"))

    def warn(self, text: str) -> None:
        self._stop_progress()
        line = _t("warning: ", style="bold yellow").append(self.ours(text), style="")
        self.terminal.print(line)

    def done(self, result: StepResult) -> None:
        self._stop_progress()
        colour = COLOURS[result.status]
        timing = f" ({result.seconds:.1f}s)" if result.ran else ""
        line = _t(f"    {result.name} {result.status.value}{timing}", style=colour)
        self.terminal.print(line.append(f": {result.detail}" if result.detail else "", style=""))

    def summary(self, results: Sequence[StepResult], seconds: float) -> None:
        from rich.table import Table

        self._stop_progress()
        table = Table(title=f"done in {seconds:.1f}s", title_justify="left")
        for column in ("step", "status", "time", "detail"):
            table.add_column(column)
        for r in results:
            table.add_row(
                r.name, r.status.value, f"{r.seconds:.1f}s" if r.ran else "", _t(r.detail)
            )
        self.terminal.print(table)

    def table(self, title: str, rows: Sequence[Sequence[str]], headers: Sequence[str]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*[_t(str(c)) for c in row])
        self.terminal.print(table)


def wants_rich(stream: TextIO, environ: Mapping[str, str]) -> bool:
    if environ.get("NO_COLOR") or environ.get("CI") or environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def make_console(
    stream: Optional[TextIO] = None, environ: Optional[Mapping[str, str]] = None
) -> Console:
    stream = stream or sys.stdout
    environ = os.environ if environ is None else environ
    return RichConsole(stream) if wants_rich(stream, environ) else Console(stream)
