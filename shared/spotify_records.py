"""What the Spotify Web API answers, parsed into records right where it arrives.

Two kinds of oddity, two answers: an answer of the wrong shape (a search without its `artists`
section, a page whose `items` is not a list, a profile without an id) raises SpotifyShapeError
naming what was wrong; one odd element inside a good answer (an artist without a name, a podcast
episode in a playlist) is skipped, logged and, for playlists, counted by kind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.names import clean_text
from shared.spotify_errors import SpotifyShapeError

logger = logging.getLogger(__name__)

# Why a playlist entry holds no track we can keep (the backups count each kind).
EPISODE = "episode"  # a podcast episode: no artists, and not a spotify:track URI
LOCAL = "local"  # a file on the owner's device: no Spotify id
REMOVED = "removed"  # `null`: a track Spotify no longer has
UNREADABLE = "unreadable"  # anything else without a track id and name
SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")


@dataclass(frozen=True)
class ArtistRecord:
    """A Spotify artist as search gives it (in 2026 most have no genres)."""

    id: str
    name: str
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackRecord:
    """A Spotify track, with what the datasets keep of it."""

    id: str
    name: str
    artist_ids: tuple[str, ...]
    artist_names: tuple[str, ...]
    album_name: str = ""
    release_date: str = ""
    duration_ms: int | None = None
    explicit: bool = False
    isrc: str = ""


@dataclass(frozen=True)
class UserRecord:
    """The signed-in Spotify user."""

    id: str
    display_name: str


@dataclass(frozen=True)
class PlaylistRecord:
    """A playlist as listed or created."""

    id: str
    name: str
    owner_id: str
    url: str
    total: int = 0
    collaborative: bool = False  # its owner lets others edit it (they may read its items)


@dataclass(frozen=True)
class PlaylistItem:
    """One entry of a playlist: its track, or None and why (`skipped`: episode, local, ...)."""

    position: int
    added_at: str
    track: TrackRecord | None
    skipped: str = ""


def require_object(answer: Any, what: str) -> dict[str, Any]:
    """Return answer when it is a JSON object; SpotifyShapeError naming `what` otherwise."""
    if not isinstance(answer, dict):
        raise SpotifyShapeError(f"{what}: expected a JSON object, got {type(answer).__name__}")
    return answer


def page_items(page: Any, what: str) -> list[Any]:
    """Return the `items` of a paging object; SpotifyShapeError when there is no such list."""
    items = require_object(page, what).get("items")
    if not isinstance(items, list):
        raise SpotifyShapeError(f"{what}: the page has no list of items")
    return items


def items_of(answer: Any, key: str) -> list[Any]:
    """Return the items of one section of a search answer (`artists`, `tracks`)."""
    section = require_object(answer, "search answer").get(key)
    return page_items(section, f"search answer's {key!r} section")


def parse_artist(raw: Any) -> ArtistRecord | None:
    """Return an ArtistRecord, or None (logged) when the object lacks an id or a name."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("id"), str)
        or not isinstance(raw.get("name"), str)
    ):
        logger.warning(
            "skipped an artist object without id or name", extra={"artist": str(raw)[:200]}
        )
        return None
    genres: list[Any] = raw["genres"] if isinstance(raw.get("genres"), list) else []
    return ArtistRecord(
        raw["id"], clean_text(raw["name"]), tuple(str(genre) for genre in genres if genre)
    )


def track_problem(raw: Any) -> str:
    """Return why an object is not a track we can keep ('' when it is one)."""
    if raw is None:
        return REMOVED
    if not isinstance(raw, dict):
        return UNREADABLE
    # Episodes come as `type: episode` (and `episode: true`, `track: false` in playlists).
    if raw.get("type", "track") != "track" or raw.get("episode") is True:
        return EPISODE
    if raw.get("is_local") is True:
        return LOCAL
    if not isinstance(raw.get("id"), str) or not raw["id"] or not isinstance(raw.get("name"), str):
        return UNREADABLE
    return ""


def parse_track(raw: Any) -> TrackRecord | None:
    """Return a TrackRecord, or None for an episode, a local file, a removed or garbled track."""
    if track_problem(raw):
        return None
    artists = [
        a for a in raw.get("artists") or [] if isinstance(a, dict) and isinstance(a.get("id"), str)
    ]
    album: dict[str, Any] = raw["album"] if isinstance(raw.get("album"), dict) else {}
    external: dict[str, Any] = (
        raw["external_ids"] if isinstance(raw.get("external_ids"), dict) else {}
    )
    duration = raw.get("duration_ms")
    return TrackRecord(
        id=raw["id"],
        name=clean_text(raw["name"]),
        artist_ids=tuple(a["id"] for a in artists),
        artist_names=tuple(clean_text(str(a.get("name") or "")) for a in artists),
        album_name=clean_text(str(album.get("name") or "")),
        release_date=str(album.get("release_date") or ""),
        duration_ms=duration if isinstance(duration, int) else None,
        explicit=raw.get("explicit") is True,
        isrc=str(external.get("isrc") or ""),
    )


def parse_user(raw: Any) -> UserRecord:
    """Return the profile of `/me`; SpotifyShapeError when it has no id."""
    profile = require_object(raw, "profile")
    if not isinstance(profile.get("id"), str) or not profile["id"]:
        raise SpotifyShapeError("profile: no user id")
    return UserRecord(profile["id"], str(profile.get("display_name") or profile["id"]))


def parse_playlist(raw: Any) -> PlaylistRecord | None:
    """Return a PlaylistRecord, or None for an object without id or name.

    Its size is `items.total` (the 2026 name) or, as many real listings still give it only,
    `tracks.total`.
    """
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("id"), str)
        or not isinstance(raw.get("name"), str)
    ):
        return None
    owner = raw["owner"] if isinstance(raw.get("owner"), dict) else {}
    urls = raw["external_urls"] if isinstance(raw.get("external_urls"), dict) else {}
    total = 0
    for key in ("items", "tracks"):
        size = raw.get(key)
        if isinstance(size, dict) and isinstance(size.get("total"), int):
            total = size["total"]
            break
    return PlaylistRecord(
        raw["id"],
        clean_text(raw["name"]),
        str(owner.get("id") or ""),
        str(urls.get("spotify") or f"https://open.spotify.com/playlist/{raw['id']}"),
        total,
        raw.get("collaborative") is True,
    )


def parse_created_playlist(raw: Any) -> PlaylistRecord:
    """Return the playlist Spotify says it created; SpotifyShapeError when it has no id."""
    created = parse_playlist(require_object(raw, "created playlist"))
    if created is None:
        raise SpotifyShapeError("created playlist: no id or name")
    return created


def parse_playlist_item(position: int, raw: Any) -> PlaylistItem:
    """Return a PlaylistItem from an entry carrying `item` (2026), `track` (before), or both."""
    entry = raw if isinstance(raw, dict) else {}
    content = entry.get("item") if entry.get("item") is not None else entry.get("track")
    problem = LOCAL if entry.get("is_local") is True else track_problem(content)
    track = None if problem else parse_track(content)
    return PlaylistItem(position, str(entry.get("added_at") or ""), track, problem)


def track_uris(track_ids: Iterable[str]) -> list[str]:
    """Return `spotify:track:` URIs of the ids that are Spotify ids, each once, in order.

    What goes into a playlist write comes from our own datasets; a cell that is not an id
    (an edited CSV, an old row) is dropped and logged rather than sent for Spotify to refuse.
    """
    ids = list(dict.fromkeys(str(track_id) for track_id in track_ids))
    kept = [track_id for track_id in ids if SPOTIFY_ID.fullmatch(track_id)]
    if len(kept) < len(ids):
        logger.warning(
            "skipped values that are not Spotify track ids", extra={"values": len(ids) - len(kept)}
        )
    return [f"spotify:track:{track_id}" for track_id in kept]
