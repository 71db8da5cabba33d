"""The daily chart job (issue 18): one snapshot a day of every tracked playlist, and its history.

The playlists of the day are the operator's (CHART_PLAYLISTS, read with the app's own token)
and every active person's (read with their grant); a playlist several people track is read
once, with the first grant that works. A playlist that has today's snapshot costs no request,
so a second run in a day changes nothing. One playlist's failure never stops the others; a
refused grant pauses that person; a spent quota stops the run, and the next run does the rest.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from etl.chart_read import (
    KEY_ROTATED_REASON,
    OPERATOR,
    REQUEST_KIND,
    REVOKED_REASON,
    ChartRead,
    Readers,
    fetch_chart_playlist,
)
from etl.lease import release_lease, take_lease
from etl.people_run import run_for_people
from etl.pipeline import new_run_id
from etl.report import iso, load_latest_report
from shared.chart_history import ChartOrderError, add_day
from shared.charts import (
    ACTIVE,
    ChartAbout,
    ChartsError,
    ChartsRecord,
    chart_people,
    has_snapshot,
    load_about,
    load_charts_record,
    load_history,
    load_snapshot,
    rebuild_history,
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
    SpotifyRefusedError,
    SpotifyShapeError,
)
from shared.storage import IF_ABSENT, StorageError, Store
from shared.tokens import TokenDecryptError

logger = logging.getLogger(__name__)

CHARTS_LEASE_NAME = "locks/charts"  # its own: the build, plays and taste never wait for it
CHARTS_LEASE_DEADLINE = timedelta(minutes=30)
# App Engine ends a cron request after 10 minutes; playlists left are read on the next run.
DEFAULT_TIME_BUDGET_SECONDS = 480.0
SNAPSHOT, ALREADY, REFUSED, NOT_FOUND, FAILED = (
    "snapshot",
    "already",
    "refused",
    "not_found",
    "failed",
)

DEVELOPMENT_MODE_PROBLEM = (
    "Spotify answers 404 (not found) when this app reads this playlist. Spotify-owned playlists "
    "such as the Top 50 and Viral 50 answer 404 to apps in Development Mode since 27 November "
    "2024: tracking them needs Extended Quota, which this app does not have."
)
NOT_FOUND_PROBLEM = (
    "Spotify says this playlist does not exist (it was deleted, or the id is wrong)."
)
NOT_YOURS_PROBLEM = (
    "Spotify no longer shows this playlist's tracks to the person who tracks it: they no longer "
    "own it or collaborate on it (Spotify shows a playlist's tracks only to those)."
)
APP_REFUSED_PROBLEM = (
    "Spotify refuses this playlist's tracks to the app's own token: in Development Mode an app "
    "reads only the playlists a signed-in person owns or collaborates on."
)
SIGN_IN_PROBLEM = (
    "The person who tracks this playlist must sign in again: Spotify no longer accepts the "
    "permission they gave."
)
FAILED_PROBLEM = "Today's snapshot could not be taken: {reason}. The next run tries again."
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


def plan_playlists(
    operator_playlists: tuple[str, ...], people: dict[str, ChartsRecord]
) -> dict[str, list[str]]:
    """Return each playlist of the day and who may read it, in order: the operator's app token
    (OPERATOR) first, then the active people who track it."""
    plan: dict[str, list[str]] = {playlist_id: [OPERATOR] for playlist_id in operator_playlists}
    for user_id, record in sorted(people.items()):
        if record.status != ACTIVE:
            continue
        for playlist in record.playlists:
            plan.setdefault(playlist.playlist_id, []).append(user_id)
    return plan


def collect(
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    *,
    now: datetime,
    time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    **api_options: Any,
) -> ChartsSummary:
    """Take today's snapshot of every tracked playlist that has none yet."""
    day = now.astimezone(UTC).date().isoformat()
    summary = ChartsSummary(day=day)
    people = _load_people(store, summary)
    readers = Readers(store, settings, ledger, people, api_options)
    started = clock()
    for playlist_id, who in plan_playlists(settings.chart_playlists, people).items():
        summary.playlists += 1
        spent_before = ledger.by_kind[REQUEST_KIND]
        try:
            if has_snapshot(store, playlist_id, day):
                status = _heal_already(store, playlist_id, day)
            elif clock() - started > time_budget_seconds:
                summary.left_for_next_run += 1
                continue
            else:
                status = _snapshot_one(store, playlist_id, who, readers, now=now, summary=summary)
        except (QuotaExhaustedError, BudgetExhaustedError) as stop:
            summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
            logger.warning("charts stopped: no Spotify requests left", extra={"reason": str(stop)})
            break
        except (SpotifyError, ChartsError, StorageError, ValueError) as error:
            status, reason = FAILED, _failure_reason(error)
            logger.error(
                "a chart snapshot failed",
                extra={"playlist_id": playlist_id, "error": f"{type(error).__name__}: {error}"},
            )
            _note(store, playlist_id, day, FAILED, FAILED_PROBLEM.format(reason=FAILURES[reason]))
            summary.failed_by_reason[reason] += 1
        finally:
            summary.requests_by_playlist[playlist_id] = ledger.by_kind[REQUEST_KIND] - spent_before
        if status == SNAPSHOT:
            summary.snapshotted += 1
        elif status == ALREADY:
            summary.already += 1
        else:
            summary.failed += 1
            if status != FAILED:
                summary.failed_by_reason[status] += 1
    readers.keep_rotated_tokens()
    summary.newly_paused = len(readers.paused)
    summary.requests = ledger.by_kind[REQUEST_KIND]
    logger.info("charts collected", extra={"summary": summary.as_report()})
    return summary


def _load_people(store: Store, summary: ChartsSummary) -> dict[str, ChartsRecord]:
    people: dict[str, ChartsRecord] = {}
    for user_id in chart_people(store):
        summary.people += 1
        try:
            loaded = load_charts_record(store, user_id)
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


def _snapshot_one(
    store: Store,
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
    status, problem = REFUSED, SIGN_IN_PROBLEM
    read: ChartRead | None = None
    for reader in who:
        if reader in readers.paused:
            continue
        try:
            read = fetch_chart_playlist(readers.api(reader), playlist_id)
            break
        except TokenDecryptError:
            readers.pause(reader, KEY_ROTATED_REASON)
        except SpotifyRefusedError as error:
            if error.status == 401 and reader != OPERATOR:
                readers.pause(reader, REVOKED_REASON)
            elif error.status == 404:
                status, problem = NOT_FOUND, _not_found_problem(store, reader)
            else:
                status = REFUSED
                problem = APP_REFUSED_PROBLEM if reader == OPERATOR else NOT_YOURS_PROBLEM
    requests = readers.ledger.by_kind[REQUEST_KIND] - spent_before
    if read is None:
        _note(store, playlist_id, day, status, problem, requests=requests)
        return status
    frame, skipped = snapshot_rows(read.items, captured_at=iso(now))
    summary.skipped_items.update(skipped)
    written = save_snapshot(store, playlist_id, day, frame)
    if written:
        add_to_history(store, playlist_id, day, frame)
    save_about(
        store,
        ChartAbout(
            playlist_id,
            name=read.name,
            owner=read.owner,
            last_day=day,
            last_run_day=day,
            last_status=SNAPSHOT if written else ALREADY,
            tracks=len(frame),
            skipped=dict(skipped),
            requests=requests,
        ),
    )
    return SNAPSHOT if written else ALREADY


def add_to_history(store: Store, playlist_id: str, day: str, snapshot: pd.DataFrame) -> None:
    """Add a day to a playlist's history (one read, one write); rebuild it when out of order,
    or when a snapshot before this one never reached the history (a run that died between)."""
    history, generation = load_history(store, playlist_id)
    earlier = [d for d in snapshot_days(store, playlist_id) if d < day]
    previous_day = earlier[-1] if earlier else ""
    last_in_history = str(history["day"].max()) if not history.empty else ""
    try:
        if (
            previous_day > last_in_history
            and not load_snapshot(store, playlist_id, previous_day).empty
        ):
            raise ChartOrderError(f"the snapshot of {previous_day} is not in the history")
        updated = add_day(history, day, snapshot, previous_day=previous_day)
    except ChartOrderError:
        rebuild_history(store, playlist_id)
        return
    save_history(store, playlist_id, updated, if_generation_match=generation or IF_ABSENT)


def _heal_already(store: Store, playlist_id: str, day: str) -> str:
    """A playlist that has today's snapshot: nothing to do, unless a run died after writing it
    (about.json does not know the day): then finish its history and about.json, no request."""
    about = load_about(store, playlist_id)
    if about.last_day == day:
        return ALREADY
    history, _ = load_history(store, playlist_id)
    if day not in set(history["day"]):
        add_to_history(store, playlist_id, day, load_snapshot(store, playlist_id, day))
    save_about(
        store,
        replace(about, last_day=day, last_run_day=day, last_status=ALREADY, problem=""),
    )
    return ALREADY


def _note(
    store: Store, playlist_id: str, day: str, status: str, problem: str, *, requests: int = 0
) -> None:
    """Say in about.json why today's snapshot was not taken (the name and last day stay)."""
    about = load_about(store, playlist_id)
    try:
        save_about(
            store,
            replace(
                about, last_run_day=day, last_status=status, problem=problem, requests=requests
            ),
        )
    except StorageError:
        logger.exception("could not write a chart's about.json", extra={"playlist_id": playlist_id})


def _not_found_problem(store: Store, reader: str) -> str:
    """A 404 to the app's token is Development Mode unless the build's probe found Extended
    Quota (the latest build report says which mode it found: no request of our own)."""
    if reader != OPERATOR:
        return NOT_FOUND_PROBLEM
    report = load_latest_report(store) or {}
    spotify = report.get("spotify")
    mode = spotify.get("mode") if isinstance(spotify, dict) else None
    return NOT_FOUND_PROBLEM if mode == "extended" else DEVELOPMENT_MODE_PROBLEM


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
    for user_id in chart_people(store):
        try:
            loaded = load_charts_record(store, user_id)
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
    moment = now or datetime.now(UTC)
    run_id = new_run_id(moment)
    lease = take_lease(
        store, run_id, now=moment, deadline=CHARTS_LEASE_DEADLINE, name=CHARTS_LEASE_NAME
    )
    rebuilt: dict[str, int] = {}
    failed: dict[str, str] = {}
    try:
        for playlist_id in tracked_playlists(store, settings):
            try:
                rebuilt[playlist_id] = int(rebuild_history(store, playlist_id)["day"].nunique())
            except (ChartsError, StorageError, ValueError) as error:
                failed[playlist_id] = f"{type(error).__name__}: {error}"
                logger.error(
                    "a chart history could not be rebuilt", extra={"playlist_id": playlist_id}
                )
    finally:
        release_lease(store, lease)
    return {
        "run_id": run_id,
        "kind": "charts-rebuild",
        "days_by_playlist": rebuilt,
        "failed": failed,
    }
