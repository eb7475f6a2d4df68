"""Who asked for what: the frozen `Settings` and the one place they are resolved.

Layers, lowest first: built-in defaults < `[tool.vllm-build]` in the suite's pyproject.toml
(team defaults) < the per-user file `vllm-build.local.toml` (git-ignored; `VLLM_BUILD_CONFIG`
points elsewhere) < `VLLM_BUILD_<KEY>` environment variables < command-line flags.
Every value remembers the layer it came from, which `invoke config` prints.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, get_args

from build_tools import settings_checks as checks
from build_tools.errors import BuildToolsError, ErrorKind
from build_tools.safety.secrets import redact
from build_tools.toml_table import read_toml_table

SUITE_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SOURCE = SUITE_ROOT / "examples" / "minivllm"
USER_FILE_NAME = "vllm-build.local.toml"
ENV_PREFIX = "VLLM_BUILD_"

Device = Literal["cuda", "cpu", "rocm"]
Launcher = Literal["auto", "sccache", "ccache", "none"]
RemoteMode = Literal["read-write", "read-only"]
DEVICES: tuple[str, ...] = get_args(Device)
LAUNCHERS: tuple[str, ...] = get_args(Launcher)


def setting(default: Any, text: str) -> Any:
    """A settings field: its default and help line (`invoke config`, --help, docs/settings.md)."""
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class Settings:
    """Everything a step may be asked to do differently. Built only by `resolve`."""

    source: Path = setting(EXAMPLE_SOURCE, "checkout to build (default: examples/minivllm)")
    preset: str = setting("release", "CMake preset name; its build dir is cmake-build-<preset>")
    python: str = setting("3.12", "Python version (or interpreter path) for the checkout's venv")
    device: Device = setting("cuda", "build requirements to install: cuda, cpu or rocm")
    venv: str = setting(".venv", "the Python environment to build with (relative: to the checkout)")
    install_into_venv: bool = setting(False, "install into an environment we did not create")
    torch_backend: str = setting(
        "auto", "uv's --torch-backend for installs (auto: the local GPU's CUDA; empty: PyPI's)"
    )
    deps_dir: str = setting("", "folder of local dependency sources, matched by name")
    jobs: int = setting(0, "parallel compile jobs (0: from the CPUs and memory we may use)")
    nvcc_threads: int = setting(0, "NVCC_THREADS per nvcc job (0: automatic)")
    mem_per_job_gb: float = setting(2.0, "memory budget per compile job, bounds the jobs (GiB)")
    memory_gate: bool = setting(
        True, "each compile waits until the memory it is expected to need is free (presets)"
    )
    configure_cache: str = setting(
        "",
        "where configure's reusable answers are kept (empty: ~/.cache/vllm-build-tools/"
        "configure; none: off)",
    )
    launcher: Launcher = setting("auto", "compiler cache launcher: auto, sccache, ccache or none")
    cache_share_paths: bool = setting(True, "cache hits for the same sources at another path")
    remote_cache: str = setting("", "shared compiler cache, e.g. redis://host:6379 (ccache)")
    remote_cache_mode: RemoteMode = setting("read-write", "read-write, or read-only (consume CI's)")
    dist: bool = setting(False, "compile on an sccache-dist cluster (needs launcher sccache)")
    dist_scheduler: str = setting("", "the sccache-dist scheduler, e.g. http://10.0.0.5:10600")
    dist_token: str = setting("", "the cluster's client token (keep it out of tracked files)")
    dev_split: bool = setting(
        False, "dev preset: also --split-compile=0 (faster nvcc; device code differs from release)"
    )
    arch: str = setting("", "TORCH_CUDA_ARCH_LIST, e.g. 9.0 (empty: the local GPU's, if any)")
    all_archs: bool = setting(False, "the project's full CUDA arch list, not the local GPU's")
    precompiled: bool = setting(True, "install precompiled kernels (false: a full source build)")
    install_prefix: str = setting("", "CMAKE_INSTALL_PREFIX of our presets (empty: the tree)")
    target: str = setting(
        "", "build these targets (comma list) and install only their components (empty: all)"
    )
    all_targets: bool = setting(
        False, "build every target, not only those that differ from the precompiled kernels"
    )
    load_check: bool = setting(
        True, "after a build, load every installed extension (statically without a GPU driver)"
    )
    plan: bool = setting(False, "say what a build would compile and what it costs; build nothing")
    wait: bool = setting(True, "wait while another build holds the build dir (false: fail)")
    force: bool = setting(
        False, "redo what looks done: rewrite edited presets, configure again, reinstall"
    )
    dry_run: bool = setting(False, "print the exact commands and environment, run nothing")
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    program: str = field(default="invoke", compare=False)  # what the person typed: invoke, ...

    def origin(self, key: str) -> str:
        return self.origins.get(key, "default")

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets `target` names (a comma list; a repeated --target is joined into one),
        each once, in the order given."""
        return tuple(dict.fromkeys(t.strip() for t in self.target.split(",") if t.strip()))


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if "help" in f.metadata}
# What each key means; `invoke config`, the flags' --help and docs/settings.md reuse these lines.
DESCRIPTIONS: dict[str, str] = {name: f.metadata["help"] for name, f in _FIELDS.items()}
DEFAULTS: dict[str, Any] = {name: f.default for name, f in _FIELDS.items()}


def _coerce(key: str, raw: Any, origin: str, base: Path) -> Any:
    """Turn a raw value from a layer into the field's type, or explain what is wrong."""
    kind = type(DEFAULTS[key])
    if not isinstance(raw, str):  # a TOML file's: of the field's type (2.7 is never 2)
        checks.typed(key, kind, raw, origin, DEFAULTS[key])
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind is float:
            return float(raw)
        if issubclass(kind, Path):
            path = Path(os.path.expanduser(str(raw)))
            return (path if path.is_absolute() else base / path).resolve()
        return str(raw)
    except ValueError:
        raise BuildToolsError(
            f"{key} = {raw!r} from {origin} is not a valid {kind.__name__}.",
            f"set {key} to a {kind.__name__} value",
        ) from None


def _check_choice(key: str, value: str, choices: tuple[str, ...], origin: str) -> None:
    if value not in choices:
        raise BuildToolsError(
            f"{key} = {value!r} from {origin} is not one of {', '.join(choices)}.",
            f"pick one of: {', '.join(choices)}",
        )


def user_file(environ: Mapping[str, str], suite_root: Path = SUITE_ROOT) -> Path:
    """The per-user settings file: `$VLLM_BUILD_CONFIG`, else vllm-build.local.toml."""
    explicit = environ.get(ENV_PREFIX + "CONFIG")
    return Path(explicit).expanduser() if explicit else suite_root / USER_FILE_NAME


def _named_file(environ: Mapping[str, str]) -> None:
    """A settings file named in VLLM_BUILD_CONFIG must exist: a typo would otherwise drop
    every setting in it without a word."""
    named = environ.get(ENV_PREFIX + "CONFIG")
    if named and not Path(named).expanduser().is_file():
        raise BuildToolsError(
            f"VLLM_BUILD_CONFIG names {named}, which is not a file.",
            "fix the path in VLLM_BUILD_CONFIG, or unset it to use vllm-build.local.toml",
            kind=ErrorKind.BAD_INPUT,
        )


def resolve(
    flags: Optional[Mapping[str, Any]] = None,
    *,
    environ: Optional[Mapping[str, str]] = None,
    suite_root: Path = SUITE_ROOT,
    cwd: Optional[Path] = None,
    here: Optional[Path] = None,
    program: str = "invoke",
) -> Settings:
    """Merge every layer into one `Settings`; flags whose value is None count as not given.
    `here`: the checkout the person stands in (`vllm-build`): the source, above every layer
    but the flags."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    pyproject = suite_root / "pyproject.toml"
    _named_file(environ)
    personal = user_file(environ, suite_root)

    layers: list[tuple[str, Mapping[str, Any], Path]] = [
        (
            "pyproject.toml [tool.vllm-build]",
            read_toml_table(pyproject, "tool.vllm-build"),
            suite_root,
        ),
        (personal.name, read_toml_table(personal), personal.parent),
        (
            # An exported TORCH_CUDA_ARCH_LIST is what the user asked torch's CMake for.
            "env TORCH_CUDA_ARCH_LIST",
            {"arch": environ["TORCH_CUDA_ARCH_LIST"]}
            if environ.get("TORCH_CUDA_ARCH_LIST")
            else {},
            cwd,
        ),
        *((name, table, cwd) for name, table in checks.vllm_variables(environ)),
        (
            "env",
            {
                k: environ[ENV_PREFIX + k.upper()]
                for k in _FIELDS
                if ENV_PREFIX + k.upper() in environ
            },
            cwd,
        ),
        ("the checkout you are in", {"source": here} if here else {}, cwd),
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}, cwd),
    ]

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer, table, base in layers:
        for raw_key, raw in table.items():
            key = raw_key.replace("-", "_")
            if key not in _FIELDS:
                raise BuildToolsError(
                    f"Unknown setting {raw_key!r} in {layer}.",
                    f"known settings: {', '.join(sorted(_FIELDS))}",
                )
            if layer == "env":
                origin = f"env {ENV_PREFIX}{key.upper()}"
            elif layer == "flag":
                origin = f"flag --{key.replace('_', '-')}"
            else:
                origin = layer
            values[key] = _coerce(key, raw, origin, base)
            origins[key] = origin

    if values.get("plan") and not values.get("dry_run"):
        # A plan writes nothing, as a dry run: presets and configure say what they would do.
        values["dry_run"], origins["dry_run"] = True, origins["plan"]
    settings = Settings(**values, origins=origins, program=program)
    _check_choice("launcher", settings.launcher, LAUNCHERS, settings.origin("launcher"))
    _check_choice("device", settings.device, DEVICES, settings.origin("device"))
    modes: tuple[str, ...] = get_args(RemoteMode)
    _check_choice(
        "remote_cache_mode", settings.remote_cache_mode, modes, settings.origin("remote_cache_mode")
    )
    _validate(settings)
    return settings


# ccache's remote storage backends we use, and their default ports.
REMOTE_PORTS = {"redis": 6379, "rediss": 6379, "http": 80, "https": 443}
REMOTE_SCHEMES = tuple(REMOTE_PORTS)


def _bad(settings: Settings, key: str, why: str, fix: str) -> BuildToolsError:
    value = redact(str(getattr(settings, key)))
    return BuildToolsError(
        f"{key} = {value!r} from {settings.origin(key)} {why}.", fix, kind=ErrorKind.BAD_INPUT
    )


def _validate(settings: Settings) -> None:
    """What no layer may set: checked before anything is written or run."""
    for key in ("jobs", "nvcc_threads"):
        if getattr(settings, key) < 0:
            raise _bad(settings, key, "is negative", f"set {key} to 0 (automatic) or a count")
    budget = settings.mem_per_job_gb
    if not math.isfinite(budget) or budget <= 0:
        raise _bad(
            settings,
            "mem_per_job_gb",
            "is not a positive number of GiB",
            "set mem_per_job_gb to the memory one compile job may use, e.g. 2",
        )
    if not settings.preset or "/" in settings.preset or not settings.preset.isprintable():
        raise _bad(settings, "preset", "is not a preset name", "use e.g. --preset release")
    fixes = {
        "remote_cache": f"use {' or '.join(s + '://host:port' for s in REMOTE_SCHEMES)}",
        "dist_scheduler": "use http://host:port (the scheduler's, e.g. http://10.0.0.5:10600)",
    }
    for key, fix in fixes.items():
        schemes, noun = (REMOTE_SCHEMES, "a URL ccache can use") if "remote" in key else (
            ("http", "https"), "an http(s) URL sccache can use")  # fmt: skip
        if why := checks.url_problem(getattr(settings, key).split("|", 1)[0], schemes, noun):
            raise _bad(settings, key, why, fix)
    deps_dir = Path(settings.deps_dir).expanduser() if settings.deps_dir else None
    if deps_dir is not None and not deps_dir.is_dir():
        raise _bad(
            settings,
            "deps_dir",
            "is not a directory",
            "point deps_dir at a folder holding one subfolder per dependency (cutlass, ...)",
        )
