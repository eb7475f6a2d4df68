"""The memory gate's reservations (gate.py): each admitted compile leaves a file naming itself
and the peak it was admitted for, so compiles that start together do not all count the same
free memory; what they may still take is subtracted from what is available.
Installed beside gate.py and run with it: the standard library only."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
if TYPE_CHECKING or __package__:
    from build_tools.process import gate_memory as machine
else:  # the installed gate: its modules lie beside it, first on sys.path
    import gate_memory as machine

SUFFIX = ".reservation"
TEST_AVAILABLE = "VLLM_BUILD_GATE_TEST_AVAILABLE"


class Reservation:
    """One admitted compile, as its file records it (one field a line)."""

    FIELDS = ("pid", "start", "boot", "peak", "unit", "source", "cwd", "cgroup", "sccache")
    __slots__ = FIELDS

    def __init__(
        self,
        pid: int,
        start: int,  # clock ticks since boot (/proc/<pid>/stat field 22): with pid, who it is
        boot: str,
        peak: int,  # the bytes it was admitted for
        unit: str,  # its object, relative to `cwd` ("" when the command names none)
        source: str,  # its source, absolute ("" when the command names none)
        cwd: str,
        cgroup: str,  # its memory cgroup (the path /proc/self/cgroup gives)
        sccache: bool,  # its work runs in the sccache server's children, outside its tree
    ) -> None:
        self.pid, self.start, self.boot, self.peak = pid, start, boot, peak
        self.unit, self.source, self.cwd, self.cgroup = unit, source, cwd, cgroup
        self.sccache = sccache

    def text(self) -> str:
        return "".join(f"{getattr(self, name)}\n" for name in self.FIELDS)

    @classmethod
    def parse(cls, text: str) -> Reservation:
        """ValueError when `text` is not what `text()` writes."""
        lines = text.split("\n")
        if len(lines) != len(cls.FIELDS) + 1 or lines[-1]:
            raise ValueError("not a reservation")
        pid, start, boot, peak, unit, source, cwd, cgroup, sccache = lines[:-1]
        return cls(
            int(pid), int(start), boot, int(peak), unit, source, cwd, cgroup, sccache == "True"
        )


def entries(directory: str) -> Iterator[tuple[str, Reservation]]:
    """The reservation files of `directory` (unreadable ones left out)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        path = os.path.join(directory, name)
        try:
            yield path, Reservation.parse(machine.read_text(path))
        except (OSError, ValueError):
            continue


def live(directory: str, boot: str, me: int) -> list[Reservation]:
    """The reservations of compiles still running (other than `me`); expired files removed."""
    found = []
    for path, entry in entries(directory):
        stat = machine.stat_of(entry.pid) if entry.boot == boot else None
        if stat is None or stat[1] in ("Z", "X") or stat[2] != entry.start:
            try:
                os.unlink(path)
            except OSError:
                pass
        elif entry.pid != me:
            found.append(entry)
    return found


def outstanding(reservations: Sequence[Reservation]) -> dict[int, int]:
    """pid -> the bytes each admitted compile may still take: its peak minus its tree's RSS."""
    if not reservations:
        return {}
    parents = machine.parent_table()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    claimed: dict[int, int] = {}  # pid -> the reservation whose tree it is in
    roots: dict[int, list[int]] = {r.pid: [r.pid] for r in reservations}
    sccache = [r for r in reservations if r.sccache]
    if sccache:  # the sccache server compiles for the client: its children name the unit
        for pid in parents:
            text = machine.cmdline_of(pid)
            for r in sccache:
                if (r.source and r.source in text) or (
                    r.unit and r.unit in text and machine.cwd_of(pid) == r.cwd
                ):
                    roots[r.pid].append(pid)
                    break
    for owner, starts in roots.items():
        stack = list(starts)
        while stack:
            pid = stack.pop()
            if pid in claimed:
                continue
            claimed[pid] = owner
            stack.extend(children.get(pid, ()))
    used: dict[int, int] = {r.pid: 0 for r in reservations}
    for pid, owner in claimed.items():
        used[owner] += machine.rss_of(pid)
    return {r.pid: max(0, r.peak - used[r.pid]) for r in reservations}


def available(
    levels: Sequence[machine.Level], others: Sequence[Reservation], environ: Mapping[str, str]
) -> int | None:
    """What this compile may take now: the tightest bound, less what admitted compiles that
    count against it may still take (None when nothing can be measured)."""
    held = outstanding(others)
    forced = environ.get(TEST_AVAILABLE)
    if forced:
        return int(forced) - sum(held.values())
    bounds = []
    whole = machine.meminfo_available()
    if whole is not None:
        bounds.append(whole - sum(held.values()))
    for level in levels:
        free = machine.level_available(level)
        if free is not None:
            inside = sum(held[r.pid] for r in others if machine.under(r.cgroup, level.path))
            bounds.append(free - inside)
    return min(bounds) if bounds else None
