"""Wanted first: saved areas' performers, then previewed areas', then everyone, soonest first."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from etl.lookups import tracks_due
from etl.matching import Match
from etl.pipeline import build_concerts_dataset
from etl.sources.registry import make_sources
from etl.track_book import TrackBook
from etl.track_plan import PerformerTodo, order_performers
from etl.tracks import match_and_fetch_tracks
from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, load_dataset
from shared.names import performer_key
from shared.spotify import RequestLedger, SpotifyApi
from shared.storage import FolderStore
from tests.clock import clock_now
from tests.conftest import BASE_ENV

NOW = clock_now()

# Four performers: "a" plays soonest, "d" last.
SHOWS = {
    "a": "2026-12-01T20:00:00Z",
    "b": "2026-12-02T20:00:00Z",
    "c": "2026-12-03T20:00:00Z",
    "d": "2026-12-04T20:00:00Z",
}


def todo(*keys: str) -> list[PerformerTodo]:
    return [PerformerTodo(key=key, name=key.upper(), first_show=SHOWS[key]) for key in keys]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (None, "abcd"),
        ({}, "abcd"),
        ({"d": 0}, "dabc"),
        ({"c": 1, "d": 0}, "dcab"),
        ({"b": 1, "d": 1}, "bdac"),  # within a tier, soonest show first
        ({"a": 1, "c": 0, "d": 0}, "cdab"),
        ({"b": 0, "c": 0, "d": 0, "a": 1}, "bcda"),
        ({"d": 7}, "dabc"),  # any tier comes before the performers in none
        ({"nobody": 0}, "abcd"),  # a wanted key with nothing to look up changes nothing
    ],
)
def test_order_puts_tiers_first_then_soonest_show(
    wanted: dict[str, int] | None, expected: str
) -> None:
    ordered = order_performers(todo("d", "b", "a", "c"), wanted)

    assert "".join(performer.key for performer in ordered) == expected


def test_order_breaks_ties_of_tier_and_show_by_key() -> None:
    same_show = [
        PerformerTodo(key=key, name=key, first_show=SHOWS["a"]) for key in ("z", "y", "x", "w")
    ]

    ordered = order_performers(same_show, {"z": 0, "x": 0})

    assert [performer.key for performer in ordered] == ["x", "z", "w", "y"]


def test_track_refresh_puts_wanted_artists_first(tmp_path: Path) -> None:
    book = TrackBook(FolderStore(tmp_path))
    for key in SHOWS:
        match = Match(f"id-{key}", key.upper(), "exact", 100.0)
        book.record_match(PerformerTodo(key=key, name=key.upper(), first_show=""), match, NOW)
    concerts = pd.DataFrame(
        {
            "performer_name": list(SHOWS),
            "performer_key": list(SHOWS),
            "starts_at": list(SHOWS.values()),
        }
    )

    assert [artist for artist, _ in tracks_due(book, concerts, NOW)] == [
        "id-a",
        "id-b",
        "id-c",
        "id-d",
    ]
    assert [artist for artist, _ in tracks_due(book, concerts, NOW, {"c": 1, "d": 0})] == [
        "id-d",
        "id-c",
        "id-a",
        "id-b",
    ]


# Against the sandbox: a budget too small for everyone goes to the wanted performers first.


def api_for(sandbox: SandboxServer, budget: int | None = None) -> SpotifyApi:
    settings = load_settings({**BASE_ENV, **sandbox.settings_env()})
    return SpotifyApi.for_app(settings, RequestLedger(budget=budget), sleep=lambda seconds: None)


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


def checked(store: FolderStore) -> set[str]:
    artists, _ = load_dataset(store, ARTISTS)
    return set(artists["performer_key"])


def test_a_small_budget_checks_every_wanted_performer_first(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    concerts, _ = load_dataset(store, CONCERTS)
    first_show = (
        concerts.assign(key=concerts["performer_name"].map(performer_key))
        .groupby("key")["starts_at"]
        .min()
        .sort_values(kind="stable")
    )
    # The latest shows are the ones soonest-first would check last: saved areas' performers
    # from the very end, previewed ones just before them.
    saved = set(first_show.index[-8:])
    previewed = set(first_show.index[-16:-8])
    wanted = {**dict.fromkeys(saved, 0), **dict.fromkeys(previewed, 1)}
    api = api_for(sandbox, budget=40)

    summary = match_and_fetch_tracks(store, concerts, api, now=NOW, wanted=wanted)

    found = checked(store)
    assert summary.stopped == "budget" and summary.performers_left > 0
    assert saved | previewed <= found
    others = found - saved - previewed
    assert others, "the budget left over went to everyone else"
    rest = first_show.drop(list(saved | previewed))
    assert max(rest[list(others)]) <= min(rest.drop(list(others)))


def test_the_saved_tier_comes_before_the_previewed_one(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    concerts, _ = load_dataset(store, CONCERTS)
    keys = sorted({performer_key(name) for name in concerts["performer_name"]})
    saved, previewed = set(keys[:6]), set(keys[6:40])
    wanted = {**dict.fromkeys(saved, 0), **dict.fromkeys(previewed, 1)}
    api = api_for(sandbox, budget=12)

    summary = match_and_fetch_tracks(store, concerts, api, now=NOW, wanted=wanted, workers=1)

    found = checked(store)
    assert summary.stopped == "budget"
    assert saved <= found
    assert found - saved <= previewed
