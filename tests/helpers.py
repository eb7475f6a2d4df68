"""Helpers for every test: a copy of the bundled example and tiny stand-in tools."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, Optional

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


def fake_codemodel(
    build_dir: Path,
    targets: dict[str, str],
    components: list[str],
    *,
    sources: Optional[dict[str, list[str]]] = None,
    artifacts: Optional[dict[str, list[str]]] = None,
    destination: str = "pkg",
    cmake_inputs: Optional[list[str]] = None,
) -> None:
    """A CMake File API reply, as a configure that asked for the codemodel (and cmakeFiles)
    leaves it, in the shapes CMake 4.x writes: each target's id, compiled `sources` (each with
    a `compileGroupIndex`; a header beside them without one) and `artifacts`; one `target`
    install rule per component that is a target (its artifacts, `destination`, `targetId`),
    a bare rule for the others; a cmakeFiles reply when `cmake_inputs` is given."""
    import json

    reply = build_dir / ".cmake" / "api" / "v1" / "reply"
    reply.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, kind in targets.items():
        data: dict[str, Any] = {"name": name, "type": kind, "id": f"{name}::@0"}
        if sources is not None:
            data["sources"] = [
                {"path": path, "compileGroupIndex": 0, "sourceGroupIndex": 0}
                for path in sources.get(name, [])
            ] + [{"path": f"include/{name}.h", "sourceGroupIndex": 1}]
        if artifacts is not None and name in artifacts:
            data["artifacts"] = [{"path": path} for path in artifacts[name]]
        (reply / f"target-{name}.json").write_text(json.dumps(data))
        entries.append({"name": name, "id": f"{name}::@0", "jsonFile": f"target-{name}.json"})
    installers: list[dict[str, Any]] = []
    for component in components:
        if component in targets and artifacts is not None:
            installers.append(
                {
                    "component": component,
                    "type": "target",
                    "destination": destination,
                    "paths": artifacts.get(component, []),
                    "targetId": f"{component}::@0",
                    "targetIndex": list(targets).index(component),
                }
            )
        else:
            installers.append({"component": component, "type": "target"})
    (reply / "directory-.json").write_text(json.dumps({"installers": installers}))
    config = {"targets": entries, "directories": [{"jsonFile": "directory-.json"}]}
    paths = {"source": str(build_dir.parent), "build": str(build_dir)}
    model = {"kind": "codemodel", "paths": paths, "configurations": [config]}
    (reply / "codemodel-v2.json").write_text(json.dumps(model))
    responses = [{"kind": "codemodel", "jsonFile": "codemodel-v2.json"}]
    if cmake_inputs is not None:
        inputs: list[dict[str, Any]] = [{"path": path} for path in cmake_inputs]
        inputs.append(
            {"path": "/usr/share/cmake/Modules/X.cmake", "isCMake": True, "isExternal": True}
        )
        (reply / "cmakeFiles-v1.json").write_text(
            json.dumps({"kind": "cmakeFiles", "inputs": inputs})
        )
        responses.append({"kind": "cmakeFiles", "jsonFile": "cmakeFiles-v1.json"})
    index = {"reply": {"client-vllm-build-tools": {"query.json": {"responses": responses}}}}
    (reply / "index-2026-01-01T00-00-00-0000.json").write_text(json.dumps(index))
