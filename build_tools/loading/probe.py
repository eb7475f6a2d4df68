"""The load check proper: a child process of the checkout's interpreter imports torch first
(when the environment has it), as vLLM does, then loads each extension — a Python extension
module through its PyInit (by file, its package not imported), any other library with
ctypes — and prints one JSON line per library. What a failure says is read back here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# Run by the checkout's python: argv[1] "torch" or "", then (path, module name or "") pairs.
SCRIPT = """\
import ctypes, importlib.util, json, sys
def say(**item):
    print(json.dumps(item), flush=True)
if sys.argv[1]:
    try:
        import torch
    except BaseException as exc:
        say(torch=f"{type(exc).__name__}: {exc}")
        sys.exit(0)
    say(torch_version=torch.__version__)
items = sys.argv[2:]
for path, name in zip(items[::2], items[1::2]):
    say(loading=path)
    try:
        if name:
            spec = importlib.util.spec_from_file_location(name, path)
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        else:
            ctypes.CDLL(path)
        say(path=path, error="")
    except BaseException as exc:
        say(path=path, error=f"{type(exc).__name__}: {exc}")
"""

UNDEFINED = re.compile(r"undefined symbol: (\S+)")
NOT_FOUND = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")
VERSION = re.compile(r"version `([^']+)' not found \(required by ([^)]+)\)")


@dataclass(frozen=True)
class Loaded:
    path: Path
    error: str  # "" when it loaded

    @property
    def symbol(self) -> str:
        found = UNDEFINED.search(self.error)
        return found.group(1) if found else ""

    @property
    def missing(self) -> str:
        found = NOT_FOUND.search(self.error)
        return found.group(1) if found else ""


@dataclass(frozen=True)
class ProbeResult:
    torch: str  # the torch version imported first ("" when none was)
    torch_error: str  # why `import torch` failed ("" when it did not)
    loaded: tuple[Loaded, ...]
    died_in: Optional[Path]  # the library the child was loading when it died
    code: int


def argv(python: Path, libraries: Sequence[tuple[Path, str]], with_torch: bool) -> list[str]:
    pairs = [str(item) for path, name in libraries for item in (path, name)]
    return [str(python), "-c", SCRIPT, "torch" if with_torch else "", *pairs]


def parse(output: str, code: int) -> ProbeResult:
    torch = torch_error = ""
    loaded: list[Loaded] = []
    loading: Optional[Path] = None
    for line in output.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue  # a library's own output
        if not isinstance(item, dict):
            continue
        if "torch" in item:
            torch_error = str(item["torch"])
        elif "torch_version" in item:
            torch = str(item["torch_version"])
        elif "loading" in item:
            loading = Path(str(item["loading"]))
        elif "path" in item:
            loaded.append(Loaded(Path(str(item["path"])), str(item.get("error", ""))))
            loading = None
    return ProbeResult(torch, torch_error, tuple(loaded), loading, code)
