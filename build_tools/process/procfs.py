"""What Linux's /proc says of a process: its parent, session, state, start time and name, its
argv, working directory and memory. The one place that reads /proc (signals and the memory
sampler ask here; the memory gate, a standalone script, reads its own).

Every read tolerates a process that ends while we look: it is simply not there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

PROC = Path("/proc")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Process:
    """One line of /proc/<pid>/stat, the fields we use."""

    pid: int
    ppid: int
    session: int
    state: str  # "R", "S", ..., "Z" for a zombie (already gone but for its exit status)
    start_ticks: int  # when it started, in clock ticks since boot: with the pid, who it is
    name: str = ""  # the executable's name (comm, 15 characters at most): changes at exec

    @property
    def alive(self) -> bool:
        return self.state != "Z"


def _parse(pid: int, text: str) -> Process:
    head, paren, tail = text.rpartition(")")  # the command name may hold spaces and ")"
    if not paren:
        raise ValueError(text)
    fields = tail.split()
    name = head.partition("(")[2]
    return Process(pid, int(fields[1]), int(fields[3]), fields[0], int(fields[19]), name)


def process(pid: int) -> Optional[Process]:
    """The process `pid`, None when there is none (or /proc cannot tell)."""
    try:
        return _parse(pid, (PROC / str(pid) / "stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def processes(session: Optional[int] = None) -> Iterator[Process]:
    """Every live process (zombies left out), or those of one session."""
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            found = _parse(int(stat.parent.name), stat.read_text())
        except (OSError, IndexError, ValueError):
            continue
        if found.alive and (session is None or found.session == session):
            yield found


def argv(pid: int) -> list[str]:
    """The command line of `pid` ([] when it is gone or hides it)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1] if raw else []


def environ(pid: int) -> str:
    """The environment `pid` started with, NUL-separated ("" when it is gone or hides it)."""
    try:
        return (PROC / str(pid) / "environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def cwd(pid: int) -> str:
    """The working directory of `pid` ("" when it is gone or hides it)."""
    try:
        return os.readlink(PROC / str(pid) / "cwd")
    except OSError:
        return ""


def memory(pid: int) -> tuple[int, int]:
    """(resident bytes now, peak resident bytes so far) of `pid` from its status (VmRSS,
    VmHWM); (0, 0) when it is gone."""
    rss = hwm = 0
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        return 0, 0
    return rss, max(hwm, rss)


def peak_rss(pid: int) -> int:
    """The process's peak resident bytes so far (VmHWM), its current ones where that is
    absent; 0 when it is gone."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return int((PROC / str(pid) / "statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def boot_id() -> str:
    """This boot's id: a recorded start time means nothing after a reboot."""
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""
