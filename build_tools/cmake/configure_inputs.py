"""What a configure read, by content: a change to any of it configures again, said, even where
CMake itself does not look.

- The files CMake read (the File API's cmakeFiles reply: CMakeLists.txt, cmake/*.cmake, ...).
  ninja re-runs cmake when one is newer than build.ninja, by clock: an older copy restored with
  `cp -p` is missed.
- The Python scripts of the checkout that configure ran (vLLM's Marlin and Machete
  generate_kernels.py, run by execute_process), and every file of the checkout they read or
  imported. CMake does not know them at all: an edit changes nothing until someone configures.
  They are found by running the configure with `configure_hook.py` as the sitecustomize of its
  Python processes (state dir `configure-hook/`; its log `configure-reads.log`).

`record` gives what the configure stamp keeps (each file's size, mtime, ctime and sha256, and
the scripts); `changed` says which of them differ now (read again only when size, mtime or
ctime moved).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from build_tools.cmake import configure_hook
from build_tools.cmake.codemodel import CodeModel
from build_tools.digest import file_sha256

HOOK_DIR = "configure-hook"  # in the state dir: holds sitecustomize.py
READS = "configure-reads.log"  # in the state dir: one JSON line per script the configure ran
SCRIPTS = "configure-scripts"  # in the state dir: per build dir, the scripts configures ran


def environment(
    state_dir: Path, root: Path, environ: Mapping[str, str], warn: Callable[[str], None]
) -> dict[str, str]:
    """What the configure runs with so its Python scripts are recorded (the hook written, its
    log emptied): the hook first on PYTHONPATH. Where the state dir cannot take the hook, the
    configure runs without it, said."""
    hook = state_dir / HOOK_DIR / "sitecustomize.py"
    source = Path(configure_hook.__file__)
    try:
        hook.parent.mkdir(parents=True, exist_ok=True)
        if not hook.is_file() or hook.read_bytes() != source.read_bytes():
            shutil.copyfile(source, hook)
        (state_dir / READS).write_text("", encoding="utf-8")
    except OSError as exc:
        warn(
            f"cannot write {hook} ({exc.strerror or exc}): this configure runs without it, so "
            "an edit of a script it runs (a kernel generator) is noticed only when CMake's "
            f"own files change; fix: make {hook.parent} a writable folder"
        )
        return {}
    path = os.pathsep.join(filter(None, [str(hook.parent), environ.get("PYTHONPATH", "")]))
    return {
        "PYTHONPATH": path,
        configure_hook.ROOT: str(root),
        configure_hook.LOG: str(state_dir / READS),
    }


def scripts(state_dir: Path) -> dict[str, list[str]]:
    """The scripts the last configure ran and what each read (absolute paths)."""
    found: dict[str, list[str]] = {}
    try:
        lines = (state_dir / READS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        try:
            entry = json.loads(line)
            found.setdefault(str(entry["script"]), []).extend(str(p) for p in entry["reads"])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def keep_scripts(state_dir: Path, root: Path, build_dir: Path) -> dict[str, list[str]]:
    """Merge the scripts the configure that just ran (or failed) ran into those kept for the
    build dir in the state dir (`configure-scripts/<build dir>.json`, while they exist): a
    generator runs only when it changed (vLLM's compare a hash) and is watched all the same,
    even when the build dir's stamp is lost. Returns them, relative to the checkout."""
    kept_at = state_dir / SCRIPTS / f"{build_dir.name}.json"
    try:
        kept = json.loads(kept_at.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    ran: dict[str, list[str]] = {
        str(k): [str(p) for p in v]
        for k, v in (kept if isinstance(kept, dict) else {}).items()
        if isinstance(v, list) and (root / str(k)).is_file()
    }
    for script, reads in scripts(state_dir).items():
        ran[os.path.relpath(script, root)] = sorted({os.path.relpath(p, root) for p in reads})
    try:
        kept_at.parent.mkdir(parents=True, exist_ok=True)
        kept_at.write_text(json.dumps(ran, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass  # then only this configure's stamp knows them
    return ran


def record(state_dir: Path, root: Path, model: CodeModel | None, build_dir: Path) -> dict[str, Any]:
    """What the configure that just ran read: {"scripts": {script: [what it read]}, "files":
    {path: stamp}}, paths relative to the checkout."""
    ran = keep_scripts(state_dir, root, build_dir)
    files = {p for reads in ran.values() for p in reads} | set(model.cmake_inputs if model else ())
    return {
        "scripts": ran,
        "files": {rel: found for rel in sorted(files) if (found := _stamp(root / rel))},
    }


def _stamp(path: Path, known: Any = None) -> list[Any] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    key = [info.st_size, info.st_mtime_ns, info.st_ctime_ns]
    if isinstance(known, list) and known[:3] == key:
        return known
    try:
        return [*key, file_sha256(path)]
    except OSError:
        return None


def changed(root: Path, read: Mapping[str, Any]) -> list[str]:
    """The files the last configure read (`read`: what `record` gave it, kept in its stamp)
    whose content differs now, or that are gone."""
    files = read.get("files")
    if not isinstance(files, dict):
        return []
    found = []
    for rel, known in files.items():
        now = _stamp(root / rel, known)
        if now is None or not isinstance(known, list) or now[3:] != known[3:]:
            found.append(str(rel))
    return sorted(found)


def said(changed_files: Iterable[str], read: Mapping[str, Any]) -> str:
    """Why the configure runs again, in words (`read`: as for `changed`)."""
    names = list(changed_files)
    ran = read.get("scripts")
    ran = ran if isinstance(ran, dict) else {}
    shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
    by = sorted({s for s, reads in ran.items() if set(names) & set(reads)})
    why = f" (configure runs {', '.join(by[:2])}, which reads it: CMake does not watch that)"
    return f"{shown} changed since the last configure{why if by else ''}: configuring again"
