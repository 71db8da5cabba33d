"""A user's backup settings and sealed refresh token, and their session version."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from shared.config import Settings
from shared.datasets import backups_of
from shared.people import grants
from shared.people.deletion import register
from shared.people.records import PersonRecords, RecordError
from shared.storage import IF_ABSENT, NotFoundError, Store, check_name, retry_on_conflict

logger = logging.getLogger(__name__)

ACTIVE = grants.ACTIVE
NEEDS_SIGN_IN = grants.NEEDS_SIGN_IN
SOURCE_KINDS = ("discover_weekly", "playlist")


class UserSettingsError(RecordError):
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


def _check(settings: BackupSettings) -> str:
    if settings.source_kind not in SOURCE_KINDS or not settings.source_playlist_id:
        return "it lacks a source"
    return ""


BACKUPS = PersonRecords("backups", "users/", BackupSettings, UserSettingsError, _check)


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


def _sweep(store: Store, user_id: str, settings: Settings) -> int:
    """Delete the backup settings, the grant, and every week backed up."""
    deleted = int(BACKUPS.delete(store, user_id))
    try:
        store.delete(backups_of(user_id).name)
    except NotFoundError:
        return deleted
    return deleted + 1


register("backups", "backups", _sweep)
