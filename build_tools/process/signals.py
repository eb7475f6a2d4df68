"""Signals and process sessions: what happens to the commands we started when we must stop.

Every streamed command runs in a session of its own. `Forwarder` passes SIGINT, SIGTERM and
SIGHUP sent to us on to that session's leader group, then, after a grace period, SIGTERM and
SIGKILL to every process left in the session (ninja gives each job a group of its own).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Optional, Protocol

from build_tools.errors import Interrupted
from build_tools.process import procfs

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 5.0  # after a forwarded signal: then SIGTERM, then SIGKILL, each after this long


class Child(Protocol):
    """What we need of a started process (a subprocess.Popen)."""

    @property
    def pid(self) -> int: ...
    def poll(self) -> Optional[int]: ...


class Forwarder:
    """While a child runs: forward our termination signals to its group, then escalate."""

    def __init__(self, proc: Child, grace: float) -> None:
        self.proc, self.grace = proc, grace
        self.received: Optional[int] = None
        self._previous: dict[int, object] = {}
        self._timer: Optional[threading.Timer] = None

    def __enter__(self) -> Forwarder:
        if threading.current_thread() is threading.main_thread():
            for signum in FORWARDED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer:
            self._timer.cancel()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        first = self.received is None
        self.received = self.received or signum
        self._kill(signum)
        if first:
            self._escalate(signal.SIGTERM)

    def _kill(self, signum: int) -> None:
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _escalate(self, signum: int) -> None:
        """After the grace period: `signum` to every process left in the child's session
        (ninja puts each job in a group of its own; a stray one would keep our pipe open)."""

        def later() -> None:
            if _signal_session(self.proc.pid, signum) and signum != signal.SIGKILL:
                self._escalate(signal.SIGKILL)

        self._timer = threading.Timer(self.grace, later)
        self._timer.daemon = True
        self._timer.start()

    def reap_group(self) -> None:
        """After the leader exits: end anything of its session still running (a stray nvcc:
        ninja gives each job a process group of its own, inside the session)."""
        end_session(self.proc.pid, self.grace)


def session_members(session: int) -> list[int]:
    """Processes still in `session` (every command we stream starts one of its own)."""
    return [found.pid for found in procfs.processes(session)]


def _signal_session(session: int, signum: int) -> int:
    """Send `signum` to every process of `session`; how many there were."""
    members = session_members(session)
    for pid in members:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    return len(members)


def end_session(session: int, grace: float = GRACE_S) -> int:
    """SIGTERM, then SIGKILL, every process of `session`; how many there were."""
    found = session_members(session)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        _signal_session(session, signum)
        deadline = time.monotonic() + grace
        while session_members(session) and time.monotonic() < deadline:
            time.sleep(0.05)
    return len(found)


@contextmanager
def termination_as_interrupt() -> Iterator[list[int]]:
    """SIGTERM/SIGHUP raise `Interrupted` (like Ctrl-C's KeyboardInterrupt), so a front door
    unwinds (locks released, partial files removed) instead of dying mid-write. Yields the
    signals received, in order: a library that turns any signal into KeyboardInterrupt
    (watchfiles) still lets the caller tell which one came."""
    received: list[int] = []

    def handle(signum: int, frame: Optional[FrameType]) -> None:
        received.append(signum)
        raise Interrupted(signum)

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
