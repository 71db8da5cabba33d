"""Append plays to a person's month files: merged with what is kept, written under generations.

The hourly job and the import of an export both append here (shared/plays.py has the files'
format; shared/plays_merge.py the rule that keeps a play once).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pandas as pd

from shared.plays import (
    NORMAL_PLAYED_AT,
    PLAY_COLUMNS,
    PLAYED_AT_FORMAT,
    Appended,
    empty_plays,
    month_frame_bytes,
    month_object,
    plays_prefix,
    read_month,
)
from shared.plays_merge import SAME_PLAY_REACH_MS, Merged, merge_plays
from shared.storage import IF_ABSENT, ConflictError, Store, retry_on_conflict

logger = logging.getLogger(__name__)


def append_plays(store: Store, user_id: str, plays: pd.DataFrame) -> Appended:
    """Add plays to a user's history, month by month, without losing another writer's plays.

    Each month is read, merged and written back only if it is still at the generation read;
    when another writer got there first, it is read and merged again. When plays lie near the
    month's edge, the month next door is read too, so a play seen on both sides of midnight is
    kept once; it is written only for plays of its own.
    """
    plays = plays.loc[:, list(PLAY_COLUMNS)]
    bad = ~plays["played_at"].str.fullmatch(NORMAL_PLAYED_AT)
    if bad.any():
        raise ValueError(
            f"plays with a played_at not normalised: {plays['played_at'][bad].iloc[0]!r}"
        )
    added = doubles = 0
    months: list[str] = []
    # One listing says which months exist, so a month that does not is never read (an import of
    # a thousand months is a thousand writes, not four thousand requests). What was read or
    # written here is kept for the months next door; a conflict reads afresh.
    known = months_read(store, user_id)
    groups = [(str(m), g) for m, g in plays.groupby(plays["played_at"].str[:7], sort=True)]
    for first in range(0, len(groups), MERGE_MONTHS):
        chunk = groups[first : first + MERGE_MONTHS]
        for month, merged in _append_months(store, known, user_id, chunk):
            added += merged.added
            doubles += merged.doubles
            if merged.added:
                months.append(month)
    logger.info(
        "appended plays",
        extra={"user_id": user_id, "added": added, "doubles": doubles, "months": len(months)},
    )
    return Appended(added, doubles, tuple(months))


# Months merged together: the rule's fixed cost (some ms of pandas) is paid once for them, and
# the plays of this many months held at once (a decade is 128 months).
MERGE_MONTHS = 24


def _append_months(
    store: Store, known: _MonthsRead, user_id: str, groups: list[tuple[str, pd.DataFrame]]
) -> list[tuple[str, Merged]]:
    """Merge months' new plays with what is kept (one merge for them all), write each month that
    gained plays under its generation, and merge again alone a month another writer changed.
    """
    names = {month: month_object(user_id, month) for month, _ in groups}
    neighbours = {
        month: [
            month_object(user_id, near)
            for near in _months_near(month, month_plays, SAME_PLAY_REACH_MS)
        ]
        for month, month_plays in groups
    }
    own = [known.read(names[month]) for month, _ in groups]
    outside = sorted({n for near in neighbours.values() for n in near} - set(names.values()))
    context = [known.read(name)[0] for name in outside]
    existing = pd.concat([frame for frame, _ in own], ignore_index=True)
    new = pd.concat([month_plays for _, month_plays in groups], ignore_index=True)
    merged = merge_plays(existing, new, context=pd.concat(context) if context else None)
    kept = merged.frame.iloc[len(existing) :]
    kept_by_month = dict(iter(kept.groupby(kept["played_at"].str[:7], sort=False)))
    results = []
    for (month, month_plays), (frame, generation) in zip(groups, own, strict=True):
        gained = kept_by_month.get(month, kept.iloc[:0])
        whole = pd.concat([frame, gained], ignore_index=True)
        done = Merged(whole, len(gained), len(month_plays) - len(gained))
        if done.added:
            try:
                written = store.write(
                    names[month],
                    month_frame_bytes(done.frame),
                    if_generation_match=generation,
                    content_type="text/csv",
                )
                known.wrote(names[month], done.frame, written)
            except ConflictError:
                known.forget(names[month], *neighbours[month])
                done = _append_month(store, known, names[month], month_plays, neighbours[month])
        results.append((month, done))
    return results


def _append_month(
    store: Store, known: _MonthsRead, name: str, plays: pd.DataFrame, neighbours: list[str]
) -> Merged:
    """Merge one month's new plays and write it, again while another writer gets there first."""

    def attempt() -> Merged:
        existing, generation = known.read(name)
        context = [known.read(neighbour)[0] for neighbour in neighbours]
        merged = merge_plays(existing, plays, context=pd.concat(context) if context else None)
        if merged.added:
            try:
                written = store.write(
                    name,
                    month_frame_bytes(merged.frame),
                    if_generation_match=generation,
                    content_type="text/csv",
                )
            except ConflictError:
                known.forget(name, *neighbours)
                raise
            known.wrote(name, merged.frame, written)
        return merged

    return retry_on_conflict(name, attempt)


class _MonthsRead:
    """A user's month files as one append sees them: listed once, each read at most once."""

    def __init__(self, store: Store, names: dict[str, int]) -> None:
        self.store = store
        self.listed = names
        self.frames: dict[str, tuple[pd.DataFrame, int]] = {}

    def read(self, name: str) -> tuple[pd.DataFrame, int]:
        if name not in self.frames:
            listed = name in self.listed
            self.frames[name] = (
                read_month(self.store, name) if listed else (empty_plays(), IF_ABSENT)
            )
        return self.frames[name]

    def wrote(self, name: str, frame: pd.DataFrame, generation: int) -> None:
        self.frames[name] = (frame, generation)

    def forget(self, *names: str) -> None:
        """Read these again from the store (another writer changed or made one)."""
        for name in names:
            self.frames.pop(name, None)
            self.listed[name] = -1  # may exist now: ask the store


def months_read(store: Store, user_id: str) -> _MonthsRead:
    """List a user's month files once, for an append that reads each at most once."""
    return _MonthsRead(store, store.generations(plays_prefix(user_id)))


def _months_near(month: str, plays: pd.DataFrame, reach_ms: int) -> list[str]:
    """Return the months next to `month` that plays of it lie within reach of (plus durations).

    Times are compared as datetimes, not pandas timestamps: an export may hold year 0001.
    """
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=UTC)
    duration = (
        pd.to_numeric(plays["duration_ms"], errors="coerce").fillna(0).clip(0, 86_400_000).max()
    )
    reach = timedelta(milliseconds=reach_ms + int(duration))
    first = datetime.strptime(plays["played_at"].min(), PLAYED_AT_FORMAT).replace(tzinfo=UTC)
    last = datetime.strptime(plays["played_at"].max(), PLAYED_AT_FORMAT).replace(tzinfo=UTC)
    months = []
    if first - start < reach and (year, number) != (1, 1):
        months.append(f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}")
    if (year, number) != (9999, 12):
        following = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
        if following - last <= reach:
            months.append(f"{following.year:04d}-{following.month:02d}")
    return months
