"""Write playlists into the user's account, and remember the area playlists each person made."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from shared.spotify import MAX_ITEMS_PER_WRITE, SpotifyApi, SpotifyError, SpotifyRefusedError
from shared.spotify_records import PlaylistRecord
from shared.storage import (
    IF_ABSENT,
    ConflictError,
    NotFoundError,
    Store,
    check_name,
    retry_on_conflict,
)
from shared.text import clean_name

logger = logging.getLogger(__name__)

MADE_KEPT = 100  # the newest playlists remembered per person
SEP = " · "  # between a playlist name's area and its dates


@dataclass
class PlaylistResult:
    """What was written: the playlist, how (new, updated in place, made again), what failed."""

    playlist: PlaylistRecord
    refreshed: bool
    written: int
    total: int
    error: SpotifyError | None = None
    recreated: bool = False  # an update was asked for, but the playlist was gone: made anew
    description_refused: bool = False  # Spotify took the description only without its link

    @property
    def complete(self) -> bool:
        return self.error is None and self.written == self.total


@dataclass(frozen=True)
class MadePlaylist:
    """An area playlist a person made here: enough to offer "Update it" and to find its notes."""

    playlist_id: str
    name: str
    area_prefix: str
    url: str
    notes_token: str
    made_at: str
    updated_at: str
    tracks: int = 0
    area_id: str = ""  # the saved area's identity of its choices ("": adopted, or made before)


@dataclass
class MadePlaylists:
    """A person's record of the playlists they made (playlists/<user id>.json)."""

    playlists: list[MadePlaylist] = field(default_factory=list)
    generation: int = 0

    def for_area(
        self, area_id: str, area_prefix: str, kept_elsewhere: Collection[str] = ()
    ) -> list[MadePlaylist]:
        """Return the playlists made for exactly this area (its state or city, radius, dates
        rule, genres, mix, known-only), most recently updated first; one with no identity yet
        (adopted from Spotify by name) by its name. Never one another saved area keeps."""
        found = [
            p
            for p in self.playlists
            if (p.area_id == area_id if p.area_id else p.area_prefix == area_prefix)
            and p.playlist_id not in kept_elsewhere
        ]
        return sorted(found, key=lambda p: p.updated_at, reverse=True)

    def get(self, playlist_id: str) -> MadePlaylist | None:
        return next((p for p in self.playlists if p.playlist_id == playlist_id), None)


def made_object(user_id: str) -> str:
    """Return the object name of a person's record of playlists made."""
    return check_name(f"playlists/{user_id}.json")


def new_notes_token() -> str:
    """Return an unguessable name for a liner-notes page."""
    return secrets.token_urlsafe(16)


def load_made(store: Store, user_id: str) -> MadePlaylists:
    """Return a person's playlists made; an unreadable record reads as empty (and is logged)."""
    try:
        stored = store.read(made_object(user_id))
    except NotFoundError:
        return MadePlaylists()
    try:
        raw = json.loads(stored.data)["playlists"]
        if not isinstance(raw, list):
            raise TypeError("playlists is not a list")
    except (ValueError, KeyError, TypeError) as error:
        logger.warning(
            "unreadable record of playlists made; starting afresh",
            extra={"user_id": user_id, "error": str(error)},
        )
        return MadePlaylists([], stored.generation)
    entries = []
    for entry in raw:
        try:
            entries.append(_made(entry))
        except (ValueError, TypeError, AttributeError) as error:
            logger.warning(
                "skipped an unreadable entry of playlists made",
                extra={"user_id": user_id, "error": str(error)},
            )
    return MadePlaylists(entries, stored.generation)


def _made(entry: Any) -> MadePlaylist:
    """Return one stored entry, checked: every field of its type, an id present."""
    names = {f.name for f in fields(MadePlaylist)}
    made = MadePlaylist(**{k: v for k, v in entry.items() if k in names})
    for declared in fields(MadePlaylist):
        expected = int if declared.type == "int" else str
        value = getattr(made, declared.name)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise TypeError(f"field {declared.name} is not {expected.__name__}")
    if not made.playlist_id:
        raise ValueError("an entry has no playlist id")
    return made


def remember_playlist(store: Store, user_id: str, made: MadePlaylist, attempts: int = 5) -> None:
    """Add or replace one playlist in the person's record (another writer's change is kept)."""

    def attempt() -> None:
        record = load_made(store, user_id)
        # A playlist made again (the earlier one deleted in Spotify) takes the earlier's place.
        others = [
            p
            for p in record.playlists
            if p.playlist_id != made.playlist_id and p.notes_token != made.notes_token
        ]
        kept = sorted([*others, made], key=lambda p: p.updated_at)[-MADE_KEPT:]
        data = json.dumps({"playlists": [asdict(p) for p in kept]}, indent=1).encode()
        store.write(
            made_object(user_id),
            data,
            if_generation_match=record.generation,
            content_type="application/json",
        )

    retry_on_conflict(made_object(user_id), attempt, attempts)


def adopt_earlier_playlists(store: Store, api: SpotifyApi, user_id: str, name_prefix: str) -> int:
    """Once per person, record the area playlists they made before this record was kept.

    Earlier versions found an area's playlist by its name; this takes those in (one Spotify
    request), so that "Update it" is offered for them too. Another writer's record wins.
    """
    adopted = []
    for playlist in api.my_playlists():
        name = clean_name(playlist.name)
        if playlist.owner_id != user_id or not name.startswith(name_prefix) or SEP not in name:
            continue
        area_prefix = name[: name.rindex(SEP) + len(SEP)]
        adopted.append(
            MadePlaylist(playlist.id, name, area_prefix, playlist.url, new_notes_token(), "", "")
        )
    data = json.dumps({"playlists": [asdict(p) for p in adopted]}, indent=1).encode()
    try:
        store.write(
            made_object(user_id),
            data,
            if_generation_match=IF_ABSENT,
            content_type="application/json",
        )
    except ConflictError:
        return 0
    return len(adopted)


def find_playlist(api: SpotifyApi, user_id: str, prefix: str) -> PlaylistRecord | None:
    """Return the user's own playlist whose name starts with prefix, if any."""
    for playlist in api.my_playlists():
        if playlist.owner_id == user_id and clean_name(playlist.name).startswith(prefix):
            return playlist
    return None


def own_playlist(api: SpotifyApi, user_id: str, playlist_id: str) -> PlaylistRecord | None:
    """Return the user's own playlist with this id, or None when it is gone (or not theirs)."""
    for playlist in api.my_playlists():
        if playlist.id == playlist_id and playlist.owner_id == user_id:
            return playlist
    return None


def write_playlist(
    api: SpotifyApi, *, user_id: str, prefix: str, name: str, description: str, uris: list[str]
) -> PlaylistResult:
    """Create or refresh (in place) the user's playlist whose name starts with prefix."""
    existing = find_playlist(api, user_id, clean_name(prefix))
    return _write(api, existing, name=name, description=description, uris=uris)


def write_area_playlist(
    api: SpotifyApi,
    *,
    user_id: str,
    update_id: str,
    name: str,
    description: str,
    uris: list[str],
    plain_description: str = "",
) -> PlaylistResult:
    """Update the playlist update_id in place, or make a new one (update_id empty).

    A playlist to update that is no longer in the user's account (deleted in Spotify) is made
    again, and the result says so. When Spotify refuses the description (a 400: it may refuse
    one with a link), the plain description without it is written instead.
    """
    existing = own_playlist(api, user_id, update_id) if update_id else None
    result = _write(
        api,
        existing,
        name=name,
        description=description,
        uris=uris,
        plain_description=plain_description,
    )
    result.recreated = bool(update_id) and existing is None
    return result


def _write(
    api: SpotifyApi,
    existing: PlaylistRecord | None,
    *,
    name: str,
    description: str,
    uris: list[str],
    plain_description: str = "",
) -> PlaylistResult:
    """Write name, description and uris (100 a write) into existing, or into a new playlist.

    A write that still fails after the client's retries stops here; the result says how many
    tracks went in, so that nothing half-made is left unsaid. Names and description are cleaned
    of control characters here, whoever calls: they come from sources and other playlists.
    """
    name, description = clean_name(name), clean_name(description)
    refused = False
    try:
        playlist = _details(api, existing, name, description)
    except SpotifyRefusedError as error:
        if error.status != 400 or not plain_description:
            raise
        logger.warning(
            "Spotify refused the playlist description; writing it without its link",
            extra={"error": str(error)},
        )
        playlist = _details(api, existing, name, clean_name(plain_description))
        refused = True
    chunks = [
        uris[start : start + MAX_ITEMS_PER_WRITE]
        for start in range(0, len(uris), MAX_ITEMS_PER_WRITE)
    ]
    result = PlaylistResult(playlist, existing is not None, 0, len(uris))
    result.description_refused = refused
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


def _details(
    api: SpotifyApi, existing: PlaylistRecord | None, name: str, description: str
) -> PlaylistRecord:
    """Name and describe the existing playlist, or create one so named and described."""
    if existing is None:
        return api.create_playlist(name, description)
    api.change_playlist_details(existing.id, name, description)
    return PlaylistRecord(existing.id, name, existing.owner_id, existing.url)
