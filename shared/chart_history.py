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


class HistoryDamagedError(ValueError):
    """A stored history or snapshot lacks a value every row needs (a cell that did not read)."""


HISTORY_REQUIRED = ("day", "rank", "track_id", "peak_rank", "days_on_chart")
SNAPSHOT_REQUIRED = ("position", "track_id")


def check_complete(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise HistoryDamagedError, naming the columns, when a required value is missing.

    load_dataset reads a number it cannot parse as missing (NA) and only warns: such a row
    cannot be ranked or counted, so the whole file is damaged (rebuilt, or left out).
    """
    damaged = [
        column
        for column in columns
        if column not in frame.columns
        or frame[column].isna().any()
        or (frame[column].astype(str).str.strip() == "").any()
    ]
    if damaged:
        raise HistoryDamagedError(f"{what} lacks values in {', '.join(damaged)}")


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


class _Fold:
    """What the next day's rows need to know of the days before: the last day's ranks, and
    each track's peak, days on chart and first day so far."""

    def __init__(self) -> None:
        self.last_day = ""
        self.previous: dict[str, int] = {}
        self.seen: dict[str, tuple[int, int, str]] = {}  # track -> (peak, days on, first seen)

    @classmethod
    def of(cls, history: pd.DataFrame) -> _Fold:
        """Return the state a history ends in."""
        fold = cls()
        if history.empty:
            return fold
        check_complete(history, HISTORY_REQUIRED, "the history")
        fold.last_day = str(history["day"].max())
        on_last = history[history["day"] == fold.last_day]
        fold.previous = {
            str(t): int(r) for t, r in zip(on_last["track_id"], on_last["rank"], strict=True)
        }
        latest = history.drop_duplicates("track_id", keep="last")
        fold.seen = {
            str(t): (int(p), int(d), str(f))
            for t, p, d, f in zip(
                latest["track_id"],
                latest["peak_rank"],
                latest["days_on_chart"],
                latest["first_seen"],
                strict=True,
            )
        }
        return fold

    def rows(self, day: str, snapshot: pd.DataFrame) -> list[tuple[object, ...]]:
        """Return a day's history rows (last seen: that day), and move the state past it."""
        if self.last_day and self.last_day >= day:
            raise ChartOrderError(f"the history already reaches {self.last_day}, not before {day}")
        today = ranked(snapshot)
        rows: list[tuple[object, ...]] = []
        ranks: dict[str, int] = {}
        for track_id, rank, name, artists in zip(
            today["track_id"].astype(str),
            today["rank"],
            today["track_name"],
            today["artist_names"],
            strict=True,
        ):
            before = self.seen.get(track_id)
            if track_id in self.previous:
                previous_rank = str(self.previous[track_id])
            else:
                previous_rank = RE_ENTRY if before else ""
            peak, days_on, first_seen = (
                (min(before[0], int(rank)), before[1] + 1, before[2])
                if before
                else (int(rank), 1, day)
            )
            self.seen[track_id] = (peak, days_on, first_seen)
            ranks[track_id] = int(rank)
            row = (day, int(rank), track_id, name, artists, previous_rank, peak, days_on)
            rows.append((*row, first_seen, day))
        self.previous, self.last_day = ranks, day
        return rows


def _frame(rows: list[tuple[object, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return frame.astype({"rank": "int64", "peak_rank": "int64", "days_on_chart": "int64"})


def add_day(
    history: pd.DataFrame, day: str, snapshot: pd.DataFrame, *, previous_day: str = ""
) -> pd.DataFrame:
    """Return the history with one more day's chart, taken from that day's snapshot.

    The day must come after every day in the history (ChartOrderError otherwise): a snapshot
    that turns up out of order means rebuilding from the snapshots. `previous_day` is the day of
    the snapshot before this one: when it is later than the history's last day, the chart was
    empty that day (it left no rows), and nothing on it compares with the days before.
    """
    fold = _Fold.of(history)
    if previous_day > fold.last_day:
        fold.previous, fold.last_day = {}, previous_day
    added = _frame(fold.rows(day, snapshot))
    if history.empty:
        return added
    kept = history.copy()
    kept.loc[kept["track_id"].isin(set(added["track_id"])), "last_seen"] = day
    if added.empty:
        return kept.reset_index(drop=True)
    return pd.concat([kept, added], ignore_index=True)


def build_history(snapshots: Iterable[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Return the history of every snapshot (day, frame), in day order whatever the input's."""
    fold = _Fold()
    rows: list[tuple[object, ...]] = []
    for day, snapshot in sorted(snapshots, key=lambda pair: pair[0]):
        rows += fold.rows(day, snapshot)
    history = _frame(rows)
    history["last_seen"] = history.groupby("track_id")["day"].transform("max")
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


def churn(history: pd.DataFrame, *, days: Iterable[str] | None = None) -> pd.DataFrame:
    """Return each day's entries and exits against the previous snapshot (day, entered, left).

    The first day has no previous snapshot: everything on it entered, nothing left. `days`, when
    given, are the snapshot days: one with no rows in the history was empty (all left).
    """
    rows = []
    before: set[str] = set()
    by_day: dict[str, set[str]] = {}
    days_of, tracks_of = history["day"].tolist(), history["track_id"].tolist()  # plain lists:
    for day, track_id in zip(days_of, tracks_of, strict=True):  # pandas' own iteration is slow
        by_day.setdefault(str(day), set()).add(track_id)  # one walk, not a frame per day
    for day in sorted(set(by_day) | set(days or ())):
        now = by_day.get(day, set())
        rows.append({"day": day, "entered": len(now - before), "left": len(before - now)})
        before = now
    return pd.DataFrame(rows, columns=["day", "entered", "left"])


def rank_series(history: pd.DataFrame, track_id: str) -> list[tuple[str, int | None]]:
    """Return (day, rank) for every day of the chart, None on the days the track was off it."""
    days = sorted(set(history["day"]))
    mine = history[history["track_id"] == track_id]
    ranks = dict(zip(mine["day"], mine["rank"], strict=True))
    return [(day, int(ranks[day]) if day in ranks else None) for day in days]
