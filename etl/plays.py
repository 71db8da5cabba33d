"""The hourly listening-history job: each opted-in person's new plays, from the cursor kept.

Spotify keeps only a person's last 50 plays reachable (`GET /me/player/recently-played`), so the
job reads each person once an hour with the `after` cursor it kept: one request when there is
nothing new. A full page means more than 50 plays may have happened since the last read; the
job follows `next` a few pages and, when the oldest play it got is still newer than the cursor,
records a gap the person sees on their Listening page.

Plays are appended first and the cursor moved after: a crash in between reads the same plays
again next hour, and the merge (shared/plays.py) keeps them once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from etl.lease import PLAYS_LEASE_NAME, no_beat
from shared.config import Settings
from shared.listening import (
    ACTIVE,
    NEEDS_SIGN_IN,
    PAGE_LIMIT,
    Gap,
    ListeningRecord,
    ListeningRecordError,
    listening_users,
    load_record,
    update_record,
    with_gap,
)
from shared.plays import (
    PlaysFileError,
    parse_recently_played,
    played_at_ms,
)
from shared.plays_append import append_plays, undo_if_deleting
from shared.spotify import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    RequestLedger,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    StoredGrant,
)
from shared.storage import ConflictError, Store
from shared.tokens import TokenBox, TokenDecryptError

logger = logging.getLogger(__name__)

MAX_PAGES = 4  # after a full page, follow `next` this far (Spotify keeps 50 plays in all)
# App Engine ends a cron request after 10 minutes; stop starting people well before that. Those
# left are read first next hour (oldest read first).
DEFAULT_TIME_BUDGET_SECONDS = 480.0
PLAYS_LEASE_DEADLINE = timedelta(minutes=30)  # a run lasts minutes; a dead one frees it soon
REVOKED_REASON = (
    "Spotify no longer accepts the permission you gave us to read your plays (it was revoked or "
    "expired), so collection is paused."
)
SCOPE_LOST_REASON = (
    "Spotify says the sign-in we hold may not read your plays any more, so collection is paused."
)
DAMAGED_FILE_PROBLEM = (
    "A file of your saved history could not be read, so new plays could not be added to it; "
    "nothing was overwritten. Download your history and tell the person who runs this site."
)
KEY_ROTATED_REASON = (
    "Local Shows changed its encryption key, so the permission you gave us can no longer be read; "
    "collection is paused."
)


@dataclass
class PlaysSummary:
    """What one hourly run did, for its answer and its log line."""

    users: int = 0
    read: int = 0
    plays_added: int = 0
    doubles: int = 0
    items_skipped: Counter[str] = field(default_factory=Counter)
    waiting_for_sign_in: int = 0
    newly_paused: int = 0
    failed: int = 0
    gaps_found: int = 0
    left_for_next_hour: int = 0
    stopped: str = ""
    requests: int = 0

    def as_report(self) -> dict[str, object]:
        report = asdict(self)
        report["items_skipped"] = dict(self.items_skipped)
        return report


def collect_everyone(
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    *,
    now: datetime,
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    beat: Callable[[], None] = no_beat,
    **api_options: object,
) -> PlaysSummary:
    """Read every active person's new plays; one person's failure never stops another's."""
    summary = PlaysSummary()
    box = TokenBox(settings.token_encryption_key)
    started = clock()
    for user_id, record in _due_first(store):
        beat()  # renews the run's lease (etl/people_run.py)
        summary.users += 1
        if record is None:
            summary.failed += 1
            continue
        if record.status != ACTIVE:
            summary.waiting_for_sign_in += 1
            continue
        if clock() - started > time_budget_seconds:
            summary.left_for_next_hour += 1
            continue
        try:
            _collect_one(
                store,
                settings=settings,
                box=box,
                ledger=ledger,
                record=record,
                now=now,
                summary=summary,
                api_options=api_options,
            )
        except (QuotaExhaustedError, BudgetExhaustedError) as stop:
            summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
            logger.warning("plays stopped: no Spotify requests left", extra={"reason": str(stop)})
            break
        except SpotifyRefusedError as error:
            if error.status not in (401, 403):
                summary.failed += 1
                logger.error("plays failed", extra={"user_id": user_id, "error": str(error)})
                continue
            _pause(store, user_id, REVOKED_REASON if error.status == 401 else SCOPE_LOST_REASON)
            summary.newly_paused += 1
        except TokenDecryptError:
            _pause(store, user_id, KEY_ROTATED_REASON)
            summary.newly_paused += 1
        except PlaysFileError as error:
            # One of the person's files is damaged: never overwrite it; tell them on their page.
            summary.failed += 1
            logger.error("plays failed", extra={"user_id": user_id, "error": str(error)})
            _note_problem(store, user_id, DAMAGED_FILE_PROBLEM)
        except (SpotifyError, ListeningRecordError, ConflictError, ValueError) as e:
            summary.failed += 1
            logger.error(
                "plays failed", extra={"user_id": user_id, "error": f"{type(e).__name__}: {e}"}
            )
    summary.requests = ledger.by_kind["recently_played"]
    logger.info("plays collected", extra={"summary": summary.as_report()})
    return summary


def _due_first(store: Store) -> list[tuple[str, ListeningRecord | None]]:
    """Every person with history on, the one read longest ago first (None: unreadable record)."""
    from etl.people_run import oldest_first

    return oldest_first(
        listening_users(store),
        lambda user_id: load_record(store, user_id),
        ListeningRecordError,
        lambda record: record.last_read_at,
        "listening",
    )


def _collect_one(
    store: Store,
    *,
    settings: Settings,
    box: TokenBox,
    ledger: RequestLedger,
    record: ListeningRecord,
    now: datetime,
    summary: PlaysSummary,
    api_options: dict[str, object],
) -> None:
    # Read the record again right before reading Spotify: the person may have turned history
    # off, or be deleting it, since the run started.
    current = load_record(store, record.user_id)
    if current is None or current[0].status != ACTIVE:
        summary.waiting_for_sign_in += current is not None
        return
    record = current[0]
    refresh_token = str(box.open(record.sealed_refresh_token).get("refresh_token", ""))
    grant = StoredGrant(settings, refresh_token)
    api = SpotifyApi.for_stored_grant(settings, grant, ledger, **api_options)
    pages = []
    after = record.cursor_ms or None
    for _ in range(MAX_PAGES):
        page = parse_recently_played(api.recently_played(after))
        pages.append(page)
        summary.items_skipped.update(page.skipped)
        # A full page may not be all: read on from its newest play (Spotify's `after` cursor).
        if page.count < PAGE_LIMIT or not page.after_ms or page.after_ms == after:
            break
        after = page.after_ms
    summary.read += 1
    added = 0
    for page in pages:  # page by page: a play repeated on the next page is merged, not added
        if len(page.plays):
            appended = append_plays(store, record.user_id, page.plays)
            added += appended.added
            summary.doubles += appended.doubles
    summary.plays_added += added
    if added and undo_if_deleting(store, record.user_id):
        return
    items = sum(p.count for p in pages)  # episodes and removed tracks take places too
    times = sorted(t for p in pages for t in p.plays["played_at"])
    gap = None
    if (
        record.cursor_ms
        and items >= PAGE_LIMIT
        and times
        and played_at_ms(times[0]) > record.cursor_ms
    ):
        # The oldest play Spotify still had is newer than the last one we kept: any plays in
        # between are gone from the API (it keeps 50). Say so rather than guess.
        gap = Gap(_iso_ms(record.cursor_ms), times[0])
        summary.gaps_found += 1
    cursors = [p.after_ms for p in pages if p.after_ms]
    newest = max([record.cursor_ms, *cursors, *(played_at_ms(t) for t in times[-1:])])

    def moved(current: ListeningRecord) -> ListeningRecord:
        changed = replace(
            current,
            cursor_ms=max(current.cursor_ms, newest),
            last_read_at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            last_added=added,
            collected_total=current.collected_total + added,
            problem="",
        )
        if grant.refresh_token != refresh_token:  # Spotify rotated it: keep the newest
            changed = replace(
                changed, sealed_refresh_token=box.seal({"refresh_token": grant.refresh_token})
            )
        return with_gap(changed, gap) if gap else changed

    update_record(store, record.user_id, moved)


def _note_problem(store: Store, user_id: str, problem: str) -> None:
    try:
        update_record(store, user_id, lambda r: replace(r, problem=problem))
    except (ListeningRecordError, ConflictError):
        logger.exception("could not note a person's problem", extra={"user_id": user_id})


def _pause(store: Store, user_id: str, reason: str) -> None:
    update_record(store, user_id, lambda r: replace(r, status=NEEDS_SIGN_IN, status_reason=reason))
    logger.warning("a person's history collection is paused", extra={"user_id": user_id})


def _iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def run_plays(
    store: Store, settings: Settings, *, now: datetime | None = None, **api_options: Any
) -> dict[str, object]:
    """One hourly run under its own lease (two at once would read the same cursors)."""
    from etl.people_run import run_for_people

    return run_for_people(
        store,
        settings,
        collect_everyone,
        lease_name=PLAYS_LEASE_NAME,
        lease_deadline=PLAYS_LEASE_DEADLINE,
        now=now,
        **api_options,
    )
