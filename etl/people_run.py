"""One run of a per-person job (the hourly plays, the daily taste) under its own lease.

Two runs at once would read the same people twice, so each job takes a lease of its own name
(never the build's): the build, the plays and the taste never wait for one another. The job's
`collect` beats the lease before each person (etl/lease.py), so that a run killed midway frees
it minutes later, not at its deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from etl.lease import Heartbeat, release_lease, take_lease
from etl.pipeline import new_run_id
from shared.config import Settings
from shared.spotify import RequestLedger
from shared.storage import Store

logger = logging.getLogger(__name__)
R = TypeVar("R")


class Reported(Protocol):
    def as_report(self) -> dict[str, Any]: ...


def run_for_people(
    store: Store,
    settings: Settings,
    collect: Callable[..., Reported],
    *,
    lease_name: str,
    lease_deadline: timedelta,
    now: datetime | None = None,
    **api_options: Any,
) -> dict[str, object]:
    """Take the job's lease, run `collect(store, settings, ledger, now=..., beat=...,
    **api_options)` within the request budget, give the lease back; return the run's report.

    Raises LeaseHeld (nothing done) when another run of the job holds the lease, and
    LeaseLostError (from `beat`) when another run took it over meanwhile.
    """
    moment = now or settings.clock.now()
    run_id = new_run_id(moment)
    lease = take_lease(store, run_id, now=moment, deadline=lease_deadline, name=lease_name)
    heartbeat = Heartbeat(store, lease, settings.clock)
    try:
        ledger = RequestLedger(budget=settings.spotify_request_budget)
        summary = collect(store, settings, ledger, now=moment, beat=heartbeat.beat, **api_options)
    finally:
        release_lease(store, heartbeat.lease)
    stale = lease.stale_holder
    return {
        "run_id": run_id,
        "status": "ok",
        "took_over_stale_lease_of": lease.took_over_from,
        "took_over_stale_lease": stale.as_report() if stale else None,
        **summary.as_report(),
    }


def oldest_first(
    user_ids: Iterable[str],
    load: Callable[[str], tuple[R, int] | None],
    unreadable: type[Exception],
    last_done: Callable[[R], str],
    what: str,
) -> list[tuple[str, R | None]]:
    """Return each person's record, the one served longest ago first; None for a record that
    cannot be read (logged), so that the job counts it and goes on to the next person."""
    found: list[tuple[str, R | None]] = []
    for user_id in user_ids:
        try:
            loaded = load(user_id)
        except unreadable as error:
            logger.error(
                f"unreadable {what} record", extra={"user_id": user_id, "error": str(error)}
            )
            found.append((user_id, None))
            continue
        if loaded is not None:
            found.append((user_id, loaded[0]))
    return sorted(found, key=lambda item: last_done(item[1]) if item[1] is not None else "")
