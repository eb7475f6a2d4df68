"""What the memory gate (gate.py) reads of the machine: processes from /proc, the memory
available from /proc/meminfo and from each memory cgroup we run in (v1 and v2).
Installed beside gate.py and run with it: the standard library only."""

from __future__ import annotations

import os

PROC = "/proc"
PAGE = os.sysconf("SC_PAGE_SIZE")
UNLIMITED = 1 << 60  # a cgroup v1 limit this large means "no limit"


def read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def stat_of(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start ticks) of `pid`, None when it is gone."""
    try:
        fields = read_text(f"{PROC}/{pid}/stat").rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def rss_of(pid: int) -> int:
    """Resident bytes of `pid` now (0 when it is gone)."""
    try:
        return int(read_text(f"{PROC}/{pid}/statm").split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def boot_id() -> str:
    try:
        return read_text(f"{PROC}/sys/kernel/random/boot_id").strip()
    except OSError:
        return ""


def meminfo(fs_root: str = "") -> tuple[int | None, int | None]:
    """(MemTotal, MemAvailable) in bytes from /proc/meminfo (None where unreadable); `fs_root`:
    where / is, for a faked machine."""
    found: dict[str, int] = {}
    try:
        for line in read_text(f"{fs_root}{PROC}/meminfo").splitlines():
            name, _, rest = line.partition(":")
            if name in ("MemTotal", "MemAvailable"):
                found[name] = int(rest.split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return found.get("MemTotal"), found.get("MemAvailable")


class Level:
    """One memory cgroup: ours or an ancestor."""

    __slots__ = ("directory", "path", "v2")

    def __init__(self, path: str, directory: str, v2: bool) -> None:
        self.path = path  # as /proc/self/cgroup names it ("/a/b")
        self.directory = directory
        self.v2 = v2

    def __repr__(self) -> str:
        return f"Level({self.path!r}, {self.directory!r}, v2={self.v2})"


def own_cgroup(fs_root: str = "") -> tuple[str, bool]:
    """The memory cgroup we run in, and whether it is cgroup v2 ("" when none)."""
    try:
        lines = read_text(f"{fs_root}{PROC}/self/cgroup").splitlines()
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


def cgroup_levels(path: str, v2: bool, fs_root: str = "") -> list[Level]:
    """Our memory cgroup and its ancestors, as directories of the mounted hierarchy."""
    if not path:
        return []
    try:
        mounts = read_text(f"{fs_root}{PROC}/self/mountinfo").splitlines()
    except OSError:
        return []
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, kind = left.split(), right.split()
        if len(fields) < 5 or len(kind) < 3:
            continue
        fstype, options = kind[0], kind[2].split(",")
        if (v2 and fstype == "cgroup2") or (not v2 and fstype == "cgroup" and "memory" in options):
            root, mount = fields[3], fs_root + fields[4]
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


def level_limit(level: Level) -> int | None:
    """The memory limit of one cgroup (None without one)."""
    try:
        if level.v2:
            raw = read_text(os.path.join(level.directory, "memory.max")).strip()
            return None if raw == "max" else int(raw)
        limit = int(read_text(os.path.join(level.directory, "memory.limit_in_bytes")))
    except (OSError, ValueError):
        return None
    return None if limit >= UNLIMITED else limit


def memory_limit(fs_root: str = "") -> int | None:
    """The tightest memory limit of the cgroups we run in, ours and each ancestor's (None
    without one): the most memory our processes may hold together."""
    levels = cgroup_levels(*own_cgroup(fs_root), fs_root)
    limits = [found for level in levels if (found := level_limit(level)) is not None]
    return min(limits) if limits else None


def level_available(level: Level) -> int | None:
    """limit - (usage - inactive file pages) of one cgroup; None without a limit."""
    try:
        if level.v2:
            raw = read_text(os.path.join(level.directory, "memory.max")).strip()
            if raw == "max":
                return None
            limit = int(raw)
            usage = int(read_text(os.path.join(level.directory, "memory.current")))
            stat = read_text(os.path.join(level.directory, "memory.stat"))
            inactive = _stat_value(stat, "inactive_file")
        else:
            limit = int(read_text(os.path.join(level.directory, "memory.limit_in_bytes")))
            if limit >= UNLIMITED:
                return None
            usage = int(read_text(os.path.join(level.directory, "memory.usage_in_bytes")))
            stat = read_text(os.path.join(level.directory, "memory.stat"))
            inactive = _stat_value(stat, "total_inactive_file")
    except (OSError, ValueError):
        return None
    return limit - max(0, usage - inactive)


def under(cgroup: str, level: str) -> bool:
    return level == "/" or cgroup == level or cgroup.startswith(level + "/")


def parent_table() -> dict[int, int]:
    """pid -> ppid of every process."""
    table = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            stat = stat_of(int(name))
            if stat is not None:
                table[int(name)] = stat[0]
    return table


def cwd_of(pid: int) -> str:
    try:
        return os.readlink(f"{PROC}/{pid}/cwd")
    except OSError:
        return ""


def cmdline_of(pid: int) -> str:
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
