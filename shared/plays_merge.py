"""The doubles rule: merge new plays into a month of plays without keeping a play twice.

The same play can be seen twice: by the hourly recently-played job and in an uploaded export,
or in two exports. `merge_plays` keeps existing rows as they are and adds only the new plays
that no existing row already is; shared/plays.py stores the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shared.plays import EXPORT, PLAY_COLUMNS, RECENTLY_PLAYED

SAME_PLAY_MS = 10_000  # two sightings of one play are at most 10 s apart (see merge_plays)
# How far apart in played_at two rows of one play can be, beyond the duration_ms of a row that
# gives the start: the name rule's 80 s, with room for a track's length when the row does not
# say it (tracks of over 2 h are rare). Plays this near a month's edge are compared across it.
SAME_PLAY_REACH_MS = 2 * 60 * 60 * 1000


@dataclass(frozen=True)
class Merged:
    """Plays merged: the whole frame, how many new plays it gained, how many were doubles."""

    frame: pd.DataFrame
    added: int
    doubles: int


def merge_plays(
    existing: pd.DataFrame, new: pd.DataFrame, *, context: pd.DataFrame | None = None
) -> Merged:
    """Return existing plays with the new ones that are not already there (existing rows stay).

    A new play is a double, and dropped, when it is identical to another row of its batch or
    to an existing row, or when it is the same play seen by another source:

    - Both rows have a track_uri: the same track_uri, and played_at within 10 s. Spotify's
      exports mark the end of a play; recently-played's played_at is mostly the end too but
      sometimes the start (spotify/web-api#613, #1083), so an export row whose time is within
      10 s of a recently_played row's played_at + duration_ms is the same play as well.
    - A row without track_uri (the account export: names only, `endTime` truncated to the
      minute, so the play ended in [minute, minute + 60 s)): the same play as a row with the
      same track name and first artist name (casefolded) whose played_at (or start + duration,
      as above) lies in [minute - 10 s, minute + 70 s); two such name-only rows only when they
      name the same minute (they come from the same kind of file).
    - And two rows that both say how long they played (exports do; recently-played does not)
      are one play only when they say the same ms_played: the account export lists a track
      played again within its minute as another row with another length (35 such pairs in
      hobbies-w-erin's StreamingHistory_music_0.json, from 72 ms to 204,720 ms), and those are
      plays, never doubles.

    New plays are compared with the existing rows and the `context` rows (plays of a
    neighbouring month, never returned), then with each other: of the new plays that are one
    play, the one with the most to say is kept (a track_uri over names only, recently_played
    over an export, a time with milliseconds over a whole second, then the earlier row), and
    every other new play the same as a kept one is dropped. So a batch merged at once keeps as
    many plays as its parts merged one after the other, merging the same plays again adds
    nothing, and no existing play is ever removed.
    """
    existing = existing.loc[:, list(PLAY_COLUMNS)].reset_index(drop=True)
    known = existing
    if context is not None and len(context):
        known = pd.concat([existing, context.loc[:, list(PLAY_COLUMNS)]], ignore_index=True)
    offered = len(new)
    new = new.loc[:, list(PLAY_COLUMNS)].drop_duplicates().reset_index(drop=True)
    double = np.zeros(len(new), dtype=bool)
    if len(known):
        old_hashes = pd.util.hash_pandas_object(known, index=False).to_numpy()
        double |= pd.util.hash_pandas_object(new, index=False).isin(old_hashes).to_numpy()
    # The rule needs a shared uri or track name: a month next door with none of the new plays'
    # tracks (an import of a thousand months of a few plays) costs a set lookup, not the rule.
    against_known = len(known) > 0 and not double.all() and _may_meet(known, new)
    if len(new) > 1 or against_known:
        sightings = _Sightings(new)
        if against_known:
            double |= _same_play(_Sightings(known), sightings)
        double |= _doubles_in_batch(sightings, ~double)
    kept = new.loc[~double]
    frame = pd.concat([existing, kept], ignore_index=True) if len(kept) else existing
    return Merged(frame, len(kept), offered - len(kept))


def _may_meet(known: pd.DataFrame, new: pd.DataFrame) -> bool:
    """Tell whether any new play shares a track uri or a casefolded track name with a known one
    (every comparison of the rule needs one or the other)."""
    uris = set(known["track_uri"]) - {""}
    if uris and new["track_uri"].isin(uris).any():
        return True
    names = set(known["track"].str.casefold())
    return bool(new["track"].str.casefold().isin(names).any())


class _Sightings:
    """The columns the doubles rule reads, as numpy arrays (times in ms, -1 when unreadable)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        # ISO8601 is pandas' fast parser; the length keeps to the stored form (ms and Z).
        times = pd.to_datetime(frame["played_at"], format="ISO8601", utc=True, errors="coerce")
        times = times.where(frame["played_at"].str.len() == len("2026-01-13T00:40:02.000Z"))
        self.valid = times.notna().to_numpy()
        epoch = pd.Timestamp(0, tz="UTC")
        millis = (times - epoch) // pd.Timedelta(milliseconds=1)
        self.ms: np.ndarray = millis.fillna(-1).astype("int64").to_numpy()
        duration = pd.to_numeric(frame["duration_ms"], errors="coerce")
        self.end_ms = (self.ms + duration.fillna(0).astype("int64").to_numpy()).astype("int64")
        recent = (frame["source"] == RECENTLY_PLAYED).to_numpy()
        self.started = self.valid & recent & duration.gt(0).to_numpy()  # may be a start time
        self.export = self.valid & (frame["source"] == EXPORT).to_numpy()
        self.uri = frame["track_uri"].to_numpy(dtype=object)
        self.has_uri = self.valid & (frame["track_uri"] != "").to_numpy()
        self.length = frame["ms_played"].to_numpy(dtype=object)
        self.length_known = (frame["ms_played"] != "").to_numpy()
        self.name_only = self.valid & ~self.has_uri
        self._names: np.ndarray | None = None

    @property
    def names(self) -> np.ndarray:
        """Return casefolded `track` + first artist name, the key of the name-only rule."""
        if self._names is None:
            first_artist = self.frame["artist_names"].str.extract(
                r'^\["((?:[^"\\]|\\.)*)"', expand=False
            )
            key = (
                self.frame["track"].str.casefold() + "\x1f" + first_artist.fillna("").str.casefold()
            )
            self._names = key.to_numpy(dtype=object)
        return self._names


def _same_play(old: _Sightings, new: _Sightings) -> np.ndarray:
    """Return, for each new row, whether an existing row is the same play (merge_plays' rule)."""
    double = np.zeros(len(new.frame), dtype=bool)
    for rows, others, tolerance in _with_lengths(_comparisons(new, old), new, old):
        double |= _near(rows, others, tolerance)
    return double


def _doubles_in_batch(new: _Sightings, candidates: np.ndarray) -> np.ndarray:
    """Return which candidate rows are the same play as a kept candidate of higher rank.

    The kept rows are the ones a merge of the rows one by one, best first, would keep: each row
    is kept unless it is the same play as a row already kept. Only rows with a near neighbour
    of their key take part (found by one sort per comparison); they are merged best first
    against the rows kept so far, looked up by key and time window, so the work is linear in
    the rows whatever they hold (a file of 5,000 sightings of one track at one time is 5,000
    steps, not 12.5 million pairs).
    """

    def comparisons() -> Iterator[tuple[_Rows, _Rows, int]]:
        for rows, others, tolerance in _with_lengths(_comparisons(new, new), new, new):
            yield _among(rows, candidates), _among(others, candidates), tolerance

    involved = np.zeros(len(candidates), dtype=bool)
    for rows, others, tolerance in comparisons():
        involved |= _crowded(rows, others, tolerance)
    doubles = np.zeros(len(candidates), dtype=bool)
    if not involved.any():
        return doubles
    picked = np.flatnonzero(involved)
    # The involved rows' side of each comparison that has any: keys as numbers, times, chosen.
    sides = []
    for (keys, times, chosen), (other_keys, other_times, other_chosen), tolerance in comparisons():
        mine, theirs = chosen[picked], other_chosen[picked]
        if not (mine.any() and theirs.any()):
            continue
        codes = pd.factorize(np.concatenate([keys[picked], other_keys[picked]]))[0]
        sides.append(
            _Side(
                codes[: len(picked)].tolist(),
                times[picked].tolist(),
                mine.tolist(),
                codes[len(picked) :].tolist(),
                other_times[picked].tolist(),
                theirs.tolist(),
                tolerance + 1,  # a window's width: two times in one window are within tolerance
            )
        )
    for at in np.argsort(_rank(new)[picked], kind="stable").tolist():
        if any(side.near_kept(at) for side in sides):
            doubles[picked[at]] = True
        else:
            for side in sides:
                side.keep(at)
    return doubles


@dataclass
class _Side:
    """One comparison for the involved rows, and the rows kept so far on each of its sides,
    as (key, time window) -> the earliest and latest time kept in that window."""

    keys: list[int]
    times: list[int]
    chosen: list[bool]
    other_keys: list[int]
    other_times: list[int]
    other_chosen: list[bool]
    width: int
    kept: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    other_kept: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def near_kept(self, at: int) -> bool:
        """Tell whether a kept row on the other side of the comparison is within tolerance."""
        return (
            self.chosen[at]
            and _has_near(self.other_kept, self.keys[at], self.times[at], self.width)
        ) or (
            self.other_chosen[at]
            and _has_near(self.kept, self.other_keys[at], self.other_times[at], self.width)
        )

    def keep(self, at: int) -> None:
        if self.chosen[at]:
            _add(self.kept, self.keys[at], self.times[at], self.width)
        if self.other_chosen[at]:
            _add(self.other_kept, self.other_keys[at], self.other_times[at], self.width)


def _has_near(
    kept: dict[tuple[int, int], tuple[int, int]], key: int, time: int, width: int
) -> bool:
    """Tell whether a kept time of `key` lies within width - 1 of `time`."""
    window = time // width
    if (key, window) in kept:
        return True  # in the same window: at most width - 1 apart
    before, after = kept.get((key, window - 1)), kept.get((key, window + 1))
    return (before is not None and time - before[1] < width) or (
        after is not None and after[0] - time < width
    )


def _add(kept: dict[tuple[int, int], tuple[int, int]], key: int, time: int, width: int) -> None:
    window = (key, time // width)
    earliest, latest = kept.get(window, (time, time))
    kept[window] = (min(earliest, time), max(latest, time))


def _crowded(rows: _Rows, others: _Rows, tolerance: int) -> np.ndarray:
    """Return the rows that may have another row of their key within tolerance (on either side).

    Both sides are sorted together by key and time; a row appears at most once per side, so
    its nearest entry of another row is at most two places away.
    """
    keys, times, chosen = rows
    other_keys, other_times, other_chosen = others
    left, right = np.flatnonzero(chosen), np.flatnonzero(other_chosen)
    crowded = np.zeros(len(chosen), dtype=bool)
    if not len(left) or not len(right):
        return crowded
    codes = pd.factorize(np.concatenate([keys[left], other_keys[right]]))[0]
    all_times = np.concatenate([times[left], other_times[right]])
    order = np.lexsort((all_times, codes))
    codes, all_times = codes[order], all_times[order]
    row = np.concatenate([left, right])[order]
    for shift in (1, 2):
        near = (
            (codes[shift:] == codes[:-shift])
            & (all_times[shift:] - all_times[:-shift] <= tolerance)
            & (row[shift:] != row[:-shift])
        )
        crowded[row[shift:][near]] = True
        crowded[row[:-shift][near]] = True
    return crowded


def _rank(new: _Sightings) -> np.ndarray:
    """Return each row's place in the order of who is kept among doubles (0 first)."""
    whole_second = new.frame["played_at"].str.endswith(".000Z").to_numpy()
    recent = (new.frame["source"] == RECENTLY_PLAYED).to_numpy()
    order = np.lexsort((np.arange(len(new.frame)), whole_second, ~recent, ~new.has_uri))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank


def _comparisons(new: _Sightings, old: _Sightings) -> list[tuple[_Rows, _Rows, int]]:
    """Return the rule as pairs of sides (new rows, old rows) and the tolerance between them."""
    comparisons = [
        ((new.uri, new.ms, new.has_uri), (old.uri, old.ms, old.has_uri), SAME_PLAY_MS),
        ((new.uri, new.end_ms, new.started), (old.uri, old.ms, old.export), SAME_PLAY_MS),
        ((new.uri, new.ms, new.export), (old.uri, old.end_ms, old.started), SAME_PLAY_MS),
    ]
    if not (new.name_only.any() or old.name_only.any()):
        return comparisons
    # In doubled ms, [minute - 10 s, minute + 70 s) is centred on 2 * minute + 59_999 with a
    # half-width of 79_999: the window exactly, in whole ms, with an inclusive bound.
    half_width = 59_999 + 2 * SAME_PLAY_MS
    new_window = (new.names, 2 * new.ms + 59_999, new.name_only)
    old_window = (old.names, 2 * old.ms + 59_999, old.name_only)
    for old_rows in (
        (old.names, 2 * old.ms, old.has_uri),
        (old.names, 2 * old.end_ms, old.started),
    ):
        comparisons.append((new_window, old_rows, half_width))
    for new_rows in (
        (new.names, 2 * new.ms, new.has_uri),
        (new.names, 2 * new.end_ms, new.started),
    ):
        comparisons.append((new_rows, old_window, half_width))
    same_minute = (old.names, old.ms, old.name_only)
    comparisons.append(((new.names, new.ms, new.name_only), same_minute, 0))
    return comparisons


# Keys, times in ms and which rows take part: one side of a comparison in _near.
_Rows = tuple[np.ndarray, np.ndarray, np.ndarray]


def _with_lengths(
    comparisons: list[tuple[_Rows, _Rows, int]], new: _Sightings, old: _Sightings
) -> Iterator[tuple[_Rows, _Rows, int]]:
    """Split each comparison so that two rows that both know ms_played must agree on it.

    One at a time, and only those where both sides have rows: each joined key is a new string
    a row, so a month of many plays never holds every comparison's keys at once.
    """
    for (keys, times, chosen), (other_keys, other_times, other_chosen), tolerance in comparisons:
        both = (chosen & new.length_known, other_chosen & old.length_known)
        if both[0].any() and both[1].any():
            yield (
                (_keyed(keys, new.length), times, both[0]),
                (_keyed(other_keys, old.length), other_times, both[1]),
                tolerance,
            )
        for mine, theirs in (
            (chosen & ~new.length_known, other_chosen),
            (chosen & new.length_known, other_chosen & ~old.length_known),
        ):
            if mine.any() and theirs.any():
                yield (keys, times, mine), (other_keys, other_times, theirs), tolerance


def _keyed(keys: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    joined: np.ndarray = (
        pd.Series(keys, dtype=object) + "\x1e" + pd.Series(lengths, dtype=object)
    ).to_numpy(dtype=object)
    return joined


def _near(rows: _Rows, others: _Rows, tolerance: int) -> np.ndarray:
    """Return, for each row, whether a chosen other row has its key and a time within tolerance.

    One sort and one merge_asof per call, not a comparison per pair of rows.
    """
    keys, times, chosen = rows
    other_keys, other_times, other_chosen = others
    found = np.zeros(len(keys), dtype=bool)
    if not chosen.any() or not other_chosen.any():
        return found
    left = pd.DataFrame({"key": keys[chosen], "time": times[chosen], "row": np.flatnonzero(chosen)})
    right = pd.DataFrame(
        {"key": other_keys[other_chosen], "time": other_times[other_chosen], "hit": 1}
    )
    matched = pd.merge_asof(
        left.sort_values("time", kind="stable"),
        right.sort_values("time", kind="stable"),
        on="time",
        by="key",
        direction="nearest",
        tolerance=tolerance,
    )
    found[matched["row"].to_numpy()] = matched["hit"].notna().to_numpy()
    return found


def _among(rows: _Rows, candidates: np.ndarray) -> _Rows:
    keys, times, chosen = rows
    return keys, times, chosen & candidates
