"""The memory gate's watch over an admitted compile (gate.py): the gate runs the compile as its
child and looks at the memory the build may use every POLL_S. Admission works from expected
peaks, and an expectation can be low (a unit nothing was measured of, an edit that made a unit
heavier); when what is really available falls below the margin, compiles are paused (SIGSTOP,
their processes keep what they hold but take no more) youngest first, one at a time, until
memory stops falling; the oldest running compile is never paused, so one always moves on. A
paused compile resumes, oldest first, once there is room again, or when nothing else runs.
While any compile is paused, no new one is admitted.
Installed beside gate.py and run with it: the standard library only."""

from __future__ import annotations

import os
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
if TYPE_CHECKING or __package__:
    from build_tools.process import gate_memory as machine
    from build_tools.process import gate_reservations as held
else:  # the installed gate: its modules lie beside it, first on sys.path
    import gate_memory as machine
    import gate_reservations as held

POLL_S = 0.25
PAUSED = ".paused"
LAST_PAUSE = ".last-pause"
# Between two pauses: time to see whether the last one stopped memory from falling.
SPACING_NS = 500_000_000
# A paused compile resumes once RESUME times the margin is available again.
RESUME = 2
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
TEST_NOW = "VLLM_BUILD_GATE_TEST_AVAILABLE_NOW_FILE"  # tests only: what is available now
# Lines of the gate's record (gate.WAITS): "paused<TAB>unit<TAB>bytes available" as a compile is
# paused, "resumed<TAB>unit<TAB>seconds paused" as it resumes.
PAUSE_LINE = "paused"
RESUME_LINE = "resumed"


def available_now(levels: Sequence[machine.Level], environ: Mapping[str, str]) -> int | None:
    """What the machine (and each limited cgroup we run in) has available now."""
    forced = environ.get(TEST_NOW)
    if forced:  # a file, so that a test can change it while the compile runs
        try:
            return int(machine.read_text(forced))
        except (OSError, ValueError):
            return None
    bounds = [machine.meminfo()[1]] + [machine.level_available(level) for level in levels]
    found = [b for b in bounds if b is not None]
    return min(found) if found else None


def paused(directory: str, boot: str) -> set[int]:
    """The pids of the gates whose compile is paused now (files of gates that ended removed)."""
    return {r.pid for r in held.live(directory, boot, 0, PAUSED)}


def _tree(root: int, entry: held.Reservation) -> list[int]:
    """The processes doing `entry`'s compile: the child and its descendants (and, under
    sccache, the server's processes that compile its unit)."""
    parents = machine.parent_table()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    starts = [root]
    if entry.sccache:
        for pid in parents:
            text = machine.cmdline_of(pid)
            if (entry.source and entry.source in text) or (
                entry.unit and entry.unit in text and machine.cwd_of(pid) == entry.cwd
            ):
                starts.append(pid)
    found: list[int] = []
    stack = list(starts)
    while stack:
        pid = stack.pop()
        if pid in found or pid == os.getpid():
            continue
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _signal(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class Watch:
    """One admitted compile, run as the gate's child and watched until it ends."""

    def __init__(
        self,
        entry: held.Reservation,
        directory: str,
        levels: Sequence[machine.Level],
        environ: Mapping[str, str],
        margin: int,
        record: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.entry, self.directory, self.levels = entry, directory, levels
        self.environ, self.margin, self.record = environ, margin, record
        self.child = 0
        self.stopped: list[int] = []
        self.pauses = 0
        self.paused_s = 0.0
        self._since = 0.0

    def run(self, command: Sequence[str]) -> int:
        """Start `command`, watch it, end as it ended (its exit status, or its signal)."""
        self.child = os.fork()
        if self.child == 0:  # the compile: the gate's process group, ninja's
            try:
                for forwarded in FORWARDED:
                    signal.signal(forwarded, signal.SIG_DFL)
                os.execvp(command[0], list(command))
            except OSError as exc:
                os.write(2, f"vllm-build-tools memory gate: cannot run {command[0]}: "
                            f"{exc.strerror}\n".encode())  # fmt: skip
            os._exit(127)
        for forwarded in FORWARDED:
            signal.signal(forwarded, self._forward)
        try:
            status = self._watch()
        finally:
            self._resume()
        if os.WIFSIGNALED(status):  # end as the compile ended: ninja reads the signal
            ended = os.WTERMSIG(status)
            signal.signal(ended, signal.SIG_DFL)
            os.kill(os.getpid(), ended)
        return os.waitstatus_to_exitcode(status) if status else 0

    def _forward(self, sig: int, _frame: object) -> None:
        """A signal for the gate is the compile's: a paused compile is resumed to take it."""
        _signal([self.child], sig)
        self._resume()

    def _watch(self) -> int:
        while True:
            try:
                pid, status = os.waitpid(self.child, os.WNOHANG)
            except ChildProcessError:
                return 0
            if pid == self.child:
                return status
            try:
                self._look()
            except Exception:  # the watch is never the reason a compile fails
                pass
            time.sleep(POLL_S)

    def _look(self) -> None:
        free = available_now(self.levels, self.environ)
        if free is None:
            return
        if not self.stopped and free >= self.margin:
            return
        import fcntl

        with open(os.path.join(self.directory, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            running = held.live(self.directory, self.entry.boot, 0)
            stopped = paused(self.directory, self.entry.boot)
            going = [r for r in running if r.pid not in stopped]
            if self.stopped:
                older = [r for r in running if r.pid in stopped and r.order() < self.entry.order()]
                if not going or (free >= RESUME * self.margin and not older):
                    self._resume()
                return
            mine = self.entry.order()
            if not any(r.order() < mine for r in going):
                return  # the oldest running compile never pauses
            if any(r.order() > mine for r in going):
                return  # a younger one pauses first
            if time.monotonic_ns() - _last_pause(self.directory) < SPACING_NS:
                return
            self.stopped = _tree(self.child, self.entry)
            _signal(self.stopped, signal.SIGSTOP)
            _mark(os.path.join(self.directory, LAST_PAUSE), str(time.monotonic_ns()))
            _mark(self._paused_file(), self.entry.text())
            self.pauses += 1
            self._since = time.monotonic()
            self.record(f"{PAUSE_LINE}\t{self.name}\t{free}\n")

    @property
    def name(self) -> str:
        return self.entry.unit or os.path.basename(self.entry.source) or "a compile"

    def _paused_file(self) -> str:
        return os.path.join(self.directory, f"{self.entry.pid}{PAUSED}")

    def _resume(self) -> None:
        if not self.stopped:
            return
        _signal(self.stopped, signal.SIGCONT)
        self.stopped = []
        seconds = time.monotonic() - self._since
        self.paused_s += seconds
        self.record(f"{RESUME_LINE}\t{self.name}\t{seconds:.1f}\n")
        try:
            os.unlink(self._paused_file())
        except OSError:
            pass


def _last_pause(directory: str) -> int:
    try:
        return int(machine.read_text(os.path.join(directory, LAST_PAUSE)))
    except (OSError, ValueError):
        return 0


def _mark(path: str, text: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)
