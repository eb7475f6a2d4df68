"""One build at a time per build directory (filelock), saying who holds it while we wait.

The lock is an OS file lock, so a killed holder never leaves it stuck. When the lock itself
cannot be taken (a read-only state dir, a filesystem without locks) we warn and build anyway:
a lock must never be the reason a build that could proceed fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from filelock import FileLock, Timeout

from build_tools.errors import BuildToolsError
from build_tools.process import procfs
from build_tools.process.signals import end_session, session_members

POLL_S = 0.2
Hold = AbstractContextManager[object]
nothing = nullcontext


def lock_path(state_dir: Path, build_dir: Path) -> Path:
    """Where the lock of `build_dir` lives: the checkout's state dir, outside the build dir
    (which clean-build removes)."""
    key = hashlib.sha256(str(build_dir.resolve()).encode()).hexdigest()[:8]
    return state_dir / "locks" / f"{build_dir.name}-{key}.lock"


def _holder_file(path: Path) -> Path:
    return path.with_suffix(".holder.json")


def holder_text(path: Path) -> str:
    """'pid N (command) since HH:MM:SS' of the current holder, as it recorded itself (no
    backticks: those mark commands we suggest, which get the person's flags)."""
    try:
        data = json.loads(_holder_file(path).read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S", time.localtime(float(data["since"])))
        return f"pid {data['pid']} ({data['command']}) since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def identity(pid: int) -> Optional[dict[str, Any]]:
    """What tells process `pid` from any later process that reuses its number: its start
    time (clock ticks since boot), this boot, its session and its command."""
    found = procfs.process(pid)
    if found is None:
        return None
    argv = procfs.argv(pid)
    return {
        "pid": pid,
        "start": found.start_ticks,
        "boot": procfs.boot_id(),
        "session": found.session,
        "argv0": argv[0] if argv else "",
    }


@dataclass
class Holder:
    """What we record about ourselves while we hold a lock: pid, command, since, and who the
    command running now is (its session leader's identity), so a successor can end it if we
    are killed, and can tell it from an unrelated process that got the same pid later."""

    path: Path
    record: dict[str, Any]

    def write(self) -> None:
        try:
            _holder_file(self.path).write_text(json.dumps(self.record), encoding="utf-8")
        except OSError:
            pass

    def running(self, group: Optional[int]) -> None:
        self.record["group"] = identity(group) if group is not None else None
        self.write()


def _ours(recorded: Any) -> tuple[Optional[int], str]:
    """The session to end when the recorded command is provably still running, else None
    and why it is left alone ("" when nothing is running under that pid)."""
    if isinstance(recorded, int):  # a record without an identity: never enough to kill
        recorded = {"pid": recorded}
    if not isinstance(recorded, dict) or not isinstance(recorded.get("pid"), int):
        return None, ""
    pid = recorded["pid"]
    now = identity(pid)
    if now is None:
        return None, ""
    keys = ("start", "boot", "session", "argv0")
    if any(recorded.get(k) is None for k in keys):
        return None, f"pid {pid} runs, but the record of the killed build cannot prove it is ours"
    if any(recorded[k] != now[k] for k in keys) or now["session"] != pid:
        return None, f"pid {pid} is another process now (not the command the killed build ran)"
    return pid, ""


def end_orphans(path: Path, say: Callable[[str], None]) -> None:
    """Called once we hold the lock: a holder file left behind means the last holder was
    killed (SIGKILL, a crash) mid-command; end what it had started, if it provably still runs
    (pid, start time, boot, session and command all match the record), never anything else."""
    try:
        recorded = json.loads(_holder_file(path).read_text(encoding="utf-8")).get("group")
    except (OSError, ValueError, AttributeError):
        return
    session, why = _ours(recorded)
    if session is not None and session_members(session):
        say(f"ended {end_session(session)} process(es) left running by a build that was killed")
    elif why:
        say(f"{why}: left it alone")


@contextmanager
def hold(
    path: Path,
    what: str,
    *,
    wait: bool,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    command: Optional[str] = None,
) -> Iterator[Holder]:
    """Hold the lock at `path` for the body; `what` names the thing locked in messages."""
    lock = FileLock(str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            who = holder_text(path)
            if not wait:
                raise BuildToolsError(
                    f"{what} is in use by {who}.",
                    "wait for it to finish, or drop --no-wait to wait for it",
                ) from None
            say(f"waiting for {what}: in use by {who}")
            lock.acquire(poll_interval=POLL_S)
    except OSError as exc:
        warn(f"could not lock {what} ({exc.strerror or exc}); going on without a lock")
        yield Holder(path, {})
        return
    try:
        end_orphans(path, say)
        holder = Holder(
            path, {"pid": os.getpid(), "command": command or _argv(), "since": time.time()}
        )
        holder.write()
        yield holder
    finally:
        try:
            _holder_file(path).unlink(missing_ok=True)
        except OSError:
            pass
        lock.release()


def _argv() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join(["invoke" if name in ("invoke", "__main__.py") else name, *sys.argv[1:]])
