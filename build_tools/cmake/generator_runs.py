"""Runs of a checkout's configure-time generators given again without running them: vLLM's
configure runs `python SCRIPT ARGS` (the Marlin, MoE Marlin and Machete kernel generators) in
every new build dir, because it keeps their hash in CMakeCache.txt — seconds of every clean-build.

A run is kept under a key of the interpreter, the script, its arguments and what they could
import (as python_answers.py keys an expression), and given again only where it is proven to
change nothing: the files it read (outside the interpreter's library and site-packages, which
the key holds) have the contents they had, the folders it listed the same names, and every
folder it touched (a file it wrote, renamed or removed, a path a child process of it was given)
is as it was before that run and after it. A generator that writes the files it wrote last time
leaves its folders as they are; a replay then is what running it would have done: same output on
stdout and stderr, same exit status, and its line in the configure's reads log
(configure_hook.py). Anything else runs the script, as a child the audit hooks watch: a run that
fails, writes into a new folder (a build dir), leaves a folder other than it found it, starts
a shell, or lists or changes a folder by descriptor (but for shutil.rmtree's walk of what it
removes), is not kept.

The assumption: a child process a generator starts (Marlin's `rm -f FILE`) changes only the
paths its arguments name.

Standalone, the standard library only; anything that goes wrong runs the script unchanged.

    <python> -S -E generator_runs.py RUNS_DIR REAL_PYTHON SCRIPT [ARG ...]
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile

TYPE_CHECKING = False
if TYPE_CHECKING or __package__:
    from build_tools.cmake import python_answers as answers
else:  # installed in the state dir beside python_answers.py
    import python_answers as answers

FORMAT = 1
LOG = "VLLM_BUILD_TOOLS_READS"  # configure_hook.LOG: one line per checkout script run
# Runs SCRIPT as `python SCRIPT ARGS` would, and writes what it did to REPORT at exit.
RECORDER = r"""
import atexit, json, os, runpy, sys
report, script = sys.argv[1], os.path.abspath(sys.argv[2])
sys.argv[:] = sys.argv[2:]
sys.path[0] = os.path.dirname(script)
seen = {"reads": set(), "touched": set(), "listed": set(), "children": [], "shell": False,
        "by_descriptor": False, "removed_tree": False}
# the recorder's own files (this report, the reads log's line) are no folder the run touched
own = {os.path.abspath(p) for p in (report, os.environ.get("VLLM_BUILD_TOOLS_READS")) if p}
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGING = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.truncate": 1, "os.chmod": 1,
            "os.utime": 1, "os.rename": 2, "os.replace": 2, "os.symlink": 2, "os.link": 2,
            "shutil.rmtree": 1, "shutil.copyfile": -1, "shutil.move": 2}
# where each event's dir_fd arguments are: a relative path beside one lies in a folder not known
DIR_FDS = {"os.remove": (1,), "os.rmdir": (1,), "os.mkdir": (2,), "os.chmod": (2,),
           "os.utime": (3,), "os.rename": (2, 3), "os.replace": (2, 3), "os.symlink": (2,),
           "os.link": (2, 3)}
def path(value):
    return os.path.abspath(os.fsdecode(value)) if isinstance(value, (str, bytes)) else None
def hook(event, args):
    opened = path(args[0]) if event == "open" and args else None
    if opened and opened not in own:
        mode, flags = (args + (None, 0))[1:3]
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(
            isinstance(flags, int) and flags & WRITING)
        seen["touched" if writes else "reads"].add(opened)
    elif event in CHANGING:
        n = CHANGING[event]
        if event == "shutil.rmtree" and path(args[0]):
            seen["removed_tree"] = True
            seen["touched"].add(os.path.join(path(args[0]), ""))  # the tree is a folder too
        by_fd = any(i < len(args) and args[i] is not None for i in DIR_FDS.get(event, ()))
        for value in (args[1:2] if n < 0 else args[:n]):
            if by_fd and isinstance(value, (str, bytes)) and not os.path.isabs(value):
                seen["by_descriptor"] = True
            elif path(value):
                seen["touched"].add(path(value))
    elif event in ("os.listdir", "os.scandir"):
        where = path(args[0] if args and args[0] is not None else ".")
        if where:
            seen["listed"].add(where)
        else:  # a folder listed by descriptor: which one is not known
            seen["by_descriptor"] = True
    elif event == "subprocess.Popen":
        argv = args[1] if isinstance(args[1], (list, tuple)) else None
        shells = ("sh", "bash", "dash", "zsh", "ksh")
        if argv is None or (os.path.basename(os.fsdecode(argv[0])) in shells and "-c" in argv):
            seen["shell"] = True
        else:
            seen["children"].append([os.path.abspath(os.fsdecode(args[2] or ".")),
                                     [os.fsdecode(a) for a in argv]])
    elif event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "pty.spawn"):
        seen["shell"] = True
def done():
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str) and os.path.isabs(name):
            seen["reads"].add(name)
    with open(report, "w", encoding="utf-8") as handle:
        json.dump({k: sorted(v) if isinstance(v, set) else v for k, v in seen.items()}, handle)
atexit.register(done)
hook_module = sys.modules.get("sitecustomize")
if getattr(hook_module, "LOG", None) == "VLLM_BUILD_TOOLS_READS":
    hook_module._install()  # its line in the reads log, as for `python SCRIPT`
sys.addaudithook(hook)
runpy.run_path(script, run_name="__main__")
"""


def run_key(python: str, script: str, args: list[str], sites: list[str]) -> str:
    """The key of a run: python_answers' key of an expression naming the script, its arguments
    and what its folder and PYTHONPATH's folders could import."""
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    folders = [os.path.dirname(script), *path]
    named = json.dumps(["run", FORMAT, script, args, [answers.importable(f) for f in folders]])
    return answers.key(python, named, sites)


def folder_state(folder: str) -> str:
    """A digest of a folder's entries: each name with its file's content, its link's target or
    that it is a folder (not recursive)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return "missing"
    parts = []
    for name in names:
        entry = os.path.join(folder, name)
        if os.path.islink(entry):
            parts.append((name, "link", os.readlink(entry)))
        elif os.path.isdir(entry):
            parts.append((name, "dir", ""))
        else:
            parts.append((name, "file", content(entry)))
    return answers._hash(parts)


def listing(folder: str) -> str:
    try:
        return answers._hash(sorted(os.listdir(folder)))
    except OSError:
        return "missing"


def content(path: str) -> str:
    """A file's content digest ("missing": no file there)."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return "missing"


def touched_folders(report: dict[str, object]) -> set[str]:
    """The folders a run touched: where it wrote, renamed or removed, and where each path a
    child of it was given lies."""
    folders = {os.path.dirname(p) for p in report["touched"]}  # type: ignore[attr-defined]
    for cwd, argv in report["children"]:  # type: ignore[attr-defined]
        for arg in argv[1:]:
            candidate = os.path.normpath(os.path.join(cwd, arg))
            if os.sep in arg or os.path.lexists(candidate):
                folders.add(candidate if os.path.isdir(candidate) else os.path.dirname(candidate))
    return folders


def guessed_folders(script: str, args: list[str], hint: list[str]) -> set[str]:
    """Where a run may write, snapshot before it: the script's folder, the folders among its
    arguments and those the last run of it touched."""
    return {
        os.path.dirname(script),
        *(a for a in map(os.path.abspath, args) if os.path.isdir(a)),
        *hint,
    }


def replayable(kept: dict[str, object]) -> bool:
    """The kept run would change nothing now: what it read, listed and touched is as it was."""
    reads: dict[str, str] = kept["reads"]  # type: ignore[assignment]
    listed: dict[str, str] = kept["listed"]  # type: ignore[assignment]
    state: dict[str, str] = kept["state"]  # type: ignore[assignment]
    return (
        all(folder_state(f) == digest for f, digest in state.items())
        and all(listing(f) == digest for f, digest in listed.items())
        and all(content(p) == digest for p, digest in reads.items())
    )


def replay(kept: dict[str, object]) -> int:
    """What the run said, its line in the reads log, its exit status."""
    line = kept.get("log", "")
    _log(line if isinstance(line, str) else "")
    answers._replay(kept)
    status = kept["returncode"]
    return status if isinstance(status, int) else 1


def _log(line: str) -> None:
    log = os.environ.get(LOG, "")
    if log and line:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)


def run(runs: str, python: str, script: str, args: list[str]) -> int:
    """Replay the run kept for this key if it would change nothing, else run and keep it when
    it may be kept."""
    sites, library = answers.sites_of(runs, python)
    found = os.path.join(runs, run_key(python, script, args, sites) + ".json")
    hint_file = os.path.join(runs, "folders-" + answers._hash(script, args)[:16] + ".json")
    try:
        with open(found, encoding="utf-8") as handle:
            kept: dict[str, object] = json.load(handle)
        if replayable(kept):
            return replay(kept)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(hint_file, encoding="utf-8") as handle:
            hint = [str(f) for f in json.load(handle)]
    except (OSError, ValueError, TypeError):
        hint = []
    before = {f: folder_state(f) for f in guessed_folders(script, args, hint)}
    fd, report_file = tempfile.mkstemp(prefix="generator-run-", suffix=".json")
    os.close(fd)
    line_fd, line_file = tempfile.mkstemp(prefix="generator-log-", suffix=".log")
    os.close(line_fd)
    environ = dict(os.environ, **({LOG: line_file} if os.environ.get(LOG) else {}))
    try:
        done = subprocess.run(
            [python, "-c", RECORDER, report_file, script, *args],
            capture_output=True, check=False, env=environ,
        )  # fmt: skip
        with open(report_file, encoding="utf-8") as handle:
            report = json.load(handle) if os.path.getsize(report_file) else None
        line = answers._read(line_file).decode("utf-8", "surrogateescape")
    finally:
        for name in (report_file, line_file):
            try:
                os.unlink(name)
            except OSError:
                pass
    result: dict[str, object] = {
        "stdout": done.stdout.decode("utf-8", "surrogateescape"),
        "stderr": done.stderr.decode("utf-8", "surrogateescape"),
        "returncode": done.returncode,
        "log": line,
    }
    kept_run = report is not None and done.returncode == 0 and not report["shell"]
    if report is not None:
        # shutil.rmtree lists and removes the tree by descriptor (Machete's generator removes
        # its output folder first), a folder the run touched, whose state is kept; anything
        # else done by descriptor could be in a folder the run depends on
        kept_run = kept_run and (not report["by_descriptor"] or report["removed_tree"])
        folders = touched_folders(report)
        _write(hint_file, sorted(folders))
        after = {f: folder_state(f) for f in folders}
        kept_run = kept_run and all(before.get(f) == digest for f, digest in after.items())
        roots = [os.path.realpath(p) for p in [*sites, *library]]
        reads = [p for p in report["reads"] if not answers._under(os.path.realpath(p), roots)]
        result.update(
            state=after,
            listed={f: listing(f) for f in report["listed"] if f not in after},
            reads={p: content(p) for p in reads if os.path.dirname(p) not in after},
        )
    if kept_run:
        _write(found, result)
    return replay(result)


def _write(path: str, value: object) -> None:
    answers._write(path, json.dumps(value))


def main(argv: list[str]) -> int:
    runs, python, script, *args = argv
    try:
        return run(runs, python, os.path.abspath(script), args)
    except Exception:  # never the reason configure fails: the script runs as it would
        os.execv(python, [python, script, *args])
        return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
