"""ninja's `.ninja_log`: what each edge of each build cost.

Versions 5, 6 and 7 share one line format, tab-separated: start and end (milliseconds since
that build started), the output's mtime, the output, the command's hash. ninja appends one
line per finished edge, in the order they finish, so within one build the end times never go
down; a new build restarts its clock at 0. A build that follows a shorter one may not bring
the end times down, so the mtime tells them apart too: it dates each build's start. When the
log grows, ninja rewrites it with only the newest line per output (in no particular order)
before appending the next build: the last line of an output is always its newest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools.errors import BuildToolsError

LOG = ".ninja_log"
VERSIONS = (5, 6, 7)
_HEADER = re.compile(r"# ninja log v(\d+)")
COMPILED = (".o", ".obj")
LINKED = (".so", ".a", ".dylib", ".dll", ".lib", ".pyd")


@dataclass(frozen=True)
class Entry:
    """One finished edge."""

    start_ms: int
    end_ms: int
    mtime: int
    output: str
    hash: str

    @property
    def ms(self) -> int:
        return max(0, self.end_ms - self.start_ms)

    @property
    def kind(self) -> str:
        """ "compile" (an object file), "link" (a library or module) or "other"."""
        name = Path(self.output).name
        if name.endswith(COMPILED):
            return "compile"
        if name.endswith(LINKED) or ".so." in name:
            return "link"
        return "other"


@dataclass(frozen=True)
class Log:
    version: int
    entries: tuple[Entry, ...]


def parse(text: str, where: str = LOG) -> Log:
    """Every entry in file order; a line that is not an entry (a truncated last line) is skipped."""
    lines = text.splitlines()
    header = _HEADER.fullmatch(lines[0].strip()) if lines else None
    if header is None or int(header.group(1)) not in VERSIONS:
        found = lines[0].strip() if lines else "an empty file"
        raise BuildToolsError(
            f"{where} is not a ninja log this tool reads (versions {VERSIONS}): it starts with "
            f"{found!r}.",
            "rebuild with the ninja of the checkout's venv (`invoke build`)",
        )
    entries = []
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 5 or line.startswith("#"):
            continue
        try:
            start, end, mtime = int(fields[0]), int(fields[1]), int(fields[2])
        except ValueError:
            continue
        entries.append(Entry(start, end, mtime, fields[3], fields[4]))
    return Log(int(header.group(1)), tuple(entries))


def read(build_dir: Path) -> Log:
    """The build dir's log; BuildToolsError when there is none (nothing was built)."""
    path = build_dir / LOG
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise BuildToolsError(
            f"{build_dir} has no {LOG}: nothing was built there yet, so there is no build to "
            "report on; build first.",
            "run `invoke build`",
        ) from None
    return parse(text, str(path))


@dataclass(frozen=True)
class Mark:
    """Where the log ended at some moment: ninja rewrites a recompacted log as a new file."""

    inode: int = 0
    size: int = 0


def mark(build_dir: Path) -> Mark:
    try:
        info = (build_dir / LOG).stat()
    except OSError:
        return Mark()
    return Mark(info.st_ino, info.st_size)


def appended(build_dir: Path, since: Mark) -> list[Entry]:
    """Entries written since `since`; the newest build's entries when the log is another file
    now (recompacted, or new)."""
    now = mark(build_dir)
    if now == Mark():
        return []
    if now.inode != since.inode or now.size < since.size:
        log = read(build_dir)
        return last_build(log.entries, log.version)
    try:
        with (build_dir / LOG).open("rb") as handle:
            handle.seek(since.size)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return list(parse(f"# ninja log v{VERSIONS[-1]}\n" + text).entries)


@dataclass(frozen=True)
class _Dated:
    """When an entry's build started by the file system's clock (ms): `at` is the estimate,
    `after` a bound it cannot be later than that start, `slack` the clock's precision."""

    at: float
    after: float
    slack: float


def _dated(entry: Entry, version: int) -> Optional[_Dated]:
    """From version 6 on ninja logs when each command started as its mtime; before, the
    output's mtime, written before the command ended. Either way mtime - end is no later than
    the build's start. Custom commands (restat) may log an output's later mtime: not counted."""
    if entry.kind == "other":
        return None
    slack = 250.0
    for floor, per_ms in ((1e17, 1e6), (1e14, 1e3), (1e11, 1.0)):  # ns, µs, ms
        if entry.mtime > floor:
            wall = entry.mtime / per_ms
            break
    else:
        if entry.mtime <= 1e8:  # 0: the output did not exist
            return None
        wall, slack = entry.mtime * 1000.0, 2000.0  # whole seconds
    at = wall - (entry.start_ms if version >= 6 else entry.end_ms)
    return _Dated(at, wall - entry.end_ms, slack)


def builds(entries: Sequence[Entry], version: int = VERSIONS[-1]) -> list[list[Entry]]:
    """The entries split into builds: a new build starts where the end time goes down, or
    where an entry's build certainly started later than the current one's."""
    found: list[list[Entry]] = []
    started: Optional[float] = None
    for entry in entries:
        when = _dated(entry, version)
        later = started is not None and when is not None and when.after > started + when.slack
        if not found or entry.end_ms < found[-1][-1].end_ms or later:
            found.append([])
            started = None
        found[-1].append(entry)
        if when is not None:
            started = when.at if started is None else max(started, when.at)
    return found


def did_work(build: Sequence[Entry]) -> bool:
    return any(e.kind != "other" for e in build)


def last_build(entries: Sequence[Entry], version: int = VERSIONS[-1]) -> list[Entry]:
    """The newest build that compiled or linked something (a no-op build runs only CMake's
    install edge), else the newest build; [] for an empty log."""
    found = builds(entries, version)
    return next((b for b in reversed(found) if did_work(b)), found[-1] if found else [])
