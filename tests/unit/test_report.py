"""What a person reads: rich on a terminal (never showing markup), plain lines elsewhere."""

from __future__ import annotations

import io

from build_tools.report import (
    PlainReporter,
    RichReporter,
    StepResult,
    StepStatus,
    make_reporter,
    summary_data,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_no_markup_text() -> None:
    out = Terminal()
    reporter = RichReporter(out)
    reporter.console._force_terminal = True  # what a terminal would set
    for done in range(1, 6):
        reporter.progress(done, 5)
    reporter.note("a path with [brackets] and [cyan]no markup[/]")
    reporter._stop_progress()
    text = out.getvalue()
    assert "building" in text and "[cyan]building" not in text
    assert "[brackets]" in text and "[cyan]no markup[/]" in text


def test_plain_in_ci_and_pipes_rich_on_a_terminal() -> None:
    assert type(make_reporter(io.StringIO(), {})) is PlainReporter
    assert type(make_reporter(Terminal(), {"CI": "true"})) is PlainReporter
    assert type(make_reporter(Terminal(), {"NO_COLOR": "1"})) is PlainReporter
    assert type(make_reporter(Terminal(), {})) is RichReporter


def test_summary_lines_and_json() -> None:
    results = [
        StepResult("configure", StepStatus.SKIPPED, "configured", 0.01),
        StepResult("build", StepStatus.RAN, "_C: 2 build edge(s) ran", 1.5),
    ]
    out = io.StringIO()
    PlainReporter(out).summary(results, 1.6)
    assert out.getvalue() == "done in 1.6s: 1 ran, 1 skipped\n"
    data = summary_data("build", results, 1.6, 0)
    assert data["exit"] == 0 and [s["status"] for s in data["steps"]] == ["skipped", "ran"]
