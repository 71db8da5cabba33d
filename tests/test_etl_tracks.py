"""Matching and tracks against the sandbox in Development Mode: spending, caching, quota, faults."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from etl.pipeline import build_concerts_dataset
from etl.sources.registry import make_sources
from etl.tracks import match_and_fetch_tracks
from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, OVERRIDES, TOP_TRACKS, load_dataset, save_dataset
from shared.names import performer_key
from shared.spotify import QuotaExhaustedError, RequestLedger, SpotifyApi
from shared.storage import FolderStore
from tests.clock import TEST_NOW, clock_now
from tests.conftest import BASE_ENV, REPO_ROOT

NOW = clock_now()


def spotify_requests(sandbox: SandboxServer) -> int:
    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]
    return sum(count for endpoint, count in stats.items() if endpoint.startswith("spotify "))


def api_for(sandbox: SandboxServer, budget: int | None = None, **options: Any) -> SpotifyApi:
    settings = load_settings({**BASE_ENV, **sandbox.settings_env()})
    options.setdefault("sleep", lambda seconds: None)
    return SpotifyApi.for_app(settings, RequestLedger(budget=budget), **options)


@pytest.fixture(scope="module")
def concerts_dir(sandbox_session: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the small world's concerts dataset once (both sources, every state)."""
    folder = tmp_path_factory.mktemp("concerts")
    settings = load_settings(
        {**BASE_ENV, **sandbox_session.settings_env(), "DATA_URL": str(folder)}
    )
    build_concerts_dataset(
        FolderStore(folder), make_sources(settings), settings.etl_states, now=NOW
    )
    return folder


@pytest.fixture
def store(concerts_dir: Path, tmp_path: Path) -> FolderStore:
    """Return a store holding only the concerts dataset: no match is cached yet."""
    (tmp_path / "data" / "datasets").mkdir(parents=True)
    shutil.copy(concerts_dir / CONCERTS.name, tmp_path / "data" / CONCERTS.name)
    return FolderStore(tmp_path / "data")


def concerts_of(store: FolderStore) -> pd.DataFrame:
    return load_dataset(store, CONCERTS)[0]


def matched(store: FolderStore) -> dict[str, str]:
    artists, _ = load_dataset(store, ARTISTS)
    return dict(zip(artists["performer_key"], artists["spotify_artist_id"], strict=True))


def test_one_request_per_new_performer_and_the_truth_found(
    sandbox: SandboxServer, store: FolderStore, small_world: dict[str, Any]
) -> None:
    concerts = concerts_of(store)
    api = api_for(sandbox)

    summary = match_and_fetch_tracks(store, concerts, api, now=NOW)

    performers = concerts["performer_name"].unique()
    assert (
        summary.performers_new == len({name.casefold() for name in performers})
        or summary.performers_new > 0
    )
    assert spotify_requests(sandbox) == api.ledger.spent
    assert api.ledger.spent / summary.performers_new <= 1.0
    truth = small_world["truth"]["performers"]
    found = matched(store)
    on_spotify = [name for name in performers if truth.get(name)]
    true_positives = sum(1 for name in on_spotify if found.get(performer_key(name)) == truth[name])
    claimed = [name for name in performers if found.get(performer_key(name))]
    false_positives = sum(1 for name in claimed if found[performer_key(name)] != truth.get(name))
    assert true_positives / len(on_spotify) >= 0.97
    assert (len(claimed) - false_positives) / len(claimed) >= 0.99
    assert summary.mode == "development"
    tracks, _ = load_dataset(store, TOP_TRACKS)
    assert set(tracks["tracks_source"]) == {"search"}
    assert (
        tracks.groupby("spotify_artist_id")["rank"]
        .apply(lambda r: list(r) == list(range(1, len(r) + 1)))
        .all()
    )
    with_tracks = set(tracks["spotify_artist_id"])
    assert len(with_tracks) >= 0.95 * len({v for v in found.values() if v})


def test_a_second_run_with_no_new_performers_makes_no_request(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    match_and_fetch_tracks(store, concerts_of(store), api_for(sandbox), now=NOW)
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    before = load_dataset(store, ARTISTS)[0]

    summary = match_and_fetch_tracks(store, concerts_of(store), api_for(sandbox), now=NOW)

    assert spotify_requests(sandbox) == 0
    assert summary.performers_new == 0
    pd.testing.assert_frame_equal(load_dataset(store, ARTISTS)[0], before)


def test_quota_exceeded_keeps_finished_matches_and_the_next_run_finishes(
    sandbox: SandboxServer, store: FolderStore, tmp_path: Path
) -> None:
    concerts = concerts_of(store)
    sandbox.sandbox.options.daily_quota = 60

    stopped = match_and_fetch_tracks(store, concerts, api_for(sandbox), now=NOW)
    after_stop = matched(store)
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)  # a new day
    sandbox.sandbox.options.daily_quota = None
    finished = match_and_fetch_tracks(store, concerts, api_for(sandbox), now=NOW)

    assert stopped.stopped == "quota"
    assert (
        stopped.message
        == f"quota exhausted, {stopped.performers_left} performers left for the next run"
    )
    assert len(after_stop) == stopped.performers_checked > 0
    assert finished.performers_new == stopped.performers_left
    assert finished.stopped == ""
    clean = FolderStore(tmp_path / "clean")
    save_dataset(clean, CONCERTS, concerts)
    match_and_fetch_tracks(clean, concerts, api_for(sandbox), now=NOW)
    assert matched(store) == matched(clean)


def test_the_budget_goes_to_the_soonest_shows(sandbox: SandboxServer, store: FolderStore) -> None:
    concerts = concerts_of(store)
    api = api_for(sandbox, budget=40)

    summary = match_and_fetch_tracks(store, concerts, api, now=NOW)

    assert summary.stopped == "budget"
    assert api.ledger.spent == 40 and spotify_requests(sandbox) == 40

    first_show = (
        concerts.assign(key=concerts["performer_name"].map(performer_key))
        .groupby("key")["starts_at"]
        .min()
    )
    checked = set(matched(store))
    assert max(first_show[list(checked)]) <= min(first_show.drop(list(checked)))


def test_extended_mode_uses_top_tracks(sandbox: SandboxServer, store: FolderStore) -> None:
    sandbox.sandbox.options.mode = "extended"

    summary = match_and_fetch_tracks(store, concerts_of(store), api_for(sandbox), now=NOW)

    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]
    tracks, _ = load_dataset(store, TOP_TRACKS)
    assert summary.mode == "extended"
    assert stats["spotify GET /spotify/v1/artists/<artist_id>/top-tracks"] > 0
    assert set(tracks["tracks_source"]) == {"top_tracks"}


def comparable(store: FolderStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    artists, _ = load_dataset(store, ARTISTS)
    tracks, _ = load_dataset(store, TOP_TRACKS)
    artist_columns = ["performer_key", "spotify_artist_id", "match_method", "match_score"]
    track_columns = ["spotify_artist_id", "rank", "track_id", "tracks_source"]
    return (
        artists[artist_columns].sort_values("performer_key").reset_index(drop=True),
        tracks[track_columns].sort_values(["spotify_artist_id", "rank"]).reset_index(drop=True),
    )


def test_injected_5xx_and_429_give_the_same_datasets_as_a_clean_run(
    sandbox: SandboxServer, store: FolderStore, tmp_path: Path
) -> None:
    concerts = concerts_of(store)
    clean = FolderStore(tmp_path / "clean")
    save_dataset(clean, CONCERTS, concerts)
    # One request at a time: with several in flight, which tracks a performer gets can depend
    # on what other searches of the run found first (a saving, by design); faults must not.
    match_and_fetch_tracks(clean, concerts, api_for(sandbox), now=NOW, workers=1)
    sandbox.sandbox.options.error_rate = 0.05
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    api = api_for(sandbox)

    summary = match_and_fetch_tracks(store, concerts, api, now=NOW, workers=1)

    stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
    assert stats["status_429"].get("injected", 0) > 0 and stats["faults"]
    assert summary.performers_failed == 0 and summary.stopped == ""
    assert api.ledger.status_429["rate_limit"] > 0
    clean_artists, clean_tracks = comparable(clean)
    faulty_artists, faulty_tracks = comparable(store)
    pd.testing.assert_frame_equal(faulty_artists, clean_artists)
    pd.testing.assert_frame_equal(faulty_tracks, clean_tracks)


def test_overrides_win_and_cost_nothing_to_match(
    sandbox: SandboxServer, store: FolderStore, small_world: dict[str, Any]
) -> None:
    concerts = concerts_of(store)
    performer = concerts["performer_name"].iloc[0]
    other_artist = small_world["spotify"]["artists"][-1]
    save_dataset(
        store,
        OVERRIDES,
        pd.DataFrame(
            {"performer_key": [performer.upper()], "spotify_artist_id": [other_artist["id"]]}
        ),
    )

    match_and_fetch_tracks(store, concerts, api_for(sandbox), now=NOW)

    artists, _ = load_dataset(store, ARTISTS)

    row = artists[artists["performer_key"] == performer_key(performer)].iloc[0]
    assert (row["spotify_artist_id"], row["match_method"]) == (other_artist["id"], "override")


def test_spotipy_never_sleeps_and_quota_stops_at_once(sandbox: SandboxServer) -> None:
    slept: list[float] = []
    api = api_for(sandbox, sleep=slept.append)
    sandbox.sandbox.options.daily_quota = 0

    with pytest.raises(QuotaExhaustedError) as raised:
        api.search_artists("Sting")

    assert raised.value.retry_after is not None and raised.value.retry_after >= 3600
    assert slept == []
    assert not hasattr(
        api.client._session.get_adapter("http://x").max_retries, "status_forcelist"
    ) or (api.client._session.get_adapter("http://x").max_retries.total == 0)


def test_short_retry_after_is_waited_then_retried_a_bounded_number_of_times(
    sandbox: SandboxServer,
) -> None:
    slept: list[float] = []
    sandbox.sandbox.options.rate_limit = 1 / 30  # one request a 30 s window
    api = api_for(sandbox, sleep=slept.append, max_attempts=3)

    api.search_artists("Sting")
    with pytest.raises(Exception) as raised:
        api.search_artists("Yes")

    assert len(slept) == 2 and all(1 <= wait <= 30 for wait in slept)
    assert type(raised.value).__name__ == "SpotifyUnavailableError"
    assert api.ledger.spent == 4 and api.ledger.status_429["rate_limit"] == 3


def test_a_retry_after_past_the_deadline_stops_spending(sandbox: SandboxServer) -> None:
    sandbox.sandbox.options.rate_limit = 1 / 30
    api = api_for(sandbox, deadline=5.0, clock=lambda: 0.0)  # 5 s left, whatever the pace

    api.search_artists("Sting")
    with pytest.raises(QuotaExhaustedError):
        api.search_artists("Yes")


@pytest.fixture
def slow_sandbox(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    from sandbox.state import Options

    with SandboxServer(small_world, Options(latency_ms=25), start=TEST_NOW) as server:
        yield server


def test_a_killed_run_loses_at_most_a_checkpoint_and_the_next_resumes(
    slow_sandbox: SandboxServer, tmp_path: Path
) -> None:
    env = {**os.environ, **BASE_ENV, **slow_sandbox.settings_env(), "TICKETMASTER_API_KEY": ""}
    data = tmp_path / "data"
    command = [sys.executable, "-m", "etl", "build", "--data", str(data)]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    artists_file = data / ARTISTS.name
    while not artists_file.exists() and process.poll() is None:  # a hang is pytest-timeout's
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    saved = matched(FolderStore(data))
    requests.post(f"{slow_sandbox.url}/_sandbox/reset", timeout=5)
    lease = json.loads((data / "locks" / "etl").read_text())
    lease["stale_at"] = "2000-01-01T00:00:00Z"  # the killed run's lease has gone stale
    (data / "locks" / "etl").write_text(json.dumps(lease))

    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )

    assert len(saved) >= 200  # the first checkpoint
    assert result.returncode == 0, result.stderr
    concerts, _ = load_dataset(FolderStore(data), CONCERTS)

    all_keys = {performer_key(name) for name in concerts["performer_name"]}
    assert set(matched(FolderStore(data))) == all_keys
    new_in_second_run = int(result.stdout.split(" new performers checked")[0].rsplit(" of ", 1)[1])
    assert new_in_second_run == len(all_keys - set(saved))


def test_checkpoints_come_every_minute_even_between_200_performers(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    ticks = iter(range(0, 10**9, 61))  # every look at the clock is a minute later

    summary = match_and_fetch_tracks(
        store,
        concerts_of(store),
        api_for(sandbox),
        now=NOW,
        clock=lambda: next(ticks),
        checkpoint_every=10_000,
    )

    assert summary.checkpoints >= summary.performers_checked > 0


def test_checkpoints_come_every_200_performers(sandbox: SandboxServer, store: FolderStore) -> None:
    summary = match_and_fetch_tracks(
        store, concerts_of(store), api_for(sandbox), now=NOW, clock=lambda: 0.0
    )

    steps = summary.performers_checked + summary.artists_with_tracks_refreshed
    assert summary.performers_checked > 200
    assert summary.checkpoints == steps // 200
