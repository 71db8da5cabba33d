"""The daily taste job: each person's top and followed artists, read again when a day old.

Only people who turned taste on are read, with the grant they left, and only when their profile
is due (`TasteRecord.due`): a profile read by "Refresh now" this morning costs nothing tonight.
One person's failure never stops another's; a refused grant pauses that person, with a reason
their Taste page shows; a spent quota stops the run, and the people left are read tomorrow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from etl.lease import no_beat
from etl.people_run import (
    DEFAULT_TIME_BUDGET_SECONDS,
    PeopleSummary,
    PersonJob,
    PersonWork,
    run_for_people,
    serve_people,
)
from shared.config import Settings
from shared.spotify import RequestLedger
from shared.storage import Store
from shared.taste import TASTE, TasteRecord
from shared.taste_read import REQUEST_KINDS, keep_profile, read_profile

logger = logging.getLogger(__name__)

TASTE_LEASE_NAME = "locks/taste"  # its own: the build's and the plays job's never wait for it
TASTE_LEASE_DEADLINE = timedelta(minutes=30)


@dataclass
class TasteSummary(PeopleSummary):
    """What one daily run did, for its answer and its log line."""

    refreshed: int = 0
    requests: int = 0


def collect(
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    *,
    now: datetime,
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    beat: Callable[[], None] = no_beat,
    **api_options: Any,
) -> TasteSummary:
    """Refresh every due profile; one person's failure never stops another's."""
    summary = serve_people(
        TASTE_JOB,
        store,
        settings,
        ledger,
        TasteSummary(),
        now=now,
        time_budget_seconds=time_budget_seconds,
        clock=clock,
        beat=beat,
        **api_options,
    )
    summary.requests = sum(ledger.by_kind[kind] for kind in REQUEST_KINDS)
    logger.info("taste collected", extra={"summary": summary.as_report()})
    return summary


def _refresh_one(work: PersonWork[TasteRecord, TasteSummary]) -> None:
    profile = read_profile(work.grant.api, work.store, work.record.user_id)
    if keep_profile(work.store, work.record.user_id, work.grant, profile, work.now):
        work.summary.refreshed += 1


TASTE_JOB = PersonJob(
    records=TASTE,
    work=_refresh_one,
    last_done=lambda record: record.refreshed_at,
    due=lambda record, now: record.due(now),
)


def run_taste(
    store: Store, settings: Settings, *, now: datetime | None = None, **api_options: Any
) -> dict[str, object]:
    """One daily run under its own lease (two at once would read the same people twice)."""
    return run_for_people(
        store,
        settings,
        collect,
        lease_name=TASTE_LEASE_NAME,
        lease_deadline=TASTE_LEASE_DEADLINE,
        now=now,
        **api_options,
    )
