"""A chart's history from its daily snapshots: rank, previous rank, peak, days on chart (issue 18).

Pure: snapshot frames in, history frames out. The rules are those the chart datasets keep
(Billboard's, Spotify Charts', kworb's), on the days a snapshot was taken:

- rank: the track's place among the day's tracks, 1 first. A track listed twice counts at its
  first place; episodes, local files and removed items never take a rank (the snapshot has
  already skipped them).
- previous rank: its rank in the previous snapshot; empty when the track is new to the chart;
  RE_ENTRY when it was on the chart before but not in the previous snapshot.
- The previous snapshot is the previous day that has one: a missed day is a gap in the files,
  never a copy of another day, and the chart after a gap compares with the last one taken
  (as a weekly chart compares with last week's).
- peak rank and days on chart count the snapshot days up to and including that day; first seen
  is the track's first day on the chart, last seen its latest (so each day's history answers
  "is this track still on the chart?").

`add_day` appends one day to a history (what the daily job does, one read and one write);
`build_history` folds every snapshot through it, so a history can always be rebuilt from the
snapshots and the two agree (a Hypothesis property checks it).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

RE_ENTRY = "re-entry"
HISTORY_COLUMNS = [
    "day",
    "rank",
    "track_id",
    "track_name",
    "artist_names",
    "previous_rank",
    "peak_rank",
    "days_on_chart",
    "first_seen",
    "last_seen",
]
NEW = "NEW"
RE = "RE"


class ChartOrderError(ValueError):
    """A day added to a history that already holds it or a later day."""


def ranked(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Return a day's tracks in chart order, each once, with their rank (1 first)."""
    tracks = snapshot[snapshot["track_id"].astype(str) != ""]
    tracks = tracks.sort_values("position", kind="stable").drop_duplicates("track_id")
    tracks = tracks.reset_index(drop=True)
    return tracks.assign(rank=range(1, len(tracks) + 1))


def empty_history() -> pd.DataFrame:
    """Return a history with no days."""
    frame = pd.DataFrame({column: pd.Series(dtype=object) for column in HISTORY_COLUMNS})
    for column in ("rank", "peak_rank", "days_on_chart"):
        frame[column] = frame[column].astype("int64")
    return frame


def add_day(history: pd.DataFrame, day: str, snapshot: pd.DataFrame) -> pd.DataFrame:
    """Return the history with one more day's chart, taken from that day's snapshot.

    The day must come after every day in the history (ChartOrderError otherwise): a snapshot
    that turns up out of order means rebuilding from the snapshots.
    """
    days = history["day"]
    if len(days) and str(days.max()) >= day:
        raise ChartOrderError(f"the history already reaches {days.max()}, not before {day}")
    today = ranked(snapshot)
    if len(days):
        last_day = str(days.max())
        previous = dict(
            zip(
                history.loc[days == last_day, "track_id"],
                history.loc[days == last_day, "rank"],
                strict=True,
            )
        )
        latest = history.drop_duplicates("track_id", keep="last").set_index("track_id")
    else:
        previous = {}
        latest = history.set_index("track_id")
    rows = []
    for track_id, rank, name, artists in zip(
        today["track_id"], today["rank"], today["track_name"], today["artist_names"], strict=True
    ):
        if track_id in previous:
            previous_rank = str(previous[track_id])
        elif track_id in latest.index:
            previous_rank = RE_ENTRY
        else:
            previous_rank = ""
        if track_id in latest.index:
            before = latest.loc[track_id]
            peak = min(int(before["peak_rank"]), int(rank))
            days_on = int(before["days_on_chart"]) + 1
            first_seen = str(before["first_seen"])
        else:
            peak, days_on, first_seen = int(rank), 1, day
        rows.append(
            {
                "day": day,
                "rank": int(rank),
                "track_id": track_id,
                "track_name": name,
                "artist_names": artists,
                "previous_rank": previous_rank,
                "peak_rank": peak,
                "days_on_chart": days_on,
                "first_seen": first_seen,
                "last_seen": day,
            }
        )
    kept = history.copy()
    kept.loc[kept["track_id"].isin(set(today["track_id"])), "last_seen"] = day
    added = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    if kept.empty:
        return added.astype({"rank": "int64", "peak_rank": "int64", "days_on_chart": "int64"})
    if added.empty:
        return kept.reset_index(drop=True)
    return pd.concat([kept, added], ignore_index=True)


def build_history(snapshots: Iterable[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Return the history of every snapshot (day, frame), in day order whatever the input's."""
    history = empty_history()
    for day, snapshot in sorted(snapshots, key=lambda pair: pair[0]):
        history = add_day(history, day, snapshot)
    return history


def movement(previous_rank: str, rank: int) -> str:
    """Say how a track moved: "▲ 3", "▼ 2", "=", "NEW" or "RE" (a re-entry)."""
    if previous_rank == "":
        return NEW
    if previous_rank == RE_ENTRY:
        return RE
    try:
        before = int(previous_rank)
    except ValueError:
        return NEW
    if before > rank:
        return f"▲ {before - rank}"
    if before < rank:
        return f"▼ {rank - before}"
    return "="


def latest_chart(history: pd.DataFrame) -> pd.DataFrame:
    """Return the latest day's rows, rank order, with their movement."""
    if history.empty:
        return history.assign(movement=pd.Series(dtype=object))
    last = history[history["day"] == history["day"].max()].sort_values("rank")
    moves = [
        movement(str(p), int(r)) for p, r in zip(last["previous_rank"], last["rank"], strict=True)
    ]
    chart: pd.DataFrame = last.assign(movement=moves).reset_index(drop=True)
    return chart


def churn(history: pd.DataFrame) -> pd.DataFrame:
    """Return each day's entries and exits against the previous snapshot (day, entered, left).

    The first day has no previous snapshot: everything on it entered, nothing left.
    """
    rows = []
    before: set[str] = set()
    for day, group in history.groupby("day", sort=True):
        now = set(group["track_id"])
        rows.append({"day": day, "entered": len(now - before), "left": len(before - now)})
        before = now
    return pd.DataFrame(rows, columns=["day", "entered", "left"])


def rank_series(history: pd.DataFrame, track_id: str) -> list[tuple[str, int | None]]:
    """Return (day, rank) for every day of the chart, None on the days the track was off it."""
    days = sorted(set(history["day"]))
    mine = history[history["track_id"] == track_id]
    ranks = dict(zip(mine["day"], mine["rank"], strict=True))
    return [(day, int(ranks[day]) if day in ranks else None) for day in days]
