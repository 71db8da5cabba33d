"""Write a person's charts record when they add a playlist or give the permission again."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from flask import flash

from shared.charts import (
    ACTIVE,
    CHART_PEOPLE,
    MAX_TRACKED,
    ChartsRecord,
    TrackedPlaylist,
)
from shared.spotify_records import PlaylistRecord
from shared.storage import ConflictError, retry_on_conflict
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
        current, generation = CHART_PEOPLE.load_replacing(store(), user_id)
        if current is None and playlist is None:
            return "", ""
        said = ("", "")
        if current is None:
            record = ChartsRecord(user_id, sealed, display_name=display_name)
        else:
            record = current
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
        CHART_PEOPLE.save(store(), record, generation=generation)
        return said

    try:
        category, message = retry_on_conflict(CHART_PEOPLE.object(user_id), attempt)
    except ConflictError:
        flash("Your charts were changed elsewhere at the same moment. Please try again.", "error")
        return
    if message:
        flash(message, category)
