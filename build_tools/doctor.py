"""`invoke doctor`: every check of the machine and the checkout, one finding each, with the fix.

The checks (doctor_tools, doctor_checkout, doctor_build_dir) read files and ask tools their
version; they change nothing. None of them raises: a check that cannot run is a finding, so a
broken checkout (not a checkout, no venv, a half-deleted build dir) is reported, not a
traceback. Errors make the exit code 1; warnings alone leave it 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Optional

from build_tools import doctor_build_dir, doctor_checkout, doctor_tools
from build_tools import toolchain as tc
from build_tools.diagnosis import Checkout, Finding, Verdict, error, read_checkout, warn
from build_tools.errors import BuildToolsError
from build_tools.report import PlainReporter
from build_tools.settings import Settings

Check = Callable[[Checkout], list[Finding]]
CHECKS: tuple[Check, ...] = (
    *doctor_tools.CHECKS,
    *doctor_checkout.CHECKS,
    *doctor_build_dir.CHECKS,
)


def _run(check: Check, checkout: Checkout) -> list[Finding]:
    name = check.__name__.replace("_", " ")
    try:
        return check(checkout)
    except BuildToolsError as exc:
        return [error(name, exc.problem, exc.fix)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [warn(name, f"could not be checked: {exc}", "run `invoke doctor` again")]


def diagnose(
    settings: Settings, machine: Optional[tc.Machine] = None, checks: Sequence[Check] = CHECKS
) -> list[Finding]:
    """Every finding, in the order of the checks (the checkout's own reading first)."""
    checkout = read_checkout(settings, machine or tc.Machine())
    findings = list(checkout.findings)
    for check in checks:
        findings.extend(_run(check, checkout))
    return findings


def verdict(findings: Sequence[Finding]) -> Verdict:
    kinds = {f.verdict for f in findings}
    return next((v for v in (Verdict.ERROR, Verdict.WARN) if v in kinds), Verdict.OK)


def exit_code(findings: Sequence[Finding]) -> int:
    return 1 if verdict(findings) is Verdict.ERROR else 0


def as_json_data(findings: Sequence[Finding]) -> dict[str, Any]:
    return {
        "verdict": verdict(findings).value,
        "findings": [
            {"name": f.name, "verdict": f.verdict.value, "detail": f.detail, "fix": f.fix}
            for f in findings
        ],
    }


def show(reporter: PlainReporter, findings: Sequence[Finding], title: str) -> None:
    """A table of the findings, then the fix of each that is not ok, then the verdict."""
    reporter.table(
        title,
        [[f.name, f.verdict.value, f.detail] for f in findings],
        ("check", "verdict", "detail"),
    )
    for f in findings:
        if f.verdict is not Verdict.OK:
            reporter.output(f"{f.verdict.value}: {f.name}: {f.detail}\n  fix: {f.fix}")
    counts = {v: sum(1 for f in findings if f.verdict is v) for v in Verdict}
    reporter.output(
        f"doctor: {verdict(findings).value} ({counts[Verdict.ERROR]} error(s), "
        f"{counts[Verdict.WARN]} warning(s), {counts[Verdict.OK]} ok)"
    )


def main(flags: dict[str, Any], *, as_json: bool, machine: Optional[tc.Machine] = None) -> int:
    """What `invoke doctor` does: resolve the settings, check, print; the exit code."""
    from build_tools import settings
    from build_tools.report import make_reporter

    try:
        resolved = settings.resolve(flags)
    except BuildToolsError as exc:
        findings = [error("settings", exc.problem, exc.fix)]
        title = "doctor"
    else:
        findings = diagnose(resolved, machine)
        title = f"doctor: {resolved.source} (preset {resolved.preset!r})"
    if as_json:  # plain on every stream: nothing but the JSON document
        PlainReporter().output(json.dumps(as_json_data(findings), indent=1))
    else:
        show(make_reporter(), findings, title)
    return exit_code(findings)
