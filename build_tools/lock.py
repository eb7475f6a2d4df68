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
    """'pid N (`command`) since HH:MM:SS' of the current holder, as it recorded itself."""
    try:
        data = json.loads(_holder_file(path).read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S", time.localtime(float(data["since"])))
        return f"pid {data['pid']} (`{data['command']}`) since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@dataclass
class Holder:
    """What we record about ourselves while we hold a lock: pid, command, since, and the
    process group of the command running now (so a successor can end it if we are killed)."""

    path: Path
    record: dict[str, Any]

    def write(self) -> None:
        try:
            _holder_file(self.path).write_text(json.dumps(self.record), encoding="utf-8")
        except OSError:
            pass

    def running(self, group: Optional[int]) -> None:
        self.record["group"] = group
        self.write()


def end_orphans(path: Path, say: Callable[[str], None]) -> None:
    """Called once we hold the lock: a holder file left behind means the last holder was
    killed (SIGKILL, a crash) mid-command; end what it had started, if it still runs."""
    try:
        group = json.loads(_holder_file(path).read_text(encoding="utf-8")).get("group")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(group, int) and session_members(group):
        say(f"ended {end_session(group)} process(es) left running by a build that was killed")


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
