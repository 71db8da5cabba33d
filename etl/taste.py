"""The daily taste job: each person's top and followed artists, read again when a day old.

Only people who turned taste on are read, with the grant they left, and only when their profile
is due (`TasteRecord.due`): a profile read by "Refresh now" this morning costs nothing tonight.
One person's failure never stops another's; a refused grant pauses that person, with a reason
their Taste page shows; a spent quota stops the run, and the people left are read tomorrow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from etl.people_run import (
    PeopleSummary,
    PersonJob,
    PersonWork,
    collector,
    run_for_people,
)
from etl.scheduled import schedule, stopped_words
from shared.config import Settings
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
# collect(store, settings, ledger, *, now, ...): every due profile read again.
collect = collector(TASTE_JOB, TasteSummary, REQUEST_KINDS)


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


def _describe(report: dict[str, Any]) -> str:
    return (
        f"taste: {report['refreshed']} of {report['people']} people refreshed, "
        f"{report['not_due']} not due, {report['newly_paused']} paused, "
        f"{report['failed']} failed, {report['requests']} Spotify requests"
        f"{stopped_words(report)}"
    )


schedule("taste", "refresh every due taste profile (daily)", run_taste, _describe)
