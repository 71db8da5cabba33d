"""Read the chart playlists from Spotify: who may read each, and each one whole, a request a page.

`GET /playlists/{id}` answers the name and owner with the first page of entries (up to 100)
inside, so the name costs nothing: a playlist of n entries costs ceil(n / 100) requests, at
least one. The 2026 API puts the entries under `items` (under `tracks` before); an entry holds
its content under `item`, `track` or both (real-api/spotify/joostlek__playlist_items.json).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from shared.charts import NEEDS_SIGN_IN, ChartsError, ChartsRecord, update_charts_record
from shared.config import Settings
from shared.spotify import RequestLedger, SpotifyApi, StoredGrant
from shared.spotify_errors import SpotifyRefusedError, SpotifyShapeError
from shared.spotify_records import (
    PlaylistItem,
    page_items,
    parse_playlist_item,
    require_object,
)
from shared.storage import StorageError, Store
from shared.tokens import TokenBox

logger = logging.getLogger(__name__)

REQUEST_KIND = "chart_read"
PAGE_SIZE = 100  # the most Spotify gives in one page of a playlist's entries
MAX_PAGES = 100  # 10,000 entries, Spotify's cap on a playlist's size
ITEM_TYPES = ("track", "episode")  # episodes come as episodes, to be counted and skipped
OPERATOR = ""  # the reader of the operator's playlists: the app's own token
REVOKED_REASON = (
    "Spotify no longer accepts the permission you gave us to read the playlists you track (it "
    "was revoked or expired), so their daily snapshots are paused."
)
KEY_ROTATED_REASON = (
    "Local Shows changed its encryption key, so the permission you gave us can no longer be "
    "read; the daily snapshots of your playlists are paused."
)


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
        raise SpotifyRefusedError(403, "the playlist's entries are not readable by this reader")
    return name, owner_name, None


def fetch_chart_playlist(api: SpotifyApi, playlist_id: str) -> ChartRead:
    """Read a playlist whole: the playlist object, then its entries' `next` pages."""
    raw = api.call(REQUEST_KIND, api.client.playlist, playlist_id, additional_types=ITEM_TYPES)
    name, owner, page = parse_chart_playlist(raw)
    if page is None:  # an answer without its entries: ask for them
        page = api.call(
            REQUEST_KIND,
            api.client.playlist_items,
            playlist_id,
            limit=PAGE_SIZE,
            additional_types=ITEM_TYPES,
        )
    items: list[PlaylistItem] = []
    for _ in range(MAX_PAGES):
        raw_items = page_items(page, "playlist items page")
        items += [parse_playlist_item(len(items) + n, entry) for n, entry in enumerate(raw_items)]
        if not page.get("next"):
            break
        page = api.call(REQUEST_KIND, api.client.next, page)
    return ChartRead(name, owner, items)


class Readers:
    """The Spotify clients of a run: the app's own, and each person's, made when first needed."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        ledger: RequestLedger,
        people: dict[str, ChartsRecord],
        api_options: dict[str, Any],
    ) -> None:
        self.store, self.settings, self.ledger = store, settings, ledger
        self.people, self.api_options = people, api_options
        self.box = TokenBox(settings.token_encryption_key)
        self.clients: dict[str, SpotifyApi] = {}
        self.grants: dict[str, tuple[StoredGrant, str]] = {}  # grant, refresh token it began with
        self.paused: set[str] = set()

    def api(self, reader: str) -> SpotifyApi:
        """Return the client of a reader; TokenDecryptError when a person's grant is unreadable."""
        if reader not in self.clients:
            if reader == OPERATOR:
                client = SpotifyApi.for_app(self.settings, self.ledger, **self.api_options)
            else:
                sealed = self.people[reader].sealed_refresh_token
                refresh_token = str(self.box.open(sealed).get("refresh_token", ""))
                grant = StoredGrant(self.settings, refresh_token)
                self.grants[reader] = (grant, refresh_token)
                client = SpotifyApi.for_stored_grant(
                    self.settings, grant, self.ledger, **self.api_options
                )
            self.clients[reader] = client
        return self.clients[reader]

    def pause(self, user_id: str, reason: str) -> bool:
        """Pause a person (their grant was refused); False when their record could not be."""
        self.paused.add(user_id)
        try:
            update_charts_record(
                self.store,
                user_id,
                lambda r: replace(r, status=NEEDS_SIGN_IN, status_reason=reason),
            )
        except (ChartsError, StorageError):
            logger.exception("could not pause a person's charts", extra={"user_id": user_id})
            return False
        logger.warning("a person's charts are paused", extra={"user_id": user_id})
        return True

    def keep_rotated_tokens(self) -> None:
        """Keep the refresh tokens Spotify rotated, unless the person gave a new grant since."""
        for user_id, (grant, refresh_token) in self.grants.items():
            if grant.refresh_token == refresh_token or user_id in self.paused:
                continue
            sealed_before = self.people[user_id].sealed_refresh_token
            sealed_now = self.box.seal({"refresh_token": grant.refresh_token})

            def rotated(r: ChartsRecord, before: str = sealed_before, now: str = sealed_now) -> Any:
                return (
                    replace(r, sealed_refresh_token=now) if r.sealed_refresh_token == before else r
                )

            try:
                update_charts_record(self.store, user_id, rotated)
            except (ChartsError, StorageError):
                logger.exception("could not keep a rotated token", extra={"user_id": user_id})
