"""The memory gate: the first element of every compiler launcher our presets write.

    <venv python> -S -E <checkout>/.vllm-build-tools/gate.py --store S --reservations R -- \
        [ccache|sccache] <compiler> ... -c <source> -o <unit>.o

Before a compile starts, it waits while the memory this build may use is below the unit's
expected peak, then `os.execvp`s the rest of its argv (same pid: signals and the exit code pass
through unchanged, nothing is left behind). It protects the FIRST build too, before
`invoke presets` could plan a heavy pool from measured peaks.

- Expected peak: the unit's learned peak from the store insight/memory.py writes (plain JSON,
  `{unit: bytes}`, units relative to the build dir, where ninja runs us), else its family's
  (`family_peak`: the units of its folder, learned as they end), else a prior by language:
  `PRIOR_CUDA` for .cu/.hip units, `PRIOR_CXX` for the rest (see their comments).
- Available: the tighter of /proc/meminfo's MemAvailable and, for the memory cgroup we run in
  and each ancestor with a limit, limit - (usage - inactive file pages) (v1:
  memory.limit_in_bytes / memory.usage_in_bytes, v2: memory.max / memory.current).
- Reservations: a compile that was admitted but has not reached its peak yet will still take
  memory that MemAvailable does not show, so 16 compiles starting at once must not all see the
  same free memory. Each admitted compile leaves a small file in the reservations dir (pid,
  start time, expected peak, cgroup); what it still holds back is its peak minus what its
  process tree uses now. A file whose pid is gone (or was reused: the start time differs)
  expired with its compile; the next gate removes it. Under sccache the work runs in the
  server's children, not under the client: processes naming the unit's object (with the build
  dir as cwd) or its source count as its tree too.
- No deadlock: a compile is always admitted when no other gated compile runs (a unit that needs
  more than the machine has then runs alone, and says so in one line on stderr).
- Never a failed compile that could proceed: any error of the gate itself is one line on stderr,
  then the compile runs ungated; a missing or unreadable store means the priors.

Standalone on purpose: cmake and ninja execute it with the checkout venv's python, so it
and its three modules (gate_peaks.py: what a compile needs; gate_memory.py: what the machine
has; gate_reservations.py: what admitted compiles still take), installed beside it, import
nothing but the standard library (nothing of build_tools, which is not installed there) and
read /proc themselves; they are the one exception to "process/procfs.py reads /proc" (their
reads are few: /proc/self, /proc/meminfo, each process's stat, statm and, under sccache,
cmdline). Its overhead on a compile that does not wait is the interpreter's start plus one
scan of /proc when other compiles run (measured: README, "The memory gate").

`VLLM_BUILD_GATE_TEST_AVAILABLE` (bytes) replaces the measured available memory: for tests only.
"""

from __future__ import annotations

import os
import sys
import time

# Only os, sys, time (and fcntl) at run time: json, typing, random or collections would double
# the gate's start (~25, 15, 10, 11 ms each against ~30 ms for the interpreter itself).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
if TYPE_CHECKING or __package__:
    from build_tools.process import gate_memory as machine
    from build_tools.process import gate_peaks as peaks
    from build_tools.process import gate_reservations as held
else:  # the installed gate: its modules lie beside it, first on sys.path
    import gate_memory as machine
    import gate_peaks as peaks
    import gate_reservations as held

POLL_S = 0.3  # between two looks at memory while waiting (plus up to 0.1 s of jitter)
LOCK = ".lock"
# A compile that waited appends "unit<TAB>seconds<TAB>bytes expected<TAB>why" to the store's
# name + WAITS: the build says how long the gate held its compiles (a wait prints nothing).
WAITS = ".waits"
# Written beside the gate by `install`, and imported by it.
MODULES = ("gate_peaks.py", "gate_memory.py", "gate_reservations.py")


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


def admit(options: Options, environ: Mapping[str, str]) -> None:
    """Wait until the compile fits, then record its reservation (returns to exec it). The
    store is read again while waiting: units that end meanwhile teach their family."""
    peak, why = peaks.expected_peak(options.command, peaks.read_store(options.store))
    directory = options.reservations
    if not directory:
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.stat(directory).st_uid != os.getuid():  # another user's files must not hold us back
        raise PermissionError(f"{directory} belongs to another user")
    me, boot = os.getpid(), machine.boot_id()
    stat = machine.stat_of(me)
    cgroup, v2 = machine.own_cgroup()
    levels = machine.cgroup_levels(cgroup, v2)
    unit = peaks.unit_of(options.command)
    source = peaks.source_of(options.command)
    cwd = os.getcwd()
    entry = held.Reservation(
        pid=me,
        start=stat[2] if stat else 0,
        boot=boot,
        peak=peak,
        unit=unit,
        source=os.path.join(cwd, source) if source else "",
        cwd=cwd,
        cgroup=cgroup,
        sccache=any(os.path.basename(a) == "sccache" for a in options.command[:1]),
    )
    import fcntl  # POSIX only; imported here so the module stays importable anywhere

    began, waited = time.monotonic(), False
    with open(os.path.join(directory, LOCK), "a") as lock:
        while True:
            fcntl.flock(lock, fcntl.LOCK_EX)
            others = held.live(directory, boot, me)
            free = held.available(levels, others, environ)
            fits = free is None or free >= peak
            if fits or not others:
                if not fits and free is not None:
                    say(
                        f"{unit or source or 'this compile'} expects {_gib(peak)} ({why}), "
                        f"{_gib(max(free, 0))} available: no other compile runs, so it runs "
                        "alone"
                    )
                path = os.path.join(directory, f"{me}{held.SUFFIX}")
                with open(path + ".tmp", "w", encoding="utf-8") as handle:
                    handle.write(entry.text())
                os.replace(path + ".tmp", path)
                fcntl.flock(lock, fcntl.LOCK_UN)
                if waited and options.store:
                    line = f"{unit or source}\t{time.monotonic() - began:.1f}\t{peak}\t{why}\n"
                    record_wait(options.store + WAITS, line)
                return
            fcntl.flock(lock, fcntl.LOCK_UN)
            waited = True
            time.sleep(POLL_S + (me % 10) / 100)  # jitter: waiting gates do not look at once
            if why != "learned":
                peak, why = peaks.expected_peak(options.command, peaks.read_store(options.store))
                entry.peak = peak


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
    try:
        options = parse(argv)
    except ValueError as exc:
        say(f"cannot run: {exc} (usage: gate.py --store S --reservations R -- COMMAND...)")
        return 2
    try:
        admit(options, environ)
    except Exception as exc:  # never the reason a compile that could run fails
        say(f"{type(exc).__name__}: {exc}; compiling without waiting")
    try:
        os.execvp(options.command[0], options.command)
    except OSError as exc:
        say(f"cannot run {options.command[0]}: {exc.strerror}")
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
