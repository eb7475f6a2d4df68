"""Helpers for every test: a copy of the bundled example and tiny stand-in tools."""

from __future__ import annotations

import stat
from pathlib import Path

from benchmarks.loop.workspace import copy_sources
from build_tools.settings import EXAMPLE_SOURCE


def copy_example(dest: Path) -> Path:
    return copy_sources(EXAMPLE_SOURCE, dest)


def make_tool(directory: Path, name: str, script: str = "") -> Path:
    """A tiny executable standing in for a real tool (runs `script` as its body)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + (script or "exit 0") + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def base_env(path: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": str(path), "HOME": str(path.parent / "home")}
    env.update(extra)
    return env


def fake_codemodel(build_dir: Path, targets: dict[str, str], components: list[str]) -> None:
    """A minimal CMake File API reply, as a configure that asked for the codemodel leaves it."""
    import json

    reply = build_dir / ".cmake" / "api" / "v1" / "reply"
    reply.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, kind in targets.items():
        (reply / f"target-{name}.json").write_text(json.dumps({"name": name, "type": kind}))
        entries.append({"name": name, "jsonFile": f"target-{name}.json"})
    installers = [{"component": c, "type": "target"} for c in components]
    (reply / "directory-.json").write_text(json.dumps({"installers": installers}))
    config = {"targets": entries, "directories": [{"jsonFile": "directory-.json"}]}
    (reply / "codemodel-v2.json").write_text(json.dumps({"configurations": [config]}))
    responses = [{"kind": "codemodel", "jsonFile": "codemodel-v2.json"}]
    index = {"reply": {"client-vllm-build-tools": {"query.json": {"responses": responses}}}}
    (reply / "index-2026-01-01T00-00-00-0000.json").write_text(json.dumps(index))
