"""The status page: the last ETL runs from their reports, for signed-in users, on any screen."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sandbox.server import SandboxServer
from shared.config import Settings, load_settings
from shared.storage import FolderStore
from tests.clock import ManualClock
from tests.conftest import BASE_ENV
from tests.web_helpers import sign_in
from web import create_app
from web.status import RUNS_SHOWN, RunReportShapeError, parse_run_report


def report(
    run_id: str,
    *,
    status: str = "ok",
    message: str = "all performers checked",
    duration_s: float = 754.2,
    match_rate: float = 0.625,
    new_matches: dict[str, int] | None = None,
    failed: dict[str, str] | None = None,
    status_429: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Return a run report as etl/report.py writes it, started at the time its id names."""
    started = f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:00Z"
    return {
        "run_id": run_id,
        "started_at": started,
        "ended_at": started,
        "duration_s": duration_s,
        "status": status,
        "message": message,
        "took_over_stale_lease_of": "",
        "spotify": {
            "requests": 340,
            "requests_by_kind": {"search": 300, "track_search": 40},
            "status_429_by_reason": status_429 or {},
            "failures": {},
            "budget": 1000,
            "budget_left": 660,
            "mode": "development",
        },
        "errors": [],
        "sources": ["seatgeek", "ticketmaster"],
        "states": {"requested": 2, "fetched": ["RI", "VT"], "failed": failed or {}},
        "source_requests": {"seatgeek": 41, "ticketmaster": 1},
        "concerts": {
            "events": 1204,
            "rows": 3310,
            "performers": 900,
            "duplicates_merged": 20,
            "skipped": 0,
            "skipped_by_reason": {},
            "notes": {},
            "rows_kept_from_failed_states": 0,
            "events_by_source": {"seatgeek": 1000, "ticketmaster": 224},
            "rows_by_source": {"seatgeek": 2800, "ticketmaster": 510},
        },
        "artists": {
            "new_performers": 8,
            "checked": 8,
            "left_for_next_run": 0,
            "failed": 0,
            "new_matches_by_method": {"exact": 5, "none": 3}
            if new_matches is None
            else new_matches,
            "match_rate": match_rate,
            "new_matches_by_confidence": {"high": 5},
            "answered_by_earlier_searches": 0,
        },
        "tracks": {"written": 50, "artists_refreshed": 5, "checkpoints": 1},
    }


def failed_report(run_id: str) -> dict[str, Any]:
    """Return the report of a run that failed before it fetched anything (no build figures)."""
    error = "AllStatesFailedError: every state failed from every source (4 fetches)"
    started = f"{run_id[0:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:00Z"
    return {
        "run_id": run_id,
        "started_at": started,
        "ended_at": started,
        "duration_s": 3.0,
        "status": "failed",
        "message": error,
        "took_over_stale_lease_of": "",
        "spotify": {
            "requests": 0,
            "requests_by_kind": {},
            "status_429_by_reason": {},
            "failures": {},
            "budget": 1000,
            "budget_left": 1000,
        },
        "errors": [error],
    }


def write(store: FolderStore, *reports: dict[str, Any]) -> None:
    for one in reports:
        data = json.dumps(one).encode()
        store.write(f"runs/{one['run_id']}.json", data)
        store.write("runs/latest.json", data)


def text_of(fragment: str) -> str:
    """Return an HTML fragment's text, tags dropped and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def card(page: str, run_id: str) -> str:
    found = re.search(
        rf'<li class="run[^"]*" id="run-{run_id}">(.*?)</li>\s*(?=<li class="run|</ol>)', page, re.S
    )
    assert found, f"no card for run {run_id}"
    return text_of(found.group(1))


def paragraph(page: str, element_id: str) -> str:
    found = re.search(rf'<p[^>]* id="{element_id}">(.*?)</p>', page, re.S)
    assert found, f"no paragraph {element_id}"
    return text_of(found.group(1))


def run_ids(page: str) -> list[str]:
    return re.findall(r'<li class="run[^"]*" id="run-([^"]+)">', page)


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "data")


@pytest.fixture
def app(sandbox: SandboxServer, store: FolderStore) -> Flask:
    settings = load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)})
    return create_app(settings, store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    sign_in(client)
    return client


def status_page(client: FlaskClient) -> str:
    answer = client.get("/status")
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_a_signed_out_visitor_is_sent_to_sign_in(settings: Settings) -> None:
    answer = create_app(settings).test_client().get("/status")

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/status?"


def test_with_no_run_the_page_says_so(client: FlaskClient) -> None:
    page = status_page(client)

    assert paragraph(page, "no-runs") == (
        "No ETL run has finished yet: the weekly build writes a report here when it ends."
    )
    assert 'id="runs"' not in page and "<svg" not in page
    assert 'href="/static/status.css"' in page
    assert paragraph(page, "no-leases") == "No lease is held: no run is in progress."


def test_runs_are_listed_newest_first_with_their_figures(
    client: FlaskClient, store: FolderStore
) -> None:
    write(
        store,
        report("20261109T060000Z-aaaaaa"),
        report(
            "20261116T060000Z-bbbbbb",
            status="stopped_quota",
            message="quota exhausted, 12 performers left for the next run",
            duration_s=59.6,
            failed={"NY ticketmaster": "HTTP 500 after 3 tries"},
            status_429={"quota_exceeded": 1},
        ),
        failed_report("20261123T060000Z-cccccc"),
    )

    page = status_page(client)

    assert run_ids(page) == [
        "20261123T060000Z-cccccc",
        "20261116T060000Z-bbbbbb",
        "20261109T060000Z-aaaaaa",
    ]  # latest.json is the newest run again, not a fourth one
    assert paragraph(page, "runs-summary") == (
        "The last 3 runs, newest first; 1 stopped when the Spotify quota ran out."
    )
    assert card(page, "20261109T060000Z-aaaaaa") == (
        "Mon, Nov 9, 2026, 6:00 AM UTC OK "
        "Duration 12 min 34 s "
        "Concerts 1,204 events, 3,310 rows "
        "By source seatgeek: 1,000 events, 2,800 rows, 41 requests "
        "ticketmaster: 224 events, 510 rows, 1 request "
        "States failed none "
        "Match rate 62% "
        "Spotify 340 requests "
        "Quota no 429 answers "
        "Run 20261109T060000Z-aaaaaa"
    )
    assert card(page, "20261116T060000Z-bbbbbb") == (
        "Mon, Nov 16, 2026, 6:00 AM UTC Stopped: Spotify quota spent "
        "quota exhausted, 12 performers left for the next run "
        "Duration 1 min 0 s "
        "Concerts 1,204 events, 3,310 rows "
        "By source seatgeek: 1,000 events, 2,800 rows, 41 requests "
        "ticketmaster: 224 events, 510 rows, 1 request "
        "States failed 1 state failed: NY (ticketmaster: HTTP 500 after 3 tries) "
        "Match rate 62% "
        "Spotify 340 requests "
        "Quota 1 answer 429 (too many requests); stopped for quota "
        "Run 20261116T060000Z-bbbbbb"
    )
    assert card(page, "20261123T060000Z-cccccc") == (
        "Mon, Nov 23, 2026, 6:00 AM UTC Failed "
        "The run failed; the etl service's log has what it stopped on, under run "
        "20261123T060000Z-cccccc. "
        "Duration 3 s "
        "Concerts none fetched "
        "States failed none "
        "Match rate none to match "
        "Spotify 0 requests "
        "Quota no 429 answers "
        "Run 20261123T060000Z-cccccc"
    )
    assert 'id="unreadable"' not in page
    assert "AllStatesFailedError" not in page  # an exception's text is for the log only


def test_the_chart_has_a_bar_per_run_oldest_first(client: FlaskClient, store: FolderStore) -> None:
    write(
        store,
        report("20261109T060000Z-aaaaaa", match_rate=0.5),
        report("20261116T060000Z-bbbbbb", match_rate=0.0, new_matches={}),
        failed_report("20261123T060000Z-cccccc"),
    )

    page = status_page(client)

    svg = re.search(r'<svg class="chart" id="match-rate-chart".*?</svg>', page, re.S)
    assert svg
    bars = re.findall(r"<rect ([^>]*)><title>([^<]*)</title></rect>", svg.group(0))
    assert bars == [
        ('x="40" y="58.0" width="16" height="50.0"', "9 Nov 2026: match rate 50%, OK"),
        (
            'x="64" y="107.0" width="16" height="1.0" class="none"',
            "16 Nov 2026: match rate none to match, OK",
        ),
        (
            'x="88" y="107.0" width="16" height="1.0" class="none failed"',
            "23 Nov 2026: match rate none to match, Failed",
        ),
    ]
    assert "<script" not in svg.group(0) and "style=" not in page


def test_an_unreadable_report_is_skipped_and_counted(
    client: FlaskClient, store: FolderStore
) -> None:
    write(store, report("20261109T060000Z-aaaaaa"))
    store.write("runs/20261116T060000Z-bbbbbb.json", b"{not json")
    store.write("runs/20261123T060000Z-cccccc.json", json.dumps(["a", "list"]).encode())
    no_run_id = report("20261130T060000Z-dddddd")
    del no_run_id["run_id"]
    store.write("runs/20261130T060000Z-dddddd.json", json.dumps(no_run_id).encode())
    store.write("runs/20261207T060000Z-eeeeee.json", b"\xff\xfe not utf-8")

    page = status_page(client)

    assert run_ids(page) == ["20261109T060000Z-aaaaaa"]
    assert paragraph(page, "unreadable") == ("4 run reports could not be read and are not shown.")
    assert paragraph(page, "runs-summary") == ("The last run.")


def test_one_unreadable_report_and_no_other_run(client: FlaskClient, store: FolderStore) -> None:
    store.write("runs/20261116T060000Z-bbbbbb.json", json.dumps({"run_id": 7}).encode())

    page = status_page(client)

    assert paragraph(page, "unreadable") == ("1 run report could not be read and is not shown.")
    assert run_ids(page) == [] and 'id="no-runs"' not in page


def test_only_the_newest_runs_are_shown(client: FlaskClient, store: FolderStore) -> None:
    ids = [f"202610{day:02d}T060000Z-{day:06d}" for day in range(1, RUNS_SHOWN + 3)]
    write(store, *(report(run_id) for run_id in ids))

    page = status_page(client)

    assert run_ids(page) == ids[::-1][:RUNS_SHOWN]
    assert len(re.findall(r"<rect ", page)) == RUNS_SHOWN


def test_a_report_older_than_the_per_source_figures_still_renders(
    client: FlaskClient, store: FolderStore
) -> None:
    older = report("20261109T060000Z-aaaaaa")
    del older["concerts"]["events_by_source"], older["concerts"]["rows_by_source"]
    write(store, older)

    page = status_page(client)

    assert "By source seatgeek: 41 requests ticketmaster: 1 request States failed" in card(
        page, "20261109T060000Z-aaaaaa"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"run_id": "x"}',
        json.dumps({**report("20261109T060000Z-aaaaaa"), "started_at": "last week"}).encode(),
        json.dumps({**report("20261109T060000Z-aaaaaa"), "duration_s": True}).encode(),
        json.dumps({**report("20261109T060000Z-aaaaaa"), "duration_s": float("inf")}).encode(),
        json.dumps({**report("20261109T060000Z-aaaaaa"), "concerts": {"events": 5}}).encode(),
        json.dumps(
            {**report("20261109T060000Z-aaaaaa"), "source_requests": {"a": "many"}}
        ).encode(),
        b"[" * 100_000,
    ],
)
def test_a_report_of_the_wrong_shape_is_refused_with_a_named_error(data: bytes) -> None:
    with pytest.raises(RunReportShapeError):
        parse_run_report(data)


@pytest.mark.parametrize(
    ("operators", "production", "sees"),
    [
        ("", False, {"alice", "bob"}),  # a local run, the demo: whoever signs in
        ("bob", False, {"bob"}),
        ("bob, alice", True, {"alice", "bob"}),
        ("", True, set()),  # App Engine without OPERATORS: nobody
    ],
)
def test_status_is_the_operators_page(
    base_env: dict[str, str], operators: str, production: bool, sees: set[str]
) -> None:
    env = {**base_env, "OPERATORS": operators}
    if production:
        env = {k: v for k, v in env.items() if k != "CLOCK_START"}
        env |= {"GAE_ENV": "standard", "DATA_URL": "gs://bucket/p"}
    settings = load_settings(env)

    assert {user for user in ("alice", "bob") if settings.is_operator(user)} == sees
    assert not settings.is_operator(None)


def test_someone_else_is_told_the_page_is_the_operators_and_has_no_link(
    app: Flask, store: FolderStore
) -> None:
    bobs = create_app(replace(app.extensions["settings"], operators=("bob",)), store)
    alice, bob = bobs.test_client(), bobs.test_client()
    sign_in(alice, "alice")
    sign_in(bob, "bob")

    refused = alice.get("/status")
    home = alice.get("/").get_data(as_text=True)

    assert refused.status_code == 403
    assert 'id="not-operator"' in refused.get_data(as_text=True)
    assert 'id="nav-status"' not in home
    assert bob.get("/status").status_code == 200
    assert 'id="nav-status"' in bob.get("/").get_data(as_text=True)


def lease(run_id: str, host: str, taken_at: str, beat_at: str, stale_at: str) -> bytes:
    """Return a lease object as etl/lease.py writes it."""
    return json.dumps(
        {
            "run_id": run_id,
            "host": host,
            "taken_at": taken_at,
            "beat_at": beat_at,
            "stale_at": stale_at,
        }
    ).encode()


def lease_text(page: str, name: str) -> str:
    found = re.search(
        rf'<li class="lease[^"]*" id="lease-{name.replace("/", "-")}">(.*?)</li>', page, re.S
    )
    assert found, f"no lease {name}"
    return text_of(found.group(1))


def test_held_leases_are_shown_with_since_and_last_beat_and_a_stale_one_says_so(
    app: Flask, store: FolderStore
) -> None:
    now = datetime(2026, 11, 23, 6, 20, 30, tzinfo=UTC)
    store.write(
        "locks/etl",
        lease(
            "20261123T060000Z-aaaaaa",
            "etl-1",
            "2026-11-23T06:00:00Z",
            "2026-11-23T06:18:00Z",
            "2026-11-23T12:00:00Z",
        ),
    )
    store.write(  # its run was killed at 05:02: no beat since
        "locks/plays",
        lease(
            "20261123T050000Z-bbbbbb",
            "etl-2",
            "2026-11-23T05:00:00Z",
            "2026-11-23T05:02:00Z",
            "2026-11-23T05:30:00Z",
        ),
    )
    store.write("locks/charts", b"{half a lease")
    client = create_app(replace(app.extensions["settings"], clock=ManualClock(now)), store)
    operator = client.test_client()
    sign_in(operator)

    page = status_page(operator)

    assert re.findall(r'<li class="(lease[^"]*)" id="lease-([^"]+)">', page) == [
        ("lease stale", "locks-charts"),
        ("lease", "locks-etl"),
        ("lease stale", "locks-plays"),
    ]
    assert lease_text(page, "locks/etl") == (
        "locks/etl "
        "Held by run 20261123T060000Z-aaaaaa on etl-1 "
        "Since Mon, Nov 23, 2026, 6:00 AM UTC "
        "Last heartbeat Mon, Nov 23, 2026, 6:18 AM UTC (2 min ago) "
        "Goes stale at Mon, Nov 23, 2026, 6:33 AM UTC unless its run beats again"
    )
    assert lease_text(page, "locks/plays") == (
        "locks/plays Stale "
        "Held by run 20261123T050000Z-bbbbbb on etl-2 "
        "Since Mon, Nov 23, 2026, 5:00 AM UTC "
        "Last heartbeat Mon, Nov 23, 2026, 5:02 AM UTC (1 h 18 min ago) "
        "Stale since Mon, Nov 23, 2026, 5:17 AM UTC "
        "Its run stopped beating (killed, or its instance restarted) without finishing. "
        "The next run takes the lease over."
    )
    assert lease_text(page, "locks/charts") == (
        "locks/charts Stale It cannot be read; the next run takes it over."
    )
    assert 'id="no-leases"' not in page
