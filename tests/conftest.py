"""Shared fixtures (helpers live in tests/helpers.py and tests/integration/tools.py)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.process import procfs
from tests.helpers import copy_example


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A fresh copy of examples/minivllm in a directory whose path has a space."""
    return copy_example(tmp_path / "my src" / "minivllm")


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    return tmp_path / "fakebin"


@pytest.fixture(scope="session", autouse=True)
def _temp_inside_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What the tools we run put in TMPDIR (the memory gate's reservations, uv's and cmake's
    temporary files) stays in this session's temp dir: tests write nothing outside it, and no
    other build on the machine holds back theirs (the gate's reservations are per TMPDIR)."""
    temp = tmp_path_factory.getbasetemp() / "tmp"
    temp.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(temp))
        yield


@pytest.fixture(autouse=True)
def _no_user_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never read the developer's own vllm-build.local.toml or VLLM_BUILD_* variables."""
    for key in list(os.environ):
        if key.startswith("VLLM_BUILD_") or key == "TORCH_CUDA_ARCH_LIST":
            monkeypatch.delenv(key)
    empty = tmp_path_factory.getbasetemp() / "no-user-settings.toml"
    empty.touch()
    monkeypatch.setenv("VLLM_BUILD_CONFIG", str(empty))


INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ drives real tools: marked `integration` by its
    directory (`pytest -m "not integration"` or `nox -s unit` runs the fast rest)."""
    for item in items:
        if INTEGRATION in item.path.parents:
            item.add_marker(pytest.mark.integration)


# Processes that ran when the session started: (pid, start time), never ours to judge.
_BEFORE: set[tuple[int, int]] = set()
LEFTOVER_GRACE_S = 2.0  # a server being stopped as the last test ends gets this long


def pytest_sessionstart(session: pytest.Session) -> None:
    _BEFORE.update((p.pid, p.start_ticks) for p in procfs.processes())


def leftovers(base: str) -> list[procfs.Process]:
    """Processes started during the session, still running, whose environment or command line
    names the session's base temp dir: an sccache server, a redis-server, a build a test left
    behind (other users' processes on a shared machine never name it)."""
    mine = {os.getpid(), os.getppid()}
    return [
        p
        for p in procfs.processes()
        if (p.pid, p.start_ticks) not in _BEFORE
        and p.pid not in mine
        and (base in procfs.environ(p.pid) or base in "\0".join(procfs.argv(p.pid)))
    ]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test left a process running (naming it), then end it."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = getattr(factory, "_basetemp", None)  # None: no test asked for a temp dir
    if base is None:
        return
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    found = leftovers(str(base))
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = leftovers(str(base))
    if not found:
        return

    def named(p: procfs.Process) -> str:
        naming = [v for v in procfs.environ(p.pid).split("\0") if str(base) in v][:3]
        return f"pid {p.pid}: {' '.join(procfs.argv(p.pid))[:200]} (env {' '.join(naming)})"

    names = "; ".join(named(p) for p in found)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"the tests left {len(found)} process(es) running (ended now): {names}"
    if reporter is not None:
        reporter.write_line(message, red=True, bold=True)
    else:
        print(message)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for p in found:
            if procfs.process(p.pid) == p:
                try:
                    os.kill(p.pid, signum)
                except (ProcessLookupError, PermissionError):
                    pass
        end = time.monotonic() + LEFTOVER_GRACE_S
        while any(procfs.process(p.pid) == p for p in found) and time.monotonic() < end:
            time.sleep(0.05)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
