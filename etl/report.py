"""The run report: what an ETL run did, saved as runs/<run_id>.json and runs/latest.json."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.spotify import RequestLedger
from shared.storage import NotFoundError, Store

if TYPE_CHECKING:
    from etl.pipeline import BuildSummary
    from etl.serving import ServingSummary

logger = logging.getLogger(__name__)

LATEST = "runs/latest.json"


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
    took_over_from: str = "",
) -> dict[str, Any]:
    """Return the report of a run as plain JSON-able data."""
    report: dict[str, Any] = {
        "run_id": run_id,
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_s": round((ended - started).total_seconds(), 1),
        "status": "failed" if errors else "ok",
        "message": errors[0] if errors else "",
        "took_over_stale_lease_of": took_over_from,
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
            "artists": {
                "new_performers": tracks.performers_new,
                "checked": tracks.performers_checked,
                "left_for_next_run": tracks.performers_left,
                "failed": tracks.performers_failed,
                "new_matches_by_method": dict(tracks.new_matches),
                "match_rate": tracks.match_rate,
                "new_matches_by_confidence": dict(tracks.matches_by_confidence),
                "answered_by_earlier_searches": tracks.reused_results,
            },
            "tracks": {
                "written": tracks.tracks_written,
                "artists_refreshed": tracks.artists_with_tracks_refreshed,
                "checkpoints": tracks.checkpoints,
            },
        }
    )
    if build.backups is not None:
        report["backups"] = asdict(build.backups)
    report["spotify"]["mode"] = tracks.mode
    if not errors:
        report["status"] = {"quota": "stopped_quota", "budget": "stopped_budget"}.get(
            tracks.stopped, "ok"
        )
        report["message"] = tracks.message
    if build.serving is not None:
        report["serving"] = serving_report(build.serving)
        if build.serving.error:
            # The datasets are saved but the web still serves the last layout: a failed run,
            # so that it alerts.
            error = f"serving layout not written: {build.serving.error}"
            report["errors"] = [*report["errors"], error]
            report["status"], report["message"] = "failed", report["errors"][0]
    return report


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
    """Write the report under its run id and as the latest."""
    data = json.dumps(report, indent=2, sort_keys=True).encode()
    store.write(f"runs/{report['run_id']}.json", data, content_type="application/json")
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
