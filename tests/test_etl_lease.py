"""Leases that end when their holder dies: heartbeats, stale leases taken over, lost leases.

No test waits: a ManualClock moves "now" by hand, and a killed run is killed for real.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from etl.alerts import LEASE_TAKEN_OVER
from etl.lease import (
    LEASE_NAME,
    Heartbeat,
    LeaseHeld,
    LeaseLostError,
    release_lease,
    take_lease,
)
from etl.people_run import run_for_people
from etl.pipeline import make_spotify, run_etl
from etl.service import create_app
from etl.sources.registry import make_sources
from sandbox.server import SandboxServer
from shared.config import Settings, load_settings
from shared.datasets import CONCERTS
from shared.leases import STALE_AFTER, LeaseRecord, iso, parse_lease_record
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from tests.clock import ManualClock
from tests.conftest import BASE_ENV, REPO_ROOT

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
CRON = {"X-Appengine-Cron": "true"}
JOB_LEASE = "locks/test-job"


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "data")


def holder(store: FolderStore, name: str = LEASE_NAME) -> LeaseRecord:
    return parse_lease_record(store.read(name).data)


def sandbox_settings(sandbox: SandboxServer, store: FolderStore, clock: ManualClock) -> Settings:
    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)}
    return replace(load_settings(env), clock=clock)


@pytest.mark.parametrize(
    ("last_beat", "asked", "stale"),
    [
        (timedelta(0), timedelta(minutes=14, seconds=59), False),
        (timedelta(0), timedelta(minutes=15), True),
        (timedelta(hours=2), timedelta(hours=2, minutes=14), False),
        (timedelta(hours=5, minutes=55), timedelta(hours=6), True),  # its deadline, beats or not
    ],
)
def test_a_lease_is_stale_15_minutes_after_its_last_beat_or_at_its_deadline(
    last_beat: timedelta, asked: timedelta, stale: bool
) -> None:
    record = LeaseRecord("run", "host", NOW, NOW + last_beat, NOW + timedelta(hours=6))

    assert record.is_stale(NOW + asked) is stale


def test_a_run_beats_at_most_once_a_minute(store: FolderStore) -> None:
    clock = ManualClock(NOW)
    heartbeat = Heartbeat(store, take_lease(store, "run", now=NOW), clock)
    taken = store.generation(LEASE_NAME)

    clock.advance(timedelta(seconds=59))
    heartbeat.beat()
    unwritten = store.generation(LEASE_NAME)
    clock.advance(timedelta(seconds=1))
    heartbeat.beat()

    assert unwritten == taken
    assert store.generation(LEASE_NAME) == heartbeat.lease.generation != taken
    assert holder(store) == replace(heartbeat.lease.record, beat_at=NOW + timedelta(minutes=1))
    assert holder(store).taken_at == NOW
    assert holder(store).stale_since == NOW + timedelta(minutes=16)


def test_a_holder_that_lost_its_lease_cannot_overwrite_the_new_one(store: FolderStore) -> None:
    clock = ManualClock(NOW)
    old = Heartbeat(store, take_lease(store, "old", now=NOW), clock)
    clock.advance(STALE_AFTER)  # old went silent: its instance froze, say
    new = take_lease(store, "new", now=clock.now())
    clock.advance(timedelta(minutes=1))

    with pytest.raises(LeaseLostError, match=r"run old lost the lease locks/etl .* run new on "):
        old.beat()
    with pytest.raises(LeaseLostError):
        old.beat()  # at once, within the minute: lost stays lost
    release_lease(store, old.lease)

    assert holder(store).run_id == "new"
    assert store.generation(LEASE_NAME) == new.generation


def test_a_build_beats_between_states(sandbox: SandboxServer, store: FolderStore) -> None:
    clock = ManualClock(NOW)
    settings = sandbox_settings(sandbox, store, clock)
    beats: list[datetime] = []

    def state_done(state: str, *_: Any) -> None:
        beats.append(holder(store).beat_at)
        clock.advance(timedelta(minutes=2))  # each state takes two minutes

    report = run_etl(
        store,
        make_sources(settings),
        make_spotify(settings),
        ["RI", "VT", "NH"],
        settings=settings,
        on_state=state_done,
    )

    assert beats == [NOW, NOW + timedelta(minutes=2), NOW + timedelta(minutes=4)]
    assert report["status"] == "ok" and report["took_over_stale_lease"] is None
    assert store.generation(LEASE_NAME) is None  # released


def test_a_build_that_lost_its_lease_stops_before_writing_a_dataset(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    clock = ManualClock(NOW)
    settings = sandbox_settings(sandbox, store, clock)

    def frozen_then_taken_over(state: str, *_: Any) -> None:
        if state == "RI":
            clock.advance(STALE_AFTER + timedelta(minutes=1))
            take_lease(store, "next-run", now=clock.now())

    with pytest.raises(LeaseLostError):
        run_etl(
            store,
            make_sources(settings),
            make_spotify(settings),
            ["RI", "VT"],
            settings=settings,
            on_state=frozen_then_taken_over,
        )

    assert holder(store).run_id == "next-run"
    assert store.generation(CONCERTS.name) is None
    (name,) = [n for n in store.list("runs/") if n != "runs/latest.json"]
    report = json.loads(store.read(name).data)
    assert report["status"] == "failed"
    assert report["message"].startswith("LeaseLostError: run ")


@dataclass
class PeopleSummary:
    people: int = 0

    def as_report(self) -> dict[str, Any]:
        return {"people": self.people}


def test_a_per_person_job_beats_between_people_and_stops_when_taken_over(
    store: FolderStore, settings: Settings
) -> None:
    clock = ManualClock(NOW)
    beats: list[datetime] = []

    def collect(
        store: FolderStore, settings: Settings, ledger: RequestLedger, *, now: datetime, beat: Any
    ) -> PeopleSummary:
        summary = PeopleSummary()
        for person in ("alice", "bob", "carol"):
            beat()
            beats.append(holder(store, JOB_LEASE).beat_at)
            summary.people += 1
            if person == "bob":  # bob's turn hangs past the stale period; the next hour's run
                clock.advance(STALE_AFTER)
                take_lease(store, "next-hour", now=clock.now(), name=JOB_LEASE)
            else:
                clock.advance(timedelta(minutes=2))
        return summary

    with pytest.raises(LeaseLostError):
        run_for_people(
            store,
            replace(settings, clock=clock),
            collect,
            lease_name=JOB_LEASE,
            lease_deadline=timedelta(minutes=30),
        )

    assert beats == [NOW, NOW + timedelta(minutes=2)]  # carol was never started
    assert holder(store, JOB_LEASE).run_id == "next-hour"


def test_a_per_person_job_that_takes_over_says_so_and_alerts(
    store: FolderStore, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    take_lease(store, "killed-hour", now=NOW, name=JOB_LEASE)
    later = NOW + STALE_AFTER

    with caplog.at_level(logging.ERROR, logger="etl.alerts"):
        report = run_for_people(
            store,
            replace(settings, clock=ManualClock(later)),
            lambda *args, **kwargs: PeopleSummary(),
            lease_name=JOB_LEASE,
            lease_deadline=timedelta(minutes=30),
        )

    assert report["took_over_stale_lease_of"] == "killed-hour"
    assert report["took_over_stale_lease"] == {
        "run_id": "killed-hour",
        "host": socket.gethostname(),
        "taken_at": iso(NOW),
        "last_beat_at": iso(NOW),
        "stale_since": iso(later),
    }
    assert [r.alert for r in caplog.records] == [LEASE_TAKEN_OVER]  # type: ignore[attr-defined]
    assert store.generation(JOB_LEASE) is None  # released


def test_a_build_killed_with_sigkill_frees_its_lease_once_stale(
    sandbox: SandboxServer, store: FolderStore, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.sandbox.options.latency_ms = 40  # the killed run is still fetching when it dies
    killed = subprocess.Popen(
        [sys.executable, "-m", "etl", "build", "--data", str(store.root), "--states", "RI,VT,NH"],
        cwd=REPO_ROOT,
        env={**os.environ, **BASE_ENV, **sandbox.settings_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert killed.stdout is not None
    printed = iter(killed.stdout.readline, "")
    first_state = next((line for line in printed if line.startswith("  ")), "")  # mid-run
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    killed.stdout.close()
    sandbox.sandbox.options.latency_ms = 0
    dead = holder(store)  # no release: the lease stays, as after an instance restart

    def build_at(moment: datetime) -> tuple[int, dict[str, Any]]:
        settings = sandbox_settings(sandbox, store, ManualClock(moment))
        app = create_app(replace(settings, etl_states=("RI",)), store)
        answer = app.test_client().get("/tasks/build", headers=CRON)
        return answer.status_code, answer.get_json()

    too_soon = build_at(dead.beat_at + STALE_AFTER - timedelta(seconds=1))
    with caplog.at_level(logging.ERROR, logger="etl.alerts"):
        status, report = build_at(dead.beat_at + STALE_AFTER)

    assert first_state.startswith("  RI: ") and killed.returncode == -signal.SIGKILL
    assert too_soon[0] == 409 and dead.run_id in too_soon[1]["error"]
    assert status == 200 and report["status"] == "ok"
    assert report["took_over_stale_lease_of"] == dead.run_id
    assert report["took_over_stale_lease"]["last_beat_at"] == iso(dead.beat_at)
    assert [(r.alert, r.stale_run_id) for r in caplog.records] == [  # type: ignore[attr-defined]
        (LEASE_TAKEN_OVER, dead.run_id)
    ]
    assert store.generation(LEASE_NAME) is None
    assert store.generation(CONCERTS.name) is not None


def test_a_second_taker_of_a_fresh_lease_is_refused_with_its_last_beat(store: FolderStore) -> None:
    take_lease(store, "busy", now=NOW)

    with pytest.raises(LeaseHeld, match=r"last heartbeat 2026-11-23T11:00:00Z; stale at "):
        take_lease(store, "eager", now=NOW + timedelta(minutes=5))
