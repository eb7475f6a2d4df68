"""The runner with real processes: signals reach the whole child session, nothing outlives us."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from build_tools.console import Console
from build_tools.errors import Interrupted
from build_tools.process.runner import Command, CommandFailed, Runner, probe
from build_tools.process.signals import session_members

# A child that starts a grandchild in a process group of its own (as ninja does for each
# job), prints both pids, and then waits: what a build looks like to the runner.
FAMILY = """\
import os, subprocess, sys, time
kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                       preexec_fn=os.setpgrp)
print(os.getpid(), kid.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Pids(Console):
    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.pids: list[int] = []

    def output(self, line: str) -> None:
        if line.replace(" ", "").isdigit():
            self.pids = [int(p) for p in line.split()]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_us_ends_the_whole_child_session(tmp_path: Path, signum: int) -> None:
    sink = Pids()
    runner = Runner(sink, grace=1.0)

    def send() -> None:
        while not sink.pids:
            time.sleep(0.02)
        os.kill(os.getpid(), signum)

    threading.Thread(target=send, daemon=True).start()
    start = time.monotonic()
    with pytest.raises(Interrupted) as info:
        runner.run(Command.of([sys.executable, "-c", FAMILY], tmp_path))
    assert info.value.code == 128 + signum
    assert time.monotonic() - start < 10
    child, grandchild = sink.pids
    assert not alive(child) and not alive(grandchild)
    assert session_members(child) == []


def test_a_child_that_ignores_sigint_is_escalated(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print(0, flush=True)\ntime.sleep(60)\n"
    )
    sink = Pids()
    runner = Runner(sink, grace=0.5)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    with pytest.raises(Interrupted):
        runner.run(Command.of([sys.executable, "-c", stubborn], tmp_path))
    assert time.monotonic() - start < 5  # SIGTERM after the grace period ended it


def test_failure_keeps_the_tail_and_picks_the_fix_from_it(tmp_path: Path) -> None:
    runner = Runner(Console(io.StringIO()), log=tmp_path / "log")
    code = "print('ninja: error: loading x'); raise SystemExit(3)"
    with pytest.raises(CommandFailed) as info:
        runner.run(
            Command.of([sys.executable, "-c", code], tmp_path),
            fix=lambda tail: "chosen from: " + tail[-1],
        )
    assert info.value.outcome.returncode == 3
    assert info.value.fix == "chosen from: ninja: error: loading x"
    assert "ninja: error: loading x" in (tmp_path / "log").read_text()


def test_capture_is_logged_and_never_raises(tmp_path: Path) -> None:
    runner = Runner(Console(io.StringIO()), log=tmp_path / "log")
    done = runner.capture(Command.of([sys.executable, "-c", "print('hi'); exit(2)"], tmp_path))
    assert (done.returncode, done.output) == (2, "hi\n")
    missing = runner.capture(Command.of(["/no/such/tool"], tmp_path))
    assert missing.returncode == 127
    assert "hi" in (tmp_path / "log").read_text()
    assert probe(["/no/such/tool", "--version"]) == ""


def test_dry_run_and_the_installer_hook_start_nothing(tmp_path: Path) -> None:
    out = io.StringIO()
    marker = tmp_path / "ran"
    argv = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    Runner(Console(out), dry_run=True).run(Command.of(argv, tmp_path))
    seen: list[Command] = []
    Runner(Console(out), installer=seen.append).run(Command.of(argv, tmp_path), install=True)
    assert not marker.exists() and len(seen) == 1
    assert "would run: cd" in out.getvalue()
