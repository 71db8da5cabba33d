"""The run report: what an ETL run did, as runs/<run_id>.json (a build's also as latest)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.leases import LeaseRecord
from shared.spotify import RequestLedger
from shared.storage import NotFoundError, Store

if TYPE_CHECKING:
    from etl.pipeline import BuildSummary
    from etl.serving import ServingSummary
    from etl.track_run import TracksSummary

logger = logging.getLogger(__name__)

LATEST = "runs/latest.json"
BUILD = "build"
CATCH_UP = "catch-up"


def iso(moment: datetime) -> str:
    """Return a time as ISO 8601 UTC with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_report(
    run_id: str,
    *,
    started: datetime,
    ended: datetime,
    build: BuildSummary | None,
    ledger: RequestLedger,
    errors: list[str],
    took_over: LeaseRecord | None = None,
    kind: str = BUILD,
) -> dict[str, Any]:
    """Return the report of a run (a build, or a catch-up) as plain JSON-able data.

    `took_over`: the lease of a run that died holding it, which this run took over.
    """
    report: dict[str, Any] = {
        "run_id": run_id,
        "kind": kind,
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_s": round((ended - started).total_seconds(), 1),
        "status": "failed" if errors else "ok",
        "message": errors[0] if errors else "",
        "took_over_stale_lease_of": took_over.run_id if took_over else "",
        "took_over_stale_lease": took_over.as_report() if took_over else None,
        "spotify": {
            "requests": ledger.spent,
            "requests_by_kind": dict(ledger.by_kind),
            "status_429_by_reason": dict(ledger.status_429),
            "failures": dict(ledger.failures),
            "budget": ledger.budget,
            "budget_left": ledger.left,
        },
        "errors": errors,
    }
    if build is None:
        return report
    concerts, tracks = build.concerts, build.tracks
    failed_states = sorted({key.split(" ", 1)[0] for key in concerts.failed})
    report.update(
        {
            "sources": concerts.sources,
            "states": {
                "requested": len(concerts.states),
                "fetched": [s for s in concerts.states if s not in failed_states],
                "failed": concerts.failed,
            },
            "source_requests": concerts.requests_by_source,
            "concerts": {
                "events": concerts.events,
                "rows": concerts.rows,
                # Events each source returned (before duplicates merged); rows now from each.
                "events_by_source": concerts.events_by_source,
                "rows_by_source": concerts.rows_by_source,
                "performers": concerts.performers,
                "duplicates_merged": concerts.duplicates,
                "skipped": concerts.skipped,
                "skipped_by_reason": concerts.skipped_by_reason,
                "notes": concerts.notes,
                "rows_kept_from_failed_states": concerts.carried_over_rows,
            },
        }
    )
    if build.backups is not None:
        report["backups"] = asdict(build.backups)
    add_tracks_report(report, tracks)
    add_serving_report(report, build.serving)
    if build.saved_areas is not None:
        report["saved_areas"] = build.saved_areas.as_report()
    return report


def add_tracks_report(report: dict[str, Any], tracks: TracksSummary) -> None:
    """Add what matching did to a report; its status says whether matching stopped early."""
    report["artists"] = {
        "new_performers": tracks.performers_new,
        "checked": tracks.performers_checked,
        "left_for_next_run": tracks.performers_left,
        "failed": tracks.performers_failed,
        "new_matches_by_method": dict(tracks.new_matches),
        "match_rate": tracks.match_rate,
        "new_matches_by_confidence": dict(tracks.matches_by_confidence),
        "answered_by_earlier_searches": tracks.reused_results,
    }
    report["tracks"] = {
        "written": tracks.tracks_written,
        "artists_refreshed": tracks.artists_with_tracks_refreshed,
        "checkpoints": tracks.checkpoints,
    }
    report["spotify"]["mode"] = tracks.mode
    if not report["errors"]:
        report["status"] = {"quota": "stopped_quota", "budget": "stopped_budget"}.get(
            tracks.stopped, "ok"
        )
        report["message"] = tracks.message


def add_serving_report(report: dict[str, Any], serving: ServingSummary | None) -> None:
    """Add the serving layout to a report; a layout not written makes the run a failure."""
    if serving is None:
        return
    report["serving"] = serving_report(serving)
    if serving.error:
        # The datasets are saved but the web still serves the last layout: a failed run,
        # so that it alerts.
        error = f"serving layout not written: {serving.error}"
        report["errors"] = [*report["errors"], error]
        report["status"], report["message"] = "failed", report["errors"][0]


def serving_report(serving: ServingSummary) -> dict[str, Any]:
    """Return the report's part on the serving layout: its size, or why it was not written."""
    if serving.error:
        return {"error": serving.error, "seconds": serving.seconds}
    return {
        "states": serving.states,
        "rows": serving.rows,
        "bytes": serving.bytes,
        "seconds": serving.seconds,
    }


def save_report(store: Store, report: dict[str, Any]) -> None:
    """Write the report under its run id and, for a build, as the latest.

    `runs/latest.json` stays the last weekly build's: the next build's alerts compare with it,
    and a catch-up, matching only what a build left, is not a fair match rate to compare with.
    """
    data = json.dumps(report, indent=2, sort_keys=True).encode()
    store.write(f"runs/{report['run_id']}.json", data, content_type="application/json")
    if report.get("kind", "build") == "build":
        store.write(LATEST, data, content_type="application/json")


def load_latest_report(store: Store) -> dict[str, Any] | None:
    """Return the last run's report, or None when there is none or it cannot be read."""
    try:
        data = store.read(LATEST).data
    except NotFoundError:
        return None
    try:
        report = json.loads(data)
    except ValueError as error:
        logger.warning("the last run report is not JSON", extra={"error": str(error)})
        return None
    return report if isinstance(report, dict) else None
