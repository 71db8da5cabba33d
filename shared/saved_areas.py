"""Saved areas: playlists that refresh themselves (`areas/<user>.json`), and recent previews.

A person keeps up to MAX_SAVED_AREAS areas fresh. Each holds the area's choices with a relative
window ("next 30 days"), the playlist it refreshes, and what the last refresh did. The record
holds the sealed refresh token the ETL refreshes with (the same grant as a sign-in: playlist
scopes only).

What people previewed lately (`previews/<user>.json`: the areas of the last PREVIEW_DAYS days)
tells the ETL whose performers to look up next, after the saved areas' (issue 16).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from shared.config import Settings
from shared.people.deletion import register
from shared.people.records import PersonRecords, RecordError
from shared.storage import NotFoundError, Store, check_name, retry_on_conflict

logger = logging.getLogger(__name__)

MAX_SAVED_AREAS = 3
PREVIEW_DAYS = 30
MAX_PREVIEWS_KEPT = 20
ACTIVE = "active"
NEEDS_SIGN_IN = "needs_sign_in"
REMAKE = "remake"  # a playlist deleted in Spotify is made again
PAUSE = "pause"  # ... or the area is paused until the person says otherwise
WHEN_DELETED = (REMAKE, PAUSE)
# The choices of an area, as AreaQuery's fields (shared/area_query.py); the window is relative.
QUERY_FIELDS = ("state", "city", "radius_miles", "days", "genres", "tracks_per_artist",
                "headliners_only", "known_only", "mix")  # fmt: skip


class SavedAreasError(RecordError):
    """An areas/<id>.json or previews/<id>.json that cannot be read."""


@dataclass(frozen=True)
class SavedArea:
    """One area kept fresh, its playlist, and what its last refresh did."""

    area_id: str
    query: dict[str, Any]  # QUERY_FIELDS
    playlist_id: str
    playlist_name: str
    playlist_url: str
    notes_token: str
    saved_at: str  # ISO UTC
    when_deleted: str = REMAKE
    last_refresh_at: str = ""  # ISO UTC
    last_result: str = ""  # a sentence for the page: "Updated: 42 tracks of 18 shows"
    content_hash: str = ""  # of the name, description and tracks last written: same, no write
    paused: str = ""  # why the area is paused ("" while it refreshes)


@dataclass(frozen=True)
class SavedAreas:
    """A person's saved areas and the grant that refreshes them."""

    user_id: str
    sealed_refresh_token: str
    display_name: str = ""
    status: str = ACTIVE
    status_reason: str = ""
    areas: tuple[SavedArea, ...] = field(default_factory=tuple)


def content_hash(name: str, description: str, uris: list[str]) -> str:
    """Return a digest of what a refresh would write: the same digest, nothing to write."""
    digest = hashlib.sha256()
    for part in (name, description, *uris):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


# What makes two areas one for "Update it": where, how far, which dates, genres, mix and
# known-only. How many tracks an artist gets, or headliners only, changes only its tracks.
NOT_IDENTITY = ("tracks_per_artist", "headliners_only")


def playlist_identity(query: dict[str, Any]) -> str:
    """Name the area a playlist is made for, from its choices (QUERY_FIELDS, as saved)."""
    kept = {k: v for k, v in query.items() if k in QUERY_FIELDS and k not in NOT_IDENTITY}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:12]


def _check(record: SavedAreas) -> str:
    if record.status not in (ACTIVE, NEEDS_SIGN_IN):
        return "it lacks a status"
    for area in record.areas:
        if not area.area_id or area.when_deleted not in WHEN_DELETED:
            return "a saved area lacks an id or a choice for a deleted playlist"
        if set(area.query) - set(QUERY_FIELDS) or not isinstance(area.query.get("state"), str):
            return "a saved area's choices are not an area's"
    return ""


def _shared_playlists(record: SavedAreas | None) -> set[str]:
    kept = [area.playlist_id for area in record.areas if area.playlist_id] if record else []
    return {playlist_id for playlist_id in kept if kept.count(playlist_id) > 1}


def _one_keeper(record: SavedAreas, before: SavedAreas | None) -> str:
    """One playlist is kept by one area: two would overwrite each other's tracks. A record
    saved before this rule, with two areas on one playlist, may still be written (paused, its
    token kept, its refresh noted); no write may make a new pair."""
    if _shared_playlists(record) - _shared_playlists(before):
        return "two saved areas would keep one playlist"
    return ""


SAVED_AREAS = PersonRecords(
    "saved_areas", "areas/", SavedAreas, SavedAreasError, _check, check_write=_one_keeper
)


def previews_object(user_id: str) -> str:
    """Return the object name of the areas a person previewed lately."""
    return check_name(f"previews/{user_id}.json")


def with_area(
    record: SavedAreas, area_id: str, change: Callable[[SavedArea], SavedArea]
) -> SavedAreas:
    """Return the record with one area changed (the others as they were)."""
    return replace(
        record, areas=tuple(change(a) if a.area_id == area_id else a for a in record.areas)
    )


def remember_preview(store: Store, user_id: str, query: dict[str, Any], today: date) -> bool:
    """Note that the person previewed an area today; write only when it is news (a few a day)."""
    query = {k: v for k, v in query.items() if k in QUERY_FIELDS}
    name = previews_object(user_id)

    def attempt() -> bool:
        try:
            stored = store.read(name)
            entries, generation = _preview_entries(stored.data), stored.generation
        except NotFoundError:
            entries, generation = [], 0
        if any(e["query"] == query and e["on"] == today.isoformat() for e in entries):
            return False
        oldest = (today - timedelta(days=PREVIEW_DAYS)).isoformat()
        kept = [e for e in entries if e["on"] >= oldest and e["query"] != query]
        kept = [*kept, {"query": query, "on": today.isoformat()}][-MAX_PREVIEWS_KEPT:]
        store.write(
            name,
            json.dumps({"previews": kept}, sort_keys=True).encode(),
            if_generation_match=generation,
            content_type="application/json",
        )
        return True

    return retry_on_conflict(f"user {user_id}'s previews", attempt)


def recent_previews(store: Store, today: date) -> list[dict[str, Any]]:
    """Return the areas anyone previewed in the last PREVIEW_DAYS days (bad files skipped)."""
    oldest = (today - timedelta(days=PREVIEW_DAYS)).isoformat()
    found: list[dict[str, Any]] = []
    for name in store.list("previews/"):
        try:
            entries = _preview_entries(store.read(name).data)
        except (NotFoundError, SavedAreasError) as error:
            logger.warning("previews skipped", extra={"object": name, "error": str(error)})
            continue
        found += [e["query"] for e in entries if e["on"] >= oldest]
    return found


def _preview_entries(data: bytes) -> list[dict[str, Any]]:
    raw = _json_object(data, "previews")
    entries = raw.get("previews", [])
    if not isinstance(entries, list):
        raise SavedAreasError("previews: not a list")
    return [
        e
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("query"), dict) and isinstance(e.get("on"), str)
    ]


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except ValueError as error:
        raise SavedAreasError(f"{what}: not JSON") from error
    return _object(raw, what)


def _object(raw: Any, what: str = "a saved area") -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SavedAreasError(f"{what}: not a JSON object")
    return raw


def _sweep(store: Store, user_id: str, settings: Settings) -> int:
    """Delete the saved areas, their grant, and the areas previewed lately."""
    deleted = int(SAVED_AREAS.delete(store, user_id))
    try:
        store.delete(previews_object(user_id))
    except NotFoundError:
        return deleted
    return deleted + 1


register("saved_areas", "saved areas", _sweep)
