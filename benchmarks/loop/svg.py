"""The hand-written SVG chart: per scenario, one bar per contender (its median) on a log-seconds
axis, with a min-max whisker. No plotting library is needed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

from benchmarks.loop.stats import SCENARIOS, Stats

COLORS = {
    "P1": "#4e79a7",
    "P2": "#f28e2b",
    "P3": "#59a14f",
    "P4": "#b07aa1",
    "P5": "#76b7b2",
    "P6": "#e15759",
    "P7": "#edc948",
    "P8": "#9c755f",
}


@dataclass(frozen=True)
class Scale:
    """Log10 seconds -> x pixels between `left` and `left + width`."""

    lo: float
    hi: float
    left: float
    width: float

    def x(self, seconds: float) -> float:
        clamped = min(max(seconds, self.lo), self.hi)
        span = math.log10(self.hi) - math.log10(self.lo)
        return self.left + (math.log10(clamped) - math.log10(self.lo)) / span * self.width


def decades(lo: float, hi: float) -> list[float]:
    """1e-2, 1e-1, 1, ... from lo to hi: the grid lines of the log axis."""
    return [10.0**e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]


def scale_for(stats: Mapping[str, Mapping[str, Stats]], left: float, width: float) -> Scale:
    """A log axis from the decade below the smallest sample to the decade above the largest."""
    values = [v for by in stats.values() for s in by.values() for v in (s.min, s.max)]
    lo = 10.0 ** math.floor(math.log10(max(min(values), 1e-3)))
    hi = 10.0 ** math.ceil(math.log10(max(values) * 1.01))
    return Scale(lo, max(hi, lo * 10), left, width)


def svg_text(x: float, y: float, text: str, **attrs: str) -> str:
    """A <text> element; attrs' underscores become dashes (text_anchor -> text-anchor)."""
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def svg_axis(scale: Scale, top: float, bottom: float) -> list[str]:
    """Vertical grid lines at each decade, labelled in seconds."""
    parts = []
    for d in decades(scale.lo, scale.hi):
        x = scale.x(d)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#ccc"/>')
        parts.append(svg_text(x, bottom + 14, f"{d:g} s", text_anchor="middle", fill="#555"))
    return parts


def svg_bar(scale: Scale, y: float, name: str, s: Stats, color: str) -> list[str]:
    """Label, bar to the median, a min-max whisker and the median's value."""
    x0, xm = scale.x(scale.lo), scale.x(s.median)
    x1, x2 = scale.x(s.min), scale.x(s.max)
    mid = y + 7
    return [
        svg_text(scale.left - 8, y + 11, name, text_anchor="end"),
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(xm - x0, 1):.1f}" height="14" '
        f'fill="{color}"><title>{escape(name)}: median {s.median:.3f} s</title></rect>',
        f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#222"/>',
        f'<line x1="{x1:.1f}" y1="{y + 3}" x2="{x1:.1f}" y2="{y + 11}" stroke="#222"/>',
        f'<line x1="{x2:.1f}" y1="{y + 3}" x2="{x2:.1f}" y2="{y + 11}" stroke="#222"/>',
        svg_text(max(xm, x2) + 6, y + 11, f"{s.median:.3f} s"),
    ]


def render_svg(stats: Mapping[str, Mapping[str, Stats]], title: str) -> str:
    """Horizontal bars of the medians per scenario on a log-seconds axis, min-max whiskers."""
    left, width, row, top = 300.0, 520.0, 22.0, 46.0
    scale = scale_for(stats, left, width)
    body: list[str] = []
    y = top
    for scenario, by in stats.items():
        body.append(
            svg_text(10, y + 12, f"{scenario}: {SCENARIOS.get(scenario, '')}", font_weight="bold")
        )
        y += row
        for name, s in by.items():
            body += svg_bar(scale, y, name, s, COLORS.get(scenario, "#888"))
            y += row
        y += 6
    height = y + 40
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 110:.0f}" '
        f'height="{height:.0f}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        svg_text(10, 20, title, font_weight="bold", font_size="14"),
        svg_text(10, 36, "median (bar) and min-max (whisker), seconds, log scale", fill="#555"),
    ]
    return "\n".join([*head, *svg_axis(scale, top, y), *body, "</svg>"]) + "\n"
