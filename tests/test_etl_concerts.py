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

from etl.concerts import is_upcoming
from etl.pipeline import AllStatesFailedError, build_concerts_dataset
from etl.sources.registry import make_sources
from etl.sources.seatgeek import SeatGeekSource
from etl.sources.ticketmaster import TicketmasterSource
from sandbox.server import SandboxServer
from sandbox.world import generate_world
from shared.config import load_settings
from shared.datasets import CONCERTS, load_dataset
from shared.names import normalize_name
from shared.storage import FolderStore
from tests.clock import TEST_DAY, TEST_NOW, clock_now
from tests.conftest import BASE_ENV, REPO_ROOT
from tests.etl_cli import run_cli


@pytest.fixture(scope="module")
def busy_world() -> dict[str, Any]:
    """Return a world where California has over 1,000 Ticketmaster and SeatGeek events."""
    return generate_world(artists=200, events=14_000, seed=11, start=TEST_DAY)


@pytest.fixture(scope="module")
def busy_sandbox(busy_world: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(busy_world, start=TEST_NOW) as server:
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
    since = clock_now() - timedelta(days=7)  # include the world's few recent-past events too
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
    assert from_ticketmaster.truncated == 0 and from_seatgeek.truncated == 0


def test_both_sources_give_each_event_once(
    sandbox_env: dict[str, str], busy_world: dict[str, Any]
) -> None:
    settings = load_settings(sandbox_env)
    store = FolderStore(Path(settings.data_url))
    now = clock_now()
    # Every listing the sources give: a show listed twice (one listing may not know the time
    # yet) must come out once, at the time a source knows.
    listed = [
        event
        for source in make_sources(settings)
        for event in source.fetch_state_events("NY", since=now).events
        if is_upcoming(event, now)
    ]

    summary = build_concerts_dataset(store, make_sources(settings), ["NY"], now=now)

    frame, _ = load_dataset(store, CONCERTS)
    headliners = frame[frame["is_headliner"]]
    shows = list(
        zip(
            headliners["venue_name"],
            headliners["starts_at_local"].str.slice(0, 10),
            headliners["performer_name"].map(normalize_name),
            strict=True,
        )
    )
    # Names compare as the dedupe compares them: a title may give "LOW" for SeatGeek's "Low".
    expected = {
        (e.venue.name, e.starts_at_local[:10], normalize_name(e.performers[0].name)) for e in listed
    }
    timed_somewhere = {
        (e.venue.name, e.starts_at_local[:10], normalize_name(e.performers[0].name))
        for e in listed
        if not e.time_tbd
    }
    tbd_rows = headliners[headliners["time_tbd"]]

    assert summary.sources == ["seatgeek", "ticketmaster"]
    assert summary.duplicates > 0
    assert len(shows) == len(set(shows))
    assert set(shows) == expected
    assert set(frame["source"]) == {"seatgeek", "ticketmaster"}
    assert frame["venue_state"].eq("NY").all()
    # A show without a time is listed on its date alone, never at SeatGeek's 03:30 placeholder,
    # and only when no source knows its time.
    assert len(tbd_rows) > 0 and (tbd_rows["starts_at_local"].str.len() == 10).all()
    assert not (frame["starts_at_local"].str.contains("T03:30")).any()
    assert (
        not {
            (v, d[:10], normalize_name(n))
            for v, d, n in zip(
                tbd_rows["venue_name"],
                tbd_rows["starts_at_local"],
                tbd_rows["performer_name"],
                strict=True,
            )
        }
        & timed_somewhere
    )
    assert frame["performer_from_title"].any()


def test_a_failing_state_keeps_its_previous_rows(
    sandbox_env: dict[str, str], busy_sandbox: SandboxServer
) -> None:
    settings = load_settings(sandbox_env)
    store = FolderStore(Path(settings.data_url))
    sources = make_sources(settings)
    for source in sources:
        source.client.backoff_seconds = 0.01  # type: ignore[attr-defined]
    build_concerts_dataset(store, sources, ["NY", "RI"], now=clock_now())
    before, _ = load_dataset(store, CONCERTS)

    busy_sandbox.sandbox.options.fail_states = ["NY"]
    summary = build_concerts_dataset(store, sources, ["NY", "RI"], now=clock_now())
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
        build_concerts_dataset(store, sources, ["RI", "VT"], now=clock_now())

    assert store.list() == []


def test_malformed_events_are_skipped_and_counted(
    small_world: dict[str, Any], tmp_path: Path
) -> None:
    world = copy.deepcopy(small_world)
    # The first state with three listings in each source (which one depends on the world).
    state = min(
        (s for s in {e["venue"]["state"] for e in world["seatgeek"]["events"]} if s),
        key=lambda s: (min(len(listing) for listing in world_listings(world, s)) < 3, s),
    )
    seatgeek, ticketmaster = world_listings(world, state)
    del seatgeek[0]["id"]
    seatgeek[1]["performers"] = []  # kept: its title names the act
    ticketmaster[0]["_embedded"].pop("attractions", None)  # kept: its name is the act
    ticketmaster[1]["id"] = ""
    seatgeek[2]["venue"] = {"city": "Somewhere", "state": state}  # no venue name
    ticketmaster[2]["dates"]["start"]["dateTBD"] = True  # skipped, but not as malformed

    with SandboxServer(world, start=TEST_NOW) as server:
        settings = load_settings({**BASE_ENV, **server.settings_env(), "DATA_URL": str(tmp_path)})
        summary = build_concerts_dataset(
            FolderStore(tmp_path),
            make_sources(settings),
            [state],
            now=datetime(2000, 1, 1, tzinfo=UTC),
        )

    assert summary.skipped == 4
    assert summary.events == len(seatgeek) + len(ticketmaster) - 4 - summary.duplicates
    frame, _ = load_dataset(FolderStore(tmp_path), CONCERTS)
    assert frame["performer_from_title"].any()


def world_listings(world: dict[str, Any], state: str) -> tuple[list[Any], list[Any]]:
    """Return a state's SeatGeek and Ticketmaster events in a world, as the world holds them."""
    return (
        [e for e in world["seatgeek"]["events"] if e["venue"]["state"] == state],
        [
            e
            for e in world["ticketmaster"]["events"]
            if e["_embedded"]["venues"][0]["state"]["stateCode"] == state
        ],
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
