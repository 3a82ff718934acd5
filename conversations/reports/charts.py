"""Charts drawn on the server as inline SVG: no script, no asset from elsewhere, readable offline and printable."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 40
COLORS = ("#2e7d32", "#81c784", "#1565c0", "#9e9e9e", "#ef6c00", "#6a1b9a", "#c62828")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    color: str


def _frame(inner: str, title: str, legend: Sequence[Series], chart_id: str) -> SafeString:
    items = "".join(
        f'<span class="legend-item"><i style="background:{s.color}"></i>{escape(s.label)}</span>' for s in legend
    )
    svg = (
        f'<svg class="report-chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{inner}</svg>'
    )
    html = (
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>{svg}<div class="legend">{items}</div></figure>'
    )
    return mark_safe(html)  # noqa: S308 - every text in it went through escape() above


def _x_labels(labels: Sequence[str], step: float) -> str:
    every = max(1, len(labels) // 10)
    return "".join(
        f'<text x="{LEFT + step * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" text-anchor="middle">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if i % every == 0
    )


def _y_axis(top: float, fmt: str) -> str:
    plot = HEIGHT - TOP - BOTTOM
    parts = []
    for k in range(5):
        value = top * k / 4
        y = HEIGHT - BOTTOM - plot * k / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e0e0e0"/>'
            f'<text x="{LEFT - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{fmt.format(value)}</text>'
        )
    return "".join(parts)


def stacked_bars(*, title: str, labels: Sequence[str], series: Sequence[Series], chart_id: str) -> SafeString:
    """One bar per label, its series stacked (e.g. each day's outcomes)."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    top = max([*totals, 1])
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    plot = HEIGHT - TOP - BOTTOM
    bars = []
    for i in range(len(labels)):
        y = float(HEIGHT - BOTTOM)
        for s in series:
            value = s.values[i] or 0
            if not value:
                continue
            h = plot * value / top
            y -= h
            bars.append(
                f'<rect class="bar" x="{LEFT + step * i + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" '
                f'height="{h:.1f}" fill="{s.color}">'
                f"<title>{escape(labels[i])} {escape(s.label)}: {value:g}</title></rect>"
            )
    inner = _y_axis(top, "{:.0f}") + "".join(bars) + _x_labels(labels, step)
    return _frame(inner, title, series, chart_id)


def lines(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    chart_id: str,
    target: float | None = None,
    target_label: str = "",
    top: float | None = None,
    fmt: str = "{:.0f}",
) -> SafeString:
    """A line per series over the labels (a gap where a value is missing), and an optional target line."""
    values = [v for s in series for v in s.values if v is not None]
    top = top or max([*values, target or 0, 1]) * 1.1
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    plot = HEIGHT - TOP - BOTTOM

    def y_of(value: float) -> float:
        return HEIGHT - BOTTOM - plot * min(value, top) / top

    parts = [_y_axis(top, fmt)]
    if target is not None:
        y = y_of(target)
        parts.append(
            f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c62828" '
            f'stroke-dasharray="6 4"/><text x="{WIDTH - RIGHT}" y="{y - 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#c62828">{escape(target_label)}</text>'
        )
    for s in series:
        run: list[str] = []
        runs = []
        for i, value in enumerate(s.values):
            if value is None:
                if run:
                    runs.append(run)
                run = []
                continue
            x, y = LEFT + step * (i + 0.5), y_of(value)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.color}">'
                f"<title>{escape(labels[i])} {escape(s.label)}: {fmt.format(value)}</title></circle>"
            )
        if run:
            runs.append(run)
        parts += [
            f'<polyline class="line" fill="none" stroke="{s.color}" stroke-width="2" points="{" ".join(r)}"/>'
            for r in runs
        ]
    parts.append(_x_labels(labels, step))
    return _frame("".join(parts), title, series, chart_id)


def horizontal_bars(*, title: str, items: Sequence[tuple[str, float]], chart_id: str) -> SafeString:
    """One bar per item, longest first as given (e.g. handoffs by reason)."""
    top = max([v for _, v in items] + [1])
    row = (HEIGHT - TOP - 8) / max(len(items), 1)
    width = WIDTH - 160 - RIGHT - 40
    parts = []
    for i, (label, value) in enumerate(items):
        y = TOP + row * i
        w = width * value / top
        parts.append(
            f'<text x="150" y="{y + row * 0.6:.1f}" font-size="12" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="160" y="{y + row * 0.15:.1f}" width="{w:.1f}" height="{row * 0.6:.1f}" '
            f'fill="{COLORS[i % len(COLORS)]}"><title>{escape(label)}: {value:g}</title></rect>'
            f'<text x="{164 + w:.1f}" y="{y + row * 0.6:.1f}" font-size="12">{value:g}</text>'
        )
    return _frame("".join(parts), title, [], chart_id)
