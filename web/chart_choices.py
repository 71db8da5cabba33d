"""Which of a person's playlists the Charts page offers, at as few Spotify requests as may be.

Listing a person's playlists costs up to 20 requests (shared/spotify.py `my_playlists`) of the
person's share of the day (shared/quota.py). So the list of their own and collaborative
playlists is kept on the server for CHOICES_MINUTES, under their id (`quota/<id>/answers/`),
where no replayed cookie can make the page list them again; adding checks the one playlist
chosen with one request (`verify_playlist`) instead of listing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import session

from shared.quota import forget_answer, load_answer, save_answer
from shared.spotify import SpotifyApi, SpotifyRefusedError, SpotifyShapeError
from shared.spotify_records import PlaylistRecord
from web.data import app_store
from web.quota import playlists_answer, playlists_from

CHOICES_ANSWER = "chart-choices"
CHOICES_MINUTES = 10
OLD_CHOICES_KEY = "chart_choices"  # where the list was kept before: in the session cookie
REQUEST_KIND = "playlist_read"


def addable(api: SpotifyApi, user_id: str) -> list[PlaylistRecord]:
    """The person's playlists the daily job may read with their grant: own or collaborative."""
    return [p for p in api.my_playlists() if p.owner_id == user_id or p.collaborative]


def cached_choices(
    api: SpotifyApi, user_id: str, now: datetime, *, refresh: bool = False
) -> list[PlaylistRecord]:
    """The person's own and collaborative playlists, listed at most once per CHOICES_MINUTES
    (unless `refresh`); kept on the server for them alone."""
    session.pop(OLD_CHOICES_KEY, None)
    if not refresh:
        fresh_for = timedelta(minutes=CHOICES_MINUTES)
        kept = load_answer(app_store(), user_id, CHOICES_ANSWER, now=now, fresh_for=fresh_for)
        listed = playlists_from(kept)
        if listed is not None:
            return listed
    listed = addable(api, user_id)
    save_answer(app_store(), user_id, CHOICES_ANSWER, playlists_answer(listed), now=now)
    return listed


def listed_choice(user_id: str, playlist_id: str, now: datetime) -> PlaylistRecord | None:
    """The playlist as the kept list has it (listed for this person), or None: no request."""
    kept = load_answer(app_store(), user_id, CHOICES_ANSWER, now=now, fresh_for=None)
    return next((p for p in playlists_from(kept) or [] if p.id == playlist_id), None)


def forget_choices(user_id: str) -> None:
    """Drop the kept list (the next view of the page lists the playlists again)."""
    forget_answer(app_store(), user_id, CHOICES_ANSWER)


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
