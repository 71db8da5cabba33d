"""Write a person's charts record when they add a playlist or give the permission again."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from flask import flash

from shared.charts import (
    ACTIVE,
    MAX_TRACKED,
    ChartsError,
    ChartsRecord,
    TrackedPlaylist,
    load_charts_record,
    people_object,
    save_charts_record,
)
from shared.spotify_records import PlaylistRecord
from shared.storage import IF_ABSENT, ConflictError, retry_on_conflict
from web.data import app_store as store

logger = logging.getLogger(__name__)


def keep_playlist(
    user_id: str,
    display_name: str,
    sealed: str,
    playlist: PlaylistRecord | None,
    *,
    renew: bool,
    now: datetime,
) -> None:
    """Write the record with the playlist added (when there is room) and, when `renew`, this
    grant. A record that cannot be read is replaced; a person who tracks nothing gets none."""
    added_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")

    def attempt() -> tuple[str, str]:
        try:
            loaded = load_charts_record(store(), user_id)
        except ChartsError:
            logger.warning("unreadable charts record replaced", extra={"user_id": user_id})
            loaded = None
        if loaded is None and playlist is None:
            return "", ""
        said = ("", "")
        if loaded is None:
            record = ChartsRecord(user_id, sealed, display_name=display_name)
            generation = IF_ABSENT if store().generation(people_object(user_id)) is None else None
        else:
            record, generation = loaded
            if renew:
                if record.status != ACTIVE:
                    said = ("done", "Charts are on again: your playlists are read every day.")
                record = replace(
                    record,
                    sealed_refresh_token=sealed,
                    display_name=display_name,
                    status=ACTIVE,
                    status_reason="",
                )
        if playlist is not None and not record.tracks(playlist.id):
            if len(record.playlists) >= MAX_TRACKED:
                said = ("error", f"You track {MAX_TRACKED} playlists, the most one person may.")
            else:
                added = TrackedPlaylist(playlist.id, playlist.name, added_at)
                record = replace(record, playlists=(*record.playlists, added))
                said = (
                    "done",
                    f"{playlist.name or playlist.id} is tracked: its first snapshot is taken "
                    "by the next daily run.",
                )
        save_charts_record(store(), record, if_generation_match=generation)
        return said

    try:
        category, message = retry_on_conflict(people_object(user_id), attempt)
    except ConflictError:
        flash("Your charts were changed elsewhere at the same moment. Please try again.", "error")
        return
    if message:
        flash(message, category)
