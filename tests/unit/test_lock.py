"""One build per build dir: who holds it, waiting, --no-wait, and going on without a lock."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from build_tools.errors import BuildToolsError
from build_tools.process.lock import hold, identity, lock_path
from build_tools.process.signals import session_members


def quiet(text: str) -> None:
    pass


def test_no_wait_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "b.lock"
    with hold(path, "build dir b", wait=False, say=quiet, warn=quiet, command="invoke build"):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom pathlib import Path\nfrom build_tools.process.lock import hold\n"
                "with hold(Path(sys.argv[1]), 'build dir b', wait=False, say=print, "
                "warn=print):\n    pass\n",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert child.returncode == 1
    assert "build dir b is in use by pid" in child.stderr and "(invoke build)" in child.stderr


def test_a_waiter_says_who_it_waits_for_then_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "b.lock"
    said: list[str] = []
    order: list[str] = []
    with hold(path, "build dir b", wait=False, say=quiet, warn=quiet, command="first"):

        def second() -> None:
            with hold(path, "build dir b", wait=True, say=said.append, warn=quiet):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        order.append("first done")
    thread.join(10)
    assert order == ["first done", "second"]
    assert said and "waiting for build dir b: in use by pid" in said[0] and "(first)" in said[0]


def test_a_lock_that_cannot_be_made_warns_and_goes_on(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    warned: list[str] = []
    ran = False
    with hold(blocker / "b.lock", "build dir b", wait=True, say=quiet, warn=warned.append):
        ran = True
    assert ran and "going on without a lock" in warned[0]


def test_what_a_killed_holder_left_running_is_ended(tmp_path: Path) -> None:
    path = tmp_path / "b.lock"
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    with hold(path, "build dir b", wait=True, say=quiet, warn=quiet) as holder:
        holder.running(orphan.pid)  # then the holder is SIGKILLed: its file stays behind
        path.with_suffix(".holder.json").rename(tmp_path / "kept.json")
    (tmp_path / "kept.json").rename(path.with_suffix(".holder.json"))
    said: list[str] = []
    with hold(path, "build dir b", wait=True, say=said.append, warn=quiet):
        pass
    assert orphan.wait(10) is not None and session_members(orphan.pid) == []
    assert "left running by a build that was killed" in said[0]


def test_lock_paths_differ_per_build_dir(tmp_path: Path) -> None:
    a = lock_path(tmp_path, tmp_path / "x" / "cmake-build-release")
    b = lock_path(tmp_path, tmp_path / "y" / "cmake-build-release")
    assert a != b and a.parent == b.parent == tmp_path / "locks"


def test_no_wait_error_is_a_build_tools_error(tmp_path: Path) -> None:
    path = tmp_path / "b.lock"
    with hold(path, "b", wait=False, say=quiet, warn=quiet):
        done = threading.Event()
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with hold(path, "b", wait=False, say=quiet, warn=quiet):
                    pass
            except BuildToolsError as exc:
                errors.append(exc)
            done.set()

        threading.Thread(target=other).start()
        done.wait(5)
    assert errors and "fix:" in str(errors[0])


def _stranger() -> subprocess.Popen[bytes]:
    """An unrelated process in a session of its own (what `setsid sleep 1000` starts)."""
    return subprocess.Popen(["sleep", "1000"], start_new_session=True)


@pytest.mark.parametrize("record", ["bare pid", "another start time", "another command"])
def test_a_stale_record_never_gets_a_strangers_process_killed(tmp_path: Path, record: str) -> None:
    """issue 17: a holder file naming a pid that now belongs to someone else (pid reuse, a
    reboot, a hand-written record) leaves that process alone and says so."""
    stranger = _stranger()
    try:
        path = tmp_path / "b.lock"
        path.parent.mkdir(exist_ok=True)
        found = identity(stranger.pid)
        assert found is not None, "the stranger should be running"
        group: object = {
            "bare pid": stranger.pid,
            "another start time": {**found, "start": found["start"] - 100},
            "another command": {**found, "argv0": "ninja"},
        }[record]
        holder = {"pid": 1, "command": "invoke build", "since": 0, "group": group}
        path.with_suffix(".holder.json").write_text(json.dumps(holder))
        said: list[str] = []
        with hold(path, "build dir b", wait=True, say=said.append, warn=quiet):
            pass
        assert stranger.poll() is None, "the unrelated process was killed"
        assert any("left it alone" in line for line in said), said
    finally:
        stranger.kill()
        stranger.wait()
