from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from build_tools.errors import BuildToolsError
from build_tools.settings import DESCRIPTIONS, EXAMPLE_SOURCE, SUITE_ROOT, resolve


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    root = tmp_path / "suite"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[tool.vllm-build]\npreset = "team"\npython = "3.11"\njobs = 3\nlauncher = "ccache"\n'
    )
    (root / "vllm-build.local.toml").write_text('python = "3.13"\njobs = 5\n')
    return root


def test_defaults_without_any_layer(tmp_path: Path) -> None:
    s = resolve(environ={}, suite_root=tmp_path)
    assert s.preset == "release" and s.python == "3.12" and s.jobs == 0
    assert s.source == EXAMPLE_SOURCE
    assert s.origin("preset") == "default"


def test_each_layer_overrides_the_one_below(suite: Path) -> None:
    env = {"VLLM_BUILD_JOBS": "7", "VLLM_BUILD_DRY_RUN": "yes"}
    s = resolve({"launcher": "none", "python": None}, environ=env, suite_root=suite)
    assert (s.preset, s.origin("preset")) == ("team", "pyproject.toml [tool.vllm-build]")
    assert (s.python, s.origin("python")) == ("3.13", "vllm-build.local.toml")
    assert (s.jobs, s.origin("jobs")) == (7, "env VLLM_BUILD_JOBS")
    assert (s.launcher, s.origin("launcher")) == ("none", "flag --launcher")
    assert s.dry_run is True


def test_user_file_can_live_elsewhere(suite: Path, tmp_path: Path) -> None:
    other = tmp_path / "mine.toml"
    other.write_text('preset = "debug"\nsource = "../checkout"\n')
    s = resolve(environ={"VLLM_BUILD_CONFIG": str(other)}, suite_root=suite)
    assert s.preset == "debug"
    assert s.jobs == 3  # the default user file is not read when another is named
    assert s.source == (tmp_path / ".." / "checkout").resolve()


def test_relative_source_flag_is_relative_to_cwd(tmp_path: Path) -> None:
    s = resolve({"source": "vllm"}, environ={}, suite_root=tmp_path, cwd=tmp_path)
    assert s.source == tmp_path / "vllm"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VLLM_BUILD_JOBS": "many"}, "not a valid int"),
        ({"VLLM_BUILD_LAUNCHER": "distcc"}, "not one of"),
        ({"VLLM_BUILD_DEVICE": "tpu"}, "not one of"),
        ({"VLLM_BUILD_FORCE": "perhaps"}, "not a valid bool"),
        ({"VLLM_BUILD_JOBS": "-2"}, "is negative"),
        ({"VLLM_BUILD_MEM_PER_JOB_GB": "nan"}, "not a positive number"),
        ({"VLLM_BUILD_MEM_PER_JOB_GB": "inf"}, "not a positive number"),
        ({"VLLM_BUILD_MEM_PER_JOB_GB": "0"}, "not a positive number"),
        ({"VLLM_BUILD_DEPS_DIR": "/nonexistent/deps"}, "is not a directory"),
        ({"VLLM_BUILD_CONFIG": "/nonexistent/settings.toml"}, "is not a file"),
    ],
)
def test_bad_values_are_explained(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(BuildToolsError, match=message):
        resolve(environ=env, suite_root=tmp_path)


def test_unknown_key_in_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.vllm-build]\npresett = 'x'\n")
    with pytest.raises(BuildToolsError, match="Unknown setting 'presett'"):
        resolve(environ={}, suite_root=tmp_path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "vllm-build.local.toml").write_text("jobs = = 3\n")
    with pytest.raises(BuildToolsError, match=r"vllm-build.local.toml is not valid TOML"):
        resolve(environ={}, suite_root=tmp_path)


def test_the_settings_reference_lists_every_setting_with_its_help() -> None:
    page = (SUITE_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    found = re.findall(r"^\| `(\w+)` \| `[^`]*` \| (.+) \|$", page, flags=re.MULTILINE)
    rows = {key: html.unescape(text) for key, text in found}
    assert {k: rows.get(k) for k in DESCRIPTIONS} == DESCRIPTIONS


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("jobs = 2.7", "jobs = 2.7 from vllm-build.local.toml is a number, not a whole number"),
        ('preset = ["release"]', "is a list, not a string"),
        ("jobs = true", "is a boolean, not a whole number"),
        ("memory_gate = 1", "is a whole number, not a boolean"),
        ("source = 3", "is a whole number, not a path"),
    ],
)
def test_a_settings_file_of_the_wrong_type_is_refused(tmp_path: Path, line: str, said: str) -> None:
    (tmp_path / "vllm-build.local.toml").write_text(line + "\n")
    with pytest.raises(BuildToolsError) as caught:
        resolve(environ={}, suite_root=tmp_path)
    assert said in caught.value.problem, caught.value.problem
    assert caught.value.fix.startswith(f"set {line.split()[0]} to a"), caught.value.fix


def test_a_float_setting_takes_a_whole_number(tmp_path: Path) -> None:
    (tmp_path / "vllm-build.local.toml").write_text("mem_per_job_gb = 3\n")
    assert resolve(environ={}, suite_root=tmp_path).mem_per_job_gb == 3.0


@pytest.mark.parametrize(
    ("environ", "jobs", "threads"),
    [
        ({"MAX_JOBS": "8"}, (8, "env MAX_JOBS"), (1, "env MAX_JOBS (vLLM: 1 nvcc thread)")),
        ({"NVCC_THREADS": "2"}, (0, "default"), (2, "env NVCC_THREADS")),
        (
            {"MAX_JOBS": "8", "NVCC_THREADS": "3"},
            (2, "env MAX_JOBS=8 // NVCC_THREADS=3"),
            (3, "env NVCC_THREADS"),
        ),
        (
            {"MAX_JOBS": "8", "VLLM_BUILD_JOBS": "5"},
            (5, "env VLLM_BUILD_JOBS"),
            (1, "env MAX_JOBS (vLLM: 1 nvcc thread)"),
        ),
    ],
)
def test_vllms_max_jobs_and_nvcc_threads_keep_their_meaning(
    tmp_path: Path,
    environ: dict[str, str],
    jobs: tuple[int, str],
    threads: tuple[int, str],
) -> None:
    s = resolve(environ=environ, suite_root=tmp_path)
    assert (s.jobs, s.origin("jobs")) == jobs
    assert (s.nvcc_threads, s.origin("nvcc_threads")) == threads


@pytest.mark.parametrize("value", ["", "0", "-2", "four", "2.5"])
def test_a_max_jobs_that_is_no_count_is_refused(tmp_path: Path, value: str) -> None:
    if not value:
        assert resolve(environ={"MAX_JOBS": value}, suite_root=tmp_path).jobs == 0
        return
    with pytest.raises(BuildToolsError) as caught:
        resolve(environ={"MAX_JOBS": value}, suite_root=tmp_path)
    assert "MAX_JOBS" in caught.value.problem and "unset it" in caught.value.fix


@pytest.mark.parametrize(
    "url", ["redis://:pw@host:notaport", "redis://host:99999", "http://:6379", "host:6379"]
)
def test_a_remote_cache_url_that_cannot_be_used_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(BuildToolsError) as caught:
        resolve({"remote_cache": url}, environ={}, suite_root=tmp_path)
    assert "is not a URL ccache can use" in caught.value.problem
    assert "pw" not in caught.value.problem, "the password was shown"


def test_several_targets_repeated_or_a_comma_list(tmp_path: Path) -> None:
    """issue 26: `--target _moe_C --target _C` (invoke hands a list) and `--target _C,_moe_C`
    (or VLLM_BUILD_TARGET) name the same targets; no --target names none."""
    from build_tools.cli.front import settings_flags

    repeated = settings_flags({"target": ["_moe_C", "_C"]})
    s = resolve(repeated, environ={}, suite_root=tmp_path)
    assert s.targets == ("_moe_C", "_C") and s.origin("target") == "flag --target"
    env = resolve(environ={"VLLM_BUILD_TARGET": " _C, _moe_C,_C "}, suite_root=tmp_path)
    assert env.targets == ("_C", "_moe_C")
    assert settings_flags({"target": []}) == {}
    assert resolve(settings_flags({"target": []}), environ={}, suite_root=tmp_path).targets == ()
