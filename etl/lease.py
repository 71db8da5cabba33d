"""One run at a time per job: a lease object, created only if absent, renewed by its run's
heartbeat, taken over once its holder has gone silent.

What a lease object holds, when it is stale and why 15 minutes: shared/leases.py (the status
page reads leases by the same rules). Here: taking a lease (a takeover of a stale one is an
alert: its holder died without giving it back), beating, and giving it back.

A run beats at its progress points (between the build's steps, states, performers, people),
not from a background thread, so that a lease says its run makes progress, not merely that its
process is alive. A beat writes at most once every BEAT_EVERY by the run's injected clock, under
the generation precondition of the run's previous write: a run whose lease was taken over meanwhile
learns it at its next beat (LeaseLostError) and stops, and never writes over the new holder's lease.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from etl.alerts import LEASE_TAKEN_OVER, Alert, log_alerts
from shared.clock import Clock
from shared.leases import (
    BEAT_EVERY,
    LeaseRecord,
    LeaseRecordError,
    iso,
    parse_lease_record,
)
from shared.storage import IF_ABSENT, ConflictError, NotFoundError, Store

logger = logging.getLogger(__name__)

LEASE_NAME = "locks/etl"  # the build's and the catch-up's: they touch the same datasets
PLAYS_LEASE_NAME = "locks/plays"  # the hourly listening-history job's own
DEFAULT_LEASE_DEADLINE = timedelta(hours=6)


class LeaseHeld(Exception):
    """Another run holds the lease and it is not stale yet."""

    def __init__(self, name: str, holder: LeaseRecord) -> None:
        super().__init__(
            f"another ETL run ({holder.run_id} on {holder.host}) holds the lease {name} since "
            f"{iso(holder.taken_at)}, last heartbeat {iso(holder.beat_at)}; stale at "
            f"{iso(holder.stale_since)} unless it beats again"
        )
        self.holder = holder


class LeaseLostError(Exception):
    """This run's lease was taken over (or removed): it must stop writing."""


@dataclass(frozen=True)
class Lease:
    """The lease this run holds, at the generation of its last write."""

    record: LeaseRecord
    generation: int
    name: str = LEASE_NAME
    stale_holder: LeaseRecord | None = None  # the dead run's lease this one took over

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def took_over_from(self) -> str:
        return self.stale_holder.run_id if self.stale_holder else ""


def take_lease(
    store: Store,
    run_id: str,
    *,
    now: datetime,
    deadline: timedelta = DEFAULT_LEASE_DEADLINE,
    name: str = LEASE_NAME,
) -> Lease:
    """Take the lease, or take over a stale one (an alert); raise LeaseHeld when another run
    holds it and has beaten lately."""
    record = LeaseRecord(run_id, socket.gethostname(), now, now, now + deadline)
    try:
        generation = store.write(
            name, record.to_json(), if_generation_match=IF_ABSENT, content_type="application/json"
        )
        return Lease(record, generation, name)
    except ConflictError:
        pass
    try:
        current = store.read(name)
    except NotFoundError:
        return take_lease(store, run_id, now=now, deadline=deadline, name=name)  # released
    try:
        holder: LeaseRecord | None = parse_lease_record(current.data)
    except LeaseRecordError as error:
        logger.warning(
            "an unreadable lease is taken over", extra={"lease": name, "error": str(error)}
        )
        holder = None
    if holder is not None and not holder.is_stale(now):
        raise LeaseHeld(name, holder)
    try:
        # Only one of several runs that find the same stale lease wins this write.
        generation = store.write(
            name,
            record.to_json(),
            if_generation_match=current.generation,
            content_type="application/json",
        )
    except ConflictError:  # another run took it over first: its lease is fresh, or released
        return take_lease(store, run_id, now=now, deadline=deadline, name=name)
    lease = Lease(record, generation, name, holder)
    if holder is not None:
        log_alerts([takeover_alert(lease, holder)])
    return lease


def takeover_alert(lease: Lease, holder: LeaseRecord) -> Alert:
    """Return the alert of a takeover: the run that held the lease died without giving it back."""
    return Alert(
        LEASE_TAKEN_OVER,
        lease.run_id,
        f"run {lease.run_id} took over the lease {lease.name} of run {holder.run_id} "
        f"(on {holder.host}, held since {iso(holder.taken_at)}): no heartbeat since "
        f"{iso(holder.beat_at)}, stale since {iso(holder.stale_since)}; that run died "
        "without finishing",
        {
            "lease": lease.name,
            "stale_run_id": holder.run_id,
            "stale_host": holder.host,
            "stale_taken_at": iso(holder.taken_at),
            "stale_last_beat_at": iso(holder.beat_at),
            "stale_since": iso(holder.stale_since),
        },
    )


def release_lease(store: Store, lease: Lease) -> None:
    """Give the lease back, unless another run has taken it over meanwhile."""
    try:
        store.delete(lease.name, if_generation_match=lease.generation)
    except (ConflictError, NotFoundError):
        logger.warning(
            "the ETL lease was no longer ours to release", extra={"run_id": lease.run_id}
        )


def no_beat() -> None:
    """Beat for a step run without a lease (tests, tools)."""


class Heartbeat:
    """Renew a run's lease at its progress points, at most once every BEAT_EVERY.

    The lease's own timeline starts at its `taken_at` (a run's "now", which a caller may set);
    the clock gives the pace, so a run started at a stated instant beats on from there.
    """

    def __init__(self, store: Store, lease: Lease, clock: Clock) -> None:
        self.store = store
        self.lease = lease
        self.clock = clock
        self._clock_at_take = clock.now()
        self._last_beat = lease.record.taken_at
        self._lost = ""
        self._lock = threading.Lock()  # the build's steps may beat from their worker threads

    def now(self) -> datetime:
        """Return the time on the lease's own timeline."""
        return self.lease.record.taken_at + (self.clock.now() - self._clock_at_take)

    def beat(self) -> None:
        """Renew the lease when BEAT_EVERY has passed; LeaseLostError once it is not ours."""
        with self._lock:
            if self._lost:
                raise LeaseLostError(self._lost)
            now = self.now()
            if now - self._last_beat < BEAT_EVERY:
                return
            record = replace(self.lease.record, beat_at=now)
            try:
                generation = self.store.write(
                    self.lease.name,
                    record.to_json(),
                    if_generation_match=self.lease.generation,
                    content_type="application/json",
                )
            except ConflictError:
                self._lost = self._lost_message()
                logger.error(self._lost, extra={"run_id": self.lease.run_id})
                raise LeaseLostError(self._lost) from None
            self.lease = replace(self.lease, record=record, generation=generation)
            self._last_beat = now

    def _lost_message(self) -> str:
        try:
            holder = parse_lease_record(self.store.read(self.lease.name).data)
            now_held = f"run {holder.run_id} on {holder.host} holds it since {iso(holder.taken_at)}"
        except (NotFoundError, LeaseRecordError):
            now_held = "it is gone"
        return (
            f"run {self.lease.run_id} lost the lease {self.lease.name} (last beat "
            f"{iso(self._last_beat)}): {now_held}; the run stops"
        )
