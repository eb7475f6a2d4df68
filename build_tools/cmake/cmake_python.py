"""The interpreter our presets give CMake (`VLLM_PYTHON_EXECUTABLE`): a shell script in the
state dir that sends `python -c EXPR` to `python_answers.py` (answers kept in the configure
cache), `python SCRIPT.py ARGS` to `generator_runs.py` (a generator's run given again where it
would change nothing) and runs the venv's Python unchanged for anything else."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Optional

from build_tools.cmake import generator_runs, python_answers

ANSWERS = "python-answers"  # in the configure cache
RUNS = "generator-runs"  # in the configure cache
WRAPPER = "python"  # in the state dir: the interpreter our presets give CMake
SCRIPT = "python_answers.py"
RUNNER = "generator_runs.py"


def install_python(state_dir: Path, python: Path, root: Path) -> Path:
    """The interpreter our presets give CMake, written into the state dir (again only when it
    would change): `-c EXPR` goes to python_answers.py, `SCRIPT.py ARGS` to generator_runs.py,
    anything else to `python` unchanged."""
    state_dir.mkdir(parents=True, exist_ok=True)
    script, runner = state_dir / SCRIPT, state_dir / RUNNER
    _write_if_changed(script, Path(python_answers.__file__).read_text(encoding="utf-8"))
    _write_if_changed(runner, Path(generator_runs.__file__).read_text(encoding="utf-8"))
    quote = _sh_quote
    wrapper = state_dir / WRAPPER
    text = (
        "#!/bin/sh\n"
        "# Written by vllm-build-tools: the Python our presets give CMake. `-c EXPR` is\n"
        "# answered from the configure cache (python_answers.py beside this file says how);\n"
        "# a generator `SCRIPT.py ARGS` is given again where it would change nothing\n"
        "# (generator_runs.py); anything else runs the venv's Python unchanged.\n"
        'if [ "$#" -eq 2 ] && [ "$1" = "-c" ]; then\n'
        f"  exec {quote(str(python))} -S -E {quote(str(script))} "
        f'{quote(str(root / ANSWERS))} {quote(str(python))} "$2"\n'
        "fi\n"
        'case "${1-}" in *.py) if [ -f "$1" ]; then\n'
        f"  exec {quote(str(python))} -S -E {quote(str(runner))} "
        f'{quote(str(root / RUNS))} {quote(str(python))} "$@"\n'
        "fi ;; esac\n"
        f'exec {quote(str(python))} "$@"\n'
    )
    _write_if_changed(wrapper, text)
    mode = wrapper.stat().st_mode
    if not mode & stat.S_IXUSR:
        wrapper.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


def wrapped_python(wrapper: Path) -> Optional[Path]:
    """The interpreter a wrapper of ours runs (None: `wrapper` is not one)."""
    try:
        text = wrapper.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if "Written by vllm-build-tools" not in text:
        return None
    last = text.strip().splitlines()[-1]
    match = re.match(r"""^exec '((?:[^']|'\\'')*)' "\$@"$""", last)
    return Path(match.group(1).replace("'\\''", "'")) if match else None


def interpreter_of(value: str) -> Path:
    """The Python a preset's VLLM_PYTHON_EXECUTABLE runs: the one our script wraps, else
    the value itself."""
    return wrapped_python(Path(value)) or Path(value)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ------------------------------------------------------------------ compiler identification
