"""What a chart page shows, built from a playlist's history: pure, so tests assert it exactly."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from markupsafe import Markup

from shared.chart_history import NEW, RE, churn, latest_chart, rank_series
from web.chart_svg import churn_svg, rank_svg

RECENT_DAYS = 90  # the churn and rank pictures show the latest chart days, at most this many


def movement_words(label: str) -> tuple[str, str]:
    """Say a movement for a screen reader, with its class: ("up 3", "up") for "▲ 3"."""
    if label == NEW:
        return "new on the chart", "new"
    if label == RE:
        return "back on the chart", "re"
    if label == "=":
        return "same place", "same"
    if label.startswith("▲"):
        return f"up {label.removeprefix('▲').strip()}", "up"
    if label.startswith("▼"):
        return f"down {label.removeprefix('▼').strip()}", "down"
    return label, "same"


@dataclass(frozen=True)
class ChartRow:
    """One track on the latest day's chart."""

    rank: int
    movement: str  # "▲ 3", "▼ 2", "=", "NEW", "RE"
    movement_text: str  # "up 3"
    movement_class: str
    track_id: str
    track_name: str
    artist_names: str
    days_on_chart: int
    peak_rank: int


@dataclass(frozen=True)
class ChurnDay:
    """How many tracks entered and left the chart on a day."""

    day: str
    entered: int
    left: int


@dataclass(frozen=True)
class TrackView:
    """One track's rank on each recent chart day (None: off the chart that day)."""

    track_id: str
    name: str
    artist_names: str
    series: list[tuple[str, int | None]]
    best: int
    days_on: int
    svg: Markup


@dataclass(frozen=True)
class ChartView:
    """Everything a chart page shows."""

    last_day: str
    stale: bool  # the latest snapshot is not today's
    chart_days: int
    rows: list[ChartRow]
    churn: list[ChurnDay]
    churn_svg: Markup | None
    track: TrackView | None

    @property
    def empty(self) -> bool:
        return not self.last_day


def _text(value: object) -> str:
    return "" if pd.isna(value) else str(value)  # type: ignore[call-overload]


def chart_rows(history: pd.DataFrame) -> list[ChartRow]:
    """The latest day's chart in rank order, each track with its movement."""
    rows = []
    for row in latest_chart(history).to_dict("records"):
        words, css = movement_words(str(row["movement"]))
        rows.append(
            ChartRow(
                int(row["rank"]),
                str(row["movement"]),
                words,
                css,
                _text(row["track_id"]),
                _text(row["track_name"]),
                _text(row["artist_names"]),
                int(row["days_on_chart"]),
                int(row["peak_rank"]),
            )
        )
    return rows


def track_view(history: pd.DataFrame, track_id: str) -> TrackView | None:
    """A track's recent ranks and their picture; None when it was never on the chart."""
    mine = history[history["track_id"] == track_id]
    if mine.empty:
        return None
    latest = mine.iloc[-1]
    series = rank_series(history, track_id)[-RECENT_DAYS:]
    recent_days = {day for day, _ in series}
    lowest = int(history.loc[history["day"].isin(recent_days), "rank"].max())
    name = _text(latest["track_name"]) or track_id
    return TrackView(
        track_id,
        name,
        _text(latest["artist_names"]),
        series,
        int(mine["rank"].min()),
        len(mine),
        rank_svg("rank-chart", name, series, lowest),
    )


def build_chart_view(history: pd.DataFrame, track_id: str | None, today: str) -> ChartView:
    """Build a chart page from a playlist's history (`today` as YYYY-MM-DD, in UTC)."""
    if history.empty:
        return ChartView("", False, 0, [], [], None, None)
    history = history.sort_values(["day", "rank"], kind="stable")
    last_day = str(history["day"].max())
    churned = [
        ChurnDay(str(day), int(entered), int(left))
        for day, entered, left in churn(history).itertuples(index=False)
    ][-RECENT_DAYS:]
    picture = churn_svg(
        "churn-chart",
        [c.day for c in churned],
        [c.entered for c in churned],
        [c.left for c in churned],
    )
    return ChartView(
        last_day,
        last_day != today,
        history["day"].nunique(),
        chart_rows(history),
        churned,
        picture,
        track_view(history, track_id) if track_id else None,
    )
