"""The serving layout: one pair of files per state and an index, equal to what the CSVs hold."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.pipeline import BuildSummary, ConcertsSummary
from etl.report import make_report
from etl.serving import ServingSummary, build_serving_layout
from etl.track_run import TracksSummary
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, save_dataset
from shared.names import clean_text, performer_key
from shared.serving import (
    INDEX,
    build_layout,
    read_index,
    read_state,
    shows_file,
    tracks_file,
    write_layout,
)
from shared.spotify import RequestLedger
from shared.storage import FolderStore
from tests.conftest import BASE_ENV, REPO_ROOT

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def concert(event_id: str, performer: str, **fields: Any) -> dict[str, Any]:
    """Return a concerts.csv row: a show in Brooklyn unless fields say otherwise."""
    return {
        "event_id": event_id,
        "source": "seatgeek",
        "event_title": f"{performer} live",
        "event_url": f"https://example.com/{event_id}",
        "starts_at": "2026-12-01T01:00:00Z",
        "starts_at_local": "2026-11-30T20:00:00",
        "time_tbd": False,
        "venue_name": "Elsewhere",
        "venue_city": "Brooklyn",
        "venue_state": "NY",
        "venue_postal_code": "11237",
        "venue_lat": 40.70,
        "venue_lon": -73.92,
        "performer_id": performer,
        "performer_name": performer,
        "performer_key": performer_key(performer),
        "is_headliner": True,
        "billing_order": 1,
        "genres": "indie",
        "source_spotify_artist_id": "",
        "fetched_at": "2026-11-20T00:00:00Z",
        "performer_kind": "band",
        "performer_from_title": False,
    } | fields


def artist(performer: str, spotify_artist_id: str) -> dict[str, Any]:
    return {
        "performer_key": performer_key(performer),
        "performer_name": performer,
        "spotify_artist_id": spotify_artist_id,
        "spotify_artist_name": performer if spotify_artist_id else "",
        "match_method": "exact" if spotify_artist_id else "none",
        "match_score": 1.0 if spotify_artist_id else 0.0,
        "checked_at": "2026-11-20T00:00:00Z",
    }


def track(spotify_artist_id: str, rank: int) -> dict[str, Any]:
    return {
        "spotify_artist_id": spotify_artist_id,
        "rank": rank,
        "track_id": f"{spotify_artist_id}t{rank}",
        "track_name": f"Song {rank}",
        "album_name": "Album",
        "release_date": "2025-01-01",
        "duration_ms": 200000,
        "explicit": False,
        "isrc": "",
        "tracks_source": "top",
        "fetched_at": "2026-11-20T00:00:00Z",
    }


CONCERTS_ROWS = [
    concert("1", "Alpha Band", genres="indie|rock"),
    concert("1", "Beta", is_headliner=False, billing_order=2, genres="rock"),
    concert("2", "Alpha Band", venue_name="Music Hall", venue_city="New York", venue_lat=40.72),
    concert("3", "Gamma", venue_city="Albany", venue_lat=42.65, venue_lon=-73.75, genres=""),
    concert("4", "Delta", venue_city="Burlington", venue_state="VT", venue_lat=44.47),
    concert("5", "Alpha Band", venue_city="Burlington", venue_state="VT", venue_lon=-73.2),
    concert("6", "Echo", venue_city="Oakland", venue_state="CA", venue_lat=37.8, venue_lon=-122.27),
]
ARTISTS_ROWS = [
    artist("Alpha Band", "alpha1"),
    artist("Beta", "beta1"),
    artist("Delta", "delta1"),
    artist("Gamma", ""),  # looked up, not found; Echo was never looked up
]
TRACKS_ROWS = [
    track(artist_id, rank) for artist_id in ("alpha1", "beta1", "delta1", "zed1") for rank in (2, 1)
]


def save(
    store: FolderStore,
    concerts: list[dict[str, Any]] = CONCERTS_ROWS,
    artists: list[dict[str, Any]] = ARTISTS_ROWS,
    tracks: list[dict[str, Any]] = TRACKS_ROWS,
) -> None:
    save_dataset(store, CONCERTS, pd.DataFrame(concerts))
    save_dataset(store, ARTISTS, pd.DataFrame(artists))
    save_dataset(store, TOP_TRACKS, pd.DataFrame(tracks))


def csv(store: FolderStore, name: str) -> pd.DataFrame:
    """Read a dataset straight from its CSV, without the code under test."""
    return pd.read_csv(io.BytesIO(store.read(name).data), dtype=str, keep_default_na=False)


def layout_files(store: FolderStore) -> dict[str, bytes]:
    return {name: store.read(name).data for name in store.list("serving/")}


def test_every_state_gets_files_and_the_index_counts_equal_the_csv(
    folder_store: FolderStore,
) -> None:
    save(folder_store)

    index = build_serving_layout(folder_store, now=NOW)

    concerts = csv(folder_store, CONCERTS.name)
    concerts["show"] = concerts["source"] + ":" + concerts["event_id"]
    states = sorted(concerts["venue_state"].unique())
    assert index is not None
    assert sorted(index.states) == states
    assert sorted(folder_store.list("serving/states/")) == sorted(
        name for state in states for name in (shows_file(state), tracks_file(state))
    )
    read = read_index(folder_store)
    assert read is not None
    assert read.states == index.states
    assert read.built_at == "2026-11-20T12:00:00Z"
    assert read.sources == {
        dataset.name: folder_store.generation(dataset.name)
        for dataset in (CONCERTS, ARTISTS, TOP_TRACKS)
    }
    for state, rows in concerts.groupby("venue_state"):
        summary = read.states[str(state)]
        by_city = rows.groupby("venue_city")
        genres = rows.assign(genre=rows["genres"].str.split("|")).explode("genre")
        genres = genres[genres["genre"] != ""].groupby("genre")["show"].nunique()
        lats, lons = rows["venue_lat"].astype(float), rows["venue_lon"].astype(float)
        assert summary.shows == rows["show"].nunique()
        assert summary.artists == rows["performer_key"].nunique()
        assert summary.rows == len(rows)
        assert summary.cities == sorted(
            (str(city), group["show"].nunique(), group["performer_key"].nunique())
            for city, group in by_city
        )
        assert dict(summary.genres) == genres.to_dict()
        assert [n for _, n in summary.genres] == sorted(genres, reverse=True)
        assert summary.bbox == (lats.min(), lons.min(), lats.max(), lons.max())
        assert summary.bytes == sum(
            len(folder_store.read(name).data) for name in (shows_file(state), tracks_file(state))
        )
    assert read.states["NY"].cities == [("Albany", 1, 1), ("Brooklyn", 1, 2), ("New York", 1, 1)]
    assert read.states["NY"].genres == [("indie", 2), ("rock", 1)]


def test_rows_carry_the_matches_of_artists_csv(folder_store: FolderStore) -> None:
    save(folder_store)
    build_serving_layout(folder_store, now=NOW)

    ny, _ = read_state(folder_store, "NY")
    ca, _ = read_state(folder_store, "CA")

    matches = dict(zip(ny["performer_name"], ny["spotify_artist_id"], strict=True))
    assert matches == {"Alpha Band": "alpha1", "Beta": "beta1", "Gamma": ""}
    assert dict(zip(ny["performer_name"], ny["checked"], strict=True)) == dict.fromkeys(
        matches, True
    )
    assert ca[["performer_name", "spotify_artist_id", "checked"]].to_dict("records") == [
        {"performer_name": "Echo", "spotify_artist_id": "", "checked": False}
    ]
    assert list(ny["show_key"]) == ["seatgeek:1", "seatgeek:1", "seatgeek:2", "seatgeek:3"]
    assert list(ny["local_day"]) == [20261130] * 4


def test_a_states_tracks_are_those_of_its_artists_ranked(folder_store: FolderStore) -> None:
    save(folder_store)
    build_serving_layout(folder_store, now=NOW)

    tracks = {state: read_state(folder_store, state)[1] for state in ("NY", "VT", "CA")}

    assert tracks["NY"][["spotify_artist_id", "rank"]].values.tolist() == [
        ["alpha1", 1],
        ["alpha1", 2],
        ["beta1", 1],
        ["beta1", 2],
    ]
    assert sorted(set(tracks["VT"]["spotify_artist_id"])) == ["alpha1", "delta1"]
    assert tracks["CA"].empty
    assert list(tracks["NY"]["track_id"][:2]) == ["alpha1t1", "alpha1t2"]


def test_a_state_that_disappears_has_its_files_removed(folder_store: FolderStore) -> None:
    save(folder_store)
    build_serving_layout(folder_store, now=NOW)
    save(folder_store, [row for row in CONCERTS_ROWS if row["venue_state"] != "VT"])

    index = build_serving_layout(folder_store, now=NOW)

    assert index is not None
    assert sorted(index.states) == ["CA", "NY"]
    assert not [name for name in folder_store.list("serving/") if "/VT/" in name]


def test_rebuilding_gives_the_same_content(folder_store: FolderStore) -> None:
    save(folder_store)
    build_serving_layout(folder_store, now=NOW)
    first = layout_files(folder_store)

    build_serving_layout(folder_store, now=NOW)

    second = layout_files(folder_store)
    index_first, index_second = json.loads(first.pop(INDEX)), json.loads(second.pop(INDEX))
    for index in (index_first, index_second):
        for summary in index["states"].values():
            del summary["shows_generation"], summary["tracks_generation"]
    assert index_first == index_second
    assert first == second


@pytest.mark.parametrize(
    "broken",
    [
        b"event_id,source\r\n1,seatgeek\r\n",  # required columns gone
        b"\xff\xfe not UTF-8",
    ],
)
def test_a_broken_concerts_csv_leaves_the_previous_layout(
    folder_store: FolderStore, broken: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    save(folder_store)
    build_serving_layout(folder_store, now=NOW)
    before = layout_files(folder_store)
    folder_store.write(CONCERTS.name, broken)
    caplog.clear()  # the first build's lines (kept when another test set INFO on the logger)

    with caplog.at_level(logging.ERROR):
        index = build_serving_layout(folder_store, now=NOW)

    assert index is None
    assert layout_files(folder_store) == before
    assert [record.levelname for record in caplog.records if "serving" in record.message] == [
        "ERROR"
    ]


def test_names_with_control_characters_are_cleaned(folder_store: FolderStore) -> None:
    dirty = "Alpha\x00 \u202eBand\x1b"
    save(
        folder_store,
        [concert("1", dirty, venue_name="Else\rwhere", venue_city="Brook\x07lyn")],
        tracks=[{**track("alpha1", 1), "track_name": "So\x00ng"}],
    )

    build_serving_layout(folder_store, now=NOW)

    rows, tracks = read_state(folder_store, "NY")
    assert rows.loc[0, "performer_name"] == clean_text(dirty) == "Alpha Band"
    assert rows.loc[0, "venue_name"] == clean_text("Else\rwhere")
    assert rows.loc[0, "venue_city"] == "Brooklyn"
    assert rows.loc[0, "spotify_artist_id"] == "alpha1"  # the key is of the cleaned name
    assert tracks.loc[0, "track_name"] == "Song"
    index = read_index(folder_store)
    assert index is not None
    assert index.states["NY"].cities == [("Brooklyn", 1, 1)]


def test_missing_text_becomes_empty(folder_store: FolderStore) -> None:
    concerts = pd.DataFrame(
        [
            concert("1", "Alpha Band", event_title=math.nan, venue_city=None, genres=math.nan),
            concert("2", "Beta", venue_lat=math.nan, venue_lon=math.nan),
        ]
    )
    artists = pd.DataFrame([artist("Alpha Band", "alpha1"), artist("Beta", math.nan)])
    tracks = pd.DataFrame([track("alpha1", 1), {**track("beta1", 1), "track_id": math.nan}])

    write_layout(folder_store, build_layout(concerts, artists, tracks), {}, "")

    rows, ranked = read_state(folder_store, "NY")
    assert rows.loc[0, ["event_title", "venue_city", "genres"]].tolist() == ["", "", ""]
    assert list(rows["spotify_artist_id"]) == ["alpha1", ""]
    assert list(ranked["track_id"]) == ["alpha1t1"]


def test_rows_whose_state_cannot_name_a_file_are_left_out(folder_store: FolderStore) -> None:
    save(
        folder_store,
        [
            *CONCERTS_ROWS,
            concert("8", "Beta", venue_state=""),
            concert("9", "Beta", venue_state="../x"),
        ],
    )

    index = build_serving_layout(folder_store, now=NOW)

    assert index is not None
    assert sorted(index.states) == ["CA", "NY", "VT"]


def test_a_state_without_coordinates_has_an_unknown_area(folder_store: FolderStore) -> None:
    save(folder_store, [concert("1", "Alpha Band", venue_lat="", venue_lon="")])

    build_serving_layout(folder_store, now=NOW)

    index = read_index(folder_store)
    assert index is not None
    assert all(math.isnan(x) for x in index.states["NY"].bbox)
    json.loads(folder_store.read(INDEX).data, parse_constant=pytest.fail)  # strict JSON


def run_serving_cli(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl", "serving", "--data", str(data)],
        cwd=REPO_ROOT,
        env={**os.environ, **BASE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_rebuilds_the_layout(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "data")
    save(store)

    done = run_serving_cli(tmp_path / "data")

    assert done.returncode == 0, done.stderr
    assert "3 states, 7 rows" in done.stdout
    index = read_index(store)
    assert index is not None
    assert sorted(index.states) == ["CA", "NY", "VT"]


def test_the_cli_fails_in_one_line_on_a_broken_dataset(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "data")
    save(store)
    store.write(CONCERTS.name, b"event_id\r\n1\r\n")

    done = run_serving_cli(tmp_path / "data")

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: serving layout not written")
    assert "concerts.csv" in done.stderr
    assert read_index(store) is None


def test_the_etl_run_writes_the_layout(data_copy: FolderStore) -> None:
    index = read_index(data_copy)
    report = json.loads(data_copy.read("runs/latest.json").data)

    concerts = csv(data_copy, CONCERTS.name)
    assert index is not None
    assert sorted(index.states) == sorted(concerts["venue_state"].unique())
    assert sum(summary.rows for summary in index.states.values()) == len(concerts)
    assert index.sources[CONCERTS.name] == data_copy.generation(CONCERTS.name)
    assert report["serving"]["states"] == len(index.states)
    assert report["serving"]["rows"] == len(concerts)
    assert report["status"] != "failed"


def test_a_layout_not_written_fails_the_run_in_its_report() -> None:
    build = BuildSummary(
        ConcertsSummary(sources=["seatgeek"], states=["NY"]),
        TracksSummary(),
        serving=ServingSummary(seconds=0.5, error="datasets/concerts.csv lacks venue_state"),
    )

    report = make_report(
        "r1", started=NOW, ended=NOW, build=build, ledger=RequestLedger(), errors=[]
    )

    assert report["serving"] == {"error": "datasets/concerts.csv lacks venue_state", "seconds": 0.5}
    assert report["status"] == "failed"
    assert (
        report["message"] == "serving layout not written: datasets/concerts.csv lacks venue_state"
    )


NAMED = ["performer_name", "venue_name", "venue_city", "event_title"]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({column: st.text() for column in NAMED}), min_size=1, max_size=4)
)
def test_any_name_round_trips_cleaned(names: list[dict[str, str]]) -> None:
    concerts = pd.DataFrame([concert(str(n), "x", **fields) for n, fields in enumerate(names)])
    with tempfile.TemporaryDirectory() as folder:
        store = FolderStore(Path(folder))

        write_layout(
            store,
            build_layout(concerts, pd.DataFrame([artist("x", "")]), pd.DataFrame([track("a", 1)])),
            {},
            "",
        )

        rows, _ = read_state(store, "NY")
    by_event = rows.set_index(rows["show_key"].str.removeprefix("seatgeek:").astype(int))
    for n, fields in enumerate(names):
        for column, text in fields.items():
            assert by_event.loc[n, column] == clean_text(text)
