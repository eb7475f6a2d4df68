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
imports nothing but the standard library (nothing of build_tools, which is not installed
there) and reads /proc itself; it is the one exception to "process/procfs.py reads /proc"
(its reads are few: /proc/self, /proc/meminfo, each process's stat, statm and, under sccache,
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
    from collections.abc import Iterator, Mapping, Sequence

GiB = 1024**3
# Priors, used for a unit no build has measured yet: conservative on purpose (the first build is
# the one without a plan), from the README's measured figures. CUDA: vLLM 0.20's machete units
# of `_C` peak at 11.2 GiB each (H200 machine); 12 GiB covers them (the FA3 units, reported at
# 17-18 GB, exceed it: they are learned after their first build). C/C++: the suite's fixed
# budget per compile job (`mem_per_job_gb`, 2 GiB): vLLM's `_moe_C` units peaked at 1.19-2.94
# GiB on a 2-core machine, the heaviest a .cu one; the example's C++ units at 57-101 MiB.
PRIOR_CUDA = 12 * GiB
PRIOR_CXX = 2 * GiB
# A unit not measured yet whose folder holds FAMILY_MIN measured units of its language expects
# FAMILY_MARGIN times their largest peak instead of the prior: on the 2-core, 24 GiB machine a
# first build of vLLM's `_moe_C` ran its CUDA units one at a time under the 12 GiB prior (48 min
# against 37 without the gate), while they peaked at 1.2-3.0 GiB.
FAMILY_MIN = 3
FAMILY_MARGIN = 1.5
POLL_S = 0.3  # between two looks at memory while waiting (plus up to 0.1 s of jitter)
TEST_AVAILABLE = "VLLM_BUILD_GATE_TEST_AVAILABLE"
UNLIMITED = 1 << 60  # a cgroup v1 limit this large means "no limit"
PROC = "/proc"
PAGE = os.sysconf("SC_PAGE_SIZE")
CUDA_SUFFIXES = (".cu", ".hip")
SOURCE_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".c++", ".cu", ".hip", ".C")
LOCK = ".lock"
SUFFIX = ".reservation"


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


# ------------------------------------------------------------------------ what the compile is


def unit_of(argv: Sequence[str]) -> str:
    """The object a compile command makes (`-c ... -o X.o`), "" for anything else."""
    if "-c" not in argv or "-o" not in argv:
        return ""
    index = argv.index("-o") + 1
    return argv[index] if index < len(argv) and argv[index].endswith((".o", ".obj")) else ""


def source_of(argv: Sequence[str]) -> str:
    """The source a compile command reads ("" when none is recognisable)."""
    for item in argv[1:]:
        if item.endswith(SOURCE_SUFFIXES) and not item.startswith("-"):
            return item
    return ""


def _cuda_unit(unit: str) -> bool:
    return unit.endswith(tuple(s + o for s in CUDA_SUFFIXES for o in (".o", ".obj")))


def family_peak(unit: str, store: Mapping[str, int]) -> int:
    """What the unit's family has shown: FAMILY_MARGIN times the largest learned peak of the
    units in its folder in the same language, once FAMILY_MIN of them are learned (0 before).
    Units of one folder are alike (vLLM's machete, marlin or FA3 instantiations), and the
    build records each unit as it ends, so a first build learns as it goes."""
    folder, cuda = os.path.dirname(unit), _cuda_unit(unit)
    peaks = [
        peak
        for name, peak in store.items()
        if peak > 0 and os.path.dirname(name) == folder and _cuda_unit(name) == cuda
    ]
    return int(max(peaks) * FAMILY_MARGIN) if len(peaks) >= FAMILY_MIN else 0


def expected_peak(command: Sequence[str], store: Mapping[str, int]) -> tuple[int, str]:
    """The unit's learned peak, else its family's, else the prior of its language; with where
    it came from."""
    unit = unit_of(command)
    learned = store.get(unit, 0) if unit else 0
    if learned > 0:
        return learned, "learned"
    family = family_peak(unit, store) if unit else 0
    if family > 0:
        return family, "its folder's units"
    cuda = source_of(command).endswith(CUDA_SUFFIXES) or any(
        os.path.basename(item) == "nvcc" for item in command[:3]
    )
    return (PRIOR_CUDA, "CUDA prior") if cuda else (PRIOR_CXX, "C/C++ prior")


def read_store(path: str) -> dict[str, int]:
    """The learned peaks ({} when the store is missing, unreadable or not what memory.py
    writes: a JSON object of unit -> bytes)."""
    try:
        return parse_peaks(_read(path))
    except (OSError, ValueError):
        return {}


ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def parse_peaks(text: str) -> dict[str, int]:
    """A JSON object of strings to integers, read without the json module (its import alone
    costs more than the rest of the gate); ValueError for anything else."""
    at, end, peaks = 0, len(text), {}

    def skip(i: int) -> int:
        while i < end and text[i] in " \t\r\n":
            i += 1
        return i

    def expect(i: int, char: str) -> int:
        i = skip(i)
        if i >= end or text[i] != char:
            raise ValueError(f"expected {char!r} at {i}")
        return i + 1

    def string(i: int) -> tuple[str, int]:
        i, out = expect(i, '"'), []
        while i < end and text[i] != '"':
            if text[i] == "\\":
                code = text[i + 1 : i + 2]
                if code == "u":
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                out.append(ESCAPES[code])  # KeyError: not JSON
                i += 2
                continue
            out.append(text[i])
            i += 1
        return "".join(out), expect(i, '"')

    try:
        at = expect(at, "{")
        if skip(at) < end and text[skip(at)] == "}":
            return {}
        while True:
            key, at = string(at)
            at = skip(expect(at, ":"))
            digits = at
            while at < end and text[at].isdigit():
                at += 1
            peaks[key] = int(text[digits:at])
            at = skip(at)
            if at < end and text[at] == ",":
                at += 1
                continue
            expect(at, "}")
            return peaks
    except (IndexError, KeyError) as exc:
        raise ValueError(f"not a JSON object of integers: {exc}") from None


# ------------------------------------------------------------------------------- /proc, cgroup


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def stat_of(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start ticks) of `pid`, None when it is gone."""
    try:
        fields = _read(f"{PROC}/{pid}/stat").rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def rss_of(pid: int) -> int:
    """Resident bytes of `pid` now (0 when it is gone)."""
    try:
        return int(_read(f"{PROC}/{pid}/statm").split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def boot_id() -> str:
    try:
        return _read(f"{PROC}/sys/kernel/random/boot_id").strip()
    except OSError:
        return ""


def meminfo_available() -> int | None:
    try:
        for line in _read(f"{PROC}/meminfo").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return None


class Level:
    """One memory cgroup: ours or an ancestor."""

    __slots__ = ("directory", "path", "v2")

    def __init__(self, path: str, directory: str, v2: bool) -> None:
        self.path = path  # as /proc/self/cgroup names it ("/a/b")
        self.directory = directory
        self.v2 = v2

    def __repr__(self) -> str:
        return f"Level({self.path!r}, {self.directory!r}, v2={self.v2})"


def own_cgroup() -> tuple[str, bool]:
    """The memory cgroup we run in, and whether it is cgroup v2 ("" when none)."""
    try:
        lines = _read(f"{PROC}/self/cgroup").splitlines()
    except OSError:
        return "", False
    for line in lines:  # v1: "4:memory:/path" wins over v2's "0::/path" on a hybrid system
        parts = line.split(":", 2)
        if len(parts) == 3 and "memory" in parts[1].split(","):
            return parts[2], False
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[0] == "0" and parts[1] == "":
            return parts[2], True
    return "", False


def cgroup_levels(path: str, v2: bool) -> list[Level]:
    """Our memory cgroup and its ancestors, as directories of the mounted hierarchy."""
    if not path:
        return []
    try:
        mounts = _read(f"{PROC}/self/mountinfo").splitlines()
    except OSError:
        return []
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, kind = left.split(), right.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        fstype, options = kind[0], kind[2].split(",")
        if (v2 and fstype == "cgroup2") or (not v2 and fstype == "cgroup" and "memory" in options):
            root, mount = fields[3], fields[4]
            break
    else:
        return []
    if root != "/" and not (path == root or path.startswith(root + "/")):
        return []
    relative = path[len(root) :] if root != "/" else path
    parts = [p for p in relative.split("/") if p]
    prefix = "" if root == "/" else root
    levels = []
    for depth in range(len(parts), -1, -1):
        sub = "/".join(parts[:depth])
        levels.append(
            Level(
                (prefix + "/" + sub).rstrip("/") or "/",
                os.path.join(mount, sub) if sub else mount,
                v2,
            )
        )
    return levels


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def level_available(level: Level) -> int | None:
    """limit - (usage - inactive file pages) of one cgroup; None without a limit."""
    try:
        if level.v2:
            raw = _read(os.path.join(level.directory, "memory.max")).strip()
            if raw == "max":
                return None
            limit = int(raw)
            usage = int(_read(os.path.join(level.directory, "memory.current")))
            stat = _read(os.path.join(level.directory, "memory.stat"))
            inactive = _stat_value(stat, "inactive_file")
        else:
            limit = int(_read(os.path.join(level.directory, "memory.limit_in_bytes")))
            if limit >= UNLIMITED:
                return None
            usage = int(_read(os.path.join(level.directory, "memory.usage_in_bytes")))
            stat = _read(os.path.join(level.directory, "memory.stat"))
            inactive = _stat_value(stat, "total_inactive_file")
    except (OSError, ValueError):
        return None
    return limit - max(0, usage - inactive)


def under(cgroup: str, level: str) -> bool:
    return level == "/" or cgroup == level or cgroup.startswith(level + "/")


# ---------------------------------------------------------------------------- reservations


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
            yield path, Reservation.parse(_read(path))
        except (OSError, ValueError):
            continue


def live(directory: str, boot: str, me: int) -> list[Reservation]:
    """The reservations of compiles still running (other than `me`); expired files removed."""
    found = []
    for path, entry in entries(directory):
        stat = stat_of(entry.pid) if entry.boot == boot else None
        if stat is None or stat[1] in ("Z", "X") or stat[2] != entry.start:
            try:
                os.unlink(path)
            except OSError:
                pass
        elif entry.pid != me:
            found.append(entry)
    return found


def _processes() -> dict[int, int]:
    """pid -> ppid of every process."""
    table = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            stat = stat_of(int(name))
            if stat is not None:
                table[int(name)] = stat[0]
    return table


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"{PROC}/{pid}/cwd")
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def outstanding(reservations: Sequence[Reservation]) -> dict[int, int]:
    """pid -> the bytes each admitted compile may still take: its peak minus its tree's RSS."""
    if not reservations:
        return {}
    parents = _processes()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    claimed: dict[int, int] = {}  # pid -> the reservation whose tree it is in
    roots: dict[int, list[int]] = {r.pid: [r.pid] for r in reservations}
    sccache = [r for r in reservations if r.sccache]
    if sccache:  # the sccache server compiles for the client: its children name the unit
        for pid in parents:
            text = _cmdline(pid)
            for r in sccache:
                if (r.source and r.source in text) or (
                    r.unit and r.unit in text and _cwd(pid) == r.cwd
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
        used[owner] += rss_of(pid)
    return {r.pid: max(0, r.peak - used[r.pid]) for r in reservations}


def available(
    levels: Sequence[Level], others: Sequence[Reservation], environ: Mapping[str, str]
) -> int | None:
    """What this compile may take now: the tightest bound, less what admitted compiles that
    count against it may still take (None when nothing can be measured)."""
    held = outstanding(others)
    forced = environ.get(TEST_AVAILABLE)
    if forced:
        return int(forced) - sum(held.values())
    bounds = []
    machine = meminfo_available()
    if machine is not None:
        bounds.append(machine - sum(held.values()))
    for level in levels:
        free = level_available(level)
        if free is not None:
            inside = sum(held[r.pid] for r in others if under(r.cgroup, level.path))
            bounds.append(free - inside)
    return min(bounds) if bounds else None


# --------------------------------------------------------------------------------- the gate


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
    return f"{value / GiB:.1f} GiB"


def say(text: str) -> None:
    print(f"vllm-build-tools memory gate: {text}", file=sys.stderr, flush=True)


def admit(options: Options, environ: Mapping[str, str]) -> None:
    """Wait until the compile fits, then record its reservation (returns to exec it). The
    store is read again while waiting: units that end meanwhile teach their family."""
    peak, why = expected_peak(options.command, read_store(options.store))
    directory = options.reservations
    if not directory:
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if os.stat(directory).st_uid != os.getuid():  # another user's files must not hold us back
        raise PermissionError(f"{directory} belongs to another user")
    me, boot = os.getpid(), boot_id()
    stat = stat_of(me)
    cgroup, v2 = own_cgroup()
    levels = cgroup_levels(cgroup, v2)
    unit = unit_of(options.command)
    source = source_of(options.command)
    cwd = os.getcwd()
    entry = Reservation(
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

    with open(os.path.join(directory, LOCK), "a") as lock:
        while True:
            fcntl.flock(lock, fcntl.LOCK_EX)
            others = live(directory, boot, me)
            free = available(levels, others, environ)
            fits = free is None or free >= peak
            if fits or not others:
                if not fits and free is not None:
                    say(
                        f"{unit or source or 'this compile'} expects {_gib(peak)} ({why}), "
                        f"{_gib(max(free, 0))} available: no other compile runs, so it runs "
                        "alone"
                    )
                path = os.path.join(directory, f"{me}{SUFFIX}")
                with open(path + ".tmp", "w", encoding="utf-8") as handle:
                    handle.write(entry.text())
                os.replace(path + ".tmp", path)
                fcntl.flock(lock, fcntl.LOCK_UN)
                return
            fcntl.flock(lock, fcntl.LOCK_UN)
            time.sleep(POLL_S + (me % 10) / 100)  # jitter: waiting gates do not look at once
            if why != "learned":
                peak, why = expected_peak(options.command, read_store(options.store))
                entry.peak = peak


def install(target: str | os.PathLike[str]) -> bool:
    """Write this script to `target`, where a preset names it, unless it is there already
    (the presets step, and configure and build for a preset older than this suite)."""
    with open(__file__, encoding="utf-8") as handle:
        text = handle.read()
    path = os.fspath(target)
    try:
        if _read(path) == text:
            return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
    return True


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
