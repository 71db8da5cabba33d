"""A person's listening-history choice: `listening/<user>.json`, with the grant the job uses.

The record exists while history is on or paused; turning it off deletes the record (and with it
the sealed grant), and collection stops. The plays themselves are in `plays/<user>/`
(shared/plays.py): turning history off keeps them until the person deletes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from shared.storage import NotFoundError, Store, check_name, retry_on_conflict

HISTORY_SCOPE = "user-read-recently-played"
ACTIVE = "active"
NEEDS_SIGN_IN = "needs_sign_in"
DELETING = "deleting"  # the person is deleting their history: the job must not write any more
STATUSES = (ACTIVE, NEEDS_SIGN_IN, DELETING)
MAX_GAPS_KEPT = 20
PAGE_LIMIT = 50  # Spotify keeps the last 50 plays reachable, at most 50 a request
# Since 2026-07-20 Spotify ends a refresh token 6 months after the person authorized the app
# (Spotify's e-mail to developers, reported in Yooooomi/your_spotify#628, 2026-07); before that,
# every refresh token lasted until revoked (spotify/web-api#911). The page asks for a renewal.
GRANT_LIFETIME_DAYS = 182
RENEW_WARNING_DAYS = 30


class ListeningRecordError(ValueError):
    """A listening/<id>.json that cannot be read."""


@dataclass(frozen=True)
class Gap:
    """A stretch in which plays may have been lost: more than 50 plays between two reads."""

    after: str  # ISO UTC: the newest play kept before the gap
    before: str  # ISO UTC: the oldest play of the read that found it


@dataclass(frozen=True)
class ListeningRecord:
    """History on (or paused), where collection stands, and the sealed grant."""

    user_id: str
    sealed_refresh_token: str
    display_name: str = ""
    status: str = ACTIVE
    status_reason: str = ""
    opted_in_at: str = ""
    granted_at: str = ""  # ISO UTC: when the person last gave the permission (it ends, see below)
    cursor_ms: int = 0  # the newest played_at kept, in ms; 0 before the first read
    last_read_at: str = ""
    last_added: int = 0
    collected_total: int = 0
    gaps: tuple[Gap, ...] = field(default_factory=tuple)
    last_import: dict[str, Any] = field(default_factory=dict)  # what the last import said
    problem: str = ""  # why the last hourly read failed on our side (a damaged file), for the page


def record_object(user_id: str) -> str:
    """Return the object name of a person's listening record."""
    return check_name(f"listening/{user_id}.json")


def load_record(store: Store, user_id: str) -> tuple[ListeningRecord, int] | None:
    """Return the record and its generation, or None when history was never turned on (or off)."""
    try:
        stored = store.read(record_object(user_id))
    except NotFoundError:
        return None
    return parse_record(stored.data), stored.generation


def parse_record(data: bytes) -> ListeningRecord:
    """Read a record; ListeningRecordError when fields are missing or of the wrong type."""
    try:
        raw = json.loads(data)
    except ValueError as error:
        raise ListeningRecordError("the listening record is not JSON") from error
    if not isinstance(raw, dict):
        raise ListeningRecordError("the listening record is not a JSON object")
    defaults = asdict(ListeningRecord("", ""))
    fields: dict[str, Any] = {}
    for name, default in defaults.items():
        value = raw.get(name, default)
        expected = list if isinstance(default, tuple) else type(default)
        if isinstance(default, tuple) and isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ListeningRecordError(f"field {name!r} is missing or not a {expected.__name__}")
        fields[name] = value
    try:
        fields["gaps"] = tuple(
            Gap(str(g["after"]), str(g["before"])) for g in fields["gaps"] if isinstance(g, dict)
        )
    except KeyError as error:
        raise ListeningRecordError("a gap lacks its times") from error
    record = ListeningRecord(**fields)
    if not record.user_id or not record.sealed_refresh_token or record.status not in STATUSES:
        raise ListeningRecordError("the listening record lacks a user, a grant or a status")
    return record


def save_record(
    store: Store, record: ListeningRecord, *, if_generation_match: int | None = None
) -> int:
    """Write a record whole; return its new generation."""
    body = asdict(record)
    body["gaps"] = [asdict(g) for g in record.gaps]
    return store.write(
        record_object(record.user_id),
        json.dumps(body, indent=2, sort_keys=True).encode(),
        if_generation_match=if_generation_match,
        content_type="application/json",
    )


def update_record(
    store: Store,
    user_id: str,
    change: Callable[[ListeningRecord], ListeningRecord],
    attempts: int = 5,
) -> tuple[ListeningRecord, int] | None:
    """Apply a change, re-reading when another writer got there first; None when there is none."""

    def attempt() -> tuple[ListeningRecord, int] | None:
        loaded = load_record(store, user_id)
        if loaded is None:
            return None
        changed = change(loaded[0])
        return changed, save_record(store, changed, if_generation_match=loaded[1])

    return retry_on_conflict(f"user {user_id}'s listening record", attempt, attempts)


def with_gap(record: ListeningRecord, gap: Gap) -> ListeningRecord:
    """Remember a possible loss (the newest MAX_GAPS_KEPT)."""
    return replace(record, gaps=(*record.gaps, gap)[-MAX_GAPS_KEPT:])


def listening_users(store: Store) -> list[str]:
    """Return the ids of people with history on (or paused)."""
    return sorted(
        name.removeprefix("listening/").removesuffix(".json")
        for name in store.list("listening/")
        if name.endswith(".json")
    )


def delete_record(store: Store, user_id: str) -> bool:
    """Forget the choice and the grant; True when there was a record."""
    try:
        store.delete(record_object(user_id))
    except NotFoundError:
        return False
    return True
