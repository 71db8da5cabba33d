"""The etl service: cron-only builds, one run at a time, and reports that match what was spent."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from etl.alerts import LEASE_TAKEN_OVER
from etl.lease import LEASE_NAME, Heartbeat, LeaseHeld, release_lease, take_lease
from etl.service import create_app
from sandbox.server import SandboxServer
from shared.config import Settings, load_settings
from shared.storage import FolderStore
from tests.clock import ManualClock, clock_now
from tests.conftest import BASE_ENV
from tests.etl_cli import run_cli

CRON = {"X-Appengine-Cron": "true"}


def stats(sandbox: SandboxServer) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    return answer


def count(requests_by_endpoint: dict[str, int], prefix: str) -> int:
    return sum(n for endpoint, n in requests_by_endpoint.items() if endpoint.startswith(prefix))


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "data")


def etl_app(sandbox: SandboxServer, store: FolderStore, states: str = "RI,VT,NH") -> Flask:
    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root), "ETL_STATES": states}
    return create_app(load_settings(env), store)


@pytest.mark.parametrize(
    "headers", [{}, {"X-Appengine-Cron": "false"}, {"X-Appengine-Cron": "1"}, {"X-Cron": "true"}]
)
def test_only_cron_may_start_a_build(
    sandbox: SandboxServer, store: FolderStore, headers: dict[str, str]
) -> None:
    answer = etl_app(sandbox, store).test_client().get("/tasks/build", headers=headers)

    assert answer.status_code == 403
    assert stats(sandbox)["requests"] == {}
    assert store.list() == []


def test_cron_build_answers_200_with_the_report(sandbox: SandboxServer, store: FolderStore) -> None:
    answer = etl_app(sandbox, store).test_client().get("/tasks/build", headers=CRON)

    report = answer.get_json()
    assert answer.status_code == 200
    assert report["status"] == "ok"
    assert json.loads(store.read("runs/latest.json").data) == report
    assert json.loads(store.read(f"runs/{report['run_id']}.json").data) == report
    assert store.generation(LEASE_NAME) is None  # released


def test_report_figures_equal_what_the_sandbox_counted(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    sandbox.sandbox.options.daily_quota = 25

    report = etl_app(sandbox, store).test_client().get("/tasks/build", headers=CRON).get_json()

    served = stats(sandbox)
    spotify = report["spotify"]
    assert report["status"] == "stopped_quota"
    assert report["message"].startswith("quota exhausted, ")
    assert report["message"].endswith(
        f"{report['artists']['left_for_next_run']} performers left for the next run"
    )
    assert spotify["requests"] == count(served["requests"], "spotify ")
    searches = ("search", "track_search", "recent_search")
    assert sum(spotify["requests_by_kind"].get(kind, 0) for kind in searches) == served[
        "requests"
    ].get("spotify GET /spotify/v1/search", 0)
    assert spotify["requests_by_kind"].get("top_tracks", 0) == served["requests"].get(
        "spotify GET /spotify/v1/artists/<artist_id>/top-tracks", 0
    )
    # Requests in flight when the quota ran out each met it: the report counts them all, those
    # whose answer said QUOTA_EXCEEDED and those (as often for real) with no reason but hours
    # of Retry-After.
    assert set(spotify["status_429_by_reason"]) <= {"quota_exceeded", "long_wait_without_reason"}
    assert sum(spotify["status_429_by_reason"].values()) == served["status_429"]["quota_exceeded"]
    assert 1 <= served["status_429"]["quota_exceeded"] <= 6
    assert report["source_requests"]["seatgeek"] == count(served["requests"], "seatgeek ")
    assert report["source_requests"]["ticketmaster"] == count(served["requests"], "ticketmaster ")
    assert spotify["budget"] == 1000 and spotify["budget_left"] == 1000 - spotify["requests"]
    assert report["sources"] == ["seatgeek", "ticketmaster"]
    assert report["states"]["fetched"] == ["RI", "VT", "NH"] and report["states"]["failed"] == {}
    assert report["concerts"]["rows"] > 0 and report["concerts"]["events"] > 0
    assert sum(report["artists"]["new_matches_by_method"].values()) == report["artists"]["checked"]
    assert 0 < report["artists"]["match_rate"] <= 1
    assert report["tracks"]["written"] > 0
    assert report["started_at"] <= report["ended_at"] and report["duration_s"] >= 0


def test_a_failed_build_answers_500_and_reports_why(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    sandbox.sandbox.options.fail_states = ["RI"]

    answer = etl_app(sandbox, store, states="RI").test_client().get("/tasks/build", headers=CRON)

    assert answer.status_code == 500
    latest = json.loads(store.read("runs/latest.json").data)
    assert latest["status"] == "failed"
    assert "every state failed" in latest["errors"][0]
    assert store.generation(LEASE_NAME) is None


def test_concurrent_runs_one_gets_409(sandbox: SandboxServer, store: FolderStore) -> None:
    sandbox.sandbox.options.latency_ms = 40  # keep the first run busy while the second arrives
    app = etl_app(sandbox, store, states="RI")
    answers: list[int] = []
    started = threading.Barrier(2)

    def call() -> None:
        client = app.test_client()
        started.wait()
        answers.append(client.get("/tasks/build", headers=CRON).status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(answers) == [200, 409]
    assert len(store.list("runs/")) == 2  # one run's report, and latest


def test_a_stale_lease_is_taken_over_reported_and_alerted(
    sandbox: SandboxServer, store: FolderStore, caplog: pytest.LogCaptureFixture
) -> None:
    dead = {  # written before heartbeats: its taking counts as its last beat
        "run_id": "dead-run",
        "taken_at": "2026-01-01T00:00:00Z",
        "stale_at": "2026-01-01T06:00:00Z",
        "host": "gone",
    }
    store.write(LEASE_NAME, json.dumps(dead).encode())

    with caplog.at_level(logging.WARNING):
        answer = (
            etl_app(sandbox, store, states="RI").test_client().get("/tasks/build", headers=CRON)
        )

    report = answer.get_json()
    assert answer.status_code == 200
    assert report["took_over_stale_lease_of"] == "dead-run"
    assert report["took_over_stale_lease"] == {
        "run_id": "dead-run",
        "host": "gone",
        "taken_at": "2026-01-01T00:00:00Z",
        "last_beat_at": "2026-01-01T00:00:00Z",
        "stale_since": "2026-01-01T00:15:00Z",
    }
    assert json.loads(store.read(f"runs/{report['run_id']}.json").data) == report
    (alert,) = [r for r in caplog.records if r.name == "etl.alerts"]
    assert alert.levelname == "ERROR"
    assert (alert.alert, alert.run_id, alert.stale_run_id) == (  # type: ignore[attr-defined]
        LEASE_TAKEN_OVER,
        report["run_id"],
        "dead-run",
    )
    assert alert.getMessage().startswith(
        f"etl alert: run {report['run_id']} took over the lease locks/etl of run dead-run "
        "(on gone, held since 2026-01-01T00:00:00Z): no heartbeat since 2026-01-01T00:00:00Z"
    )


def test_an_active_lease_refuses_the_cli_and_the_service(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    take_lease(store, "busy-run", now=clock_now())

    answer = etl_app(sandbox, store, states="RI").test_client().get("/tasks/build", headers=CRON)

    assert answer.status_code == 409
    assert "busy-run" in answer.get_json()["error"]
    assert count(stats(sandbox)["requests"], "spotify ") == 0


def test_lease_rules(store: FolderStore) -> None:
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    clock = ManualClock(now)
    first = take_lease(store, "one", now=now)
    heartbeat = Heartbeat(store, first, clock)
    clock.advance(timedelta(minutes=10))
    heartbeat.beat()  # its run made progress: stale 15 minutes after this beat, not the first

    with pytest.raises(LeaseHeld, match="last heartbeat 2026-11-23T06:10:00Z"):
        take_lease(store, "two", now=now + timedelta(minutes=24, seconds=59))
    second = take_lease(store, "three", now=now + timedelta(minutes=25))  # stale: taken over
    release_lease(store, heartbeat.lease)  # no longer ours: left alone

    assert second.took_over_from == "one"
    assert json.loads(store.read(LEASE_NAME).data)["run_id"] == "three"
    release_lease(store, second)
    assert store.generation(LEASE_NAME) is None


def test_only_one_of_two_takers_wins_a_stale_lease(store: FolderStore) -> None:
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    take_lease(store, "dead", now=now)
    later = now + timedelta(hours=7)
    results: list[str] = []

    def take(run_id: str) -> None:
        try:
            take_lease(store, run_id, now=later)
            results.append(run_id)
        except LeaseHeld:
            results.append("refused")

    threads = [threading.Thread(target=take, args=(f"taker-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results).count("refused") == 3


def test_progress_is_logged_with_rate_and_eta(
    sandbox: SandboxServer, store: FolderStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="etl.tracks"):
        etl_app(sandbox, store, states="CA").test_client().get("/tasks/build", headers=CRON)

    progress = [r for r in caplog.records if r.getMessage() == "matching progress"]
    assert progress
    assert {"performers_done", "performers_total", "per_second", "eta_s", "requests"} <= set(
        vars(progress[0])
    )


def test_cli_refuses_to_run_while_another_run_holds_the_lease(
    sandbox: SandboxServer, store: FolderStore
) -> None:

    take_lease(store, "busy-run", now=clock_now())
    result = run_cli(
        {**BASE_ENV, **sandbox.settings_env()},
        "--data",
        str(store.root),
        "--states",
        "RI",
        timeout=120,
    )

    assert result.returncode == 3
    assert "busy-run" in result.stderr
    assert count(stats(sandbox)["requests"], "") == 0


def test_a_job_registered_where_it_is_written_is_served_to_cron_and_the_command_line(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 27: adding a per-person job names it in no list of the service or the CLI.
    from etl import __main__ as cli
    from etl import scheduled
    from shared.storage import FolderStore

    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    ran: list[str] = []

    def run(store: object, _settings: Settings) -> dict[str, object]:
        ran.append("run")
        return {"status": "ok", "failed": 0, "people": 0}

    scheduled.schedule("toy", "do a toy's work (daily)", run, lambda r: f"toy: {r['people']}")
    try:
        answer = (
            create_app(settings, FolderStore(tmp_path))
            .test_client()
            .get("/tasks/toy", headers={"X-Appengine-Cron": "true"})
        )
        code = cli.main(["toy", "--data", str(tmp_path)])
    finally:
        scheduled._JOBS.pop("toy")

    assert answer.status_code == 200 and code == 0 and ran == ["run", "run"]
    assert "toy: 0" in capsys.readouterr().out
