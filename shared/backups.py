"""Back up one user's playlist for a week (a snapshot, or a top-up), and say when the weekly run is.

Both services use this: the ETL's weekly run for every opted-in user, the web when a person
opts in or presses "Back up now".
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from shared.datasets import backups_of, load_dataset, save_dataset
from shared.spotify import MAX_ITEMS_PER_WRITE, SpotifyApi, SpotifyRefusedError
from shared.spotify_records import PlaylistItem, track_uris
from shared.storage import Store
from shared.users import BACKUPS, BackupSettings

logger = logging.getLogger(__name__)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"

# When cron.yaml runs the weekly build ("every monday 06:00", America/New_York); a test reads
# cron.yaml and checks that it agrees with these.
WEEKLY_RUN_WEEKDAY = 0  # Monday, as datetime.weekday() counts
WEEKLY_RUN_TIME = time(6, 0)
WEEKLY_RUN_ZONE_NAME = "America/New_York"
WEEKLY_RUN_ZONE = ZoneInfo(WEEKLY_RUN_ZONE_NAME)


@dataclass
class UserBackup:
    """What one backup of one user did."""

    week: str
    snapshotted: bool = False  # the week had no snapshot yet: this backup took it
    rows_written: int = 0  # the week's rows when snapshotted, else the tracks a top-up added
    kept_before: int = 0  # the week's rows that were there already
    skipped: Counter[str] = field(default_factory=Counter)  # entries that are not tracks, by kind
    archived_tracks: int = 0


def iso_week(moment: datetime) -> str:
    """Return the ISO week of a time: 2026-W47."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def previous_weekly_run(now: datetime) -> datetime:
    """Return the latest time the weekly run was due at or before now (in New York's zone)."""
    local = now.astimezone(WEEKLY_RUN_ZONE)
    day = local.date() - timedelta(days=(local.weekday() - WEEKLY_RUN_WEEKDAY) % 7)
    run = datetime.combine(day, WEEKLY_RUN_TIME, tzinfo=WEEKLY_RUN_ZONE)
    if run > now:
        run = datetime.combine(day - timedelta(days=7), WEEKLY_RUN_TIME, tzinfo=WEEKLY_RUN_ZONE)
    return run


def next_weekly_run(now: datetime) -> datetime:
    """Return the next time the weekly run is due, strictly after now (in New York's zone)."""
    # Built from the date, not by adding 168 hours: across a DST change it stays at 06:00.
    day = previous_weekly_run(now).date() + timedelta(days=7)
    return datetime.combine(day, WEEKLY_RUN_TIME, tzinfo=WEEKLY_RUN_ZONE)


def backup_week(now: datetime) -> str:
    """Return the week a backup taken now belongs to: the week of the latest weekly run.

    A backup taken late on Sunday or early on Monday, before the run, still belongs to the week
    before: otherwise it would take the place of the new week's snapshot (a new Discover Weekly).
    """
    return iso_week(previous_weekly_run(now))


def snapshot_rows(
    user: BackupSettings, items: list[PlaylistItem], week: str, now: datetime
) -> tuple[pd.DataFrame, Counter[str]]:
    """Return a week's backup rows, and the entries skipped by kind (episode, local, removed)."""
    rows = [
        {
            "user_id": user.user_id,
            "source_kind": user.source_kind,
            "source_playlist_id": user.source_playlist_id,
            "week": week,
            "position": item.position,
            "track_id": item.track.id,
            "track_name": item.track.name,
            "artist_names": "; ".join(item.track.artist_names),
            "album_name": item.track.album_name,
            "added_at": item.added_at,
            "captured_at": now.astimezone(UTC).strftime(ISO_UTC),
        }
        for item in items
        if item.track is not None
    ]
    columns = backups_of(user.user_id).column_names
    skipped = Counter(item.skipped for item in items if item.track is None)
    return pd.DataFrame(rows, columns=columns), skipped


def missing_rows(kept: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """Return the fresh rows whose tracks the kept rows lack, each once, numbered after them."""
    known = set(kept["track_id"])
    added = fresh[~fresh["track_id"].isin(known)].drop_duplicates("track_id").copy()
    start = int(kept["position"].max()) + 1 if not kept.empty else 0
    added["position"] = range(start, start + len(added))
    return added


def back_up_user(
    store: Store, user: BackupSettings, api: SpotifyApi, *, now: datetime, top_up: bool = False
) -> UserBackup:
    """Back up one user's source for this week, then copy the week's tracks to their archive.

    A week with no snapshot gets one. A week that has one is left as it is, unless `top_up`
    (a "Back up now"): then the tracks now in the playlist that the week lacks are appended after
    its rows. Nothing kept is ever changed or removed.
    """
    dataset = backups_of(user.user_id)
    existing, generation = load_dataset(store, dataset)
    week = backup_week(now)
    this_week = existing[
        (existing["week"] == week) & (existing["source_playlist_id"] == user.source_playlist_id)
    ]
    result = UserBackup(week, kept_before=len(this_week))
    if this_week.empty or top_up:
        items = api.playlist_items(user.source_playlist_id)
        fresh, result.skipped = snapshot_rows(user, items, week, now)
        result.snapshotted = this_week.empty
        if not this_week.empty:
            fresh = missing_rows(this_week, fresh)
        if not fresh.empty or this_week.empty:
            combined = (
                pd.concat([existing, fresh], ignore_index=True) if not existing.empty else fresh
            )
            save_dataset(store, dataset, combined, if_generation_match=generation or 0)
        result.rows_written = len(fresh)
        if result.skipped:
            logger.info(
                "skipped playlist entries that are not tracks",
                extra={"user_id": user.user_id, "skipped": dict(result.skipped)},
            )
        track_ids = this_week["track_id"].tolist() + fresh["track_id"].tolist()
    else:
        track_ids = this_week["track_id"].tolist()
    if user.archive:
        result.archived_tracks = copy_to_archive(store, user, api, track_ids)
    BACKUPS.update(store, user.user_id, lambda s: replace(s, last_backup_week=week))
    return result


def copy_to_archive(
    store: Store, user: BackupSettings, api: SpotifyApi, track_ids: list[str]
) -> int:
    """Add the tracks the archive lacks, 100 a write; create the archive when it is missing."""
    present: set[str] = set()
    archive_id = user.archive_playlist_id
    if archive_id:
        try:
            present = {item.track.id for item in api.playlist_items(archive_id) if item.track}
        except SpotifyRefusedError as error:
            if error.status not in (403, 404):
                raise
            archive_id = ""  # deleted, or no longer the user's: make a new one
    if not archive_id:
        created = api.create_playlist(
            f"{user.source_name} archive", "Every week's tracks, kept by Local Shows."
        )
        archive_id = created.id
        BACKUPS.update(store, user.user_id, lambda s: replace(s, archive_playlist_id=created.id))
    new = track_uris(t for t in track_ids if t not in present)
    for start in range(0, len(new), MAX_ITEMS_PER_WRITE):
        api.add_items(archive_id, new[start : start + MAX_ITEMS_PER_WRITE])
    return len(new)
