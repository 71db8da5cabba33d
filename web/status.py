"""Health check of the web service, and the status page: how the last ETL runs went, and which
leases are held now (a stale one: its run died holding it)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, current_app, render_template

from shared.config import Settings
from shared.leases import LeaseRecord, iso, load_leases
from shared.places import clock, plural
from shared.storage import StorageError, Store
from web.auth import current_user, login_required
from web.clock import utc_now
from web.data import DatasetCache, app_store

logger = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

RUNS_PREFIX = "runs/"
LATEST_REPORT = "runs/latest.json"
RUNS_SHOWN = 12

STATUS_LABELS = {
    "ok": "OK",
    "failed": "Failed",
    "stopped_quota": "Stopped: Spotify quota spent",
    "stopped_budget": "Stopped: request budget spent",
    "nothing_to_do": "Nothing to do",
}
# The weekly build fetches concerts and matches; the daily catch-up only resumes matching.
KIND_LABELS = {"build": "Build", "catch-up": "Catch-up"}

T = TypeVar("T")


class RunReportShapeError(ValueError):
    """A run report is not JSON of the shape etl/report.py writes."""


def _require(data: dict[str, Any], key: str, kind: type[T] | tuple[type[T], ...]) -> T:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise RunReportShapeError(f"{key!r} is missing or of the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise RunReportShapeError(f"{key!r} is not a finite number")  # JSON's Infinity, NaN
    return value


def _optional(data: dict[str, Any], key: str, kind: type[T] | tuple[type[T], ...]) -> T | None:
    return _require(data, key, kind) if data.get(key) is not None else None


def _counts(data: dict[str, Any], key: str) -> dict[str, int] | None:
    """Return a {name: count} field, None when absent (reports older than the field)."""
    counts = _optional(data, key, dict)
    if counts is not None and not all(
        isinstance(value, int) and not isinstance(value, bool) for value in counts.values()
    ):
        raise RunReportShapeError(f"{key!r} holds a count that is not a whole number")
    return counts


@dataclass(frozen=True)
class SourceFigures:
    """What one event source gave in a run; None where the report predates the figure."""

    name: str
    requests: int | None
    events: int | None
    rows: int | None

    @property
    def text(self) -> str:
        parts = [
            plural(count, word)
            for count, word in ((self.events, "event"), (self.rows, "row"))
            if count is not None
        ]
        if self.requests is not None:
            parts.append(plural(self.requests, "request"))
        return f"{self.name}: {', '.join(parts) or 'no figures'}"


@dataclass(frozen=True)
class RunSummary:
    """The figures of one run report the status page shows."""

    run_id: str
    status: str
    message: str
    started_at: datetime
    duration_s: float
    events: int | None  # None: the run failed before it fetched any concerts
    rows: int | None
    sources: tuple[SourceFigures, ...]
    failed_fetches: tuple[tuple[str, str, str], ...]  # (state, source, why)
    match_rate: float | None  # None: no new performer to match
    spotify_requests: int
    status_429: int
    kind: str = "build"  # reports older than catch-ups were all builds

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def started_text(self) -> str:
        return moment_text(self.started_at)

    @property
    def started_iso(self) -> str:
        return iso(self.started_at)

    @property
    def duration_text(self) -> str:
        return duration_text(self.duration_s)

    @property
    def failed_states(self) -> list[str]:
        return sorted({state for state, _, _ in self.failed_fetches})

    @property
    def match_rate_text(self) -> str:
        return "none to match" if self.match_rate is None else f"{self.match_rate:.0%}"


def moment_text(moment: datetime) -> str:
    """Return a time as "Mon, Nov 23, 2026, 6:00 AM UTC"."""
    moment = moment.astimezone(UTC)
    return f"{moment:%a, %b} {moment.day}, {moment.year}, {clock(moment)} UTC"


def duration_text(seconds_taken: float) -> str:
    """Return a duration as "12 s", "12 min 34 s" or "2 h 5 min"."""
    seconds = round(seconds_taken)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass(frozen=True)
class HeldLease:
    """A lease under locks/ as the status page shows it, at the page's "now"."""

    name: str
    record: LeaseRecord | None  # None: it cannot be read (the next run takes it over)
    now: datetime

    @property
    def stale(self) -> bool:
        return self.record is None or self.record.is_stale(self.now)

    @property
    def element_id(self) -> str:
        return "lease-" + self.name.replace("/", "-")

    @property
    def beat_ago(self) -> str:
        if self.record is None:
            return ""
        minutes = int((self.now - self.record.beat_at) / timedelta(minutes=1))
        if minutes < 1:
            return "less than a minute ago"
        if minutes < 60:
            return f"{minutes} min ago"
        return f"{minutes // 60} h {minutes % 60} min ago"


def held_leases(store: Store, now: datetime) -> list[HeldLease] | None:
    """Return every lease under locks/ (the build's, the plays', any other), by name; None when
    the store cannot list them."""
    try:
        stored = load_leases(store)
    except StorageError as error:
        logger.warning("the leases could not be listed", extra={"error": str(error)})
        return None
    return [HeldLease(lease.name, lease.record, now) for lease in stored]


def parse_run_report(data: bytes) -> RunSummary:
    """Return a run report's figures; RunReportShapeError when it is not a report."""
    try:
        report = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise RunReportShapeError(f"not JSON: {error}") from None
    if not isinstance(report, dict):
        raise RunReportShapeError("not a JSON object")
    try:
        started_at = datetime.fromisoformat(_require(report, "started_at", str))
    except ValueError:
        raise RunReportShapeError("'started_at' is not an ISO time") from None
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    spotify = _require(report, "spotify", dict)
    concerts = _optional(report, "concerts", dict) or {}
    artists = _optional(report, "artists", dict) or {}
    failed = _optional(_optional(report, "states", dict) or {}, "failed", dict) or {}
    return RunSummary(
        run_id=_require(report, "run_id", str),
        status=_require(report, "status", str),
        message=_optional(report, "message", str) or "",
        started_at=started_at,
        duration_s=float(_require(report, "duration_s", (int, float))),
        events=_optional(concerts, "events", int),
        rows=_require(concerts, "rows", int) if "events" in concerts else None,
        sources=_source_figures(report, concerts),
        failed_fetches=tuple(_failed_fetch(key, why) for key, why in sorted(failed.items())),
        match_rate=_match_rate(artists),
        spotify_requests=_require(spotify, "requests", int),
        status_429=sum((_counts(spotify, "status_429_by_reason") or {}).values()),
        kind=_optional(report, "kind", str) or "build",
    )


def _source_figures(report: dict[str, Any], concerts: dict[str, Any]) -> tuple[SourceFigures, ...]:
    """Return each source's figures, the configured sources first, in the report's order."""
    names = _optional(report, "sources", list) or []
    if not all(isinstance(name, str) for name in names):
        raise RunReportShapeError("'sources' holds a name that is not text")
    requests = _counts(report, "source_requests")
    events = _counts(concerts, "events_by_source")
    rows = _counts(concerts, "rows_by_source")
    seen = {*names, *(requests or {}), *(events or {}), *(rows or {})}
    ordered = [*dict.fromkeys(names), *sorted(seen - set(names))]
    return tuple(
        SourceFigures(
            name,
            requests=None if requests is None else requests.get(name, 0),
            events=None if events is None else events.get(name, 0),
            rows=None if rows is None else rows.get(name, 0),
        )
        for name in ordered
    )


def _failed_fetch(key: str, why: object) -> tuple[str, str, str]:
    """Return (state, source, why) of a failed fetch the report keys as "STATE source"."""
    state, _, source = key.partition(" ")
    return state, source, str(why)


def _match_rate(artists: dict[str, Any]) -> float | None:
    """Return the share of new performers matched; None when there was none to match."""
    tried = _counts(artists, "new_matches_by_method")
    rate: float | None = _optional(artists, "match_rate", (int, float))
    if not tried or not any(tried.values()) or rate is None:
        return None
    return float(rate)


@dataclass(frozen=True)
class RunsRead:
    """The newest readable run reports, newest first, and how many could not be read."""

    runs: list[RunSummary]
    unreadable: int


def load_recent_runs(store: Store, limit: int = RUNS_SHOWN) -> RunsRead:
    """Read the newest `limit` run reports, skipping (and counting) those that cannot be read.

    Run ids begin with their start time (etl.pipeline.new_run_id), so names sort by start and
    only the newest reports are read, not every report ever written.
    """
    names = sorted(
        (
            name
            for name in store.list(RUNS_PREFIX)
            if name.endswith(".json") and name != LATEST_REPORT
        ),
        reverse=True,
    )
    runs: list[RunSummary] = []
    unreadable = 0
    for name in names:
        if len(runs) == limit:
            break
        try:
            runs.append(parse_run_report(store.read(name).data))
        except (RunReportShapeError, StorageError) as error:
            unreadable += 1
            logger.warning("skipped a run report", extra={"report": name, "error": str(error)})
    runs.sort(key=lambda run: run.started_at, reverse=True)
    return RunsRead(runs, unreadable)


@dataclass(frozen=True)
class ChartBar:
    """One run's bar in the match rate chart, in SVG user units."""

    x: int
    y: float
    width: int
    height: float
    css_class: str
    title: str


CHART_HEIGHT = 100  # the bars' area; 100 units is 100% match rate
CHART_TOP, CHART_BOTTOM, CHART_LEFT = 8, 20, 40
BAR_STEP, BAR_WIDTH = 24, 16


def build_match_rate_chart(runs: list[RunSummary]) -> dict[str, Any]:
    """Return the bars of the runs' match rates, oldest on the left, and the chart's size."""
    bars = []
    for index, run in enumerate(reversed(runs)):
        rate = run.match_rate or 0.0
        height = max(round(rate * CHART_HEIGHT, 1), 1.0)  # a sliver marks a run with none
        css_class = "none" if run.match_rate is None else ""
        if run.status != "ok":
            css_class = f"{css_class} {run.status}".strip()
        bars.append(
            ChartBar(
                x=CHART_LEFT + index * BAR_STEP,
                y=CHART_TOP + CHART_HEIGHT - height,
                width=BAR_WIDTH,
                height=height,
                css_class=css_class,
                title=f"{run.started_at:%-d %b %Y}: match rate {run.match_rate_text}, "
                f"{run.status_label}",
            )
        )
    return {
        "bars": bars,
        "width": CHART_LEFT + max(len(bars), 1) * BAR_STEP,
        "height": CHART_TOP + CHART_HEIGHT + CHART_BOTTOM,
        "top": CHART_TOP,
        "baseline": CHART_TOP + CHART_HEIGHT,
    }


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer that the service is up; and, when its data is stale or unavailable, why."""
    cache: DatasetCache = current_app.extensions["datasets"]
    return {"status": "ok", "service": "web", **cache.health()}


@bp.app_context_processor
def operator_links() -> dict[str, bool]:
    """Whether the signed-in person is the operator (base.html shows them the Status link)."""
    user = current_user()
    settings: Settings = current_app.extensions["settings"]
    return {"is_operator": settings.is_operator(user["id"] if user else None)}


@bp.get("/status", endpoint="page")
@login_required
def page() -> Any:
    """Show the operator the leases held now, and how the last ETL runs went, newest first, with
    a chart of match rates.

    A failed run's message is the exception the run stopped on: the page says it failed and
    where its details are (the log, by run id), never the exception's text.
    """
    user = current_user()
    settings: Settings = current_app.extensions["settings"]
    if not settings.is_operator(user["id"] if user else None):
        return render_template("not_operator.html", user=user), 403
    read = load_recent_runs(app_store())
    return render_template(
        "status.html",
        user=current_user(),
        runs=read.runs,
        unreadable=read.unreadable,
        quota_stops=sum(1 for run in read.runs if run.status == "stopped_quota"),
        chart=build_match_rate_chart(read.runs),
        leases=held_leases(app_store(), utc_now()),
        moment_text=moment_text,
        iso=iso,
        plural=plural,
    )
