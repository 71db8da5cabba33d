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
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from etl.people_run import PeopleSummary, PersonJob, PersonWork, collector, run_for_people
from etl.scheduled import schedule, stopped_words
from shared.config import Settings
from shared.listening import (
    LISTENING,
    PAGE_LIMIT,
    Gap,
    ListeningRecord,
    with_gap,
)
from shared.plays import (
    PlaysFileError,
    parse_recently_played,
    played_at_ms,
)
from shared.plays_append import append_plays
from shared.storage import Store

logger = logging.getLogger(__name__)

MAX_PAGES = 4  # after a full page, follow `next` this far (Spotify keeps 50 plays in all)
# App Engine ends a cron request after 10 minutes; stop starting people well before that. Those
# left are read first next hour (oldest read first).
DEFAULT_TIME_BUDGET_SECONDS = 480.0
PLAYS_LEASE_DEADLINE = timedelta(minutes=30)  # a run lasts minutes; a dead one frees it soon
DAMAGED_FILE_PROBLEM = (
    "A file of your saved history could not be read, so new plays could not be added to it; "
    "nothing was overwritten. Download your history and tell the person who runs this site."
)


@dataclass
class PlaysSummary(PeopleSummary):
    """What one hourly run did, for its answer and its log line."""

    read: int = 0
    plays_added: int = 0
    doubles: int = 0
    items_skipped: Counter[str] = field(default_factory=Counter)
    gaps_found: int = 0

    def as_report(self) -> dict[str, Any]:
        report = asdict(self)
        report["items_skipped"] = dict(self.items_skipped)
        return report


def _collect_one(work: PersonWork[ListeningRecord, PlaysSummary]) -> None:
    """Read one person's new plays from their cursor, append them, move the cursor."""
    store, record, summary, api = work.store, work.record, work.summary, work.grant.api
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
    work.writes.check()  # deleted meanwhile: swept again, and the cursor is not moved
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
            last_read_at=work.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            last_added=added,
            collected_total=current.collected_total + added,
            problem="",
        )
        return with_gap(changed, gap) if gap else changed

    LISTENING.update(store, record.user_id, moved)


def _note_damaged(store: Store, user_id: str, error: Exception) -> None:
    """A file of the person's history is damaged: never overwritten; their page says so."""
    if isinstance(error, PlaysFileError):
        LISTENING.update(store, user_id, lambda r: replace(r, problem=DAMAGED_FILE_PROBLEM))


PLAYS_JOB = PersonJob(
    records=LISTENING,
    work=_collect_one,
    last_done=lambda record: record.last_read_at,
    on_failure=_note_damaged,
)
# collect_everyone(store, settings, ledger, *, now, ...): every active person's new plays.
collect_everyone = collector(PLAYS_JOB, PlaysSummary, ("recently_played",))


def _iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def run_plays(
    store: Store, settings: Settings, *, now: datetime | None = None, **api_options: Any
) -> dict[str, object]:
    """One hourly run under its own lease (two at once would read the same cursors)."""
    from etl.lease import PLAYS_LEASE_NAME

    return run_for_people(
        store,
        settings,
        collect_everyone,
        lease_name=PLAYS_LEASE_NAME,
        lease_deadline=PLAYS_LEASE_DEADLINE,
        now=now,
        **api_options,
    )


def _describe(report: dict[str, Any]) -> str:
    return (
        f"plays: {report['read']} of {report['people']} people read, "
        f"{report['plays_added']} new plays, {report['newly_paused']} paused, "
        f"{report['failed']} failed{stopped_words(report)}"
    )


schedule("plays", "read every opted-in person's new plays (hourly)", run_plays, _describe)
