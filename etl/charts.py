"""The daily chart job (issue 18): one snapshot a day of every tracked playlist, and its history.

The playlists of the day are the operator's (CHART_PLAYLISTS, read with the app's own token)
and every active person's (read with their grant); a playlist several people track is read
once, with one grant, whose turns day by day (etl/chart_people.py). A playlist that has today's
snapshot costs no request, so a second run in a day changes nothing. One playlist's failure,
whatever it is, never stops the others; a refused grant pauses that person; a spent quota stops
the run, and the next run does the rest. A damaged history is rebuilt from the snapshots.

The web deletes a playlist's files without this job's lease (Stop tracking, Delete my data):
so just before writing a playlist's files the job checks that someone still tracks it, and at
the end of each run it deletes the chart folders no one tracks any more.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from etl.chart_people import (
    DEVELOPMENT_MODE_PROBLEM,
    NOT_FOUND,
    Readers,
    Refusal,
    plan_playlists,
    read_playlist,
)
from etl.chart_read import REQUEST_KIND
from etl.lease import Heartbeat, no_beat, release_lease, take_lease
from etl.people_run import run_for_people
from etl.pipeline import new_run_id
from etl.report import iso
from shared.chart_history import add_day
from shared.charts import (
    ACTIVE,
    CHART_PEOPLE,
    DAMAGED_FILE_ERRORS,
    ChartAbout,
    ChartsError,
    ChartsRecord,
    chart_folders,
    delete_chart_files,
    has_snapshot,
    load_about,
    load_checked_snapshot,
    load_history,
    playlists_kept,
    rebuild_history_skipping,
    save_about,
    save_history,
    save_snapshot,
    snapshot_days,
    snapshot_rows,
)
from shared.config import Settings
from shared.spotify import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    RequestLedger,
    SpotifyError,
    SpotifyShapeError,
)
from shared.storage import IF_ABSENT, StorageError, Store

logger = logging.getLogger(__name__)
__all__ = [
    "DEVELOPMENT_MODE_PROBLEM",  # the web's tests say it: kept here, where it always was
    "ChartsSummary",
    "add_to_history",
    "collect",
    "plan_playlists",
    "rebuild_charts",
    "run_charts",
]

CHARTS_LEASE_NAME = "locks/charts"  # its own: the build, plays and taste never wait for it
CHARTS_LEASE_DEADLINE = timedelta(minutes=30)
# App Engine ends a cron request after 10 minutes; playlists left are read on the next run.
DEFAULT_TIME_BUDGET_SECONDS = 480.0
SNAPSHOT, ALREADY, FAILED = "snapshot", "already", "failed"
UNTRACKED = "untracked"  # no one tracks it any more: nothing written

FAILED_PROBLEM = "Today's snapshot could not be taken: {reason}. The next run tries again."
HISTORY_PROBLEM = (
    "Today's snapshot was saved, but the history could not be brought up to date: {reason}. "
    "The next run rebuilds it from the snapshots."
)
DAMAGED_SNAPSHOTS_PROBLEM = (
    "The stored snapshot of {days} could not be read, so the history leaves that day out."
)
FAILURES = {  # a failure's reason in the report, and in plain words for the page
    "bad_answer": "Spotify answered in a shape we could not read",
    "spotify_unavailable": "Spotify kept failing",
    "storage": "its files could not be read or written",
    "bad_data": "a stored file of this chart could not be read",
}


@dataclass
class ChartsSummary:
    """What one daily run did, for its answer, its report and its log line."""

    day: str = ""
    playlists: int = 0
    snapshotted: int = 0
    already: int = 0
    failed: int = 0
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    skipped_items: Counter[str] = field(default_factory=Counter)
    people: int = 0
    waiting_for_sign_in: int = 0
    newly_paused: int = 0
    taken_off_records: int = 0  # playlists taken off a person who no longer owns them
    untracked: int = 0  # playlists no one tracked any more by the time they were written
    swept: int = 0  # chart folders no one tracks, deleted at the end of the run
    history_failed: int = 0  # snapshots saved whose history could not be brought up to date
    damaged_snapshots: int = 0  # snapshots left out of a rebuilt history
    left_for_next_run: int = 0
    stopped: str = ""
    requests: int = 0
    requests_by_playlist: dict[str, int] = field(default_factory=dict)

    def as_report(self) -> dict[str, object]:
        report = asdict(self)
        report["failed_by_reason"] = dict(self.failed_by_reason)
        report["skipped_items"] = dict(self.skipped_items)
        report["stopped_quota"] = self.stopped == "quota"
        return report


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
) -> ChartsSummary:
    """Take today's snapshot of every tracked playlist that has none yet."""
    day = now.astimezone(UTC).date().isoformat()
    summary = ChartsSummary(day=day)
    people = _load_people(store, summary)
    readers = Readers(store, settings, ledger, people, api_options)
    plan = plan_playlists(
        settings.chart_playlists, people, rotation=date.fromisoformat(day).toordinal()
    )
    started = clock()
    try:
        for playlist_id, who in plan.items():
            beat()  # renews the run's lease (etl/people_run.py)
            summary.playlists += 1
            spent_before = ledger.by_kind[REQUEST_KIND]
            try:
                if has_snapshot(store, playlist_id, day):
                    status = _heal_already(store, settings, playlist_id, day, summary)
                elif _not_found_today(store, playlist_id, day):
                    status = NOT_FOUND  # a 404 holds all day: asking again spends the quota
                elif clock() - started > time_budget_seconds:
                    summary.left_for_next_run += 1
                    continue
                else:
                    status = _snapshot_one(
                        store, settings, playlist_id, who, readers, now=now, summary=summary
                    )
            except (QuotaExhaustedError, BudgetExhaustedError) as stop:
                summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
                logger.warning(
                    "charts stopped: no Spotify requests left", extra={"reason": str(stop)}
                )
                break
            except Exception as error:  # one playlist's trouble, whatever it is, stays its own
                status, reason = FAILED, _failure_reason(error)
                logger.exception(
                    "a chart snapshot failed",
                    extra={
                        "playlist_id": playlist_id,
                        "error": f"{type(error).__name__}: {error}",
                    },
                )
                problem = FAILED_PROBLEM.format(reason=FAILURES[reason])
                _note(store, settings, playlist_id, day, status=FAILED, problem=problem)
                summary.failed_by_reason[reason] += 1
            finally:
                spent = ledger.by_kind[REQUEST_KIND] - spent_before
                summary.requests_by_playlist[playlist_id] = spent
            _count(summary, status)
    finally:
        readers.finish()
    summary.swept = _sweep_untracked(store, settings)
    summary.newly_paused = len(readers.paused)
    summary.taken_off_records = len(readers.dropped)
    summary.requests = ledger.by_kind[REQUEST_KIND]
    logger.info("charts collected", extra={"summary": summary.as_report()})
    return summary


def _not_found_today(store: Store, playlist_id: str, day: str) -> bool:
    """Tell whether Spotify answered 404 for this playlist already today (a Top 50 in
    Development Mode, a deleted playlist): the next day's run asks again."""
    about = load_about(store, playlist_id)
    return about.last_run_day == day and about.last_status == NOT_FOUND


def _count(summary: ChartsSummary, status: str) -> None:
    if status == SNAPSHOT:
        summary.snapshotted += 1
    elif status == ALREADY:
        summary.already += 1
    elif status == UNTRACKED:
        summary.untracked += 1
    else:
        summary.failed += 1
        if status != FAILED:
            summary.failed_by_reason[status] += 1


def _load_people(store: Store, summary: ChartsSummary) -> dict[str, ChartsRecord]:
    people: dict[str, ChartsRecord] = {}
    for user_id in CHART_PEOPLE.people(store):
        summary.people += 1
        try:
            loaded = CHART_PEOPLE.load(store, user_id)
        except (ChartsError, StorageError) as error:
            logger.error(
                "unreadable charts record", extra={"user_id": user_id, "error": str(error)}
            )
            summary.failed_by_reason["unreadable_record"] += 1
            continue
        if loaded is None:
            continue
        if loaded[0].status != ACTIVE:
            summary.waiting_for_sign_in += 1
        people[user_id] = loaded[0]
    return people


def still_tracked(store: Store, settings: Settings, playlist_id: str) -> bool:
    """Tell whether the operator or anyone (active or paused) still tracks a playlist.

    Asked just before its files are written: the web deletes them without this job's lease,
    so a run that loaded the people at its start must not write them back. The records are
    small and few, so reading them all again costs little.
    """
    return playlist_id in playlists_kept(store, settings.chart_playlists)


def _snapshot_one(
    store: Store,
    settings: Settings,
    playlist_id: str,
    who: list[str],
    readers: Readers,
    *,
    now: datetime,
    summary: ChartsSummary,
) -> str:
    """Read a playlist with the first reader that may; save its day; return the status."""
    day = now.astimezone(UTC).date().isoformat()
    spent_before = readers.ledger.by_kind[REQUEST_KIND]
    read = read_playlist(store, playlist_id, who, readers)
    requests = readers.ledger.by_kind[REQUEST_KIND] - spent_before
    if isinstance(read, Refusal):
        return _note(
            store,
            settings,
            playlist_id,
            day,
            status=read.status,
            problem=read.problem,
            requests=requests,
        )
    frame, skipped = snapshot_rows(read.items, captured_at=iso(now))
    if not still_tracked(store, settings, playlist_id):
        logger.info("no one tracks this chart any more", extra={"playlist_id": playlist_id})
        return UNTRACKED
    summary.skipped_items.update(skipped)
    written = save_snapshot(store, playlist_id, day, frame)
    problem = _extend_history(store, playlist_id, day, frame, summary) if written else ""
    save_about(
        store,
        ChartAbout(
            playlist_id,
            name=read.name,
            owner=read.owner,
            last_day=day,
            last_run_day=day,
            last_status=SNAPSHOT if written else ALREADY,
            problem=problem,
            tracks=len(frame),
            skipped=dict(skipped),
            requests=requests,
        ),
    )
    return SNAPSHOT if written else ALREADY


def _extend_history(
    store: Store,
    playlist_id: str,
    day: str,
    snapshot: pd.DataFrame | None,
    summary: ChartsSummary,
) -> str:
    """Bring the history up to a saved snapshot's day; return what to say of it ("" when all
    went well). Whatever goes wrong, the snapshot stays saved and is said to be."""
    try:
        damaged = add_to_history(store, playlist_id, day, snapshot)
    except Exception as error:
        logger.exception(
            "a chart's history could not be brought up to date",
            extra={"playlist_id": playlist_id, "error": f"{type(error).__name__}: {error}"},
        )
        summary.history_failed += 1
        return HISTORY_PROBLEM.format(reason=FAILURES[_failure_reason(error)])
    summary.damaged_snapshots += len(damaged)
    return DAMAGED_SNAPSHOTS_PROBLEM.format(days=", ".join(damaged)) if damaged else ""


def add_to_history(
    store: Store, playlist_id: str, day: str, snapshot: pd.DataFrame | None = None
) -> list[str]:
    """Add a day to a playlist's history (one read, one write; the day's snapshot is read from
    the store when not given). Rebuild it from the snapshots when it is out of order, when a
    snapshot before this one never reached it (a run that died between), or when it cannot be
    read or is damaged. Return the days of damaged snapshots a rebuild left out."""
    try:
        if snapshot is None:
            snapshot = load_checked_snapshot(store, playlist_id, day)
        history, generation = load_history(store, playlist_id)
        earlier = [d for d in snapshot_days(store, playlist_id) if d < day]
        previous_day = earlier[-1] if earlier else ""
        last_in_history = str(history["day"].max()) if not history.empty else ""
        if (
            previous_day > last_in_history
            and not load_checked_snapshot(store, playlist_id, previous_day).empty
        ):
            raise ValueError(f"the snapshot of {previous_day} is not in the history")
        updated = add_day(history, day, snapshot, previous_day=previous_day)
    except DAMAGED_FILE_ERRORS as error:  # ChartOrderError and HistoryDamagedError among them
        logger.warning(
            "rebuilding a chart's history from its snapshots",
            extra={"playlist_id": playlist_id, "error": f"{type(error).__name__}: {error}"},
        )
        return rebuild_history_skipping(store, playlist_id)[1]
    save_history(store, playlist_id, updated, if_generation_match=generation or IF_ABSENT)
    return []


def _heal_already(
    store: Store, settings: Settings, playlist_id: str, day: str, summary: ChartsSummary
) -> str:
    """A playlist that has today's snapshot: nothing to do, unless a run died after writing it
    (about.json does not know the day): then finish its history and about.json, no request."""
    about = load_about(store, playlist_id)
    if about.last_day == day:
        return ALREADY
    try:
        history, _ = load_history(store, playlist_id)
        missing = day not in set(history["day"].astype(str))
    except DAMAGED_FILE_ERRORS:
        missing = True  # add_to_history rebuilds it
    if not still_tracked(store, settings, playlist_id):
        return UNTRACKED
    problem = _extend_history(store, playlist_id, day, None, summary) if missing else ""
    save_about(
        store,
        replace(about, last_day=day, last_run_day=day, last_status=ALREADY, problem=problem),
    )
    return ALREADY


def _note(
    store: Store,
    settings: Settings,
    playlist_id: str,
    day: str,
    *,
    status: str,
    problem: str,
    requests: int = 0,
) -> str:
    """Say in about.json why today's snapshot was not taken (the name and last day stay);
    nothing when no one tracks the playlist any more. Return the status of the day."""
    try:
        if not still_tracked(store, settings, playlist_id):
            return UNTRACKED
        about = load_about(store, playlist_id)
        save_about(
            store,
            replace(
                about, last_run_day=day, last_status=status, problem=problem, requests=requests
            ),
        )
    except Exception:
        logger.exception("could not write a chart's about.json", extra={"playlist_id": playlist_id})
    return status


def _sweep_untracked(store: Store, settings: Settings) -> int:
    """Delete the chart folders no one tracks any more (the operator's list, every record, a
    damaged one keeping every id-like word in it); return how many. Nothing when the records
    cannot be read."""
    try:
        kept = playlists_kept(store, settings.chart_playlists)
        orphans = sorted(chart_folders(store) - kept)
        for playlist_id in orphans:
            delete_chart_files(store, playlist_id)
            logger.info("deleted an untracked chart's files", extra={"playlist_id": playlist_id})
    except StorageError:
        logger.exception("could not sweep the untracked charts")
        return 0
    return len(orphans)


def _failure_reason(error: Exception) -> str:
    if isinstance(error, SpotifyShapeError):
        return "bad_answer"
    if isinstance(error, SpotifyError):
        return "spotify_unavailable"
    if isinstance(error, StorageError):
        return "storage"
    return "bad_data"


def tracked_playlists(store: Store, settings: Settings) -> list[str]:
    """Return every playlist someone tracks (the operator, or a person, paused or not)."""
    found = dict.fromkeys(settings.chart_playlists)
    for user_id in CHART_PEOPLE.people(store):
        try:
            loaded = CHART_PEOPLE.load(store, user_id)
        except ChartsError:
            continue
        if loaded is not None:
            found.update(dict.fromkeys(p.playlist_id for p in loaded[0].playlists))
    return list(found)


def run_charts(
    store: Store, settings: Settings, *, now: datetime | None = None, **api_options: Any
) -> dict[str, object]:
    """One daily run under its own lease (two at once would read the same playlists twice)."""
    report = run_for_people(
        store,
        settings,
        collect,
        lease_name=CHARTS_LEASE_NAME,
        lease_deadline=CHARTS_LEASE_DEADLINE,
        now=now,
        **api_options,
    )
    report["kind"] = "charts"
    report["status"] = {"quota": "stopped_quota", "budget": "stopped_budget"}.get(
        str(report["stopped"]), "ok"
    )
    return report


def rebuild_charts(
    store: Store, settings: Settings, *, now: datetime | None = None
) -> dict[str, object]:
    """Rebuild every tracked playlist's history from its snapshots (no Spotify request).

    Under the daily job's lease: both write the histories.
    """
    moment = now or settings.clock.now()
    run_id = new_run_id(moment)
    lease = take_lease(
        store, run_id, now=moment, deadline=CHARTS_LEASE_DEADLINE, name=CHARTS_LEASE_NAME
    )
    heartbeat = Heartbeat(store, lease, settings.clock)
    rebuilt: dict[str, int] = {}
    failed: dict[str, str] = {}
    damaged: dict[str, list[str]] = {}
    try:
        for playlist_id in tracked_playlists(store, settings):
            heartbeat.beat()
            try:
                history, left_out = rebuild_history_skipping(store, playlist_id)
                rebuilt[playlist_id] = int(history["day"].nunique())
                if left_out:
                    damaged[playlist_id] = left_out
            except Exception as error:
                failed[playlist_id] = f"{type(error).__name__}: {error}"
                logger.error(
                    "a chart history could not be rebuilt", extra={"playlist_id": playlist_id}
                )
    finally:
        release_lease(store, heartbeat.lease)
    return {
        "run_id": run_id,
        "kind": "charts-rebuild",
        "days_by_playlist": rebuilt,
        "failed": failed,
        "damaged_snapshots": damaged,
    }
