"""The session-end check of tests/conftest.py: a test that leaves a process running (one that
names the session's base temp dir, as an sccache server or redis-server started by a test
does) fails the run, named, and the process is ended."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from build_tools.process import procfs
from build_tools.settings import SUITE_ROOT

LEAKY = """
import os, subprocess, sys
from pathlib import Path

def test_leaves_a_server_running(tmp_path: Path) -> None:
    env = {**os.environ, "SCCACHE_DIR": str(tmp_path / "sccache")}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], env=env)
    (tmp_path.parent.parent / "leaked.pid").write_text(str(proc.pid))

def test_tidy(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", "pass"], env={"HOME": str(tmp_path)}, check=True)
"""


def test_a_process_left_running_fails_the_run_and_is_ended(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    base = tmp_path / "base"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--basetemp", str(base), "-q", str(tmp_path / "test_leaky.py")],
        cwd=SUITE_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    pid = int((tmp_path / "leaked.pid").read_text())
    assert "2 passed" in done.stdout, done.stdout
    assert done.returncode == 1, f"the tests passed, the leftover fails the run:\n{done.stdout}"
    assert "the tests left 1 process(es) running (ended now)" in done.stdout, done.stdout
    assert f"pid {pid}: " in done.stdout and "time.sleep(600)" in done.stdout, done.stdout
    deadline = time.monotonic() + 10
    while (found := procfs.process(pid)) is not None and found.alive:
        assert time.monotonic() < deadline, f"pid {pid} still runs after the check ended it"
        time.sleep(0.05)
