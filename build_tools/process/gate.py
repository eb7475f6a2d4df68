"""The memory gate: the first element of every compiler launcher our presets write.

    <venv python> -S -E <checkout>/.vllm-build-tools/gate.py --store S --reservations R -- \
        [ccache|sccache] <compiler> ... -c <source> -o <unit>.o

Before a compile starts, it waits while it does not fit, then `os.execvp`s the rest of its argv
(same pid: signals and the exit code pass through unchanged, nothing is left behind). It
protects the FIRST build too, before `invoke presets` could plan a heavy pool from measured
peaks, and it never holds a compile that fits.

- Fits: the memory available now covers the unit's expected peak, plus what each compile
  already admitted may still take (its expected peak as known now, less what its processes use
  now), plus a margin (gate_reservations.margin).
- Expected peak (gate_peaks.expected): the unit's measured peak from the store insight/memory.py
  writes (real compiles only: a unit a compiler cache served teaches nothing), else its
  folder's, else this build dir's units of its language scaled, else a prior by language. A
  running compile's expectation is re-read from the store at every look, so evidence that
  arrives while it runs (its family measured) frees what the prior held back; one that outgrew
  its expectation is expected to grow on.
- Available: the tighter of /proc/meminfo's MemAvailable and, for the memory cgroup we run in
  and each ancestor with a limit, limit - (usage - inactive file pages) (v1:
  memory.limit_in_bytes / memory.usage_in_bytes, v2: memory.max / memory.current).
- First come, first served: a compile waits while one that asked before it waits (a waiting
  file with its ticket, the monotonic time it started), so a long unit on the critical path is
  never overtaken by smaller ones behind it.
- Records: each admitted compile leaves a reservation file (pid, start time, unit, store, ...),
  expired once its pid is gone or reused (the next gate removes it). Under sccache the work runs
  in the server's children: processes naming the unit's object or its source count as its own.
- No deadlock: the first in the queue is always admitted when no other gated compile runs (a
  unit bigger than the machine then runs alone, and says so in one line on stderr).
- Never a failed compile that could proceed: any error of the gate itself is one line on stderr,
  then the compile runs ungated; a missing or unreadable store means the priors.

Standalone on purpose: cmake and ninja run it with the checkout venv's python, where build_tools
is not installed, so it and its four modules (gate_peaks: what a compile needs; gate_memory:
what the machine has; gate_reservations: what admitted compiles still take; gate_pause: the
watch), installed beside it, import only the standard library and read their few files of /proc
themselves (the one exception to "process/procfs.py reads /proc"). Overhead on a compile that
does not wait: the interpreter's start and one scan of /proc (docs/real-vllm.md).

`VLLM_BUILD_GATE_TEST_AVAILABLE` (bytes) replaces the measured available memory: for tests only.
"""

from __future__ import annotations

import os
import sys
import time

# Only os, sys, time, signal (7 ms) and fcntl at run time: json, typing, random or collections
# would double the gate's start (~25, 15, 10, 11 ms each against ~30 ms for the interpreter).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
if TYPE_CHECKING or __package__:
    from build_tools.process import gate_memory as machine
    from build_tools.process import gate_pause as watch
    from build_tools.process import gate_peaks as peaks
    from build_tools.process import gate_reservations as held
else:  # the installed gate: its modules lie beside it, first on sys.path
    import gate_memory as machine
    import gate_pause as watch
    import gate_peaks as peaks
    import gate_reservations as held

POLL_S = 0.3  # between two looks at memory while waiting (plus up to 0.1 s of jitter)
LOCK = ".lock"
# The gate appends to the store's name + WAITS a line when a compile begins to wait,
# "held<TAB>unit<TAB>bytes expected<TAB>why<TAB>what held it", and one when a compile that
# waited is admitted, "admitted<TAB>unit<TAB>seconds<TAB>bytes expected<TAB>why": the build
# shows a held compile as it waits and says what the waits cost (ninja prints a compile's
# output only when it ends).
WAITS = ".waits"
HELD = "held"
ADMITTED = "admitted"
# Written beside the gate by `install`, and imported by it.
MODULES = ("gate_peaks.py", "gate_memory.py", "gate_reservations.py", "gate_pause.py")


class Options:
    __slots__ = ("command", "reservations", "store")

    def __init__(self, store: str, reservations: str, command: list[str]) -> None:
        self.store, self.reservations, self.command = store, reservations, command


def parse(argv: Sequence[str]) -> Options:
    """`--store S --reservations R -- COMMAND...` (ValueError when it is not that)."""
    if "--" not in argv:
        raise ValueError("no `--` before the command")
    split = list(argv).index("--")
    head, command = list(argv[:split]), list(argv[split + 1 :])
    values = {head[i]: head[i + 1] for i in range(0, len(head) - 1, 2)}
    if len(head) % 2 or set(values) - {"--store", "--reservations"}:
        raise ValueError(f"unknown options {head}")
    if not command:
        raise ValueError("no command after `--`")
    return Options(values.get("--store", ""), values.get("--reservations", ""), command)


def _gib(value: int) -> str:
    return f"{value / peaks.GiB:.1f} GiB"


def say(text: str) -> None:
    print(f"vllm-build-tools memory gate: {text}", file=sys.stderr, flush=True)


def admit(options: Options, environ: Mapping[str, str], ticket: int = 0) -> watch.Watch | None:
    """Wait until the compile fits and every compile that asked before it was admitted, then
    record its reservation (returns to exec it). Fits: the memory available now covers its
    expected peak, what the admitted compiles may still take (their expected peaks as known
    now, less what they use) and a margin. The store is read again while waiting: units that
    end meanwhile teach their family."""
    directory = options.reservations
    if not directory:
        return None
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.stat(directory).st_uid != os.getuid():  # another user's files must not hold us back
        raise PermissionError(f"{directory} belongs to another user")
    me, boot = os.getpid(), machine.boot_id()
    stat = machine.stat_of(me)
    cgroup, v2 = machine.own_cgroup()
    levels = machine.cgroup_levels(cgroup, v2)
    unit = peaks.unit_of(options.command)
    source = peaks.source_of(options.command)
    cuda = peaks.is_cuda(options.command)
    cwd = os.getcwd()
    store = os.path.abspath(options.store) if options.store else ""
    entry = held.Reservation(
        pid=me,
        start=stat[2] if stat else 0,
        boot=boot,
        peak=0,
        unit=unit,
        source=os.path.join(cwd, source) if source else "",
        cwd=cwd,
        cgroup=cgroup,
        sccache=any(os.path.basename(a) == "sccache" for a in options.command[:1]),
        cuda=cuda,
        store=store,
        ticket=ticket or time.monotonic_ns(),
        threads=peaks.nvcc_threads(options.command) if cuda else 1,
    )
    waiting = os.path.join(directory, f"{me}{held.WAITING}")
    margin = held.margin(levels, environ)
    try:
        _queue(options, entry, levels, environ, waiting, margin)
    finally:  # admitted, or the gate failed: a waiting file left would hold the queue
        _remove(waiting)
    waits = options.store + WAITS if options.store else ""

    def record(line: str) -> None:
        if waits:
            record_wait(waits, line)

    return watch.Watch(entry, directory, levels, environ, margin, record)


def _queue(
    options: Options,
    entry: held.Reservation,
    levels: Sequence[machine.Level],
    environ: Mapping[str, str],
    waiting: str,
    margin: int,
) -> None:
    """Wait for the compile's turn (see `admit`), in the queue as `waiting` while it waits."""
    import fcntl  # POSIX only; imported here so the module stays importable anywhere

    directory, me, boot, store = options.reservations, entry.pid, entry.boot, entry.store
    unit, cuda, waited = entry.unit, entry.cuda, False
    name = unit or os.path.basename(entry.source) or "this compile"
    began = time.monotonic()
    with open(os.path.join(directory, LOCK), "a") as lock:
        while True:
            fcntl.flock(lock, fcntl.LOCK_EX)
            others = held.live(directory, boot, me)
            queue = held.live(directory, boot, me, held.WAITING)
            ahead = [w for w in queue if w.order() < entry.order()]
            stores = held.read_stores(others)
            own = stores.get(store) if store else None
            entry.peak, why = peaks.expected(
                unit, cuda, own if own is not None else peaks.read_store(store), entry.threads
            )
            free = held.available(levels, others, environ, stores)
            stopped = watch.paused(directory, boot)
            fits = not stopped and (free is None or free - margin >= entry.peak)
            if not ahead and (fits or not others):
                if not fits and free is not None:
                    say(
                        f"{name} expects {_gib(entry.peak)} ({why}), {_gib(max(free, 0))} "
                        "available: no other compile runs, so it runs alone"
                    )
                _write(os.path.join(directory, f"{me}{held.SUFFIX}"), entry.text())
                _remove(waiting)
                fcntl.flock(lock, fcntl.LOCK_UN)
                if waited and options.store:
                    seconds = time.monotonic() - began
                    record_wait(
                        options.store + WAITS,
                        f"{ADMITTED}\t{name}\t{seconds:.1f}\t{entry.peak}\t{why}\n",
                    )
                return
            if not waited:
                waited = True
                _write(waiting, entry.text())
                if options.store:
                    behind = f"{len(ahead)} compile(s) asked first" if ahead else ""
                    short = f"{_gib(max(free or 0, 0))} available" if not fits else ""
                    if stopped:
                        short = f"memory ran short: {len(stopped)} compile(s) paused"
                    record_wait(
                        options.store + WAITS,
                        f"{HELD}\t{name}\t{entry.peak}\t{why}\t"
                        f"{'; '.join(filter(None, [short, behind]))}\n",
                    )
            fcntl.flock(lock, fcntl.LOCK_UN)
            time.sleep(POLL_S + (me % 10) / 100)  # jitter: waiting gates do not look at once


def _write(path: str, text: str) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def record_wait(path: str, line: str) -> None:
    """Append one line (a single write with O_APPEND: lines of compiles ending together do not
    mix); a file that cannot be written only loses the record."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(handle, line.encode("utf-8", "replace"))
    except OSError:
        pass
    finally:
        os.close(handle)


def install(target: str | os.PathLike[str]) -> bool:
    """Write this script to `target`, where a preset names it, and its modules beside it,
    unless they are there already (the presets step, and configure and build for a preset
    older than this suite). The script comes last: an older one in place needs no module."""
    here, into = os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.fspath(target))
    wrote = False
    for name, path in [(m, os.path.join(into, m)) for m in MODULES] + [
        (os.path.basename(__file__), os.fspath(target))
    ]:
        with open(os.path.join(here, name), encoding="utf-8") as handle:
            text = handle.read()
        try:
            with open(path, encoding="utf-8") as handle:
                if handle.read() == text:
                    continue
        except OSError:
            pass
        os.makedirs(into or ".", exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
        wrote = True
    return wrote


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    ticket = time.monotonic_ns()  # the compile's place in the queue: when ninja started it
    try:
        options = parse(argv)
    except ValueError as exc:
        say(f"cannot run: {exc} (usage: gate.py --store S --reservations R -- COMMAND...)")
        return 2
    watching = None
    try:
        watching = admit(options, environ, ticket)
    except Exception as exc:  # never the reason a compile that could run fails
        say(f"{type(exc).__name__}: {exc}; compiling without waiting")
    if watching is not None:
        return watching.run(options.command)
    try:
        os.execvp(options.command[0], options.command)
    except OSError as exc:
        say(f"cannot run {options.command[0]}: {exc.strerror}")
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
