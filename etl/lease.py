"""One ETL run at a time: a lease object, created only if absent, stale after a deadline."""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from shared.storage import IF_ABSENT, ConflictError, NotFoundError, Store

logger = logging.getLogger(__name__)

LEASE_NAME = "locks/etl"  # the build's (and, later, the catch-up's): they touch the same datasets
PLAYS_LEASE_NAME = "locks/plays"  # the hourly listening-history job's own
DEFAULT_LEASE_DEADLINE = timedelta(hours=6)


class LeaseHeld(Exception):
    """Another run holds the lease and it is not stale yet."""

    def __init__(self, holder: dict[str, str]) -> None:
        super().__init__(
            f"another ETL run ({holder.get('run_id', '?')} on {holder.get('host', '?')}) holds the "
            f"lease since {holder.get('taken_at', '?')}, until {holder.get('stale_at', '?')}"
        )
        self.holder = holder


@dataclass(frozen=True)
class Lease:
    """The lease this run holds."""

    run_id: str
    taken_at: str
    stale_at: str
    host: str
    generation: int = 0
    took_over_from: str = ""
    name: str = LEASE_NAME


def take_lease(
    store: Store,
    run_id: str,
    *,
    now: datetime,
    deadline: timedelta = DEFAULT_LEASE_DEADLINE,
    name: str = LEASE_NAME,
) -> Lease:
    """Take the lease, or take over a stale one; raise LeaseHeld when another run is active."""
    lease = Lease(run_id, _iso(now), _iso(now + deadline), socket.gethostname(), name=name)
    body = json.dumps(
        {
            k: v
            for k, v in asdict(lease).items()
            if k not in ("generation", "took_over_from", "name")
        }
    ).encode()
    try:
        generation = store.write(
            name, body, if_generation_match=IF_ABSENT, content_type="application/json"
        )
        return Lease(**{**asdict(lease), "generation": generation})
    except ConflictError:
        pass
    try:
        current = store.read(name)
    except NotFoundError:
        return take_lease(store, run_id, now=now, deadline=deadline, name=name)  # released
    holder = _holder(current.data)
    if holder.get("stale_at", "") > _iso(now):
        raise LeaseHeld(holder)
    try:
        # Only one of several runs that find the same stale lease wins this write.
        generation = store.write(
            name,
            body,
            if_generation_match=current.generation,
            content_type="application/json",
        )
    except ConflictError:
        raise LeaseHeld(_holder(store.read(name).data)) from None
    logger.warning(
        "took over a stale ETL lease",
        extra={
            "run_id": run_id,
            "stale_run_id": holder.get("run_id", "?"),
            "stale_since": holder.get("stale_at", "?"),
        },
    )
    return Lease(
        **{**asdict(lease), "generation": generation, "took_over_from": holder.get("run_id", "?")}
    )


def release_lease(store: Store, lease: Lease) -> None:
    """Give the lease back, unless another run has taken it over meanwhile."""
    try:
        store.delete(lease.name, if_generation_match=lease.generation)
    except (ConflictError, NotFoundError):
        logger.warning(
            "the ETL lease was no longer ours to release", extra={"run_id": lease.run_id}
        )


def _holder(data: bytes) -> dict[str, str]:
    try:
        holder = json.loads(data)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in holder.items()} if isinstance(holder, dict) else {}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
