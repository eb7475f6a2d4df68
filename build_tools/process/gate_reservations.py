"""The memory gate's records (gate.py): each admitted compile leaves a reservation file naming
itself and its unit, so compiles that start together do not all count the same free memory;
each compile still waiting leaves a waiting file with its place in the queue. What admitted
compiles may still take — their expected peak, as known NOW, minus what their processes use —
is subtracted from what is available.
Installed beside gate.py and run with it: the standard library only."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
if TYPE_CHECKING or __package__:
    from build_tools.process import gate_memory as machine
    from build_tools.process import gate_peaks as peaks
else:  # the installed gate: its modules lie beside it, first on sys.path
    import gate_memory as machine
    import gate_peaks as peaks

SUFFIX = ".reservation"
WAITING = ".waiting"
TEST_AVAILABLE = "VLLM_BUILD_GATE_TEST_AVAILABLE"
# Kept free beyond every expectation: the larger of MARGIN_MIN and MARGIN_SHARE of the memory
# the build may use (MemTotal or the tightest cgroup limit). Expectations are estimates.
MARGIN_MIN = 256 * peaks.MiB
MARGIN_SHARE = 0.05
# A compile already above what it was expected to reach shows the estimate was low: it is then
# expected to reach OVERSHOOT times what it uses now.
OVERSHOOT = 1.5


class Reservation:
    """One compile, admitted or waiting, as its file records it (one field a line)."""

    FIELDS = (
        "pid", "start", "boot", "peak", "unit", "source", "cwd", "cgroup", "sccache", "cuda",
        "store", "ticket", "threads",
    )  # fmt: skip
    __slots__ = FIELDS

    def __init__(
        self,
        pid: int,
        start: int,  # clock ticks since boot (/proc/<pid>/stat field 22): with pid, who it is
        boot: str,
        peak: int,  # the bytes expected when it was admitted (or began to wait)
        unit: str,  # its object, relative to `cwd` ("" when the command names none)
        source: str,  # its source, absolute ("" when the command names none)
        cwd: str,
        cgroup: str,  # its memory cgroup (the path /proc/self/cgroup gives)
        sccache: bool,  # its work runs in the sccache server's children, outside its tree
        cuda: bool = False,  # a CUDA/HIP compile (its prior, its family)
        store: str = "",  # the learned peaks of its build dir: its expectation, re-read
        ticket: int = 0,  # when it asked (monotonic ns): its place in the queue
        threads: int = 1,  # the archs nvcc compiles at once (its prior)
    ) -> None:
        self.pid, self.start, self.boot, self.peak = pid, start, boot, peak
        self.unit, self.source, self.cwd, self.cgroup = unit, source, cwd, cgroup
        self.sccache, self.cuda, self.store, self.ticket = sccache, cuda, store, ticket
        self.threads = threads

    def text(self) -> str:
        return "".join(f"{getattr(self, name)}\n" for name in self.FIELDS)

    @classmethod
    def parse(cls, text: str) -> Reservation:
        """ValueError when `text` is not what `text()` writes."""
        lines = text.split("\n")
        if len(lines) != len(cls.FIELDS) + 1 or lines[-1]:
            raise ValueError("not a reservation")
        pid, start, boot, peak, unit, source, cwd, cgroup, sccache, cuda, store, ticket, threads = (
            lines[:-1]
        )
        return cls(
            int(pid), int(start), boot, int(peak), unit, source, cwd, cgroup, sccache == "True",
            cuda == "True", store, int(ticket), int(threads),
        )  # fmt: skip

    def order(self) -> tuple[int, int]:
        return self.ticket, self.pid


def entries(directory: str, suffix: str = SUFFIX) -> Iterator[tuple[str, Reservation | None]]:
    """The files of `directory` with `suffix` (None for one that cannot be read: an older
    gate's, or being written)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.endswith(suffix):
            continue
        path = os.path.join(directory, name)
        try:
            yield path, Reservation.parse(machine.read_text(path))
        except (OSError, ValueError):
            yield path, None


def live(directory: str, boot: str, me: int, suffix: str = SUFFIX) -> list[Reservation]:
    """The records of compiles still running (other than `me`); expired files removed: the pid
    is gone or was reused (start time), or the file names no process we can check."""
    found = []
    for path, entry in entries(directory, suffix):
        if entry is None:
            if _pid_gone(os.path.basename(path)[: -len(suffix)]):
                _remove(path)
            continue
        stat = machine.stat_of(entry.pid) if entry.boot == boot else None
        if stat is None or stat[1] in ("Z", "X") or stat[2] != entry.start:
            _remove(path)
        elif entry.pid != me:
            found.append(entry)
    return found


def _pid_gone(name: str) -> bool:
    return not name.isdigit() or machine.stat_of(int(name)) is None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _usage(reservations: Sequence[Reservation]) -> dict[int, int]:
    """pid -> the resident bytes of each compile's processes now."""
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
    return used


def expectation(
    r: Reservation, used: int, stores: Mapping[str, Mapping[str, int]]
) -> tuple[int, str]:
    """What an admitted compile is expected to reach, as known now: from its build dir's peaks
    as they are now (units that ended since it was admitted taught its family), never below
    what it uses; one that outgrew its expectation is expected to grow on (OVERSHOOT)."""
    store = stores.get(r.store)
    if store is None:
        peak, why = r.peak, ""
    else:
        peak, why = peaks.expected(r.unit, r.cuda, store, r.threads)
    if used > peak:
        return int(used * OVERSHOOT), "outgrew its expectation"
    return peak, why


def outstanding(
    reservations: Sequence[Reservation], stores: Mapping[str, Mapping[str, int]] | None = None
) -> dict[int, int]:
    """pid -> the bytes each admitted compile may still take: its expected peak minus what its
    processes use now."""
    if not reservations:
        return {}
    used = _usage(reservations)
    left = {}
    for r in reservations:
        peak, _ = expectation(r, used[r.pid], stores or {})
        left[r.pid] = max(0, peak - used[r.pid])
    return left


def read_stores(reservations: Sequence[Reservation]) -> dict[str, dict[str, int]]:
    """Each named store, read once."""
    return {r.store: peaks.read_store(r.store) for r in reservations if r.store}


def margin(levels: Sequence[machine.Level], environ: Mapping[str, str]) -> int:
    """What stays free beyond every expectation (MARGIN_MIN, MARGIN_SHARE)."""
    forced = environ.get(TEST_AVAILABLE)
    limits = [int(forced)] if forced else []
    total = None if forced else machine.meminfo()[0]
    if total is not None:
        limits.append(total)
    for level in levels:
        limit = None if forced else machine.level_limit(level)
        if limit is not None:
            limits.append(limit)
    return max(MARGIN_MIN, int(min(limits) * MARGIN_SHARE)) if limits else MARGIN_MIN


def available(
    levels: Sequence[machine.Level],
    others: Sequence[Reservation],
    environ: Mapping[str, str],
    stores: Mapping[str, Mapping[str, int]] | None = None,
) -> int | None:
    """What this compile may take now: the tightest bound, less what admitted compiles that
    count against it may still take (None when nothing can be measured)."""
    held = outstanding(others, stores)
    forced = environ.get(TEST_AVAILABLE)
    if forced:
        return int(forced) - sum(held.values())
    bounds = []
    whole = machine.meminfo()[1]
    if whole is not None:
        bounds.append(whole - sum(held.values()))
    for level in levels:
        free = machine.level_available(level)
        if free is not None:
            inside = sum(held[r.pid] for r in others if machine.under(r.cgroup, level.path))
            bounds.append(free - inside)
    return min(bounds) if bounds else None
