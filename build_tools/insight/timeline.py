"""A build as pictures: a Chrome/Perfetto trace (`traceEvents`, open it in ui.perfetto.dev or
chrome://tracing) and an SVG timeline. Pure: a BuildCost in, text out.

Both put each unit on a lane: units that overlap in time never share one, so the lanes show
how many compiles ran at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from build_tools.insight.cost import BuildCost, Unit, parallelism_text, seconds

COLORS = {".cu": "#f28e2b", "link": "#59a14f", "other": "#4e79a7"}


def lanes(units: Sequence[Unit]) -> dict[int, int]:
    """Index in `units` -> lane (0, 1, ...): the lowest lane free when the unit starts."""
    ends: list[int] = []
    lane_of: dict[int, int] = {}
    order = sorted(range(len(units)), key=lambda i: (units[i].start_ms, units[i].end_ms))
    for i in order:
        unit = units[i]
        free = next((n for n, end in enumerate(ends) if end <= unit.start_ms), None)
        if free is None:
            free = len(ends)
            ends.append(0)
        ends[free] = unit.end_ms
        lane_of[i] = free
    return lane_of


def trace(report: BuildCost, title: str) -> str:
    """The trace: one complete ("X") event per compiled unit, ts and dur in microseconds, tid
    its lane; each link is an instant event at its end."""
    lane_of = lanes(report.units)
    events: list[dict[str, object]] = [
        {"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": title}}
    ]
    for lane in sorted(set(lane_of.values())):
        events.append(
            {
                "name": "thread_name",
                "ph": "M",
                "pid": 1,
                "tid": lane,
                "args": {"name": f"lane {lane}"},
            }
        )
    for i, unit in enumerate(report.units):
        events.append(
            {
                "name": unit.name,
                "cat": "compile",
                "ph": "X",
                "ts": unit.start_ms * 1000,
                "dur": unit.ms * 1000,
                "pid": 1,
                "tid": lane_of[i],
                "args": {"target": unit.target, "output": unit.output},
            }
        )
    for unit in report.links:
        events.append(
            {
                "name": f"linked {unit.name}",
                "cat": "link",
                "ph": "i",
                "s": "p",
                "ts": unit.end_ms * 1000,
                "pid": 1,
                "tid": 0,
                "args": {"target": unit.target, "ms": unit.ms},
            }
        )
    summary = {"units": len(report.units), "parallelism": round(report.parallelism, 3)}
    data = {"traceEvents": events, "displayTimeUnit": "ms", "otherData": summary}
    return json.dumps(data, indent=1) + "\n"


def _tick(span_ms: int) -> int:
    """A round tick interval giving at most about 10 ticks."""
    raw = max(span_ms / 10, 1)
    step = 10 ** math.floor(math.log10(raw))
    return int(next(m * step for m in (1, 2, 5, 10) if m * step >= raw))


def svg(report: BuildCost, title: str, width: int = 1000) -> str:
    """A timeline: one row per lane, one bar per compiled unit and link."""
    units = [*report.units, *report.links]
    lane_of = lanes(units)
    rows = max(lane_of.values(), default=0) + 1
    left, top, row_h = 10, 48, 20
    span = max(report.wall_ms, 1)
    start = min((u.start_ms for u in units), default=0)
    scale = (width - 2 * left) / span
    height = top + rows * row_h + 30
    line = f"{len(report.units)} units in {seconds(report.wall_ms)}, {parallelism_text(report)}"
    if report.cache:
        line += f", {report.cache.text}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">{escape(title)}</text>',
        f'<text x="{left}" y="36" fill="#555">{escape(line)}</text>',
    ]
    bottom = top + rows * row_h
    step = _tick(span)
    for t in range(0, span + 1, step):
        x = left + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="#555">'
            f"{t / 1000:g} s</text>"
        )
    for i, unit in enumerate(units):
        x, w = left + (unit.start_ms - start) * scale, max(unit.ms * scale, 1.0)
        y = top + lane_of[i] * row_h
        kind = "link" if unit.kind == "link" else (".cu" if unit.name.endswith(".cu") else "other")
        tip = escape(f"{unit.name} ({unit.target or 'no target'}): {seconds(unit.ms)}")
        parts.append(
            f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_h - 4}" '
            f'fill="{COLORS[kind]}"><title>{tip}</title></rect>'
        )
        label = unit.name.rsplit("/", 1)[-1]
        if w > 6 * len(label):
            parts.append(
                f'<text x="{x + 3:.1f}" y="{y + row_h - 6}" fill="white">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
