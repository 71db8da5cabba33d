"""A user's backup settings and sealed refresh token, and their session version."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from shared.storage import (
    IF_ABSENT,
    NotFoundError,
    Store,
    check_name,
    retry_on_conflict,
)

logger = logging.getLogger(__name__)

ACTIVE = "active"
NEEDS_SIGN_IN = "needs_sign_in"
SOURCE_KINDS = ("discover_weekly", "playlist")
GRANT_REVOKED_REASON = (
    "Spotify no longer accepts the sign-in you gave us (it was revoked or expired)."
)


class UserSettingsError(ValueError):
    """A users/<id>.json that cannot be read as settings."""


@dataclass(frozen=True)
class BackupSettings:
    """What a user chose for their backups, and the grant that lets the ETL act for them."""

    user_id: str
    display_name: str
    source_kind: str  # discover_weekly | playlist
    source_playlist_id: str
    source_name: str
    sealed_refresh_token: str
    archive: bool = False
    archive_playlist_id: str = ""
    status: str = ACTIVE
    status_reason: str = ""
    opted_in_at: str = ""
    last_backup_week: str = ""
    last_manual_backup_at: str = ""  # ISO UTC time of the last "Back up now" (one a day)


def user_object(user_id: str) -> str:
    """Return the object name of a user's settings."""
    return check_name(f"users/{user_id}.json")


def load_user(store: Store, user_id: str) -> tuple[BackupSettings, int] | None:
    """Return a user's settings and their generation, or None when the user has not opted in."""
    try:
        stored = store.read(user_object(user_id))
    except NotFoundError:
        return None
    return parse_user(stored.data), stored.generation


def parse_user(data: bytes) -> BackupSettings:
    """Read settings JSON; UserSettingsError when fields are missing or of the wrong type."""
    try:
        raw = json.loads(data)
    except ValueError as error:
        raise UserSettingsError("user settings are not JSON") from error
    if not isinstance(raw, dict):
        raise UserSettingsError("user settings are not a JSON object")
    fields: dict[str, Any] = {}
    for name, default in asdict(BackupSettings("", "", "", "", "", "")).items():
        value = raw.get(name, default)
        if not isinstance(value, type(default)):
            raise UserSettingsError(
                f"user settings field {name!r} is missing or not a {type(default).__name__}"
            )
        fields[name] = value
    settings = BackupSettings(**fields)
    if (
        not settings.user_id
        or settings.source_kind not in SOURCE_KINDS
        or not settings.source_playlist_id
    ):
        raise UserSettingsError("user settings lack a user id or a source")
    return settings


def save_user(
    store: Store, settings: BackupSettings, *, if_generation_match: int | None = None
) -> int:
    """Write a user's settings whole."""
    data = json.dumps(asdict(settings), indent=2, sort_keys=True).encode()
    return store.write(
        user_object(settings.user_id),
        data,
        if_generation_match=if_generation_match,
        content_type="application/json",
    )


def update_user(
    store: Store,
    user_id: str,
    change: Callable[[BackupSettings], BackupSettings],
    attempts: int = 5,
) -> BackupSettings | None:
    """Apply a change to a user's settings, re-reading if another writer got there first."""

    def attempt() -> BackupSettings | None:
        loaded = load_user(store, user_id)
        if loaded is None:
            return None
        current, generation = loaded
        changed = change(current)
        save_user(store, changed, if_generation_match=generation)
        return changed

    return retry_on_conflict(f"user {user_id}'s settings", attempt, attempts)


def mark_needs_sign_in(store: Store, user_id: str, reason: str) -> None:
    """Record that the user's grant is gone; they see it on their next visit."""
    update_user(store, user_id, lambda s: replace(s, status=NEEDS_SIGN_IN, status_reason=reason))


def opted_in_users(store: Store) -> list[str]:
    """Return the ids of users who opted in to backups."""
    return [
        name.removeprefix("users/").removesuffix(".json")
        for name in store.list("users/")
        if name.endswith(".json")
    ]


def session_object(user_id: str) -> str:
    """Return the object name of a user's session version (sessions/<user_id>.json)."""
    return check_name(f"sessions/{user_id}.json")


def load_session_version(store: Store, user_id: str) -> int:
    """Return the user's session version: 0 until they first sign out; unreadable counts as 0."""
    try:
        stored = store.read(session_object(user_id))
    except NotFoundError:
        return 0
    version = _parse_session_version(stored.data)
    if version is None:
        logger.warning("unreadable session version counted as 0", extra={"user_id": user_id})
        return 0
    return version


def bump_session_version(store: Store, user_id: str, attempts: int = 5) -> int:
    """End every session the user has: raise their session version by one and return it."""
    name = session_object(user_id)

    def attempt() -> int:
        try:
            stored = store.read(name)
        except NotFoundError:
            current, generation = 0, IF_ABSENT
        else:
            current, generation = _parse_session_version(stored.data) or 0, stored.generation
        data = json.dumps({"session_version": current + 1}).encode()
        store.write(name, data, if_generation_match=generation, content_type="application/json")
        return current + 1

    return retry_on_conflict(f"user {user_id}'s session version", attempt, attempts)


def _parse_session_version(data: bytes) -> int | None:
    try:
        raw = json.loads(data)
    except ValueError:
        return None
    version = raw.get("session_version") if isinstance(raw, dict) else None
    return version if type(version) is int and version >= 0 else None
