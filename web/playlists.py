"""Create a playlist in the user's account, or refresh the same area's playlist in place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.spotify import MAX_ITEMS_PER_WRITE, SpotifyApi, SpotifyError
from shared.spotify_records import PlaylistRecord
from web.text import clean_name

logger = logging.getLogger(__name__)


@dataclass
class PlaylistResult:
    """What was written: the playlist, whether it was refreshed, how many tracks, what failed."""

    playlist: PlaylistRecord
    refreshed: bool
    written: int
    total: int
    error: SpotifyError | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and self.written == self.total


def find_playlist(api: SpotifyApi, user_id: str, prefix: str) -> PlaylistRecord | None:
    """Return the user's own playlist whose name starts with prefix, if any."""
    for playlist in api.my_playlists():
        if playlist.owner_id == user_id and clean_name(playlist.name).startswith(prefix):
            return playlist
    return None


def write_playlist(
    api: SpotifyApi, *, user_id: str, prefix: str, name: str, description: str, uris: list[str]
) -> PlaylistResult:
    """Create or refresh the area's playlist with uris, 100 a write.

    A write that still fails after the client's retries stops here; the result says how many
    tracks went in, so that nothing half-made is left unsaid. Names and description are cleaned
    of control characters here, whoever calls: they come from sources and other playlists.
    """
    prefix, name, description = clean_name(prefix), clean_name(name), clean_name(description)
    existing = find_playlist(api, user_id, prefix)
    if existing is not None:
        api.change_playlist_details(existing.id, name, description)
        playlist = PlaylistRecord(existing.id, name, existing.owner_id, existing.url)
    else:
        playlist = api.create_playlist(name, description)
    chunks = [
        uris[start : start + MAX_ITEMS_PER_WRITE]
        for start in range(0, len(uris), MAX_ITEMS_PER_WRITE)
    ]
    result = PlaylistResult(playlist, existing is not None, 0, len(uris))
    try:
        if existing is not None:
            api.replace_items(playlist.id, chunks[0] if chunks else [])
            result.written = len(chunks[0]) if chunks else 0
            chunks = chunks[1:]
        for chunk in chunks:
            api.add_items(playlist.id, chunk)
            result.written += len(chunk)
    except SpotifyError as error:
        result.error = error
        logger.warning(
            "playlist left incomplete",
            extra={
                "playlist_id": playlist.id,
                "written": result.written,
                "total": result.total,
                "error": str(error),
            },
        )
    return result
