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
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import date, timedelta
from typing import Any

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


class SavedAreasError(ValueError):
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


def areas_object(user_id: str) -> str:
    """Return the object name of a person's saved areas."""
    return check_name(f"areas/{user_id}.json")


def previews_object(user_id: str) -> str:
    """Return the object name of the areas a person previewed lately."""
    return check_name(f"previews/{user_id}.json")


def load_saved_areas(store: Store, user_id: str) -> tuple[SavedAreas, int] | None:
    """Return the person's saved areas and their generation, or None when they saved none."""
    try:
        stored = store.read(areas_object(user_id))
    except NotFoundError:
        return None
    return parse_saved_areas(stored.data), stored.generation


def parse_saved_areas(data: bytes) -> SavedAreas:
    """Read a record; SavedAreasError when a field is missing or of the wrong type."""
    raw = _json_object(data, "saved areas")
    top = _fields(SavedAreas, raw, skip={"areas"})
    entries = raw.get("areas", [])
    if not isinstance(entries, list):
        raise SavedAreasError("saved areas: 'areas' is not a list")
    areas = tuple(SavedArea(**_fields(SavedArea, _object(e))) for e in entries)
    record = SavedAreas(**top, areas=areas)
    if not record.user_id or record.status not in (ACTIVE, NEEDS_SIGN_IN):
        raise SavedAreasError("saved areas lack a user or a status")
    for area in areas:
        if not area.area_id or area.when_deleted not in WHEN_DELETED:
            raise SavedAreasError("a saved area lacks an id or a choice for a deleted playlist")
        if set(area.query) - set(QUERY_FIELDS) or not isinstance(area.query.get("state"), str):
            raise SavedAreasError("a saved area's choices are not an area's")
    return record


def save_saved_areas(
    store: Store, record: SavedAreas, *, if_generation_match: int | None = None
) -> int:
    """Write a person's saved areas whole; return the new generation."""
    body = asdict(record)
    return store.write(
        areas_object(record.user_id),
        json.dumps(body, indent=2, sort_keys=True).encode(),
        if_generation_match=if_generation_match,
        content_type="application/json",
    )


def update_saved_areas(
    store: Store, user_id: str, change: Callable[[SavedAreas], SavedAreas], attempts: int = 5
) -> SavedAreas | None:
    """Apply a change, re-reading when another writer got there first; None when none saved."""

    def attempt() -> SavedAreas | None:
        loaded = load_saved_areas(store, user_id)
        if loaded is None:
            return None
        changed = change(loaded[0])
        save_saved_areas(store, changed, if_generation_match=loaded[1])
        return changed

    return retry_on_conflict(f"user {user_id}'s saved areas", attempt, attempts)


def with_area(
    record: SavedAreas, area_id: str, change: Callable[[SavedArea], SavedArea]
) -> SavedAreas:
    """Return the record with one area changed (the others as they were)."""
    return replace(
        record, areas=tuple(change(a) if a.area_id == area_id else a for a in record.areas)
    )


def people_with_saved_areas(store: Store) -> list[str]:
    """Return the ids of people with saved areas."""
    return sorted(
        name.removeprefix("areas/").removesuffix(".json")
        for name in store.list("areas/")
        if name.endswith(".json")
    )


def delete_saved_areas(store: Store, user_id: str) -> bool:
    """Forget a person's saved areas and grant (Delete my data); True when there were some."""
    found = False
    for name in (areas_object(user_id), previews_object(user_id)):
        try:
            store.delete(name)
            found = True
        except NotFoundError:
            continue
    return found


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


def _fields(kind: type, raw: dict[str, Any], skip: set[str] | None = None) -> dict[str, Any]:
    """Take the dataclass's fields from raw, checking each has its default's type."""
    found: dict[str, Any] = {}
    for spec in fields(kind):
        if skip and spec.name in skip:
            continue
        if spec.name not in raw and spec.default is MISSING:
            raise SavedAreasError(f"{kind.__name__}: {spec.name!r} is missing")
        value = raw.get(spec.name, spec.default)
        expected = {"query": dict}.get(spec.name, str)
        if not isinstance(value, expected):
            raise SavedAreasError(f"{kind.__name__}: {spec.name!r} is not a {expected.__name__}")
        found[spec.name] = value
    return found
