"""What a lease object under locks/ says, and when it is stale: the etl writes leases, the status
page reads them, both by these rules.

A lease is JSON: `run_id`, `host`, `taken_at`, `beat_at` (the holder's last heartbeat) and
`stale_at` (its deadline: the most a run may hold it, however it beats). The holder beats at
most once every BEAT_EVERY while its run makes progress; a lease is stale STALE_AFTER after its
last beat, or at its deadline, whichever comes first, and the next run takes it over.

Why 15 minutes: it must outlast the longest stretch a live run goes without a progress point.
The longest is one Spotify request: 5 attempts of up to 15 s each and 4 waits of up to 120 s
(shared/spotify.py), 9.25 minutes; an event source's page is at most 5 x 35 s and 4 x 60 s,
7 minutes. And it must be no longer than cron's first retry of a build (900 s, cron.yaml), so
that a build killed at any moment is taken over by that retry, not 6 hours later.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import ClockError, iso_utc, parse_instant
from shared.storage import NotFoundError, Store

logger = logging.getLogger(__name__)

LOCKS_PREFIX = "locks/"
STALE_AFTER = timedelta(minutes=15)
BEAT_EVERY = timedelta(minutes=1)  # at most one write a minute per run


class LeaseRecordError(ValueError):
    """A lease object is not JSON of the shape this module writes."""


@dataclass(frozen=True)
class LeaseRecord:
    """One lease as stored: who holds it, since when, their last heartbeat, their deadline."""

    run_id: str
    host: str
    taken_at: datetime
    beat_at: datetime
    deadline: datetime

    @property
    def stale_since(self) -> datetime:
        """Return when the lease is (or will be) stale unless its holder beats again."""
        return min(self.beat_at + STALE_AFTER, self.deadline)

    def is_stale(self, now: datetime) -> bool:
        return now >= self.stale_since

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "run_id": self.run_id,
                "host": self.host,
                "taken_at": iso(self.taken_at),
                "beat_at": iso(self.beat_at),
                "stale_at": iso(self.deadline),
            }
        ).encode()

    def as_report(self) -> dict[str, str]:
        """Return the lease as a run report tells of one it took over."""
        return {
            "run_id": self.run_id,
            "host": self.host,
            "taken_at": iso(self.taken_at),
            "last_beat_at": iso(self.beat_at),
            "stale_since": iso(self.stale_since),
        }


def parse_lease_record(data: bytes) -> LeaseRecord:
    """Read a lease object; a lease written before heartbeats counts its taking as its beat."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise LeaseRecordError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise LeaseRecordError("not a JSON object")
    taken_at = _instant(raw, "taken_at")
    return LeaseRecord(
        run_id=_text(raw, "run_id"),
        host=_text(raw, "host"),
        taken_at=taken_at,
        beat_at=_instant(raw, "beat_at") if "beat_at" in raw else taken_at,
        deadline=_instant(raw, "stale_at"),
    )


@dataclass(frozen=True)
class StoredLease:
    """A lease object under locks/: its name, and its record (None: it cannot be read)."""

    name: str
    record: LeaseRecord | None


def load_leases(store: Store) -> list[StoredLease]:
    """Read every lease under locks/, by name; one that cannot be read is logged and kept as
    None (a run would take it over as stale)."""
    found = []
    for name in store.list(LOCKS_PREFIX):
        try:
            record: LeaseRecord | None = parse_lease_record(store.read(name).data)
        except NotFoundError:
            continue  # released meanwhile
        except LeaseRecordError as error:
            logger.warning("unreadable lease", extra={"lease": name, "error": str(error)})
            record = None
        found.append(StoredLease(name, record))
    return found


def iso(moment: datetime) -> str:
    """Return a time as ISO 8601 UTC with Z, to the second."""
    return iso_utc(moment)


def _text(raw: dict[str, object], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise LeaseRecordError(f"{key!r} is missing or not text")
    return value


def _instant(raw: dict[str, object], key: str) -> datetime:
    try:
        return parse_instant(_text(raw, key))
    except ClockError as error:
        raise LeaseRecordError(f"{key!r}: {error}") from None
