"""Alert lines: one structured ERROR log line per problem a run report shows, and one when a run
takes over the lease of a run that died holding it (logged at the takeover, by etl/lease.py, so
that it comes at once, not hours later when the run that took over ends).

A log-based alert policy (ops/etl-alert-policy.yaml) e-mails whoever runs the service when such a
line appears; its filter names the fields logged here, so change both together.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

RUN_FAILED = "run_failed"
SOURCE_EMPTY = "source_empty"
MATCH_RATE_DROP = "match_rate_drop"
LEASE_TAKEN_OVER = "lease_taken_over"
ALERT_KINDS = (RUN_FAILED, SOURCE_EMPTY, MATCH_RATE_DROP, LEASE_TAKEN_OVER)

# A fall of more than this many percentage points from the previous run's match rate alerts.
MATCH_RATE_DROP_POINTS = 10.0


@dataclass(frozen=True)
class Alert:
    """One problem of a run: its kind (one of ALERT_KINDS), what to say, and the figures."""

    kind: str
    run_id: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


def match_rate_points(report: Mapping[str, Any] | None) -> float | None:
    """Return a report's match rate in percent, or None when it matched no new performer.

    A run with no new performer to match reports a rate of 0, which says nothing about matching.
    """
    artists = report.get("artists") if report else None
    if not isinstance(artists, Mapping):
        return None
    tried = artists.get("new_matches_by_method")
    rate = artists.get("match_rate")
    if not isinstance(tried, Mapping) or not any(tried.values()):
        return None
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return None
    return round(rate * 100, 2)


def alerts_for(report: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[Alert]:
    """Return the alerts a run report raises, compared with the previous run's (None: first)."""
    run_id = str(report.get("run_id", ""))
    alerts: list[Alert] = []
    if report.get("status") == "failed":
        error = str(report.get("message", ""))
        alerts.append(Alert(RUN_FAILED, run_id, f"run {run_id} failed: {error}", {"error": error}))
    events_by_source = report.get("concerts", {}).get("events_by_source", {})
    failed_fetches = report.get("states", {}).get("failed", {})
    for source in report.get("sources", []):
        if events_by_source.get(source) != 0:
            continue
        states_failed = sum(1 for key in failed_fetches if key.split(" ", 1)[-1] == source)
        alerts.append(
            Alert(
                SOURCE_EMPTY,
                run_id,
                f"source {source} returned no events in run {run_id} "
                f"({states_failed} state{'' if states_failed == 1 else 's'} failed from it)",
                {"source": source, "states_failed": states_failed},
            )
        )
    rate, previous_rate = match_rate_points(report), match_rate_points(previous)
    if rate is not None and previous_rate is not None and previous is not None:
        drop = round(previous_rate - rate, 2)
        if drop > MATCH_RATE_DROP_POINTS:
            previous_run_id = str(previous.get("run_id", ""))
            alerts.append(
                Alert(
                    MATCH_RATE_DROP,
                    run_id,
                    f"match rate fell {drop:g} points, from {previous_rate:g}% in run "
                    f"{previous_run_id} to {rate:g}% in run {run_id}",
                    {
                        "match_rate_percent": rate,
                        "previous_match_rate_percent": previous_rate,
                        "drop_points": drop,
                        "previous_run_id": previous_run_id,
                    },
                )
            )
    return alerts


def log_alerts(alerts: list[Alert]) -> None:
    """Log each alert as one ERROR line whose `alert` field names its kind."""
    for alert in alerts:
        logger.error(
            f"etl alert: {alert.message}",
            extra={"alert": alert.kind, "run_id": alert.run_id, **alert.details},
        )
