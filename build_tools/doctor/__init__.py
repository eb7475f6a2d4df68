"""`invoke doctor`: every check of the machine and the checkout, one finding each, with the fix.

The checks (doctor/tools.py, doctor/checkout.py, doctor/build_dir.py) read files and ask tools their
version; they change nothing. None of them raises: a check that cannot run is a finding, so a
broken checkout (not a checkout, no venv, a half-deleted build dir) is reported, not a
traceback. Errors make the exit code 1; warnings alone leave it 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

from build_tools.console import Console
from build_tools.doctor import build_dir, checkout, loading, tools
from build_tools.doctor.findings import Finding, Subject, Verdict, error, read_subject, warn
from build_tools.errors import BuildToolsError
from build_tools.machine import toolchain as tc
from build_tools.settings import Settings

Check = Callable[[Subject], list[Finding]]
CHECKS: tuple[Check, ...] = (*tools.CHECKS, *checkout.CHECKS, *build_dir.CHECKS, *loading.CHECKS)


def _run(check: Check, subject: Subject) -> list[Finding]:
    name = check.__name__.replace("_", " ")
    try:
        return check(subject)
    except BuildToolsError as exc:
        return [error(name, exc.problem, exc.fix)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [warn(name, f"could not be checked: {exc}", "run `invoke doctor` again")]


def diagnose(
    settings: Settings, machine: Optional[tc.Machine] = None, checks: Sequence[Check] = CHECKS
) -> list[Finding]:
    """Every finding, in the order of the checks (the checkout's own reading first)."""
    subject = read_subject(settings, machine or tc.Machine())
    findings = list(subject.findings)
    for check in checks:
        findings.extend(_run(check, subject))
    return findings


def verdict(findings: Sequence[Finding]) -> Verdict:
    kinds = {f.verdict for f in findings}
    return next((v for v in (Verdict.ERROR, Verdict.WARN) if v in kinds), Verdict.OK)


def exit_code(findings: Sequence[Finding]) -> int:
    return 1 if verdict(findings) is Verdict.ERROR else 0


def as_json_data(findings: Sequence[Finding], console: Console) -> dict[str, Any]:
    return {
        "verdict": verdict(findings).value,
        "findings": [
            {
                "name": f.name,
                "verdict": f.verdict.value,
                "detail": f.detail,
                "fix": console.ours(f.fix),
            }
            for f in findings
        ],
    }


def show(console: Console, findings: Sequence[Finding], title: str) -> None:
    """A table of the findings, then the fix of each that is not ok, then the verdict."""
    console.table(
        title,
        [[f.name, f.verdict.value, f.detail] for f in findings],
        ("check", "verdict", "detail"),
    )
    for f in findings:
        if f.verdict is not Verdict.OK:
            console.output(f"{f.verdict.value}: {f.name}: {f.detail}\n  fix: {console.ours(f.fix)}")
    counts = {v: sum(1 for f in findings if f.verdict is v) for v in Verdict}
    console.output(
        f"doctor: {verdict(findings).value} ({counts[Verdict.ERROR]} error(s), "
        f"{counts[Verdict.WARN]} warning(s), {counts[Verdict.OK]} ok)"
    )


def main(
    flags: dict[str, Any],
    *,
    as_json: bool,
    machine: Optional[tc.Machine] = None,
    here: Optional[Path] = None,
    program: str = "invoke",
) -> int:
    """What `invoke doctor` does: resolve the settings, check, print; the exit code."""
    from build_tools import settings
    from build_tools.console import make_console

    console = Console() if as_json else make_console()  # JSON: plain on every stream
    try:
        resolved = settings.resolve(flags, here=here, program=program)
    except BuildToolsError as exc:
        findings = [error("settings", exc.problem, exc.fix)]
        title = "doctor"
    else:
        console.speak_as(resolved)
        findings = diagnose(resolved, machine)
        title = f"doctor: {resolved.source} (preset {resolved.preset!r})"
    if as_json:
        console.output(json.dumps(as_json_data(findings, console), indent=1))
    else:
        show(console, findings, title)
    return exit_code(findings)
