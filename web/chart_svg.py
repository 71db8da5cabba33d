"""Draw a chart playlist's pictures as inline SVG: churn per day, and one track's rank over time.

As web/svg_charts.py: each picture scales with its viewBox, names itself with a <title>, shades
with classes (the Content-Security-Policy forbids inline styles), and escapes data text once.
Both are 360 wide at scale 1, so they fit a phone without scrolling sideways.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

from web.svg_charts import _close_svg, _number, _open_svg

WIDTH = 360
_LEFT, _RIGHT, _TOP = 30, 6, 10


def day_label(day: str) -> str:
    """Say a day briefly: "2026-11-23" as "Nov 23, 2026" (the text as given if it is no day)."""
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return day
    return f"{when:%b} {when.day}, {when.year}"


def _x(index: int, count: int) -> float:
    """The x of a day's middle: the days share the width evenly."""
    pitch = (WIDTH - _LEFT - _RIGHT) / max(count, 1)
    return _LEFT + pitch * (index + 0.5)


def churn_svg(
    chart_id: str, days: Sequence[str], entered: Sequence[int], left: Sequence[int]
) -> Markup:
    """Draw each day's entries (bars up) and exits (bars down), the oldest day on the left."""
    half = 50
    baseline = _TOP + half
    most = max([*entered, *left, 1])
    pitch = (WIDTH - _LEFT - _RIGHT) / max(len(days), 1)
    bar = max(1.0, min(9.0, pitch * 0.7))
    title = "Tracks in and out, per day"
    description = (
        f"{len(days)} days, from {day_label(days[0])} to {day_label(days[-1])}: bars up are the "
        "tracks that entered the chart that day, bars down the tracks that left it."
        if days
        else "No days yet."
    )
    parts = [_open_svg(chart_id, WIDTH, baseline + half + 16, title, description)]
    parts.append(f'<text class="axis" x="0" y="{_TOP + 8}">+{most}</text>')
    parts.append(f'<text class="axis" x="0" y="{baseline + half}">−{most}</text>')
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{baseline}" x2="{WIDTH - _RIGHT}" y2="{baseline}"/>'
    )
    for index, (day, came, went) in enumerate(zip(days, entered, left, strict=True)):
        x = _x(index, len(days)) - bar / 2
        up, down = half * came / most, half * went / most
        label = escape(f"{day_label(day)}: {came} entered, {went} left")
        parts.append(
            f'<g class="churn-day" data-day="{escape(day)}"><title>{label}</title>'
            f'<rect class="bar entered" x="{_number(x)}" y="{_number(baseline - up)}" '
            f'width="{_number(bar)}" height="{_number(up)}"/>'
            f'<rect class="bar left" x="{_number(x)}" y="{baseline}" '
            f'width="{_number(bar)}" height="{_number(down)}"/></g>'
        )
    if days:
        parts.append(
            f'<text class="axis" x="{_LEFT}" y="{baseline + half + 14}">'
            f"{escape(day_label(days[0]))}</text>"
        )
        parts.append(
            f'<text class="axis" x="{WIDTH - _RIGHT}" y="{baseline + half + 14}" '
            f'text-anchor="end">{escape(day_label(days[-1]))}</text>'
        )
    return _close_svg(parts)


def runs_of(series: Sequence[tuple[str, int | None]]) -> list[list[tuple[int, str, int]]]:
    """Split a track's ranks into runs of consecutive chart days on it: (index, day, rank)."""
    runs: list[list[tuple[int, str, int]]] = []
    current: list[tuple[int, str, int]] = []
    for index, (day, rank) in enumerate(series):
        if rank is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((index, day, rank))
    if current:
        runs.append(current)
    return runs


def rank_svg(
    chart_id: str, track_name: str, series: Sequence[tuple[str, int | None]], lowest: int
) -> Markup:
    """Draw a track's rank on each chart day: rank 1 at the top, a gap on days off the chart.

    `lowest` is the bottom of the scale (the chart's longest day), so that two tracks' lines
    read alike.
    """
    height = 120
    lowest = max(lowest, 2)
    on_chart = [rank for _, rank in series if rank is not None]
    title = f"Rank of {track_name} over time"
    description = (
        f"{len(series)} chart days; on the chart on {len(on_chart)}, best rank "
        f"{min(on_chart)}. Rank 1 is at the top; a gap is a day off the chart."
        if on_chart
        else "Never on the chart."
    )
    parts = [_open_svg(chart_id, WIDTH, _TOP + height + 18, title, description)]

    def y(rank: int) -> str:
        return _number(_TOP + height * (rank - 1) / (lowest - 1))

    parts.append(f'<text class="axis" x="0" y="{_TOP + 4}">1</text>')
    parts.append(f'<text class="axis" x="0" y="{_TOP + height}">{lowest}</text>')
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + height}" x2="{WIDTH - _RIGHT}" '
        f'y2="{_TOP + height}"/>'
    )
    for run in runs_of(series):
        points = " ".join(f"{_number(_x(i, len(series)))},{y(rank)}" for i, _, rank in run)
        if len(run) > 1:
            parts.append(f'<polyline class="rank-line" points="{points}"/>')
        for index, day, rank in run:
            parts.append(
                f'<circle class="rank-point" cx="{_number(_x(index, len(series)))}" '
                f'cy="{y(rank)}" r="2.5"><title>{escape(f"{day_label(day)}: rank {rank}")}'
                "</title></circle>"
            )
    if series:
        first, last = series[0][0], series[-1][0]
        parts.append(
            f'<text class="axis" x="{_LEFT}" y="{_TOP + height + 14}">'
            f"{escape(day_label(first))}</text>"
            f'<text class="axis" x="{WIDTH - _RIGHT}" y="{_TOP + height + 14}" '
            f'text-anchor="end">{escape(day_label(last))}</text>'
        )
    return _close_svg(parts)
