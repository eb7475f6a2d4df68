"""Python interpreters on this machine, found without downloading one and without pyenv's shims.

Every function takes a `Machine`, so tests can fake a box with tiny scripts on a temporary PATH.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.machine.toolchain import Machine, parse_version, version_text
from build_tools.process.runner import probe


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: tuple[int, int, int]


_PY_NAME = re.compile(r"^python(\d)\.(\d+)$")


def _candidate_dirs(machine: Machine) -> list[Path]:
    pyenv_root = Path(machine.environ.get("PYENV_ROOT") or machine.home / ".pyenv")
    dirs = [Path(p) for p in machine.environ.get("PATH", "").split(os.pathsep) if p]
    # pyenv's and asdf's shims fail for versions not selected: look at the installs instead.
    dirs = [d for d in dirs if d.name != "shims"]
    for base in (
        pyenv_root / "versions",
        machine.home / ".local/share/uv/python",
        machine.home / ".asdf/installs/python",
        machine.path("/opt/python"),
        machine.path("/opt/hostedtoolcache/Python"),
    ):
        if base.is_dir():
            dirs += sorted(p / "bin" for p in base.iterdir())
            dirs += sorted(p / "x64" / "bin" for p in base.iterdir())
    dirs += [machine.path(p) for p in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin")]
    return dirs


def list_interpreters(machine: Machine) -> list[Interpreter]:
    """Every `pythonX.Y` found without running anything (version from the file name)."""
    found: dict[Path, Interpreter] = {}
    for directory in _candidate_dirs(machine):
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            match = _PY_NAME.match(entry.name)
            if match and entry.is_file() and os.access(entry, os.X_OK):
                resolved = entry.resolve()
                found.setdefault(
                    resolved, Interpreter(entry, (int(match.group(1)), int(match.group(2)), 0))
                )
    return list(found.values())


def probe_interpreter(path: Path) -> Optional[Interpreter]:
    out = probe([str(path), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
    version = parse_version(out)
    return Interpreter(path, version) if version else None


OLDEST = (3, 8)  # the oldest Python uv makes a venv with


def find_interpreter(machine: Machine, request: str, uv: Optional[Path]) -> Interpreter:
    """An interpreter for `request` (a version like 3.12, or a path), never downloading one."""
    found = _find_interpreter(machine, request, uv)
    if found.version[:2] < OLDEST:
        raise BuildToolsError(
            f"Python {version_text(found.version)} ({found.path}) is too old for a venv: uv "
            f"needs Python {version_text(OLDEST)} or newer.",
            "pass --python with a newer version, e.g. --python 3.12",
            kind=ErrorKind.BAD_INPUT,
        )
    return found


def _find_interpreter(machine: Machine, request: str, uv: Optional[Path]) -> Interpreter:
    if os.sep in request or request.startswith("python"):
        path = Path(request).expanduser() if os.sep in request else machine.which(request)
        interp = probe_interpreter(path) if path else None
        if interp:
            return interp
        raise BuildToolsError(
            f"Python interpreter {request!r} does not exist or does not run.",
            "pass --python with a version (e.g. 3.12) or the path of a working interpreter",
        )
    wanted = parse_version(request)
    if not wanted:
        raise BuildToolsError(f"--python {request!r} is not a version.", "use e.g. --python 3.12")
    if uv is not None:  # uv's own discovery first (it never downloads with downloads=never)
        env = {**machine.environ, "UV_PYTHON_DOWNLOADS": "never"}
        out = probe([str(uv), "python", "find", request], env=env).strip()
        if out:
            interp = probe_interpreter(Path(out))
            if interp and interp.version[:2] == wanted[:2]:
                return interp
    every = list_interpreters(machine)
    for interp in every:
        if interp.version[:2] == wanted[:2]:
            probed = probe_interpreter(interp.path)
            if probed and probed.version[:2] == wanted[:2]:
                return probed
    listing = ", ".join(
        f"{version_text(i.version[:2])} ({i.path})" for i in sorted(every, key=lambda i: i.version)
    )
    raise BuildToolsError(
        f"Python {request} was not found on this machine (uv cannot download one here); "
        f"found: {listing or 'none'}.",
        f"install Python {request} (e.g. `pyenv install {request}` or your package manager), "
        "or pick one with --python X.Y or --python /path/to/python "
        "(VLLM_BUILD_PYTHON or `python` in vllm-build.local.toml to keep it)",
    )
