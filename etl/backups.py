"""Snapshot each opted-in user's chosen playlist once a week; copy new tracks to an archive."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime

import pandas as pd

from shared.config import Settings
from shared.datasets import backups_of, load_dataset, save_dataset
from shared.spotify import (
    MAX_ITEMS_PER_WRITE,
    BudgetExhaustedError,
    QuotaExhaustedError,
    RequestLedger,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    StoredGrant,
)
from shared.spotify_records import PlaylistItem, track_uris
from shared.storage import ConflictError, Store
from shared.tokens import TokenBox, TokenDecryptError
from shared.users import (
    ACTIVE,
    BackupSettings,
    UserSettingsError,
    load_user,
    mark_needs_sign_in,
    opted_in_users,
    update_user,
)

logger = logging.getLogger(__name__)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class BackupsSummary:
    """What the backup step did, for the run report."""

    users: int = 0
    snapshotted: int = 0
    already_done: int = 0
    waiting_for_sign_in: int = 0
    newly_needing_sign_in: int = 0
    failed: int = 0
    rows_written: int = 0
    items_skipped: int = 0  # entries that are not tracks: by kind in items_skipped_by_kind
    items_skipped_by_kind: dict[str, int] = field(default_factory=dict)
    archived_tracks: int = 0
    stopped: str = ""


def iso_week(moment: datetime) -> str:
    """Return the ISO week of a time: 2026-W47."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


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
            "captured_at": now.strftime(ISO_UTC),
        }
        for item in items
        if item.track is not None
    ]
    columns = backups_of(user.user_id).column_names
    skipped = Counter(item.skipped for item in items if item.track is None)
    return pd.DataFrame(rows, columns=columns), skipped


def back_up_user(
    store: Store, user: BackupSettings, api: SpotifyApi, *, now: datetime, summary: BackupsSummary
) -> None:
    """Snapshot one user's source for this week (once), then copy new tracks to the archive."""
    dataset = backups_of(user.user_id)
    existing, generation = load_dataset(store, dataset)
    week = iso_week(now)
    this_week = existing[
        (existing["week"] == week) & (existing["source_playlist_id"] == user.source_playlist_id)
    ]
    if this_week.empty:
        items = api.playlist_items(user.source_playlist_id)
        fresh, skipped = snapshot_rows(user, items, week, now)
        combined = pd.concat([existing, fresh], ignore_index=True) if not existing.empty else fresh
        save_dataset(store, dataset, combined, if_generation_match=generation or 0)
        summary.snapshotted += 1
        summary.rows_written += len(fresh)
        summary.items_skipped += sum(skipped.values())
        for kind, count in skipped.items():
            summary.items_skipped_by_kind[kind] = summary.items_skipped_by_kind.get(kind, 0) + count
        track_ids = fresh["track_id"].tolist()
        if skipped:
            logger.info(
                "skipped playlist entries that are not tracks",
                extra={"user_id": user.user_id, "skipped": dict(skipped)},
            )
    else:
        summary.already_done += 1
        track_ids = this_week["track_id"].tolist()
    if user.archive:
        summary.archived_tracks += copy_to_archive(store, user, api, track_ids)


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
        update_user(store, user.user_id, lambda s: replace(s, archive_playlist_id=created.id))
    new = track_uris(t for t in track_ids if t not in present)
    for start in range(0, len(new), MAX_ITEMS_PER_WRITE):
        api.add_items(archive_id, new[start : start + MAX_ITEMS_PER_WRITE])
    return len(new)


def back_up_everyone(
    store: Store, settings: Settings, ledger: RequestLedger, *, now: datetime, **api_options: object
) -> BackupsSummary:
    """Back up every opted-in user; one user's failure never stops the others."""
    summary = BackupsSummary()
    box = TokenBox(settings.token_encryption_key)
    for user_id in opted_in_users(store):
        summary.users += 1
        try:
            loaded = load_user(store, user_id)
            if loaded is None:
                continue
            user = loaded[0]
            if user.status != ACTIVE:
                summary.waiting_for_sign_in += 1
                continue
            refresh_token = str(box.open(user.sealed_refresh_token).get("refresh_token", ""))
            grant = StoredGrant(settings, refresh_token)
            api = SpotifyApi.for_stored_grant(settings, grant, ledger, **api_options)
            back_up_user(store, user, api, now=now, summary=summary)
            if grant.refresh_token != refresh_token:
                _keep_rotated_token(
                    store, user_id, box.seal({"refresh_token": grant.refresh_token})
                )
            update_user(store, user_id, lambda s: replace(s, last_backup_week=iso_week(now)))
        except (QuotaExhaustedError, BudgetExhaustedError) as stop:
            summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
            logger.warning("backups stopped: no Spotify requests left", extra={"reason": str(stop)})
            break
        except SpotifyRefusedError as error:
            if error.status != 401:
                summary.failed += 1
                logger.error("backup failed", extra={"user_id": user_id, "error": str(error)})
                continue
            mark_needs_sign_in(
                store,
                user_id,
                "Spotify no longer accepts the sign-in you gave us (it was revoked or expired).",
            )
            summary.newly_needing_sign_in += 1
            logger.warning(
                "a user's grant is gone; they must sign in again", extra={"user_id": user_id}
            )
        except TokenDecryptError:
            # TOKEN_ENCRYPTION_KEY was rotated: the sealed grant can never be opened again.
            mark_needs_sign_in(
                store,
                user_id,
                "Local Shows changed its encryption key, so the sign-in you gave us can no "
                "longer be read.",
            )
            summary.newly_needing_sign_in += 1
            logger.warning(
                "a user's stored grant cannot be opened (key rotated); they must sign in again",
                extra={"user_id": user_id},
            )
        except (
            SpotifyError,
            UserSettingsError,
            ConflictError,
            ValueError,
        ) as error:
            summary.failed += 1
            logger.error(
                "backup failed",
                extra={"user_id": user_id, "error": f"{type(error).__name__}: {error}"},
            )
    return summary


def _keep_rotated_token(store: Store, user_id: str, sealed: str) -> None:
    update_user(store, user_id, lambda s: replace(s, sealed_refresh_token=sealed))
