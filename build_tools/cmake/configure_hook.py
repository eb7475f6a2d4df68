"""Installed as `sitecustomize.py` on the PYTHONPATH of a configure (configure_inputs.py): in a
Python process that runs a script of the checkout (a configure-time generator such as vLLM's
csrc/quantization/marlin/generate_kernels.py, run by execute_process), it records the script
and every file of the checkout the script reads or imports, one JSON line appended to the log
`VLLM_BUILD_TOOLS_READS` names. Any other Python process it leaves alone. Standalone, standard
library only; an existing sitecustomize further down the path still runs.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import sys

ROOT, LOG = "VLLM_BUILD_TOOLS_CHECKOUT", "VLLM_BUILD_TOOLS_READS"
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _install() -> None:
    root, log = os.environ.get(ROOT, ""), os.environ.get(LOG, "")
    script = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if not root or not log or not script.endswith(".py") or not script.startswith(root + os.sep):
        return
    read = {script}
    here = os.path.dirname(os.path.abspath(__file__))
    skipped = (sys.prefix + os.sep, here + os.sep)  # the venv (in the tree by default), this

    def wanted(path: str) -> bool:
        inside = path.startswith(root + os.sep) and not path.startswith(skipped)
        return inside and "__pycache__" not in path

    def opened(event: str, args: tuple[object, ...]) -> None:
        if event != "open" or not args or not isinstance(args[0], str):
            return
        mode, flags = args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else 0
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else None
        if writes is None:
            writes = isinstance(flags, int) and bool(flags & WRITING)
        path = os.path.abspath(args[0])
        if not writes and wanted(path):
            read.add(path)

    def done() -> None:
        for module in list(sys.modules.values()):
            name = getattr(module, "__file__", None)
            if isinstance(name, str) and wanted(os.path.abspath(name)):
                read.add(os.path.abspath(name))
        line = json.dumps({"script": script, "reads": sorted(read)}) + "\n"
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    sys.addaudithook(opened)
    atexit.register(done)


def _chain() -> None:
    """The sitecustomize this one shadows, if the path holds another."""
    here = os.path.dirname(os.path.abspath(__file__))
    saved, module = list(sys.path), sys.modules.pop("sitecustomize", None)
    try:
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        importlib.import_module("sitecustomize")
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        if module is not None:
            sys.modules["sitecustomize"] = module


try:
    _install()
    _chain()
except Exception:  # never the reason a configure fails
    pass
