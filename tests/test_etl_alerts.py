"""Alert lines: one ERROR line per problem of a run, in the shape the alert policy reads."""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from etl.alerts import (
    ALERT_KINDS,
    MATCH_RATE_DROP,
    RUN_FAILED,
    SOURCE_EMPTY,
    Alert,
    alerts_for,
    log_alerts,
)
from etl.service import create_app
from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.logging import CloudLoggingFormatter
from shared.storage import FolderStore
from tests.clock import TEST_NOW
from tests.conftest import BASE_ENV, REPO_ROOT

CRON = {"X-Appengine-Cron": "true"}
POLICY = REPO_ROOT / "ops" / "etl-alert-policy.yaml"


def report(
    run_id: str = "20261130T060000Z-bbbbbb",
    *,
    status: str = "ok",
    match_rate: float = 0.5,
    matches: dict[str, int] | None = None,
    events_by_source: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Return a run report with the fields the alerts read, as etl/report.py writes them."""
    events = {"seatgeek": 120, "ticketmaster": 80} if events_by_source is None else events_by_source
    return {
        "run_id": run_id,
        "status": status,
        "message": "all performers checked",
        "sources": list(events),
        "states": {"requested": 2, "fetched": ["RI", "VT"], "failed": {}},
        "concerts": {"events": sum(events.values()), "rows": 300, "events_by_source": events},
        "artists": {
            "match_rate": match_rate,
            "new_matches_by_method": {"exact": 5, "none": 5} if matches is None else matches,
        },
    }


def failed_report(run_id: str = "20261130T060000Z-bbbbbb") -> dict[str, Any]:
    """Return the report of a run that failed before it built anything."""
    return {
        "run_id": run_id,
        "status": "failed",
        "message": "AllStatesFailedError: every state failed from every source (4 fetches)",
        "errors": ["AllStatesFailedError: every state failed from every source (4 fetches)"],
    }


def test_a_good_run_after_a_good_run_raises_no_alert() -> None:
    assert alerts_for(report(match_rate=0.5), report("20261123T060000Z-aaaaaa")) == []


def test_a_failed_run_raises_one_alert_naming_the_error() -> None:
    alerts = alerts_for(failed_report(), report("20261123T060000Z-aaaaaa"))

    assert alerts == [
        Alert(
            RUN_FAILED,
            "20261130T060000Z-bbbbbb",
            "run 20261130T060000Z-bbbbbb failed: AllStatesFailedError: every state failed "
            "from every source (4 fetches)",
            {
                "error": "AllStatesFailedError: every state failed from every source (4 fetches)",
            },
        )
    ]


def test_a_source_with_no_events_raises_an_alert_naming_it() -> None:
    empty = report(events_by_source={"seatgeek": 120, "ticketmaster": 0})
    empty["states"]["failed"] = {"RI ticketmaster": "HTTP 500"}

    alerts = alerts_for(empty, None)

    assert alerts == [
        Alert(
            SOURCE_EMPTY,
            "20261130T060000Z-bbbbbb",
            "source ticketmaster returned no events in run 20261130T060000Z-bbbbbb "
            "(1 state failed from it)",
            {"source": "ticketmaster", "states_failed": 1},
        )
    ]


def test_every_empty_source_has_its_own_alert() -> None:
    alerts = alerts_for(report(events_by_source={"seatgeek": 0, "ticketmaster": 0}), None)

    assert [(alert.kind, alert.details["source"]) for alert in alerts] == [
        (SOURCE_EMPTY, "seatgeek"),
        (SOURCE_EMPTY, "ticketmaster"),
    ]
    assert alerts[0].message.endswith("(0 states failed from it)")


def test_a_report_without_events_by_source_raises_no_empty_source_alert() -> None:
    older = report()
    del older["concerts"]["events_by_source"]

    assert alerts_for(older, None) == []


def test_a_match_rate_drop_of_more_than_10_points_raises_an_alert() -> None:
    alerts = alerts_for(
        report(match_rate=0.4499), report("20261123T060000Z-aaaaaa", match_rate=0.55)
    )

    assert alerts == [
        Alert(
            MATCH_RATE_DROP,
            "20261130T060000Z-bbbbbb",
            "match rate fell 10.01 points, from 55% in run 20261123T060000Z-aaaaaa to 44.99% "
            "in run 20261130T060000Z-bbbbbb",
            {
                "match_rate_percent": 44.99,
                "previous_match_rate_percent": 55.0,
                "drop_points": 10.01,
                "previous_run_id": "20261123T060000Z-aaaaaa",
            },
        )
    ]


@pytest.mark.parametrize(
    ("previous_rate", "rate"),
    [
        (0.55, 0.45),  # exactly 10 points (in floating point, 55 - 45 is 10.000000000000007)
        (0.62, 0.52),
        (0.5, 0.9),  # a rise
        (0.5, 0.5),
    ],
)
def test_a_drop_of_10_points_or_less_raises_no_alert(previous_rate: float, rate: float) -> None:
    previous = report("20261123T060000Z-aaaaaa", match_rate=previous_rate)

    assert alerts_for(report(match_rate=rate), previous) == []


def test_the_first_run_has_no_rate_to_compare_with() -> None:
    assert alerts_for(report(match_rate=0.0), None) == []


@pytest.mark.parametrize(
    ("previous", "current"),
    [
        # A run with no new performer to match reports 0, which is no fall.
        (report("20261123T060000Z-aaaaaa", match_rate=0.8), report(match_rate=0.0, matches={})),
        (report("20261123T060000Z-aaaaaa", match_rate=0.0, matches={}), report(match_rate=0.1)),
        # A failed run matched nothing: the next run has no rate to compare with.
        (failed_report("20261123T060000Z-aaaaaa"), report(match_rate=0.1)),
    ],
)
def test_a_run_without_new_performers_has_no_rate_to_compare(
    previous: dict[str, Any], current: dict[str, Any]
) -> None:
    assert alerts_for(current, previous) == []


def test_each_alert_is_one_error_line_with_its_kind_and_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alerts = alerts_for(
        report(match_rate=0.2, events_by_source={"seatgeek": 0, "ticketmaster": 5}),
        report("20261123T060000Z-aaaaaa", match_rate=0.6),
    )

    with caplog.at_level(logging.INFO, logger="etl.alerts"):
        log_alerts(alerts)

    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "etl.alerts",
            "ERROR",
            "etl alert: source seatgeek returned no events in run 20261130T060000Z-bbbbbb "
            "(0 states failed from it)",
        ),
        (
            "etl.alerts",
            "ERROR",
            "etl alert: match rate fell 40 points, from 60% in run 20261123T060000Z-aaaaaa to "
            "20% in run 20261130T060000Z-bbbbbb",
        ),
    ]
    assert [(r.alert, r.run_id) for r in caplog.records] == [  # type: ignore[attr-defined]
        (SOURCE_EMPTY, "20261130T060000Z-bbbbbb"),
        (MATCH_RATE_DROP, "20261130T060000Z-bbbbbb"),
    ]
    assert caplog.records[1].drop_points == 40.0  # type: ignore[attr-defined]


def policy_filter() -> str:
    policy = yaml.safe_load(POLICY.read_text())
    (condition,) = policy["conditions"]
    assert policy["alertStrategy"]["notificationRateLimit"]["period"]
    filter_text: str = condition["conditionMatchedLog"]["filter"]
    return filter_text


def test_the_policy_filter_matches_the_line_the_formatter_writes() -> None:
    (alert,) = alerts_for(failed_report(), None)
    record = logging.LogRecord("etl.alerts", logging.ERROR, __file__, 1, "x", None, None)
    with_fields = logging.makeLogRecord(
        {**vars(record), "msg": f"etl alert: {alert.message}"}
        | {"alert": alert.kind, "run_id": alert.run_id, **alert.details}
    )

    entry = json.loads(CloudLoggingFormatter().format(with_fields))
    conditions = policy_filter()

    # App Engine reads a JSON line on stdout as jsonPayload, and its "severity" as the entry's.
    assert re.search(r"^severity\s*=\s*ERROR$", conditions, re.MULTILINE)
    assert entry["severity"] == "ERROR"
    logger_name = re.search(r'^jsonPayload\.logger\s*=\s*"([^"]+)"$', conditions, re.MULTILINE)
    assert logger_name and entry["logger"] == logger_name.group(1) == "etl.alerts"
    kinds = re.search(r"^jsonPayload\.alert\s*=\s*\((.+)\)$", conditions, re.MULTILINE)
    assert kinds and sorted(re.findall(r'"([^"]+)"', kinds.group(1))) == sorted(ALERT_KINDS)
    assert entry["alert"] == RUN_FAILED and entry["run_id"] == "20261130T060000Z-bbbbbb"
    assert entry["message"].startswith("etl alert: run 20261130T060000Z-bbbbbb failed: ")
    service = yaml.safe_load((REPO_ROOT / "etl.yaml").read_text())["service"]
    assert f'resource.labels.module_id="{service}"' in conditions.splitlines()
    assert 'resource.type="gae_app"' in conditions.splitlines()


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "data")


def etl_app(sandbox: SandboxServer, store: FolderStore, states: str) -> Flask:
    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root), "ETL_STATES": states}
    return create_app(load_settings(env), store)


def test_a_failed_build_logs_one_run_failed_alert(
    sandbox: SandboxServer, store: FolderStore, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.sandbox.options.fail_states = ["RI"]

    with caplog.at_level(logging.INFO):
        etl_app(sandbox, store, "RI").test_client().get("/tasks/build", headers=CRON)

    alerts = [record for record in caplog.records if hasattr(record, "alert")]
    latest = json.loads(store.read("runs/latest.json").data)
    assert [(r.alert, r.run_id, r.levelname) for r in alerts] == [  # type: ignore[attr-defined]
        (RUN_FAILED, latest["run_id"], "ERROR")
    ]


def test_a_build_reports_events_and_rows_by_source(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    built = etl_app(sandbox, store, "RI,VT").test_client().get("/tasks/build", headers=CRON)

    concerts = built.get_json()["concerts"]
    assert set(concerts["events_by_source"]) == {"seatgeek", "ticketmaster"}
    assert set(concerts["rows_by_source"]) == {"seatgeek", "ticketmaster"}
    assert all(events > 0 for events in concerts["events_by_source"].values())
    assert sum(concerts["rows_by_source"].values()) == concerts["rows"]
    fetched = sum(concerts["events_by_source"].values())
    assert fetched == concerts["events"] + concerts["duplicates_merged"]


def test_a_build_alerts_on_an_empty_source_and_a_fall_from_the_last_run(
    small_world: dict[str, Any], store: FolderStore, caplog: pytest.LogCaptureFixture
) -> None:
    world = copy.deepcopy(small_world)
    world["ticketmaster"]["events"] = []
    world["spotify"]["artists"] = []  # only source links still match: the rate falls
    flawless = report("20261123T060000Z-aaaaaa", match_rate=1.0, matches={"exact": 40})
    store.write("runs/latest.json", json.dumps(flawless).encode())

    with SandboxServer(world, start=TEST_NOW) as server, caplog.at_level(logging.INFO):
        built = etl_app(server, store, "RI").test_client().get("/tasks/build", headers=CRON)

    run_id, artists = built.get_json()["run_id"], built.get_json()["artists"]
    alerts = [record for record in caplog.records if hasattr(record, "alert")]
    assert [(r.levelname, r.alert, r.run_id) for r in alerts] == [  # type: ignore[attr-defined]
        ("ERROR", SOURCE_EMPTY, run_id),
        ("ERROR", MATCH_RATE_DROP, run_id),
    ]
    assert alerts[0].source == "ticketmaster"  # type: ignore[attr-defined]
    assert alerts[1].previous_run_id == "20261123T060000Z-aaaaaa"  # type: ignore[attr-defined]
    assert artists["match_rate"] < 0.5
    drop = round(100 - artists["match_rate"] * 100, 2)
    assert alerts[1].drop_points == drop  # type: ignore[attr-defined]
