"""What a chart page shows, built from a playlist's history: pure, so tests assert it exactly."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from markupsafe import Markup

from shared.chart_history import NEW, RE, churn, latest_chart, rank_series
from shared.charts import ChartAbout
from web.chart_svg import churn_svg, rank_svg

# about.json is shared by everyone who tracks a playlist. A refusal ("refused") names one
# tracker's grant (sign in again; no longer theirs) or the app's token: it is said in general
# words here, and each person's own state comes from their own record.
PERSONAL_STATUSES = frozenset({"refused"})
REFUSED_WORDS = (
    "The daily run of {day} was not let read this playlist's tracks, so no snapshot was taken. "
    "The next run tries again."
)
RECENT_DAYS = 90  # the churn and rank pictures show the latest chart days, at most this many


def public_problem(about: ChartAbout) -> str:
    """What the last run's trouble says to anyone who may see the chart: about.json's problem,
    unless it is about one particular person."""
    if not about.problem:
        return ""
    if about.last_status in PERSONAL_STATUSES:
        return REFUSED_WORDS.format(day=about.last_run_day or "the latest day")
    return about.problem


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

    last_day: str  # the latest snapshot day (its chart may be empty)
    stale: bool  # the latest snapshot is older than the latest scheduled run's day
    chart_days: int
    rows: list[ChartRow]
    churn: list[ChurnDay]  # the recent days, without the chart's first (nothing before it)
    churn_svg: Markup | None
    track: TrackView | None
    first_day: ChurnDay | None = None  # the chart's first day, when the churn leaves it out

    @property
    def empty(self) -> bool:
        return not self.last_day

    @property
    def emptied(self) -> bool:
        """The latest snapshot holds no track (the playlist was emptied)."""
        return bool(self.last_day) and not self.rows


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


def build_chart_view(
    history: pd.DataFrame,
    track_id: str | None,
    run_day: str,
    *,
    days: list[str] | None = None,
) -> ChartView:
    """Build a chart page from a playlist's history and its snapshot days (`days`: the history's
    days when not given; a day with no rows in the history was an empty snapshot). `run_day` is
    the UTC day of the latest scheduled daily run: an older latest snapshot is stale."""
    chart_days = sorted(set(history["day"].astype(str).unique().tolist()) | set(days or ()))
    if not chart_days:
        return ChartView("", False, 0, [], [], None, None)
    history = history.sort_values(["day", "rank"], kind="stable")
    last_day = chart_days[-1]
    churned = [
        ChurnDay(str(day), int(entered), int(left))
        for day, entered, left in churn(history, days=chart_days).itertuples(index=False)
    ]
    first_day = churned[0]  # no snapshot before it: everything on it "entered"
    churned = churned[1:][-RECENT_DAYS:]
    picture = (
        churn_svg(
            "churn-chart",
            [c.day for c in churned],
            [c.entered for c in churned],
            [c.left for c in churned],
        )
        if churned
        else None
    )
    on_last_day = history[history["day"] == last_day]
    return ChartView(
        last_day,
        last_day < run_day,
        len(chart_days),
        chart_rows(on_last_day) if not on_last_day.empty else [],
        churned,
        picture,
        track_view(history, track_id) if track_id else None,
        first_day,
    )
