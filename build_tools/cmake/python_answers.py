"""Answers to `python -c EXPR` from a cache, for configure: vLLM's CMake asks the interpreter a
dozen questions (`run_python` in cmake/utils.cmake, and flash-attention's copy of it), each
starting Python and importing torch — two thirds of a fresh configure of vLLM. An answer is a
pure function of the interpreter, the expression and what it imports, so it is kept under a key
of exactly that and given again without running Python:

- the expression, the working directory and what could be imported from it (`-c` puts it
  first on sys.path);
- the interpreter: its path, where that leads, its version and build (sys.version), the venv's
  pyvenv.cfg;
- what is installed: every site-packages directory of the interpreter, each distribution by the
  RECORD its installer wrote (the digest of every installed file), `.pth` files by content,
  other entries by name;
- the environment (but for variables that only describe the terminal or the session, say where
  a compiler cache keeps objects, or are this suite's settings), the CUDA toolkit nvcc on PATH
  leads to, the GPU driver and its devices.

An answer is kept only when the run succeeded and every module it imported came from the
interpreter's own library or a site-packages directory: one that imported a checkout's sources
(an editable install, PYTHONPATH, the working directory) is asked every time.

CMake runs `<state dir>/python` (a shell script the presets name as the interpreter): it sends
`-c EXPR` here and everything else to the real interpreter unchanged. Standalone, the standard
library only, never a word of its own on stdout or stderr (they are the answer): anything that
goes wrong runs the real interpreter.

    <python> -S -E python_answers.py ANSWERS_DIR REAL_PYTHON EXPR
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

# Variables that describe a terminal or a session, not what a program computes.
VOLATILE = frozenset(
    "_ OLDPWD PWD SHLVL TERM COLORTERM COLUMNS LINES DISPLAY WINDOWID STY PS1 PS2 "
    "PROMPT_COMMAND INVOCATION_ID JOURNAL_STREAM SSH_AUTH_SOCK SSH_AGENT_PID SSH_CLIENT "
    "SSH_CONNECTION SSH_TTY GPG_TTY NO_COLOR FORCE_COLOR CLICOLOR CLICOLOR_FORCE LS_COLORS "
    "DBUS_SESSION_BUS_ADDRESS MAIL TERM_PROGRAM TERM_PROGRAM_VERSION TERM_SESSION_ID "
    "TMUX TMUX_PANE VTE_VERSION HISTFILE HISTSIZE HISTCONTROL LESSOPEN LESSCLOSE".split()
)
# ... and those that only say where compiler caches keep objects, or are this suite's own
# settings (what they change in a configure is in the preset, which is keyed).
VOLATILE_PREFIXES = (
    "XDG_SESSION_", "KITTY_", "ITERM_", "WT_", "VSCODE_", "CCACHE_", "SCCACHE_", "VLLM_BUILD_",
)  # fmt: skip
FORMAT = 1
# Runs EXPR as `python -c EXPR` would (a fresh __main__), then lists where its modules came from.
RUNNER = """
import sys, types
expr, report = sys.argv[1], sys.argv[2]
del sys.argv[1:]
main = types.ModuleType("__main__")
sys.modules["__main__"] = main
def _where():
    with open(report, "w", encoding="utf-8") as handle:
        for module in list(sys.modules.values()):
            handle.write(str(getattr(module, "__file__", None) or "") + "\\n")
import atexit
atexit.register(_where)
exec(compile(expr, "<string>", "exec"), main.__dict__)
"""


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def site_dirs(python: str) -> list[list[str]]:
    """The interpreter's site-packages directories and its library (asked once and kept beside
    its answers)."""
    code = (
        "import site, sysconfig, json; p = sysconfig.get_paths(); "
        "print(json.dumps([[x for x in site.getsitepackages() + [site.getusersitepackages()]"
        " if x], [p['stdlib'], p['platstdlib']]]))"
    )
    done = subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    sites, library = json.loads(done.stdout)
    return [[str(p) for p in sites], [str(p) for p in library]]


def installed(directories: list[str]) -> str:
    """A digest of what the directories hold: distributions by their RECORD, .pth files by
    content, the rest by name."""
    parts = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith((".dist-info", ".egg-info")):
                record = _read(os.path.join(path, "RECORD")) or _read(
                    os.path.join(path, "installed-files.txt")
                )
                parts.append((name, hashlib.sha256(record).hexdigest()))
            elif name.endswith((".pth", ".egg-link")):
                parts.append((name, hashlib.sha256(_read(path)).hexdigest()))
            else:
                parts.append((name, ""))
    return _hash(directories, parts)


def _cuda() -> list[str]:
    found = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(directory or ".", "nvcc")
        if os.access(candidate, os.X_OK):
            found.append(os.path.realpath(candidate))
            break
    driver = _read("/proc/driver/nvidia/version").decode(errors="replace")
    try:
        devices = sorted(n for n in os.listdir("/dev") if n.startswith("nvidia"))
    except OSError:
        devices = []
    return [*found, os.path.realpath("/usr/local/cuda"), driver, *devices]


def importable(directory: str) -> list[str]:
    """What `import NAME` could find in `directory` (first on sys.path for `-c`): Python files,
    extension modules and packages; other files there change no answer."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [
        name
        for name in names
        if name.endswith((".py", ".pyc", ".so", ".pyd", ".pth"))
        or os.path.isfile(os.path.join(directory, name, "__init__.py"))
    ]


def environment(environ: dict[str, str]) -> dict[str, str]:
    """The environment as the key holds it: without the terminal's and the session's variables,
    a compiler cache's dirs or this suite's own, and without locale variables set empty, which
    mean unset (CMake leaves LC_ALL= and LC_MESSAGES= behind once it identified a compiler)."""
    return {
        k: v
        for k, v in environ.items()
        if k not in VOLATILE
        and not k.startswith(VOLATILE_PREFIXES)
        and not (k.startswith("LC_") and v == "")
    }


def key(python: str, expr: str, sites: list[str]) -> str:
    """The answer's key (see the module's text)."""
    real = os.path.realpath(python)
    prefix = os.path.dirname(os.path.dirname(python))
    cwd = os.getcwd()
    here = importable(cwd)
    environ = environment(dict(os.environ))
    return _hash(
        FORMAT,
        expr,
        cwd,
        here,
        python,
        real,
        sys.version,
        _read(os.path.join(prefix, "pyvenv.cfg")).decode(errors="replace"),
        installed(sites),
        environ,
        _cuda(),
    )


def _under(path: str, roots: list[str]) -> bool:
    return any(path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def own_library(path: str, sites: list[str], library: list[str]) -> bool:
    """A module file of an installed distribution or of the interpreter's own library: where it
    really is lies in a site-packages directory or the library (each as it really is), or it
    is named from the library (a distribution's own links: Debian's and Ubuntu's
    sitecustomize.py lies in /etc)."""
    if not path or not os.path.isabs(path):
        # built in, a namespace package, or a module made in memory with a name for a file
        # (torch's torch/_ops.py sets __file__ = "_ops.py"): nothing read from the disk
        return True
    roots = [os.path.realpath(p) for p in [*sites, *library]]
    return _under(os.path.realpath(path), roots) or _under(os.path.abspath(path), library)


def sites_of(answers: str, python: str) -> tuple[list[str], list[str]]:
    """The interpreter's site-packages directories and library, asked once and kept in
    `answers`."""
    venv = _read(os.path.join(os.path.dirname(os.path.dirname(python)), "pyvenv.cfg"))
    sites_file = os.path.join(
        answers, "sites-" + _hash(python, sys.version, venv.decode(errors="replace"))[:16] + ".json"
    )
    try:
        with open(sites_file, encoding="utf-8") as handle:
            sites, library = json.load(handle)
    except (OSError, ValueError):
        sites, library = site_dirs(python)
        _write(sites_file, json.dumps([sites, library]))
    return sites, library


def ask(answers: str, python: str, expr: str) -> int:
    """Answer from the cache, or run the interpreter and keep its answer when it may be."""
    sites, library = sites_of(answers, python)
    found = os.path.join(answers, key(python, expr, sites) + ".json")
    try:
        with open(found, encoding="utf-8") as handle:
            kept = json.load(handle)
        _replay(kept)
        return int(kept["returncode"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    report = found + f".{os.getpid()}.modules"
    try:
        done = subprocess.run(
            [python, "-c", RUNNER, expr, report], capture_output=True, check=False
        )
        listed = os.path.exists(report)
        modules = _read(report).decode(errors="replace").splitlines()
    finally:
        try:
            os.unlink(report)
        except OSError:
            pass
    if done.returncode != 0:  # its own words, exactly as `python -c` says them
        os.execv(python, [python, "-c", expr])
    kept = {
        "stdout": done.stdout.decode("utf-8", "surrogateescape"),
        "stderr": done.stderr.decode("utf-8", "surrogateescape"),
        "returncode": done.returncode,
        "expr": expr,
    }
    # Beside this script (the state dir): the suite's own hooks of a configure's Python.
    ours = [os.path.dirname(os.path.abspath(__file__))]
    foreign = [m for m in modules if not own_library(m, [*sites, *ours], library)]
    if listed and not foreign:
        _write(found, json.dumps(kept))
    else:  # said nowhere else: an answer never kept is asked every time
        _write(found[: -len(".json")] + ".not-kept", "\n".join(foreign or ["(no module list)"]))
    _replay(kept)
    return done.returncode


def _replay(kept: dict[str, object]) -> None:
    for stream, name in ((sys.stdout, "stdout"), (sys.stderr, "stderr")):
        text = kept[name]
        if not isinstance(text, str):
            raise TypeError(name)
        stream.buffer.write(text.encode("utf-8", "surrogateescape"))
        stream.flush()


def _write(path: str, text: str) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    answers, python, expr = argv
    try:
        return ask(answers, python, expr)
    except Exception:  # never the reason configure fails: the real interpreter answers
        os.execv(python, [python, "-c", expr])
        return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
