"""What the Spotify Web API answers, parsed into records right where it arrives."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtistRecord:
    """A Spotify artist as search gives it."""

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
    return ArtistRecord(raw["id"], raw["name"], tuple(str(genre) for genre in genres))


def parse_track(raw: Any) -> TrackRecord | None:
    """Return a TrackRecord, or None (logged) for a local, unavailable or garbled track."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("id"), str)
        or not isinstance(raw.get("name"), str)
    ):
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
        name=raw["name"],
        artist_ids=tuple(a["id"] for a in artists),
        artist_names=tuple(str(a.get("name") or "") for a in artists),
        album_name=str(album.get("name") or ""),
        release_date=str(album.get("release_date") or ""),
        duration_ms=duration if isinstance(duration, int) else None,
        explicit=bool(raw.get("explicit")),
        isrc=str(external.get("isrc") or ""),
    )


def items_of(answer: Any, key: str) -> list[Any]:
    section = answer.get(key) if isinstance(answer, dict) else None
    items = section.get("items") if isinstance(section, dict) else None
    return items if isinstance(items, list) else []


def parse_playlist(raw: Any) -> PlaylistRecord | None:
    """Return a PlaylistRecord, or None for an object without id or name."""
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("id"), str)
        or not isinstance(raw.get("name"), str)
    ):
        return None
    owner = raw["owner"] if isinstance(raw.get("owner"), dict) else {}
    urls = raw["external_urls"] if isinstance(raw.get("external_urls"), dict) else {}
    items = raw["items"] if isinstance(raw.get("items"), dict) else {}
    total = items.get("total")
    return PlaylistRecord(
        raw["id"],
        raw["name"],
        str(owner.get("id") or ""),
        str(urls.get("spotify") or f"https://open.spotify.com/playlist/{raw['id']}"),
        total if isinstance(total, int) else 0,
    )


@dataclass(frozen=True)
class PlaylistItem:
    """One entry of a playlist: its track, or None for a local or unavailable item."""

    position: int
    added_at: str
    track: TrackRecord | None


def parse_playlist_item(position: int, raw: Any) -> PlaylistItem:
    """Return a PlaylistItem; accept the 2026 shape ("item") and the older one ("track")."""
    entry = raw if isinstance(raw, dict) else {}
    content = entry.get("item", entry.get("track"))
    track = None if entry.get("is_local") else parse_track(content)
    return PlaylistItem(position, str(entry.get("added_at") or ""), track)
