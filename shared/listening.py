"""A person's listening-history choice: `listening/<user>.json`, with the grant the job uses.

The record exists while history is on or paused; turning it off deletes the record (and with it
the sealed grant), and collection stops. The plays themselves are in `plays/<user>/`
(shared/plays.py): turning history off keeps them until the person deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shared.config import Settings
from shared.people.deletion import register
from shared.people.records import PersonRecords, RecordError
from shared.plays import delete_history
from shared.storage import Store

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


class ListeningRecordError(RecordError):
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


def with_gap(record: ListeningRecord, gap: Gap) -> ListeningRecord:
    """Remember a possible loss (the newest MAX_GAPS_KEPT)."""
    return replace(record, gaps=(*record.gaps, gap)[-MAX_GAPS_KEPT:])


def _check(record: ListeningRecord) -> str:
    if not record.sealed_refresh_token or record.status not in STATUSES:
        return "it lacks a grant or a status"
    return ""


LISTENING = PersonRecords("listening", "listening/", ListeningRecord, ListeningRecordError, _check)


def _sweep(store: Store, user_id: str, settings: Settings) -> int:
    """Delete the choice, the grant and every month of plays."""
    return int(LISTENING.delete(store, user_id)) + delete_history(store, user_id)


register("listening", "listening history", _sweep)
