"""Draw the listening stats' pictures as inline SVG on the server: bars, a calendar, a heatmap.

Every picture scales with its `viewBox` (the page's CSS gives it `width: 100%`), names itself
with a `<title>` and `aria-labelledby`, and shades with classes, not inline styles: the
Content-Security-Policy forbids those. Its `width` and `height` are its size at scale 1, where
labels and squares are readable: the page keeps the wide ones (a year of days, a year of weeks)
at least that wide, scrolling sideways on a phone. Text from the data is escaped here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup, escape

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Calendar shades by minutes listened in a day: level n means at least MINUTE_LEVELS[n - 1].
MINUTE_LEVELS = (1, 15, 60, 180)
LEVEL_LABELS = ("none", "under 15 min", "15–60 min", "1–3 h", "3 h or more")

_CELL, _GAP = 11, 2
_LEFT, _TOP = 28, 14


def _number(value: float) -> str:
    """Write a coordinate briefly: whole numbers without a decimal point."""
    return f"{value:.1f}".removesuffix(".0")


def _open_svg(chart_id: str, width: float, height: float, title: str, description: str) -> str:
    return (
        f'<svg class="listening-chart" id="{escape(chart_id)}" role="img" '
        f'width="{_number(width)}" height="{_number(height)}" '
        f'viewBox="0 0 {_number(width)} {_number(height)}" '
        f'preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )


def _close_svg(parts: list[str]) -> Markup:
    parts.append("</svg>")
    # Every value that comes from the data went through escape() on its way into `parts`.
    return Markup("".join(parts))  # noqa: S704


def minute_level(minutes: float) -> int:
    """Return a day's shade, 0 (no listening) to 4, from its minutes listened."""
    return sum(1 for threshold in MINUTE_LEVELS if minutes >= threshold)


def minutes_text(minutes: float) -> str:
    """Return minutes as "45 min" or "2 h 5 min"."""
    whole = round(minutes)
    if whole < 60:
        return f"{whole} min"
    return f"{whole // 60} h {whole % 60} min" if whole % 60 else f"{whole // 60} h"


def weekly_bars_svg(
    chart_id: str, week_starts: Sequence[date], plays: Sequence[int], title: str, description: str
) -> Markup:
    """Draw plays per week as bars, the oldest week on the left, with the first weeks' months."""
    # Bars 9 wide: a finger can find one; room on the left for a count like "12,345".
    left, step, bar, height, top, bottom = 40, 12, 9, 90, 14, 16
    width = left + step * len(plays) + 2
    tallest = max(plays, default=0) or 1
    parts = [_open_svg(chart_id, width, top + height + bottom, title, description)]
    baseline = top + height
    parts.append(f'<text class="axis" x="0" y="{top + 4}">{tallest:,}</text>')
    parts.append(f'<text class="axis" x="0" y="{baseline}">0</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{baseline}" x2="{width}" y2="{baseline}"/>')
    last_month = None
    for index, (week, count) in enumerate(zip(week_starts, plays, strict=True)):
        x = left + step * index
        bar_height = height * count / tallest
        label = f"Week of {week:%b} {week.day}, {week.year}: {count:,} plays"
        parts.append(
            f'<rect class="bar" x="{x}" y="{_number(baseline - bar_height)}" width="{bar}" '
            f'height="{_number(bar_height)}"><title>{escape(label)}</title></rect>'
        )
        if week.month != last_month and week.day <= 7 and index <= len(plays) - 3:
            parts.append(f'<text class="axis" x="{x}" y="{baseline + 12}">{week:%b}</text>')
        last_month = week.month if week.day <= 7 else last_month
    return _close_svg(parts)


def calendar_svg(
    chart_id: str, first_day: date, minutes: Sequence[float], title: str, description: str
) -> Markup:
    """Draw day squares, one column a week (Monday on top), shaded by minutes, with a legend.

    `first_day` is a Monday; `minutes` holds one value a day from it, up to today.
    """
    columns = (len(minutes) + 6) // 7
    pitch = _CELL + _GAP
    grid_bottom = _TOP + 7 * pitch
    width = _LEFT + columns * pitch
    legend_y = grid_bottom + 6
    parts = [_open_svg(chart_id, width, legend_y + _CELL + 4, title, description)]
    for row in (0, 2, 4):
        y = _TOP + row * pitch + _CELL - 2
        parts.append(f'<text class="axis" x="0" y="{y}">{WEEKDAY_NAMES[row]}</text>')
    last_label_column = -3
    for index, value in enumerate(minutes):
        day = first_day + timedelta(days=index)
        column, row = divmod(index, 7)
        if day.day == 1 and column - last_label_column >= 3 and column < columns - 1:
            parts.append(f'<text class="axis" x="{_LEFT + column * pitch}" y="10">{day:%b}</text>')
            last_label_column = column
        label = f"{WEEKDAY_NAMES[row]}, {day:%b} {day.day}, {day.year}: {minutes_text(value)}"
        parts.append(
            f'<rect class="level-{minute_level(value)}" x="{_LEFT + column * pitch}" '
            f'y="{_TOP + row * pitch}" width="{_CELL}" height="{_CELL}" rx="2">'
            f"<title>{escape(label)}</title></rect>"
        )
    legend_x = width - 5 * pitch - 34
    parts.append(f'<text class="axis" x="{legend_x - 30}" y="{legend_y + _CELL - 2}">Less</text>')
    for level, label in enumerate(LEVEL_LABELS):
        parts.append(
            f'<rect class="level-{level}" x="{legend_x + level * pitch}" y="{legend_y}" '
            f'width="{_CELL}" height="{_CELL}" rx="2"><title>{escape(label)}</title></rect>'
        )
    parts.append(
        f'<text class="axis" x="{legend_x + 5 * pitch + 2}" y="{legend_y + _CELL - 2}">More</text>'
    )
    return _close_svg(parts)


def heatmap_svg(
    chart_id: str, plays: Sequence[Sequence[int]], title: str, description: str
) -> Markup:
    """Draw plays by weekday (rows, Monday first) and hour of the day (columns, 0 to 23)."""
    pitch = _CELL + _GAP
    width = _LEFT + 24 * pitch
    height = _TOP + 7 * pitch + 2
    most = max((count for row in plays for count in row), default=0) or 1
    parts = [_open_svg(chart_id, width, height, title, description)]
    for hour in range(0, 24, 3):
        parts.append(f'<text class="axis" x="{_LEFT + hour * pitch}" y="10">{hour:02d}</text>')
    for weekday, row in enumerate(plays):
        y = _TOP + weekday * pitch
        parts.append(
            f'<text class="axis" x="0" y="{y + _CELL - 2}">{WEEKDAY_NAMES[weekday]}</text>'
        )
        for hour, count in enumerate(row):
            level = 0 if count == 0 else 1 + min(3, int(4 * count / (most + 1)))
            label = f"{WEEKDAY_NAMES[weekday]} {hour:02d}:00–{hour:02d}:59: {count:,} plays"
            parts.append(
                f'<rect class="level-{level}" x="{_LEFT + hour * pitch}" y="{y}" '
                f'width="{_CELL}" height="{_CELL}" rx="2"><title>{escape(label)}</title></rect>'
            )
    return _close_svg(parts)


def new_artists_svg(
    chart_id: str, months: Sequence[str], counts: Sequence[int], title: str, description: str
) -> Markup:
    """Draw how many artists were new each month, as horizontal bars, newest month first."""
    row, bar_left, label_room = 16, 64, 40
    width = 360
    tallest = max(counts, default=0) or 1
    parts = [_open_svg(chart_id, width, row * len(months) + 4, title, description)]
    for index, (month, count) in enumerate(zip(months, counts, strict=True)):
        y = 2 + index * row
        bar_width = (width - bar_left - label_room) * count / tallest
        parts.append(f'<text class="axis" x="0" y="{y + 11}">{escape(month)}</text>')
        parts.append(
            f'<rect class="bar" x="{bar_left}" y="{y}" width="{_number(bar_width)}" height="12">'
            f"<title>{escape(f'{month}: {count:,} new artists')}</title></rect>"
        )
        parts.append(f'<text x="{_number(bar_left + bar_width + 4)}" y="{y + 11}">{count:,}</text>')
    return _close_svg(parts)
