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
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from etl.lease import no_beat
from etl.people_run import run_for_people
from shared.config import Settings
from shared.spotify import BudgetExhaustedError, QuotaExhaustedError, RequestLedger, SpotifyError
from shared.storage import ConflictError, Store
from shared.taste import ACTIVE, TasteError, TasteRecord, load_taste, taste_users
from shared.taste_read import REQUEST_KINDS, pause_reason, pause_taste, refresh_taste
from shared.tokens import TokenDecryptError

logger = logging.getLogger(__name__)

TASTE_LEASE_NAME = "locks/taste"  # its own: the build's and the plays job's never wait for it
TASTE_LEASE_DEADLINE = timedelta(minutes=30)
# App Engine ends a cron request after 10 minutes; people left are read first tomorrow.
DEFAULT_TIME_BUDGET_SECONDS = 480.0


@dataclass
class TasteSummary:
    """What one daily run did, for its answer and its log line."""

    people: int = 0
    refreshed: int = 0
    skipped_not_due: int = 0
    waiting_for_sign_in: int = 0
    paused: int = 0
    failed: int = 0
    left_for_next_run: int = 0
    stopped: str = ""
    requests: int = 0

    def as_report(self) -> dict[str, object]:
        return asdict(self)


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
    summary = TasteSummary()
    started = clock()
    for user_id, record in _oldest_first(store):
        beat()  # renews the run's lease (etl/people_run.py)
        summary.people += 1
        if record is None:
            summary.failed += 1
            continue
        if record.status != ACTIVE:
            summary.waiting_for_sign_in += 1
            continue
        if not record.due(now):
            summary.skipped_not_due += 1
            continue
        if clock() - started > time_budget_seconds:
            summary.left_for_next_run += 1
            continue
        try:
            _refresh_one(
                store,
                user_id,
                settings=settings,
                ledger=ledger,
                now=now,
                summary=summary,
                api_options=api_options,
            )
        except (QuotaExhaustedError, BudgetExhaustedError) as stop:
            summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
            logger.warning("taste stopped: no Spotify requests left", extra={"reason": str(stop)})
            break
        except (SpotifyError, TokenDecryptError) as error:
            reason = pause_reason(error)
            if not reason:
                summary.failed += 1
                logger.error("taste failed", extra={"user_id": user_id, "error": str(error)})
                continue
            _pause(store, user_id, reason, summary)
        except (TasteError, ConflictError) as error:
            summary.failed += 1
            logger.error("taste failed", extra={"user_id": user_id, "error": str(error)})
    summary.requests = sum(ledger.by_kind[kind] for kind in REQUEST_KINDS)
    logger.info("taste collected", extra={"summary": summary.as_report()})
    return summary


def _oldest_first(store: Store) -> list[tuple[str, TasteRecord | None]]:
    """Every person with taste on, the profile read longest ago first (None: unreadable)."""
    from etl.people_run import oldest_first

    return oldest_first(
        taste_users(store),
        lambda user_id: load_taste(store, user_id),
        TasteError,
        lambda record: record.refreshed_at,
        "taste",
    )


def _refresh_one(
    store: Store,
    user_id: str,
    *,
    settings: Settings,
    ledger: RequestLedger,
    now: datetime,
    summary: TasteSummary,
    api_options: dict[str, Any],
) -> None:
    # Read the record again right before Spotify: the person may have turned taste off, or
    # pressed "Refresh now", since the run started.
    current = load_taste(store, user_id)
    if current is None or not current[0].due(now):
        summary.skipped_not_due += current is not None
        return
    if refresh_taste(store, settings, current[0], now=now, ledger=ledger, **api_options):
        summary.refreshed += 1


def _pause(store: Store, user_id: str, reason: str, summary: TasteSummary) -> None:
    try:
        pause_taste(store, user_id, reason)
    except (TasteError, ConflictError):
        summary.failed += 1
        logger.exception("could not pause a person's taste", extra={"user_id": user_id})
        return
    summary.paused += 1


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
