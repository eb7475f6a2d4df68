"""The workflow's steps. Each checks "already done?" first, then runs, and returns what it did.

Steps take a `Context` and never parse flags; the invoke tasks and nox sessions call them.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from build_tools import checkout as co
from build_tools import presets as ps
from build_tools import toolchain as tc
from build_tools.errors import BuildToolsError
from build_tools.report import PlainReporter, StepResult, make_reporter
from build_tools.runner import Command, Runner
from build_tools.settings import Settings

STATE_DIR = ".vllm-build-tools"  # in the checkout; holds logs, ignores itself for git
DEPS_STAMP = ".vllm-build-tools-deps.json"  # in the venv: dies with it
INSTALL_STAMP = ".vllm-build-tools-install.json"  # in the venv: how the checkout was installed
CONFIGURE_STAMP = ".vllm-build-tools-configure.json"  # in the build dir: dies with it


@dataclass
class Context:
    settings: Settings
    checkout: co.Checkout
    machine: tc.Machine
    reporter: PlainReporter
    runner: Runner
    results: list[StepResult] = field(default_factory=list)
    planned_presets: dict[str, Any] = field(default_factory=dict)  # what `presets` would write

    @property
    def dry_run(self) -> bool:
        return self.settings.dry_run

    @property
    def preset(self) -> str:
        return self.settings.preset

    def command(self, argv: Sequence[object], env: Optional[dict[str, str]] = None) -> Command:
        return Command.of(argv, self.checkout.root, env)


def make_context(
    settings: Settings,
    *,
    machine: Optional[tc.Machine] = None,
    reporter: Optional[PlainReporter] = None,
) -> Context:
    checkout = co.load(settings)
    machine = machine or tc.Machine()
    reporter = reporter or make_reporter(environ=machine.environ)
    log = None if settings.dry_run else _state_dir(checkout) / "last-run.log"
    runner = Runner(reporter, dry_run=settings.dry_run, log=log, base_env=machine.environ)
    return Context(settings, checkout, machine, reporter, runner)


def _state_dir(checkout: co.Checkout) -> Path:
    state = checkout.root / STATE_DIR
    try:
        state.mkdir(exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# written by vllm-build-tools: logs and caches, never commit\n*\n")
    except OSError:
        pass
    return state


def _timed(ctx: Context, name: str, body: Callable[[], tuple[str, str]]) -> StepResult:
    """Run one step body returning (status, detail); report and record the result."""
    ctx.reporter.step(name)
    start = time.monotonic()
    status, detail = body()
    if ctx.dry_run and status == "ran":
        status = "dry-run"
    result = StepResult(name, status, detail, time.monotonic() - start)
    ctx.reporter.done(result)
    ctx.results.append(result)
    return result


def _sha256(*texts: str) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _need_venv(ctx: Context) -> None:
    if not ctx.dry_run and not ctx.checkout.venv_python.is_file():
        raise BuildToolsError(
            f"There is no venv at {ctx.checkout.venv_dir}.",
            "run `invoke bootstrap` (or `invoke venv`) first",
        )


# ---------------------------------------------------------------- venv


def venv(ctx: Context) -> StepResult:
    """Create the checkout's venv with uv, or reuse one of the right Python version."""

    def body() -> tuple[str, str]:
        checkout, request = ctx.checkout, ctx.settings.python
        have = co.venv_version(checkout)
        if have and checkout.venv_python.exists():
            want = tc.parse_version(request) if os.sep not in request else None
            if want is None:  # an interpreter path: ask it
                want = tc.find_interpreter(ctx.machine, request, None).version
            if have[:2] == want[:2]:
                return "skipped", f"{checkout.venv_dir} has Python {tc.version_text(have)}"
            raise BuildToolsError(
                f"{checkout.venv_dir} holds Python {tc.version_text(have)}, "
                f"but Python {request} was asked for.",
                f"remove it (rm -r {checkout.venv_dir}) and rerun, "
                f"or keep it with --python {tc.version_text(have[:2])}",
            )
        if checkout.venv_dir.exists() and any(checkout.venv_dir.iterdir()):
            raise BuildToolsError(
                f"{checkout.venv_dir} exists but is not a venv (no pyvenv.cfg).",
                "move it away or set `venv` to another directory",
            )
        uv = tc.find_uv(ctx.machine)
        interp = tc.find_interpreter(ctx.machine, request, uv)
        spec = checkout.requires_python
        if spec and not co.python_satisfies(spec, interp.version):
            raise BuildToolsError(
                f"{checkout.name} needs Python {spec}, but {request} was asked for "
                f"({tc.version_text(interp.version)} at {interp.path}).",
                "pick a supported version with --python X.Y",
            )
        ctx.reporter.note(f"Python {tc.version_text(interp.version)} at {interp.path}")
        ctx.runner.run(
            ctx.command([uv, "venv", "--python", interp.path, "--seed", checkout.venv_dir])
        )
        return "ran", f"Python {tc.version_text(interp.version)}"

    return _timed(ctx, "venv", body)


# ---------------------------------------------------------------- install


def _uv_pip_install(
    ctx: Context, args: Sequence[object], env: Optional[dict[str, str]] = None
) -> None:
    uv = tc.find_uv(ctx.machine)
    argv = [uv, "pip", "install", "--python", ctx.checkout.venv_python, *args]
    ctx.runner.run(ctx.command([*argv, "--torch-backend=auto"], env), install=True)


PRECOMPILED_VARS = ("VLLM_PRECOMPILED_WHEEL_LOCATION", "VLLM_PRECOMPILED_WHEEL_COMMIT")


def _warn_stale_kernels(ctx: Context, recorded: dict[str, Any]) -> None:
    """Precompiled kernels from another commit than the checkout's cause import errors."""
    then, now = recorded.get("head"), co.git_head(ctx.checkout.root)
    if not recorded.get("precompiled") or not then or not now or then == now:
        return
    stamp_time = (ctx.checkout.venv_dir / INSTALL_STAMP).stat().st_mtime
    built = [
        m
        for m in ctx.checkout.root.glob("cmake-build-*/install_manifest*.txt")
        if m.stat().st_mtime > stamp_time
    ]
    if not built:  # kernels built here since then replace the precompiled ones
        ctx.reporter.warn(
            f"the precompiled kernels were installed at commit {then[:12]}, the checkout is now "
            f"at {now[:12]}: they may not match the Python code (undefined symbols at import); "
            "run `invoke build` to build them, or `invoke install --force` to fetch matching ones"
        )


def install(ctx: Context) -> StepResult:
    """Editable install: precompiled kernels (VLLM_USE_PRECOMPILED=1), or a full source build."""

    def body() -> tuple[str, str]:
        checkout, precompiled = ctx.checkout, ctx.settings.precompiled
        _need_venv(ctx)
        stamp_path = checkout.venv_dir / INSTALL_STAMP
        stamp = {"source": str(checkout.root), "precompiled": precompiled}
        dist = co.installed(checkout).get(co.normalize(checkout.name))
        source = co.editable_source(dist) if dist else None
        recorded = _read_json(stamp_path) or {}
        same_mode = {k: recorded.get(k) for k in stamp} == stamp or (not recorded and precompiled)
        here = source is not None and source.resolve() == checkout.root.resolve()
        if here and same_mode and not ctx.settings.force:
            _warn_stale_kernels(ctx, recorded)
            how = "precompiled kernels" if precompiled else "built from source"
            return "skipped", f"{checkout.name} is installed editable ({how}) from {checkout.root}"
        stamp["head"] = co.git_head(checkout.root)
        env = {k: ctx.machine.environ[k] for k in PRECOMPILED_VARS if ctx.machine.environ.get(k)}
        args: list[object] = ["-e", checkout.root]
        if precompiled:
            env["VLLM_USE_PRECOMPILED"] = "1"
        elif _deps_installed(ctx):
            args.append("--no-build-isolation")  # build with the venv's torch, cmake, ninja
        _uv_pip_install(ctx, args, env)
        if not ctx.dry_run:
            stamp_path.write_text(json.dumps(stamp) + "\n", encoding="utf-8")
        return "ran", f"{checkout.name} (editable, " + (
            "precompiled kernels)" if precompiled else "kernels built from source)"
        )

    return _timed(ctx, "install", body)


# ---------------------------------------------------------------- deps


def _requirements_digest(path: Path) -> str:
    texts, queue, seen = [], [path], set()
    while queue:
        current = queue.pop()
        if current in seen or not current.is_file():
            continue
        seen.add(current)
        text = current.read_text(encoding="utf-8")
        texts.append(text)
        for line in text.splitlines():
            if line.strip().startswith(("-r ", "--requirement ")):
                queue.append(current.parent / line.split(None, 1)[1].strip())
    return _sha256(*texts)


def _deps_stamp(req: Path) -> dict[str, str]:
    return {"file": str(req), "sha256": _requirements_digest(req)}


def _deps_installed(ctx: Context) -> bool:
    """The build requirements were installed from this exact file and are all still there."""
    req = ctx.checkout.requirements
    if req is None or _read_json(ctx.checkout.venv_dir / DEPS_STAMP) != _deps_stamp(req):
        return False
    have = co.installed(ctx.checkout)
    return all(co.normalize(n) in have for n in co.requirement_names(req))


def warn_torch_mismatch(ctx: Context) -> None:
    """Kernels built against another torch than the checkout pins fail at import."""
    pin = ctx.checkout.torch_pin
    torch = co.installed(ctx.checkout).get("torch")
    if not pin or torch is None:
        return
    have = torch.name[: -len(".dist-info")].rsplit("-", 1)[1]
    if have.split("+")[0] != pin.split("+")[0]:
        req = ctx.checkout.requirements
        ctx.reporter.warn(
            f"the venv has torch {have} but {req.name if req else 'the requirements'} pins "
            f"torch=={pin}; kernels built against another torch fail to import with undefined "
            "symbols (run `invoke deps`)"
        )


def deps(ctx: Context) -> StepResult:
    """Install the checkout's build requirements (cmake, ninja, ...) into its venv."""

    def body() -> tuple[str, str]:
        checkout = ctx.checkout
        req = checkout.requirements
        if req is None:
            looked = ", ".join(co.requirements_candidates(checkout.device))
            raise BuildToolsError(
                f"{checkout.root} has no build requirements file for device "
                f"{checkout.device!r} (looked for {looked}).",
                "pass --device cuda|cpu|rocm, or check that --source is a vLLM checkout",
            )
        _need_venv(ctx)
        relative = req.relative_to(checkout.root)
        if _deps_installed(ctx):
            return "skipped", f"{relative} already installed"
        _uv_pip_install(ctx, ["-r", req])
        if not ctx.dry_run:
            (checkout.venv_dir / DEPS_STAMP).write_text(
                json.dumps(_deps_stamp(req)) + "\n", encoding="utf-8"
            )
        warn_torch_mismatch(ctx)
        return "ran", str(relative)

    return _timed(ctx, "deps", body)


# ---------------------------------------------------------------- presets


def torch_cuda_home(ctx: Context) -> Optional[str]:
    """torch.utils.cpp_extension.CUDA_HOME as the venv's python sees it, cached in the venv.

    Asked of the venv's interpreter (never imported here) and only when torch is installed;
    the answer is cached per torch version so later runs pay nothing.
    """
    torch = co.installed(ctx.checkout).get("torch")
    if torch is None or not ctx.checkout.venv_python.is_file():
        return None
    cache_path = ctx.checkout.venv_dir / ".vllm-build-tools-torch.json"
    cached = _read_json(cache_path)
    if isinstance(cached, dict) and cached.get("torch") == torch.name:
        return cached.get("cuda_home") or None
    out = tc.run_quiet(
        [
            str(ctx.checkout.venv_python),
            "-c",
            "from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or '')",
        ],
        timeout=120,
    ).strip()
    try:
        cache_path.write_text(json.dumps({"torch": torch.name, "cuda_home": out}) + "\n")
    except OSError:
        pass
    return out or None


def gather_facts(ctx: Context) -> tuple[ps.Facts, list[str]]:
    """Everything the presets need from the machine, with notes a person should read."""
    settings, checkout, machine = ctx.settings, ctx.checkout, ctx.machine
    notes: list[str] = []
    venv_bin = checkout.venv_python.parent
    nvcc = None if settings.device != "cuda" else tc.find_nvcc(machine, torch_cuda_home(ctx))
    if settings.device == "cuda" and nvcc is None:
        notes.append(
            "no CUDA compiler found (torch's CUDA_HOME, CUDA_HOME, CUDA_PATH, PATH, "
            "/usr/local/cuda): the preset has no CMAKE_CUDA_COMPILER, CUDA code is skipped"
        )
    arch_list: Optional[str] = None
    if nvcc and settings.arch:
        arch_list = settings.arch
    elif nvcc and not settings.all_archs:
        local = tc.gpu_archs(machine)
        if local:
            arch_list = ";".join(local)
            notes.append(
                f"local GPU arch {arch_list} (use --all-archs for the project's full list)"
            )
        else:
            notes.append("no local GPU found: keeping the project's CUDA arch list")
    n_archs = len(arch_list.replace(" ", ";").split(";")) if arch_list else None
    parallelism = tc.plan_parallelism(
        tc.available_cpus(machine),
        tc.available_memory(machine),
        cuda=nvcc is not None,
        n_archs=n_archs,
        mem_per_job_gb=settings.mem_per_job_gb,
        jobs=settings.jobs,
        nvcc_threads=settings.nvcc_threads,
    )
    notes.append(
        f"jobs={parallelism.jobs}"
        + (f" NVCC_THREADS={parallelism.nvcc_threads}" if nvcc else "")
        + f" ({parallelism.why})"
    )
    ninja = tc.find_ninja(machine, venv_bin)
    if ninja is None:
        notes.append("ninja not found: CMake's default generator will be used (slower)")
    environment = {k: machine.environ[k] for k in ps.DEP_SOURCE_VARS if machine.environ.get(k)}
    facts = ps.Facts(
        python=checkout.venv_python,
        cmake_minimum=checkout.cmake_minimum,
        parallelism=parallelism,
        ninja=ninja,
        nvcc=nvcc,
        launcher=tc.find_launcher(machine, settings.launcher),
        arch_list=arch_list,
        device=settings.device,
        hip=settings.device == "rocm",
        fetchcontent=checkout.uses_fetchcontent,
        environment=environment,
    )
    return facts, notes


def presets(ctx: Context) -> StepResult:
    """Write (merge) CMakeUserPresets.json for the preset; untouched when nothing changed."""

    def body() -> tuple[str, str]:
        path = ctx.checkout.presets_path
        existing = co.read_presets(path)
        facts, notes = gather_facts(ctx)
        for note in notes:
            ctx.reporter.note(note)
        merged = ps.merge(
            existing,
            ps.generate(ps.family(ctx.preset), facts),
            ctx.checkout.cmake_minimum,
            force=ctx.settings.force,
            required=ctx.preset,
        )
        if merged.conflicts:
            raise ps.conflict_error(path, merged.conflicts)
        for label in merged.kept:
            ctx.reporter.note(f"kept your {label} (not ours, or edited by hand; --force replaces)")
        ctx.planned_presets = merged.data
        old = path.read_text(encoding="utf-8") if existing is not None else ""
        new = ps.render(merged.data)
        if new == old:
            return "skipped", f"{path.name} is up to date"
        changed = dict.fromkeys(label.split("'")[1] for label in merged.added + merged.replaced)
        what = "presets " + ", ".join(changed) if changed else "file layout"
        if ctx.dry_run:
            ctx.reporter.output(ps.unified_diff(path, old, new))
            return "ran", f"would write {path.name} ({what})"
        backup = ps.write_atomic(path, new)
        _validate_presets(ctx, path, backup)
        saved = f"; previous file kept as {backup.name}" if backup else ""
        return "ran", f"wrote {path.name} ({what}){saved}"

    return _timed(ctx, "presets", body)


def _validate_presets(ctx: Context, path: Path, backup: Optional[Path]) -> None:
    """Ask cmake itself to read the file; on refusal put the previous file back."""
    try:
        cmake = _cmake(ctx)
    except BuildToolsError:
        ctx.reporter.note("no cmake new enough yet: presets not checked with --list-presets")
        return
    done = _run_capture([str(cmake), "--list-presets=all"], ctx.checkout.root)
    if done[0] != 0:
        if backup:
            os.replace(backup, path)
        else:
            path.unlink()
        raise BuildToolsError(
            f"cmake rejected the generated {path.name}: {done[1].strip()}",
            "report this as a bug in vllm-build-tools; your previous file was restored",
        )


def _run_capture(argv: list[str], cwd: Path) -> tuple[int, str]:
    import subprocess

    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


# ---------------------------------------------------------------- configure


def _presets_with(ctx: Context) -> dict[str, Any]:
    """The presets file, generating our preset first when it is missing and its name is ours."""
    path, name = ctx.checkout.presets_path, ctx.preset
    data = ctx.planned_presets if ctx.dry_run and ctx.planned_presets else co.read_presets(path)
    if co.find_preset(data, "configurePresets", name):
        return data or {}
    if name.lower() not in ps.BUILD_TYPES:
        have = ", ".join(co.preset_names(data)) or "none"
        raise BuildToolsError(
            f"Preset {name!r} is not in {path} (it has: {have}).",
            f"pick one of those with --preset, or create it with `invoke presets --preset {name}`",
        )
    presets(ctx)
    return ctx.planned_presets if ctx.dry_run else co.read_presets(path) or {}


def build_dir(ctx: Context, data: Optional[dict[str, Any]] = None) -> Path:
    if data is None:
        data = co.read_presets(ctx.checkout.presets_path)
    return co.build_dir(ctx.checkout, ctx.preset, data)


def _cmake(ctx: Context) -> Path:
    """The cmake to run; in a dry run before `deps`, the one `deps` would install."""
    try:
        return tc.find_cmake(
            ctx.machine, ctx.checkout.venv_python.parent, ctx.checkout.cmake_minimum
        )
    except BuildToolsError:
        if ctx.dry_run:
            return ctx.checkout.venv_tool("cmake")
        raise


def configure(ctx: Context) -> StepResult:
    """`cmake --preset <name>`, skipped when the build dir is configured for these presets."""
    data = _presets_with(ctx)

    def body() -> tuple[str, str]:
        preset = co.find_preset(data, "configurePresets", ctx.preset) or {}
        cmake = _cmake(ctx)
        python = (preset.get("cacheVariables") or {}).get("VLLM_PYTHON_EXECUTABLE")
        if isinstance(python, str) and not ctx.dry_run and not Path(python).is_file():
            raise BuildToolsError(
                f"Preset {ctx.preset!r} points VLLM_PYTHON_EXECUTABLE at {python}, which does "
                "not exist.",
                "run `invoke bootstrap` to create the venv, or `invoke presets` to regenerate",
            )
        directory = build_dir(ctx, data)
        stamp_path = directory / CONFIGURE_STAMP
        stamp = {"preset": _sha256(json.dumps(preset, sort_keys=True)), "cmake": str(cmake)}
        if (directory / "CMakeCache.txt").is_file() and _read_json(stamp_path) == stamp:
            return "skipped", f"{directory.name} is configured for preset {ctx.preset!r}"
        warn_torch_mismatch(ctx)
        ctx.runner.run(
            ctx.command([cmake, "--preset", ctx.preset]),
            fix="read the CMake error above; `invoke clean-build` starts afresh",
        )
        if not ctx.dry_run:
            stamp_path.write_text(json.dumps(stamp) + "\n", encoding="utf-8")
        return "ran", f"{directory.name}"

    return _timed(ctx, "configure", body)


# ---------------------------------------------------------------- build


def build(ctx: Context, target: Optional[str] = None) -> StepResult:
    """Build and install everything, or only `target` and its install component."""
    configure(ctx)

    def body() -> tuple[str, str]:
        cmake, directory = _cmake(ctx), build_dir(ctx)
        fix = "fix the compile error above and run `invoke build` again"
        if target is not None and not ctx.dry_run:
            check_target(ctx, directory, target)
        argv = [cmake, "--build", "--preset", ctx.preset, "--target", target or "install"]
        outcome = ctx.runner.run(ctx.command(argv), fix=fix)
        kept = outcome.kept
        if target is not None:
            install = [cmake, "--install", directory, "--component", target]
            kept = ctx.runner.run(ctx.command(install)).kept
        stale = [name for name in outcome.linked if name in kept]
        _reinstall_stale(ctx, cmake, directory, stale)
        what = target or "all targets"
        if ctx.dry_run:
            return "ran", what
        if not outcome.edges:
            return "ran", f"{what}: up to date"
        return "ran", f"{what}: {outcome.edges} build edge(s) ran"

    return _timed(ctx, "build", body)


def _reinstall_stale(ctx: Context, cmake: Path, directory: Path, stale: Sequence[str]) -> None:
    """Install files that were just relinked but that cmake called "Up-to-date".

    `cmake --install` skips a file whose timestamp matches the installed copy's to the second,
    so two edit-build cycles within one second leave the older .so installed. CMake's
    file(INSTALL) reads CMAKE_INSTALL_ALWAYS and then copies regardless.
    """
    components = set(install_components(directory)) if stale else set()
    for name in dict.fromkeys(item.split(".", 1)[0] for item in stale):
        if name in components:
            ctx.runner.run(
                ctx.command(
                    [cmake, "--install", directory, "--component", name],
                    {"CMAKE_INSTALL_ALWAYS": "1"},
                ),
                quiet=True,
            )


# ---------------------------------------------------------------- targets


_COMPONENT = re.compile(r'CMAKE_INSTALL_COMPONENT STREQUAL "([^"]+)"')
_INCLUDE = re.compile(r'include\("([^"]+cmake_install\.cmake)"\)')


def install_components(directory: Path) -> list[str]:
    """Install components named in a configured build dir's cmake_install.cmake files."""
    found: dict[str, None] = {}
    queue, seen = [directory / "cmake_install.cmake"], set()
    while queue:
        script = queue.pop(0)
        if script in seen or not script.is_file():
            continue
        seen.add(script)
        text = script.read_text(encoding="utf-8", errors="replace")
        found.update(dict.fromkeys(_COMPONENT.findall(text)))
        queue += [Path(p) for p in _INCLUDE.findall(text)]
    return [c for c in found if c != "Unspecified"]


def build_targets(ctx: Context, directory: Path) -> list[str]:
    """Every target the build system knows (`cmake --build --target help`, generator-neutral)."""
    done = _run_capture(
        [str(_cmake(ctx)), "--build", str(directory), "--target", "help"], ctx.checkout.root
    )
    names = []
    for line in done[1].splitlines():
        line = line.strip()
        if line.startswith("..."):  # Makefiles: "... _C"
            names.append(line[3:].strip().split()[0])
        elif ": " in line and not line.startswith(("The following", "All primary")):
            names.append(line.split(":", 1)[0])  # Ninja: "_C: phony"
    return names


def extension_targets(directory: Path, known: Sequence[str]) -> list[str]:
    """The checkout's extension targets: install components that are also build targets."""
    components, targets = install_components(directory), set(known)
    return [c for c in components if c in targets] or components


def check_target(ctx: Context, directory: Path, target: str) -> None:
    known = build_targets(ctx, directory)
    if target in known:
        return
    candidates = extension_targets(directory, known)
    close = difflib.get_close_matches(target, list(dict.fromkeys(candidates + known)), 3, 0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "none is close"
    raise BuildToolsError(
        f"{target!r} is not a target of {directory.name} ({hint}).",
        f"extension targets here: {', '.join(candidates) or 'none'} (`invoke targets` lists them)",
    )


def targets(ctx: Context) -> list[str]:
    """Configure if needed, then list the extension targets found in the build system."""
    configure(ctx)
    directory = build_dir(ctx)
    found = [] if ctx.dry_run else extension_targets(directory, build_targets(ctx, directory))
    ctx.reporter.table(f"extension targets of {directory}", [[t] for t in found], ["target"])
    return found


# ---------------------------------------------------------------- clean-build


def check_deletable(directory: Path, source: Path, home: Path) -> None:
    """Refuse to delete anything but a build directory inside the source tree."""
    if directory.is_symlink():
        raise BuildToolsError(
            f"Refusing to delete {directory}: it is a symlink (to {os.readlink(directory)}).",
            "remove the link yourself, or point binaryDir at a real directory",
        )
    resolved, root = directory.resolve(), source.resolve()
    forbidden = {Path("/").resolve(), home.resolve(), root}
    if resolved in forbidden:
        raise BuildToolsError(
            f"Refusing to delete {directory}: it is the source tree, / or your home directory.",
            "point the preset's binaryDir at a build directory, e.g. "
            "${sourceDir}/cmake-build-release",
        )
    if root not in resolved.parents:
        raise BuildToolsError(
            f"Refusing to delete {directory}: it is outside the source tree {root}.",
            "delete it yourself if you are sure, or set binaryDir inside the checkout",
        )
    if (
        resolved.exists()
        and any(resolved.iterdir())
        and not (resolved / "CMakeCache.txt").is_file()
    ):
        raise BuildToolsError(
            f"Refusing to delete {directory}: it has no CMakeCache.txt, so it is not a build "
            "directory.",
            "check the preset's binaryDir; delete the directory yourself if it is yours to remove",
        )


def clean_build(ctx: Context, target: Optional[str] = None) -> StepResult:
    """Delete the preset's build directory, then configure and build from scratch."""
    data = _presets_with(ctx)
    directory = build_dir(ctx, data)

    def body() -> tuple[str, str]:
        check_deletable(directory, ctx.checkout.root, ctx.machine.home)
        if not directory.exists():
            return "skipped", f"{directory} does not exist"
        ctx.reporter.command(Command.of(["rm", "-rf", directory], ctx.checkout.root), ctx.dry_run)
        if not ctx.dry_run:
            shutil.rmtree(directory)
        return "ran", f"removed {directory}"

    _timed(ctx, "clean", body)
    return build(ctx, target)


# ---------------------------------------------------------------- bootstrap


def bootstrap(ctx: Context) -> list[StepResult]:
    """venv -> install -> deps -> presets -> configure -> build, each skipped when done."""
    for step in (venv, install, deps, presets):
        step(ctx)
    build(ctx)
    return ctx.results


# ---------------------------------------------------------------- smoke and cache stats


def installed_extensions(ctx: Context) -> list[str]:
    """Dotted module names of the extensions `cmake --install` put into the source tree."""
    root = ctx.checkout.root.resolve()
    modules = set()
    for manifest in build_dir(ctx).glob("install_manifest*.txt"):
        for line in manifest.read_text(encoding="utf-8").splitlines():
            path = Path(line.strip())
            if path.suffix != ".so" or root not in path.resolve().parents:
                continue
            relative = path.resolve().relative_to(root)
            stem = relative.name.split(".", 1)[0]
            modules.add(".".join([*relative.parent.parts, stem]))
    return sorted(modules)


def smoke(ctx: Context) -> StepResult:
    """Import every installed extension from the venv; run `<package>.smoke` if it has one."""

    def body() -> tuple[str, str]:
        _need_venv(ctx)
        package = co.normalize(ctx.checkout.name).replace("-", "_")
        python = ctx.checkout.venv_python
        if (ctx.checkout.root / package / "smoke.py").is_file():
            ctx.runner.run(ctx.command([python, "-m", f"{package}.smoke"]))
            return "ran", f"{package}.smoke passed"
        modules = installed_extensions(ctx)
        if not modules and not ctx.dry_run:
            raise BuildToolsError(
                f"No installed extension modules were found in {build_dir(ctx)}.",
                "run `invoke build` first",
            )
        code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
        ctx.runner.run(ctx.command([python, "-c", code, *modules]))
        return "ran", f"imported {', '.join(modules)}"

    return _timed(ctx, "smoke", body)


def cache_stats(ctx: Context) -> StepResult:
    """Print the compiler cache's statistics (the launcher the preset uses)."""

    def body() -> tuple[str, str]:
        preset = co.find_preset(
            co.read_presets(ctx.checkout.presets_path), "configurePresets", ctx.preset
        )
        launcher = ((preset or {}).get("cacheVariables") or {}).get("CMAKE_CXX_COMPILER_LAUNCHER")
        if not launcher:
            return "skipped", "the preset uses no compiler cache"
        ctx.runner.run(ctx.command([launcher, "--show-stats"]))
        return "ran", Path(launcher).name

    return _timed(ctx, "cache-stats", body)
