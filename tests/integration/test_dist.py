"""Distributed compilation on loopback: scripts/cache_cluster.sh starts a real sccache-dist
scheduler and build server (bubblewrap sandbox); a clean build of the example with
`dist = true` must have its compiles run on that server (the client's own per-server counts),
a wrong token or a scheduler that is down must still give a finished build and a warning.
Every `invoke build` counts on an sccache server of its own: its hits are exactly its units'."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.process import procfs
from build_tools.settings import SUITE_ROOT
from tests.helpers import copy_example
from tests.integration.tools import build_env, free_port, invoke, ok, sccache, start

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, int]]:
    if os.geteuid() != 0:
        pytest.skip("sccache-dist's overlay builder needs root here (bubblewrap mounts)")
    workdir = tmp_path_factory.mktemp("cluster")
    sport, bport, token = free_port(), free_port(), "test-client-token"
    proc = subprocess.Popen(
        ["bash", str(SUITE_ROOT / "scripts" / "cache_cluster.sh"), "--dir", str(workdir),
         "--scheduler-port", str(sport), "--server-port", str(bport), "--token", token],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )  # fmt: skip
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(4)]
    assert lines[-1].strip() == "ready", "".join(lines)
    scheduler = f"http://127.0.0.1:{sport}"
    # --dist-status starts a server: a private one (never the user's port), stopped below
    status_env = {
        **os.environ,
        "SCCACHE_CONF": str(workdir / "probe.toml"),
        "SCCACHE_SERVER_PORT": str(free_port()),
    }
    (workdir / "probe.toml").write_text(
        f'[dist]\nscheduler_url = "{scheduler}"\n[dist.auth]\ntype = "token"\ntoken = "{token}"\n'
    )
    for _ in range(100):  # the server registers with the scheduler within a few seconds
        out = subprocess.run(
            [sccache(), "--dist-status"], env=status_env, capture_output=True, text=True
        ).stdout
        if '"num_servers":1' in out:
            break
        subprocess.run(["sleep", "0.2"], check=True)
    subprocess.run([sccache(), "--stop-server"], env=status_env, capture_output=True)
    yield scheduler, token, bport
    proc.terminate()
    proc.wait(20)


def client_env(tmp_path: Path, scheduler: str, token: str) -> dict[str, str]:
    return build_env(
        tmp_path / "ccache",
        VLLM_BUILD_LAUNCHER="sccache",
        VLLM_BUILD_DIST="1",
        VLLM_BUILD_DIST_SCHEDULER=scheduler,
        VLLM_BUILD_DIST_TOKEN=token,
        SCCACHE_DIR=str(tmp_path / "sccache"),
        SCCACHE_SERVER_PORT=str(free_port()),
    )


def stop(env: dict[str, str]) -> None:
    subprocess.run([sccache(), "--stop-server"], env={**os.environ, **env}, capture_output=True)


def test_the_examples_compiles_run_on_the_build_server(
    tmp_path: Path, cluster: tuple[str, str, int]
) -> None:
    scheduler, token, bport = cluster
    env = client_env(tmp_path, scheduler, token)
    src = copy_example(tmp_path / "my src" / "minivllm")
    try:
        out = ok("bootstrap", "--source", str(src), env=env)
    finally:
        stop(env)
    assert f"distributed compiles through sccache-dist at {scheduler}" in out
    # The build's own sccache server counted them (it is gone now): the 11 C++ units at least.
    remote = re.search(r"(\d+) compile\(s\) on the sccache-dist cluster", out)
    assert remote and int(remote.group(1)) >= 11, out
    kept = (src / ".vllm-build-tools" / "sccache-stats.txt").read_text()
    assert f"127.0.0.1:{bport}" in kept, f"the build server ran them:\n{kept}"
    assert "cache hits" in out
    conf = src / ".vllm-build-tools" / "sccache-dist.toml"
    assert token in conf.read_text() and oct(conf.stat().st_mode)[-3:] == "600"
    presets = (src / "CMakeUserPresets.json").read_text()
    assert str(conf) in presets and token not in presets  # the token stays out of the presets
    assert (src / "minivllm" / "_C.abi3.so").is_file()


def test_a_wrong_token_is_a_clear_error_at_first_use(
    tmp_path: Path, cluster: tuple[str, str, int]
) -> None:
    scheduler, _, _ = cluster
    env = client_env(tmp_path, scheduler, "not-the-token")
    src = copy_example(tmp_path / "s" / "minivllm")
    try:
        run = invoke("bootstrap", "--source", str(src), env=env)
    finally:
        stop(env)
    assert run.returncode == 1
    assert "fix: the sccache-dist scheduler refused our token: set dist_token" in run.output
    assert "fix the compile error" not in run.output


def test_a_scheduler_that_is_down_still_builds_and_says_so(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    env = client_env(tmp_path, down, "x")
    try:
        run = invoke(
            "bootstrap", "--source", str(copy_example(tmp_path / "d" / "minivllm")), env=env
        )
    finally:
        stop(env)
    assert run.returncode == 0, run.output
    assert f"the sccache-dist scheduler {down} cannot be used" in run.output


def hammer(
    env: dict[str, str], workdir: Path, stop_now: threading.Event
) -> tuple[list[int], threading.Thread]:
    """Another client of the server `env` names, compiling in a loop until `stop_now`; the exit
    codes of its compiles (a list filled while it runs) and its thread (join it: a compile in
    flight when `stop_now` is set still reaches the server)."""
    workdir.mkdir(parents=True)
    (workdir / "h.cpp").write_text("int hammered() { return 42; }\n")
    codes: list[int] = []

    def loop() -> None:
        while not stop_now.is_set():
            done = subprocess.run(
                [sccache(), "c++", "-c", "h.cpp", "-o", "h.o"], cwd=workdir,
                env={**os.environ, **env}, capture_output=True, check=False,
            )  # fmt: skip
            codes.append(done.returncode)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return codes, thread


def server_requests(env: dict[str, str]) -> int:
    out = subprocess.run(
        [sccache(), "--show-stats", "--stats-format", "json"], env={**os.environ, **env},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(json.loads(out)["stats"]["compile_requests"])


def build_line(out: str) -> str:
    return next(line for line in out.splitlines() if "build ran" in line)


def test_sccache_counts_are_this_builds_own_while_another_client_compiles(
    tmp_path: Path,
) -> None:
    """Two builds of two copies (one after the other, at one path) share one SCCACHE_DIR while
    a third client compiles through the default server in a loop: the first counts 0/N, the
    second N/N, exactly its N units. A raw `cmake --build --preset` uses the default server."""
    env = build_env(
        tmp_path / "ccache",
        VLLM_BUILD_LAUNCHER="sccache",
        SCCACHE_DIR=str(tmp_path / "sccache"),
        SCCACHE_SERVER_PORT=str(free_port()),  # "the default server" of this environment
    )
    stop_now = threading.Event()
    codes, third = hammer(env, tmp_path / "third client", stop_now)
    src = tmp_path / "checkout" / "minivllm"
    try:
        counts = []
        for _ in ("first copy", "second copy"):
            if src.exists():
                shutil.rmtree(src)
            copy_example(src)
            out = ok("bootstrap", "--source", str(src), env=env)
            log = (src / "cmake-build-release" / ".ninja_log").read_text().splitlines()
            units = len(
                {f[3] for f in (line.split("\t") for line in log[1:]) if f[3].endswith(".o")}
            )
            counts.append((units, build_line(out)))
        reported = ok("report", "--source", str(src), env=env)  # what the last build said
        stop_now.set()
        third.join(timeout=120)
        before = server_requests(env)
        (src / "csrc" / "cache.cpp").write_text(
            (src / "csrc" / "cache.cpp").read_text() + "\nint raw_build_marker() { return 1; }\n"
        )
        raw = subprocess.run(
            [src / ".venv" / "bin" / "cmake", "--build", "--preset", "release"], cwd=src,
            env={**os.environ, **env}, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert raw.returncode == 0, raw.stdout + raw.stderr
        after = server_requests(env)
    finally:
        stop_now.set()
        third.join(timeout=120)
        stop(env)
    (units, first), (again, second) = counts
    assert units == again and units >= 11, counts
    assert f"0/{units} cache hits (0%)" in first, first
    assert f"{units}/{units} cache hits (100%)" in second, second
    assert f"{units}/{units} cache hits (100%)" in reported, reported
    assert codes.count(0) >= 2, f"the third client compiled through the default server: {codes}"
    assert after - before == 1, "the raw build's one compile went to the default server"
    assert "SCCACHE_SERVER_PORT" not in (src / "CMakeUserPresets.json").read_text()


def sccache_servers(cache_dir: Path) -> list[int]:
    """sccache processes running with this cache dir (the build's own server, while it runs)."""
    return [
        p.pid
        for p in procfs.processes()
        if p.name == "sccache" and f"SCCACHE_DIR={cache_dir}\0" in procfs.environ(p.pid)
    ]


def test_the_builds_own_sccache_server_is_stopped_after_a_failure_and_ctrl_c(
    tmp_path: Path,
) -> None:
    cache_dir = tmp_path / "sccache"
    env = build_env(
        tmp_path / "ccache",
        VLLM_BUILD_LAUNCHER="sccache",
        SCCACHE_DIR=str(cache_dir),
        SCCACHE_SERVER_PORT=str(free_port()),
    )
    src = copy_example(tmp_path / "my src" / "minivllm")
    ok("bootstrap", "--source", str(src), env=env)
    assert sccache_servers(cache_dir) == [], "stopped after a build that succeeded"
    unit = src / "csrc" / "cache.cpp"
    good = unit.read_text()
    unit.write_text(good + "\nint broken( {\n")
    failed = invoke("build", "--source", str(src), env=env)
    assert failed.returncode == 1 and "compile error" in failed.output, failed.output
    assert sccache_servers(cache_dir) == [], "stopped after a build that failed"
    unit.write_text(good)
    build_dir = str(src / "cmake-build-release")
    proc = start("clean-build", "--source", str(src), env={**env, "CCACHE_DISABLE": "1"})
    deadline = time.monotonic() + 300
    while not any(
        procfs.cwd(p.pid) == build_dir and "-o" in procfs.argv(p.pid) for p in procfs.processes()
    ):  # a compile runs: the build's server is up
        assert proc.poll() is None, "the build ended before a compile was seen"
        assert time.monotonic() < deadline, "no compile started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert sccache_servers(cache_dir) == [], "stopped after Ctrl-C"
