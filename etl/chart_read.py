"""Read the chart playlists from Spotify: who may read each, and each one whole, a request a page.

`GET /playlists/{id}` answers the name and owner with the first page of entries (up to 100)
inside, so the name costs nothing: a playlist of n entries costs ceil(n / 100) requests, at
least one. The 2026 API puts the entries under `items` (under `tracks` before); an entry holds
its content under `item`, `track` or both (real-api/spotify/joostlek__playlist_items.json).
The pages after the first are asked for by offset at `/playlists/{id}/items`, never by the
embedded `next`: it may still name `/playlists/{id}/tracks` (which answers 403 since 2026) or
drop `additional_types`. Who reads each playlist, and with which grant: etl/chart_people.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.spotify import SpotifyApi
from shared.spotify_errors import SpotifyRefusedError, SpotifyShapeError
from shared.spotify_records import (
    PlaylistItem,
    page_items,
    parse_playlist_item,
    require_object,
)

logger = logging.getLogger(__name__)

REQUEST_KIND = "chart_read"
PAGE_SIZE = 100  # the most Spotify gives in one page of a playlist's entries
MAX_PAGES = 100  # 10,000 entries, Spotify's cap on a playlist's size
ITEM_TYPES = ("track", "episode")  # episodes come as episodes, to be counted and skipped


class EntriesRefusedError(SpotifyRefusedError):
    """A 403 on a playlist's entries while the playlist itself was readable: in Development
    Mode, the reader neither owns it nor collaborates on it (PLATFORM.md). A 403 on the
    playlist object itself is the reader refused altogether (not on the app's allowlist)."""

    def __init__(self, message: str, name: str = "") -> None:
        super().__init__(403, message)
        self.name = name  # the playlist's name, as its object said


@dataclass(frozen=True)
class ChartRead:
    """A playlist as read today: its name, its owner's name, and its entries in order."""

    name: str
    owner: str
    items: list[PlaylistItem]


def parse_chart_playlist(raw: Any) -> tuple[str, str, dict[str, Any] | None]:
    """Return a playlist object's name, owner and first page of entries (None: not inside).

    SpotifyShapeError when it is no playlist; SpotifyRefusedError(403) when the entries are
    summarised (`total`, no list) because this reader may not see them.
    """
    playlist = require_object(raw, "playlist")
    name = playlist.get("name")
    if not isinstance(name, str):
        raise SpotifyShapeError("playlist: no name")
    owner_raw = playlist.get("owner")
    owner: dict[str, Any] = owner_raw if isinstance(owner_raw, dict) else {}
    owner_name = str(owner.get("display_name") or owner.get("id") or "")
    summarised = False
    for key in ("items", "tracks"):
        section = playlist.get(key)
        if isinstance(section, dict) and "items" in section:
            return name, owner_name, section  # page_items checks it is a list
        summarised = summarised or isinstance(section, dict)
    if summarised:
        raise EntriesRefusedError("the playlist's entries are not readable by this reader", name)
    return name, owner_name, None


def fetch_chart_playlist(api: SpotifyApi, playlist_id: str) -> ChartRead:
    """Read a playlist whole: the playlist object, then its entries' further pages by offset.

    EntriesRefusedError when the playlist is readable but its entries are refused (403).
    """
    raw = api.call(REQUEST_KIND, api.client.playlist, playlist_id, additional_types=ITEM_TYPES)
    name, owner, page = parse_chart_playlist(raw)
    items: list[PlaylistItem] = []
    try:
        if page is None:  # an answer without its entries: ask for them
            page = _items_page(api, playlist_id, 0)
        for _ in range(MAX_PAGES):
            raw_items = page_items(page, "playlist items page")
            items += [
                parse_playlist_item(len(items) + n, entry) for n, entry in enumerate(raw_items)
            ]
            if not page.get("next") or not raw_items:
                break
            page = _items_page(api, playlist_id, len(items))
    except SpotifyRefusedError as error:
        if error.status == 403 and not isinstance(error, EntriesRefusedError):
            raise EntriesRefusedError(str(error), name) from error
        raise
    return ChartRead(name, owner, items)


def _items_page(api: SpotifyApi, playlist_id: str, offset: int) -> Any:
    """Return one page of a playlist's entries from `offset` (GET /playlists/{id}/items)."""
    return api.call(
        REQUEST_KIND,
        api.client.playlist_items,
        playlist_id,
        limit=PAGE_SIZE,
        offset=offset,
        additional_types=ITEM_TYPES,
    )
