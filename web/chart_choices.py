"""Which of a person's playlists the Charts page offers, at as few Spotify requests as may be.

Listing a person's playlists costs up to 20 requests (shared/spotify.py `my_playlists`), from the
Development Mode daily quota the daily job needs (PLATFORM.md). So the list of their own and
collaborative playlists (ids and names only) is kept in the session for CHOICES_MINUTES, and
adding checks the one playlist chosen with one request (`verify_playlist`) instead of listing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import session

from shared.spotify import SpotifyApi, SpotifyRefusedError, SpotifyShapeError
from shared.spotify_records import SPOTIFY_ID, PlaylistRecord

CHOICES_KEY = "chart_choices"
CHOICES_MINUTES = 10
MAX_CHOICES = 30  # the session is a cookie: a few kilobytes at most
NAME_CHARS = 60
REQUEST_KIND = "playlist_read"


def addable(api: SpotifyApi, user_id: str) -> list[PlaylistRecord]:
    """The person's playlists the daily job may read with their grant: own or collaborative."""
    return [p for p in api.my_playlists() if p.owner_id == user_id or p.collaborative]


def cached_choices(
    api: SpotifyApi, user_id: str, now: datetime, *, refresh: bool = False
) -> list[PlaylistRecord]:
    """The person's own and collaborative playlists, listed at most once per CHOICES_MINUTES
    (unless `refresh`); kept in the session for them alone."""
    kept = session.get(CHOICES_KEY)
    if not refresh and isinstance(kept, dict) and kept.get("user") == user_id:
        try:
            listed = datetime.fromisoformat(str(kept.get("at", "")))
            fresh = timedelta(0) <= now - listed < timedelta(minutes=CHOICES_MINUTES)
        except (TypeError, ValueError):
            fresh = False
        entries = kept.get("playlists")
        if fresh and isinstance(entries, list):
            return [_record(entry, user_id) for entry in entries if _valid(entry)]
    entries = [
        [p.id, p.name[:NAME_CHARS], int(p.owner_id != user_id)]
        for p in addable(api, user_id)[:MAX_CHOICES]
    ]
    session[CHOICES_KEY] = {"user": user_id, "at": now.isoformat(), "playlists": entries}
    return [_record(entry, user_id) for entry in entries]


def listed_choice(user_id: str, playlist_id: str) -> PlaylistRecord | None:
    """The playlist as the kept list has it (listed for this person), or None: no request."""
    kept = session.get(CHOICES_KEY)
    if not isinstance(kept, dict) or kept.get("user") != user_id:
        return None
    entries = kept.get("playlists")
    for entry in entries if isinstance(entries, list) else []:
        if _valid(entry) and entry[0] == playlist_id:
            return _record(entry, user_id)
    return None


def forget_choices() -> None:
    """Drop the kept list (the next view of the page lists the playlists again)."""
    session.pop(CHOICES_KEY, None)


def _valid(entry: Any) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 3
        and SPOTIFY_ID.fullmatch(str(entry[0])) is not None
        and isinstance(entry[1], str)
    )


def _record(entry: list[Any], user_id: str) -> PlaylistRecord:
    """A kept entry as a PlaylistRecord: a collaborative one is owned by someone else."""
    collaborative = bool(entry[2])
    return PlaylistRecord(
        str(entry[0]), str(entry[1]), "" if collaborative else user_id, "", 0, collaborative
    )


def verify_playlist(api: SpotifyApi, user_id: str, playlist_id: str) -> PlaylistRecord | None:
    """Check with one request (GET /playlists/{id}) that the person may track a playlist: they
    own it, or it is collaborative and its items come back to their grant. None when not.

    SpotifyError when Spotify fails; a playlist Spotify does not show them (404, 403) is None.
    """
    try:
        # No `fields` filter: the entries' key is "items" in 2026's API and "tracks" before.
        raw = api.call(REQUEST_KIND, api.client.playlist, playlist_id)
    except SpotifyRefusedError as error:
        if error.status in (403, 404):
            return None
        raise
    if not isinstance(raw, dict) or raw.get("id") != playlist_id:
        raise SpotifyShapeError("playlist: an answer without its id")
    owner = raw.get("owner") if isinstance(raw.get("owner"), dict) else {}
    owner_id = str(owner.get("id") or "") if isinstance(owner, dict) else ""
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""
    if owner_id == user_id:
        return PlaylistRecord(playlist_id, str(name), owner_id, "", 0, False)
    items = raw.get("items") or raw.get("tracks")
    readable = isinstance(items, dict) and isinstance(items.get("items"), list)
    if raw.get("collaborative") is True and readable:
        return PlaylistRecord(playlist_id, str(name), owner_id, "", 0, True)
    return None
