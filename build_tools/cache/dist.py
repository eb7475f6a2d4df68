"""Distributed compilation with sccache-dist: the client config our presets point sccache at,
and what the cluster offers (this build's remote compiles are counted in sccache.py).

The config is a file in the checkout's state dir (mode 0600: it holds the token), named by
SCCACHE_CONF in the preset's environment, so a raw `cmake --build --preset` distributes too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

from build_tools.cache.sccache import sccache_json
from build_tools.errors import BuildToolsError
from build_tools.safety.secrets import write_private

CONFIG = "sccache-dist.toml"


def write_config(state_dir: Path, scheduler: str, token: str, *, dry_run: bool = False) -> Path:
    """The sccache client config for this cluster (0600: it holds the token; rewritten only
    when it changes; a dry run writes nothing and returns where it would be)."""
    if not scheduler.startswith(("http://", "https://")):
        raise BuildToolsError(
            f"dist_scheduler = {scheduler!r} is not an http(s) URL.",
            "set dist_scheduler to the scheduler's URL, e.g. http://10.0.0.5:10600",
        )
    text = (
        "# written by vllm-build-tools for `dist = true`\n[dist]\n"
        f"scheduler_url = {json.dumps(scheduler)}\ntoolchains = []\n"
        f"cache_dir = {json.dumps(str(state_dir / 'sccache-dist-toolchains'))}\n"
        f'[dist.auth]\ntype = "token"\ntoken = {json.dumps(token)}\n'
    )
    path = state_dir / CONFIG
    if not dry_run:
        write_private(path, text)
    return path


def cluster_cpus(sccache: Path, environ: Mapping[str, str]) -> tuple[Optional[int], str]:
    """CPUs the scheduler offers (None when it cannot be reached), and what it said."""
    status = sccache_json(sccache, ["--dist-status"], environ)
    if isinstance(status, dict) and "SchedulerStatus" in status:
        info = status["SchedulerStatus"][1]
        return int(info.get("num_cpus", 0)), f"{info.get('num_servers', 0)} server(s)"
    return None, json.dumps(status) if status else "no answer from sccache --dist-status"
