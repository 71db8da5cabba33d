"""One per-person job runner: the hourly plays, the daily taste, the weekly backups and the
saved areas' refresh each say what one person's work is; this runs it for everyone.

For each person with the job's record, the one served longest ago first:
- an unreadable record is counted as failed (and logged); a paused one waits for its person;
- one not due (`PersonJob.due`) is skipped; past the time budget, the rest wait for next run;
- the record is read again right before Spotify (the person may have turned the feature off
  or deleted it meanwhile), the sealed grant is opened (`shared.people.grants.OpenGrant`), the
  work runs, and a refresh token Spotify rotated is kept if the person gave no newer grant;
- a refused grant pauses the person with one of the grants module's reasons; a spent quota or
  budget stops the run; any other failure is that person's alone, counted, and the next goes on;
- the work holds a `Writes` of the deletion protocol: whatever happened, a delete that came
  meanwhile is finished (swept again) before the next person.

Each job also runs under a lease of its own name (`run_for_people`): two runs at once would
serve the same people twice, and the build, the plays and the taste never wait for one another.
The runner beats the lease before each person (etl/lease.py), so that a run killed midway frees
it minutes later, not at its deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from etl.lease import Heartbeat, no_beat, release_lease, take_lease
from shared.config import Settings
from shared.people.deletion import PersonDeletedError, Writes, forget_old_tombstones
from shared.people.grants import ACTIVE, SCOPE_LOST, G, OpenGrant, pause, pause_reason
from shared.people.records import PersonRecords, RecordError
from shared.spotify import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    RequestLedger,
    SpotifyError,
)
from shared.storage import ConflictError, StorageError, Store
from shared.tokens import TokenDecryptError

logger = logging.getLogger(__name__)
R = TypeVar("R")
# App Engine ends a cron request after 10 minutes; stop starting people well before that. Those
# left are served first next run (oldest first).
DEFAULT_TIME_BUDGET_SECONDS = 480.0


@dataclass
class PeopleSummary:
    """What every per-person run counts (each job's summary adds its own figures)."""

    people: int = 0
    not_due: int = 0
    waiting_for_sign_in: int = 0
    newly_paused: int = 0
    failed: int = 0
    deleted_meanwhile: int = 0  # the person deleted the feature's data while it ran
    left_for_next_run: int = 0
    stopped: str = ""  # "" | quota | budget
    requests: int = 0  # the Spotify requests the job's own work made

    def as_report(self) -> dict[str, Any]:
        return asdict(self)


S = TypeVar("S", bound=PeopleSummary)


@dataclass
class PersonWork(Generic[G, S]):
    """One person's work, as a job's `work` gets it."""

    store: Store
    settings: Settings
    record: G  # as read right before the work
    grant: OpenGrant[G]
    now: datetime
    summary: S
    writes: Writes


@dataclass(frozen=True)
class PersonJob(Generic[G, S]):
    """A per-person job: its feature's records, and what one person's work is."""

    records: PersonRecords[G]
    work: Callable[[PersonWork[G, S]], None]
    last_done: Callable[[G], str]  # the person served longest ago goes first
    due: Callable[[G, datetime], bool] = lambda record, now: True
    forbidden: str = SCOPE_LOST  # what a 403 means to the job ("": not the grant's fault)
    # Said after a failure of the person's own files (e.g. a damaged month), for their page.
    on_failure: Callable[[Store, str, Exception], None] | None = None
    who: Callable[[Store], Iterable[str]] | None = None  # default: everyone with a record


def serve_people(
    job: PersonJob[G, S],
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    summary: S,
    *,
    now: datetime,
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    beat: Callable[[], None] = no_beat,
    **api_options: Any,
) -> S:
    """Serve every person the job has, oldest first; return the summary, counted. `beat`
    renews the run's lease before each person (LeaseLostError when another run took it)."""
    started = clock()
    people = job.who(store) if job.who else job.records.people(store)
    for user_id, record in oldest_first(store, job.records, people, job.last_done):
        beat()
        summary.people += 1
        if record is None:
            summary.failed += 1
        elif record.status != ACTIVE:
            summary.waiting_for_sign_in += 1
        elif not job.due(record, now):
            summary.not_due += 1
        elif clock() - started > time_budget_seconds:
            summary.left_for_next_run += 1
        elif not _serve_one(
            job,
            store,
            settings,
            user_id,
            ledger=ledger,
            summary=summary,
            now=now,
            options=api_options,
        ):
            break
    return summary


def collector(
    job: PersonJob[G, S], new_summary: Callable[[], S], request_kinds: tuple[str, ...]
) -> Callable[..., S]:
    """Return a job's `collect(store, settings, ledger, *, now, ...)`: every person served,
    the requests of `request_kinds` counted, the summary logged."""

    def collect(
        store: Store,
        settings: Settings,
        ledger: RequestLedger,
        *,
        now: datetime,
        **options: Any,
    ) -> S:
        summary = serve_people(job, store, settings, ledger, new_summary(), now=now, **options)
        summary.requests = sum(ledger.by_kind[kind] for kind in request_kinds)
        logger.info(f"{job.records.feature} collected", extra={"summary": summary.as_report()})
        return summary

    return collect


def _serve_one(
    job: PersonJob[G, S],
    store: Store,
    settings: Settings,
    user_id: str,
    *,
    ledger: RequestLedger,
    summary: S,
    now: datetime,
    options: dict[str, Any],
) -> bool:
    """Serve one person; False when the run must stop (no Spotify requests left)."""
    writes = Writes(store, user_id, settings, feature=job.records.feature)
    grant: OpenGrant[G] | None = None
    try:
        current = job.records.load(store, user_id)
        if current is None or current[0].status != ACTIVE or not job.due(current[0], now):
            summary.not_due += current is not None
            return True
        grant = OpenGrant(settings, current[0], ledger, **options)
        job.work(PersonWork(store, settings, current[0], grant, now, summary, writes))
    except (QuotaExhaustedError, BudgetExhaustedError) as stop:
        summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
        logger.warning(
            f"{job.records.feature} stopped: no Spotify requests left", extra={"reason": str(stop)}
        )
        return False
    except (SpotifyError, TokenDecryptError) as error:
        reason = pause_reason(error, forbidden=job.forbidden)
        if reason and _paused(store, job.records, user_id, reason):
            summary.newly_paused += 1
            grant = None  # a refused grant is not kept
        else:
            _failed(job, store, summary, user_id, error)
    except PersonDeletedError:
        summary.deleted_meanwhile += 1
        grant = None
    except (RecordError, ConflictError, StorageError, ValueError) as error:
        _failed(job, store, summary, user_id, error)
    except Exception as error:  # a person's own files may fail in ways nobody foresaw
        if job.on_failure is None:
            raise
        _failed(job, store, summary, user_id, error)
    finally:
        if writes.finish():
            summary.deleted_meanwhile += 1
        elif grant is not None:
            _keep_rotated(store, job.records, user_id, grant)
    return True


def _paused(store: Store, records: PersonRecords[G], user_id: str, reason: str) -> bool:
    try:
        pause(store, records, user_id, reason)
    except (RecordError, ConflictError, StorageError):
        logger.exception("could not pause a person", extra={"user_id": user_id})
        return False
    return True


def _failed(job: PersonJob[G, S], store: Store, summary: S, user_id: str, error: Exception) -> None:
    summary.failed += 1
    logger.error(
        f"{job.records.feature} failed for a person",
        extra={"user_id": user_id, "error": f"{type(error).__name__}: {error}"},
    )
    if job.on_failure is not None:
        try:
            job.on_failure(store, user_id, error)
        except (RecordError, ConflictError, StorageError):
            logger.exception("could not note a person's problem", extra={"user_id": user_id})


def _keep_rotated(
    store: Store, records: PersonRecords[G], user_id: str, grant: OpenGrant[G]
) -> None:
    try:
        grant.keep_rotated(store, records, user_id)
    except (RecordError, ConflictError, StorageError):
        logger.exception("could not keep a rotated refresh token", extra={"user_id": user_id})


def oldest_first(
    store: Store,
    records: PersonRecords[G],
    user_ids: Iterable[str],
    last_done: Callable[[G], str],
) -> list[tuple[str, G | None]]:
    """Return each person's record, the one served longest ago first; None for a record that
    cannot be read (logged), so that the job counts it and goes on to the next person."""
    found: list[tuple[str, G | None]] = []
    for user_id in user_ids:
        try:
            loaded = records.load(store, user_id)
        except (RecordError, StorageError) as error:
            logger.error(
                f"unreadable {records.feature} record",
                extra={"user_id": user_id, "error": str(error)},
            )
            found.append((user_id, None))
            continue
        if loaded is not None:
            found.append((user_id, loaded[0]))
    return sorted(found, key=lambda item: last_done(item[1]) if item[1] is not None else "")


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
    from etl.pipeline import new_run_id

    moment = now or settings.clock.now()
    run_id = new_run_id(moment)
    lease = take_lease(store, run_id, now=moment, deadline=lease_deadline, name=lease_name)
    heartbeat = Heartbeat(store, lease, settings.clock)
    try:
        ledger = RequestLedger(budget=settings.spotify_request_budget)
        summary = collect(store, settings, ledger, now=moment, beat=heartbeat.beat, **api_options)
        forgotten = forget_old_tombstones(store, moment)
    finally:
        release_lease(store, heartbeat.lease)
    stale = lease.stale_holder
    report: dict[str, object] = {
        "run_id": run_id,
        "status": "ok",
        "took_over_stale_lease_of": lease.took_over_from,
        "took_over_stale_lease": stale.as_report() if stale else None,
        **summary.as_report(),
    }
    if forgotten:
        report["tombstones_forgotten"] = forgotten
    return report
