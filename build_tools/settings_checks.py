"""What a settings value must be, beyond its layer: a typed value (a TOML file's) of the field's
type, vLLM's own MAX_JOBS and NVCC_THREADS with its meaning, a URL's port a number. Checked
before anything is written or run (settings.resolve asks)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from build_tools.errors import BuildToolsError, ErrorKind

_TYPE_NAMES = {bool: "boolean", int: "whole number", float: "number", str: "string"}


def _of_kind(kind: type, raw: Any) -> bool:
    if kind is bool:
        return isinstance(raw, bool)
    if kind is int:
        return isinstance(raw, int) and not isinstance(raw, bool)
    if kind is float:
        return isinstance(raw, (int, float)) and not isinstance(raw, bool)
    return isinstance(raw, Path) and issubclass(kind, Path)


def _example(default: Any) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, (int, float)):
        return str(default or 2)
    return f'"{default}"'


def vllm_variables(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """vLLM's own MAX_JOBS and NVCC_THREADS, with its setup.py's meaning: MAX_JOBS is the
    compile processes in all, so with NVCC_THREADS the jobs are MAX_JOBS // NVCC_THREADS, and
    without it nvcc runs 1 thread; NVCC_THREADS alone leaves the jobs to the CPUs."""
    max_jobs, threads = environ.get("MAX_JOBS", "").strip(), environ.get("NVCC_THREADS", "").strip()
    for name, text in (("MAX_JOBS", max_jobs), ("NVCC_THREADS", threads)):
        if text and not (text.isdigit() and int(text) > 0):
            raise BuildToolsError(
                f"{name} = {text!r} from env {name} is not a positive whole number (vLLM reads "
                "it as one).",
                f"export {name} as a count, e.g. {name}=2, or unset it",
                kind=ErrorKind.BAD_INPUT,
            )
    layers: list[tuple[str, dict[str, Any]]] = []
    if threads:
        layers.append(("env NVCC_THREADS", {"nvcc_threads": int(threads)}))
    if max_jobs:
        jobs = max(1, int(max_jobs) // int(threads or 1))
        said = f"env MAX_JOBS={max_jobs} // NVCC_THREADS={threads}" if threads else "env MAX_JOBS"
        layers.append((said, {"jobs": jobs}))
        if not threads:
            layers.append(("env MAX_JOBS (vLLM: 1 nvcc thread)", {"nvcc_threads": 1}))
    return layers


def typed(key: str, kind: type, raw: Any, origin: str, default: Any) -> None:
    """A typed value must be of the field's type: `jobs = 2.7` is never 2, a list never a
    string (BuildToolsError naming both types and an example)."""
    if _of_kind(kind, raw):
        return
    expected = "path" if issubclass(kind, Path) else _TYPE_NAMES.get(kind, kind.__name__)
    given = _TYPE_NAMES.get(type(raw), type(raw).__name__)
    raise BuildToolsError(
        f"{key} = {raw!r} from {origin} is a {given}, not a {expected}.",
        f"set {key} to a {expected}, e.g. {key} = {_example(default)}",
        kind=ErrorKind.BAD_INPUT,
    )


def bad_port(url: SplitResult) -> bool:
    """Whether the URL names a port that is no number (`redis://host:notaport`)."""
    try:
        url.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        return True
    return False


def url_problem(url: str, schemes: tuple[str, ...], noun: str) -> str:
    """Why `url` is not `noun` ("a URL ccache can use"): one of `schemes`, a host, a numeric
    port ("" when it is, or is empty)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        return f"is not {noun}"
    if bad_port(parts):
        return f"is not {noun}: its port is no number"
    return ""
