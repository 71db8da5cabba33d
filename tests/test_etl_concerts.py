"""The concerts step against the sandbox: every event, no duplicates, failures kept and counted."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from etl.concerts import make_sources
from etl.pipeline import AllStatesFailedError, build_concerts_dataset
from etl.sources.seatgeek import SeatGeekSource
from etl.sources.ticketmaster import TicketmasterSource
from sandbox.server import SandboxServer
from sandbox.world import generate_world
from shared.config import load_settings
from shared.datasets import CONCERTS, load_dataset
from shared.storage import FolderStore
from tests.conftest import BASE_ENV, REPO_ROOT


@pytest.fixture(scope="module")
def busy_world() -> dict[str, Any]:
    """Return a world where California has over 1,000 Ticketmaster and SeatGeek events."""
    return generate_world(artists=200, events=14_000, seed=11)


@pytest.fixture(scope="module")
def busy_sandbox(busy_world: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(busy_world) as server:
        yield server


@pytest.fixture
def sandbox_env(busy_sandbox: SandboxServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    busy_sandbox.sandbox.options.fail_states = []
    yield {**BASE_ENV, **busy_sandbox.settings_env(), "DATA_URL": str(tmp_path / "data")}
    busy_sandbox.sandbox.options.fail_states = []


def world_events(world: dict[str, Any], state: str) -> tuple[set[str], set[str]]:
    seatgeek = {str(e["id"]) for e in world["seatgeek"]["events"] if e["venue"]["state"] == state}
    ticketmaster = {
        e["id"]
        for e in world["ticketmaster"]["events"]
        if e["_embedded"]["venues"][0]["state"]["stateCode"] == state
    }
    return seatgeek, ticketmaster


def test_every_event_of_a_busy_state_comes_back(
    busy_sandbox: SandboxServer, busy_world: dict[str, Any]
) -> None:
    expected_seatgeek, expected_ticketmaster = world_events(busy_world, "CA")
    since = datetime.now(UTC) - timedelta(days=7)  # include the world's few recent-past events too
    seatgeek = SeatGeekSource(f"{busy_sandbox.url}/seatgeek/2/", "sandbox-seatgeek")
    ticketmaster = TicketmasterSource(
        f"{busy_sandbox.url}/ticketmaster/discovery/v2/", "sandbox-ticketmaster"
    )

    from_seatgeek = seatgeek.fetch_state_events("CA", since=since)
    from_ticketmaster = ticketmaster.fetch_state_events("CA", since=since)

    assert len(expected_seatgeek) > 50 and len(expected_ticketmaster) > 1000
    assert {e.event_id for e in from_seatgeek.events} == expected_seatgeek
    assert len(from_seatgeek.events) == len(expected_seatgeek)
    assert {e.event_id for e in from_ticketmaster.events} == expected_ticketmaster
    assert len(from_ticketmaster.events) == len(expected_ticketmaster)
    assert from_seatgeek.requests >= len(expected_seatgeek) // 50
    assert ticketmaster.truncated == 0


def test_both_sources_give_each_event_once(
    sandbox_env: dict[str, str], busy_world: dict[str, Any]
) -> None:
    settings = load_settings(sandbox_env)
    store = FolderStore(Path(settings.data_url))
    now = datetime.now(UTC)

    summary = build_concerts_dataset(store, make_sources(settings), ["NY"], now=now)

    frame, _ = load_dataset(store, CONCERTS)
    listed = [
        (e["venue"]["name"], e["datetime_local"], e["title"])
        for e in busy_world["seatgeek"]["events"]
        if e["venue"]["state"] == "NY" and e["datetime_utc"] >= now.strftime("%Y-%m-%dT%H:%M:%S")
    ] + [
        (
            e["_embedded"]["venues"][0]["name"],
            e["dates"]["start"]["localDate"]
            + "T"
            + e["dates"]["start"].get("localTime", "00:00:00"),
            e["name"],
        )
        for e in busy_world["ticketmaster"]["events"]
        if e["_embedded"]["venues"][0]["state"]["stateCode"] == "NY"
        and e["dates"]["start"].get("dateTime", "9999") >= now.strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
    headliners = frame[frame["is_headliner"]]
    identities = list(
        zip(
            headliners["venue_name"],
            headliners["starts_at_local"],
            headliners["event_title"],
            strict=True,
        )
    )

    assert summary.sources == ["seatgeek", "ticketmaster"]
    assert summary.duplicates > 0
    assert len(identities) == len(set(identities))
    assert set(identities) == set(listed)
    assert set(frame["source"]) == {"seatgeek", "ticketmaster"}
    assert frame["venue_state"].eq("NY").all()
    assert (frame["starts_at"] >= now.strftime("%Y-%m-%dT%H:%M:%SZ")).all()


def test_a_failing_state_keeps_its_previous_rows(
    sandbox_env: dict[str, str], busy_sandbox: SandboxServer
) -> None:
    settings = load_settings(sandbox_env)
    store = FolderStore(Path(settings.data_url))
    sources = make_sources(settings)
    for source in sources:
        source.client.backoff_seconds = 0.01  # type: ignore[attr-defined]
    build_concerts_dataset(store, sources, ["NY", "RI"], now=datetime.now(UTC))
    before, _ = load_dataset(store, CONCERTS)

    busy_sandbox.sandbox.options.fail_states = ["NY"]
    summary = build_concerts_dataset(store, sources, ["NY", "RI"], now=datetime.now(UTC))
    after, _ = load_dataset(store, CONCERTS)

    assert set(summary.failed) == {"NY seatgeek", "NY ticketmaster"}
    ny_before = before[before["venue_state"] == "NY"].reset_index(drop=True)
    ny_after = after[after["venue_state"] == "NY"].reset_index(drop=True)
    assert len(ny_before) > 0
    assert ny_after["event_id"].tolist() == ny_before["event_id"].tolist()
    assert ny_after["performer_name"].tolist() == ny_before["performer_name"].tolist()
    assert summary.carried_over_rows == len(ny_before)
    assert len(after[after["venue_state"] == "RI"]) == len(before[before["venue_state"] == "RI"])


def test_every_state_failing_writes_nothing(
    sandbox_env: dict[str, str], busy_sandbox: SandboxServer
) -> None:
    settings = load_settings(sandbox_env)
    store = FolderStore(Path(settings.data_url))
    sources = make_sources(settings)
    for source in sources:
        source.client.backoff_seconds = 0.01  # type: ignore[attr-defined]
    busy_sandbox.sandbox.options.fail_states = ["RI", "VT"]

    with pytest.raises(AllStatesFailedError):
        build_concerts_dataset(store, sources, ["RI", "VT"], now=datetime.now(UTC))

    assert store.list() == []


def test_malformed_events_are_skipped_and_counted(
    small_world: dict[str, Any], tmp_path: Path
) -> None:
    world = copy.deepcopy(small_world)
    vermont = [e for e in world["seatgeek"]["events"] if e["venue"]["state"] == "VT"]
    del vermont[0]["id"]
    vermont[1]["performers"] = []
    tm_vermont = [
        e
        for e in world["ticketmaster"]["events"]
        if e["_embedded"]["venues"][0]["state"]["stateCode"] == "VT"
    ]
    del tm_vermont[0]["_embedded"]["attractions"]
    vermont[2]["venue"] = None
    vermont[2]["venue"] = {"city": "Burlington", "state": "VT"}  # no venue name

    with SandboxServer(world) as server:
        settings = load_settings({**BASE_ENV, **server.settings_env(), "DATA_URL": str(tmp_path)})
        summary = build_concerts_dataset(
            FolderStore(tmp_path),
            make_sources(settings),
            ["VT"],
            now=datetime(2000, 1, 1, tzinfo=UTC),
        )

    assert summary.skipped == 4
    assert summary.events == len(vermont) + len(tm_vermont) - 4 - summary.duplicates


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl", "build", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_prints_progress_by_state_and_a_summary(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(sandbox_env, "--data", str(tmp_path / "cli"), "--states", "RI,VT")

    assert result.returncode == 0, result.stderr
    assert "  RI: seatgeek" in result.stdout and "  VT: seatgeek" in result.stdout
    assert "concerts:" in result.stdout and "rows" in result.stdout
    frame, _ = load_dataset(FolderStore(tmp_path / "cli"), CONCERTS)
    assert set(frame["venue_state"]) == {"RI", "VT"}


def test_cli_without_an_event_source_says_how_to_get_one(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SEATGEEK", "TICKETMASTER"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "etl", "build", "--data", str(tmp_path)],
        cwd=REPO_ROOT,
        env={**env, **BASE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "TICKETMASTER_API_KEY" in result.stderr


def test_cli_fails_when_every_state_fails(
    sandbox_env: dict[str, str], busy_sandbox: SandboxServer, tmp_path: Path
) -> None:
    busy_sandbox.sandbox.options.fail_states = ["RI"]
    env = {**sandbox_env, "TICKETMASTER_API_KEY": ""}

    result = run_cli(env, "--data", str(tmp_path), "--states", "RI")

    assert result.returncode == 1
    assert "every state failed" in result.stderr
    assert "RI: seatgeek FAILED" in result.stdout
