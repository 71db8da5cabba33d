"""The web at country scale: a worker reads the serving layout's index at start and a state's
files on first use, keeps a bounded number of states, and shows what it showed before."""

from __future__ import annotations

import gc
import importlib
import io
import math
import random
import re
import shutil
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.server import SandboxServer
from shared import area_plan
from shared.area_query import DAY_CHOICES, AreaQuery
from shared.datasets import ARTISTS, CONCERTS, load_dataset, save_dataset
from shared.packed_text import BlockText, CodedText, PackedText
from shared.serving import (
    INDEX,
    ServingLayoutError,
    from_columns,
    read_columns,
    read_index,
    read_state,
    shape_rows,
    shows_file,
    to_columns,
    tracks_file,
)
from shared.shows_data import PackedTracks, ShowTexts, Track, TracksOf, load_shows, miles_from
from shared.storage import FolderStore
from tests.clock import clock_now
from tests.conftest import BASE_ENV, web_app
from tests.web_helpers import rebuild_serving
from web.data import DatasetCache, DataUnavailableError

TODAY = clock_now().date()


def without_layout(store: FolderStore, tmp_path: Path) -> FolderStore:
    """Return a copy of the store with the datasets only: the web then reads them whole."""
    copy = tmp_path / "datasets-only"
    shutil.copytree(store.root, copy)
    shutil.rmtree(copy / "serving", ignore_errors=True)
    return FolderStore(copy)


def sample_queries(store: FolderStore, count: int, seed: int = 3) -> list[str]:
    """Return varied area queries over the store's shows: states, cities, radii, genres."""
    concerts, _ = load_dataset(store, CONCERTS)
    rng = random.Random(seed)
    genres = sorted({g for gs in concerts["genres"].astype(str) for g in gs.split("|") if g})
    places = concerts[["venue_state", "venue_city"]].drop_duplicates().to_records(index=False)
    queries = []
    for _ in range(count):
        state, city = places[rng.randrange(len(places))]
        query = f"state={state}&days={rng.choice(DAY_CHOICES)}&tracks={rng.randint(1, 5)}"
        if rng.random() < 0.6:
            query += f"&city={city}"
            if rng.random() < 0.5:
                query += f"&radius={rng.choice([10, 30, 100, 250])}"
        if rng.random() < 0.3:
            query += f"&genre={rng.choice(genres)}"
        if rng.random() < 0.2:
            query += "&headliners=1"
        queries.append(query.replace(" ", "+"))
    return queries


def main_part(html: str) -> str:
    return html[html.index("<main>") :]


# Item 5: the same pages, counts and playlists as before


def test_pages_from_the_layout_equal_pages_from_the_datasets(
    data_copy: FolderStore, sandbox: SandboxServer, tmp_path: Path
) -> None:
    assert data_copy.generation(INDEX) is not None  # the ETL run wrote the layout
    layout = web_app(data_copy, sandbox).test_client()
    datasets = web_app(without_layout(data_copy, tmp_path), sandbox).test_client()

    for query in ["", *sample_queries(data_copy, 60)]:
        from_layout = layout.get(f"/shows?{query}")
        from_datasets = datasets.get(f"/shows?{query}")
        assert from_layout.status_code == from_datasets.status_code == 200, query
        assert main_part(from_layout.get_data(as_text=True)) == main_part(
            from_datasets.get_data(as_text=True)
        ), query


def oracle_shows(rows: pd.DataFrame, query: AreaQuery, today: date) -> int:
    """Count the shows the old way: every row of the country, distances to all of them."""
    if query.city and query.radius_miles:
        here = rows[(rows["venue_state"] == query.state) & (rows["venue_city"] == query.city)]
        lat, lon = float(here["venue_lat"].mean()), float(here["venue_lon"].mean())
        rows = rows[
            miles_from(lat, lon, rows["venue_lat"], rows["venue_lon"]) <= query.radius_miles
        ]
    else:
        rows = rows[rows["venue_state"] == query.state]
        if query.city:
            rows = rows[rows["venue_city"] == query.city]
    first, last = query.window(today)
    start = pd.Timestamp(datetime.combine(first, datetime.min.time(), UTC))
    end = pd.Timestamp(datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC))
    days = rows["local_day"].between(int(f"{first:%Y%m%d}"), int(f"{last:%Y%m%d}"))
    times = (rows["starts"] >= start - pd.Timedelta(hours=14)) & (
        rows["starts"] < end + pd.Timedelta(hours=10)
    )
    rows = rows[days & times]
    if query.headliners_only:
        rows = rows[rows["is_headliner"]]
    if query.genres:
        rows = rows[rows["genres"].map(lambda gs: bool(set(query.genres) & set(gs.split("|"))))]
    return int(rows["show_key"].nunique())


def test_radius_counts_equal_a_scan_of_the_whole_country(
    data_copy: FolderStore, app_and_data: tuple[Flask, DatasetCache]
) -> None:
    concerts, _ = load_dataset(data_copy, CONCERTS)
    artists, _ = load_dataset(data_copy, ARTISTS)
    everything = shape_rows(concerts, artists)
    _, cache = app_and_data
    data = cache.shows()
    rng = random.Random(5)
    places = everything[["venue_state", "venue_city"]].drop_duplicates().to_records(index=False)

    for _ in range(40):
        state, city = places[rng.randrange(len(places))]
        query = AreaQuery(
            str(state), str(city), rng.choice([5, 30, 120, 250]), rng.choice(DAY_CHOICES)
        )
        selection = area_plan.select(data, query, TODAY)
        assert area_plan.count(selection.rows).shows == oracle_shows(everything, query, TODAY), (
            query
        )


def test_a_one_off_read_plans_what_the_web_plans(data_copy: FolderStore, tmp_path: Path) -> None:
    served = DatasetCache(data_copy, check_every=0).shows()
    from_layout = load_shows(data_copy)
    from_datasets = load_shows(without_layout(data_copy, tmp_path))
    rows = served.all_rows()
    places = rows[["venue_state", "venue_city"]].drop_duplicates().to_records(index=False)
    rng = random.Random(7)
    busiest = sorted(served.states, key=lambda code: -served.states[code].shows)[:3]
    queries = [AreaQuery(state, days=90) for state in busiest]
    for _ in range(6):
        state, city = places[rng.randrange(len(places))]
        queries.append(AreaQuery(str(state), str(city), rng.choice([0, 30, 250]), 90))

    assert from_layout.states == served.states
    assert set(from_datasets.states) == set(served.states)
    plans = [area_plan.plan(served, query, TODAY) for query in queries]
    assert any(uris for _, uris in plans)
    for query, planned in zip(queries, plans, strict=True):
        assert area_plan.plan(from_layout, query, TODAY) == planned, query
        assert area_plan.plan(from_datasets, query, TODAY) == planned, query


@pytest.fixture
def app_and_data(data_copy: FolderStore, sandbox: SandboxServer) -> tuple[Flask, DatasetCache]:
    app = web_app(data_copy, sandbox)
    return app, app.extensions["datasets"]


# Item 2: the index at start, a state on first use, a bounded number of states


def test_at_start_only_the_index_is_read(data_copy: FolderStore) -> None:
    cache = DatasetCache(data_copy, check_every=0)

    data = cache.shows()

    assert cache.mode == "layout" and cache.loads == 0 and data.states
    assert cache.layout.cached_bytes == 0


def test_a_state_is_read_on_first_use_and_then_kept(data_copy: FolderStore) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    state = max(cache.shows().states.items(), key=lambda item: item[1].rows)[0]

    first = cache.shows().state(state)
    again = cache.shows().state(state)

    assert first is again and cache.loads == 1
    assert len(first.rows) == cache.shows().states[state].rows


def test_states_beyond_the_budget_leave_least_recently_used_first(data_copy: FolderStore) -> None:
    probe = DatasetCache(data_copy, check_every=0)
    sizes = {code: probe.shows().state(code).nbytes for code in sorted(probe.shows().states)}
    # The largest state leaves first, so the fourth fits once it has gone (data for the test).
    largest, first, third, fourth = sorted(sizes, key=lambda code: -sizes[code])[:4]
    budget = sizes[first] + sizes[largest] + sizes[third]
    cache = DatasetCache(data_copy, check_every=0, budget_bytes=budget)
    data = cache.shows()

    for code in (first, largest, third):
        data.state(code)
    data.state(first)  # used again: now the most recent
    data.state(fourth)  # over budget: the least recently used leave

    held = list(cache.layout.cache)
    assert held == [third, first, fourth]
    assert cache.layout.cached_bytes <= budget


def test_a_state_is_read_again_only_when_its_files_changed(data_copy: FolderStore) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    states = sorted(cache.shows().states)
    for code in states[:2]:
        cache.shows().state(code)
    concerts, _ = load_dataset(data_copy, CONCERTS)

    # The same datasets written again: new generations of every file, the same content.
    rebuild_serving(data_copy)
    data = cache.shows()
    data.state(states[0])

    assert cache.loads == 3  # the index names new files: read again once
    data.state(states[0])
    assert cache.loads == 3
    assert len(concerts) == sum(s.rows for s in data.states.values())


def test_while_a_state_reloads_its_old_copy_keeps_serving(data_copy: FolderStore) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    state = sorted(cache.shows().states)[0]
    old = cache.shows().state(state)
    rebuild_serving(data_copy)
    data = cache.shows()
    lock = cache.layout.state_locks[state]

    lock.acquire()  # another request is reading the new files
    try:
        served = data.state(state)
    finally:
        lock.release()
    fresh = data.state(state)

    assert served is old and fresh is not old


def test_a_broken_state_file_keeps_the_old_copy_and_without_one_says_unavailable(
    data_copy: FolderStore,
) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    states = sorted(cache.shows().states)
    old = cache.shows().state(states[0])
    rebuild_serving(data_copy)
    for code in states[:2]:
        data_copy.write(shows_file(code), b"not parquet")
    data = cache.shows()

    assert data.state(states[0]) is old
    with pytest.raises(DataUnavailableError):
        data.state(states[1])


def test_the_datasets_leave_memory_once_a_layout_is_written(
    data_copy: FolderStore, tmp_path: Path
) -> None:
    store = without_layout(data_copy, tmp_path)
    cache = DatasetCache(store, check_every=0)
    assert cache.shows().states and cache.mode == "datasets" and cache.csv.states

    rebuild_serving(store)
    cache.shows()

    assert cache.mode == "layout" and not cache.csv.states


def test_many_requests_at_once_read_each_state_once(data_copy: FolderStore) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    states = sorted(cache.shows().states)[:4]
    errors: list[BaseException] = []

    def browse(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(20):
                cache.shows().state(rng.choice(states))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=browse, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors and cache.loads == len(states)


def test_the_preview_page_names_the_loaded_state_only(
    app_and_data: tuple[Flask, DatasetCache],
) -> None:
    app, cache = app_and_data
    client = app.test_client()
    state = max(cache.shows().states.items(), key=lambda item: item[1].rows)[0]

    page = client.get(f"/shows?state={state}&days=90").get_data(as_text=True)

    assert list(cache.layout.cache) == [state]
    assert re.search(r'id="counts"><strong>\d+</strong>', page)


def test_a_serving_file_holding_pickled_objects_is_refused() -> None:
    out = io.BytesIO()
    np.savez(out, columns=np.array(["x:plain"]), x=np.array([{"a": 1}], dtype=object))

    with pytest.raises(ServingLayoutError):
        from_columns(out.getvalue(), ["x"])


def test_columns_round_trip_text_times_numbers_and_gaps() -> None:
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "a", ""],
            "when": pd.to_datetime(["2026-12-01T01:00:00Z"] * 4, utc=True),
            "number": pd.array([1, None, 3, 4], dtype="Int64"),
            "flag": [True, False, True, False],
        }
    )

    back = from_columns(to_columns(frame), list(frame.columns))

    assert back["text"].astype(str).tolist() == ["a", "b", "a", ""]
    assert back["when"].tolist() == frame["when"].tolist()
    assert back["number"].tolist()[0] == 1 and math.isnan(back["number"].tolist()[1])
    assert back["flag"].tolist() == [True, False, True, False]


def test_a_serving_worker_keeps_what_lives_long_out_of_full_collections(
    data_copy: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """web/main.py's app freezes the libraries, and each state it reads; test apps do not."""
    for name, value in {**BASE_ENV, "DATA_URL": str(data_copy.root)}.items():
        monkeypatch.setenv(name, value)
    try:
        main = importlib.reload(importlib.import_module("web.main"))
        assert main.app.config["FREEZE_GC"] is True
        assert main.app.extensions["datasets"].layout.freeze_after_loads
        assert gc.get_freeze_count() > 0
        gc.unfreeze()
        plain = DatasetCache(data_copy, check_every=0)
        state = next(iter(plain.shows().states))
        plain.shows().state(state)
        assert gc.get_freeze_count() == 0

        serving = DatasetCache(data_copy, check_every=0, freeze_after_loads=True)
        tracks = serving.shows().state(state).tracks_of

        assert gc.get_freeze_count() > 0
        assert tracks is serving.shows().state(state).tracks_of
    finally:
        gc.unfreeze()


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.lists(st.tuples(st.text(max_size=6), st.text(max_size=12)), max_size=4),
        max_size=5,
    ),
    st.integers(min_value=-1, max_value=5),
)
def test_packed_tracks_give_each_artists_tracks_by_rank(
    listed: dict[str, list[tuple[str, str]]], count: int
) -> None:
    """Tracks kept packed answer as the lists they were made from, for any text."""
    tracks = {
        artist: [Track(track_id, name, rank) for rank, (track_id, name) in enumerate(pairs, 1)]
        for artist, pairs in listed.items()
        if pairs
    }
    packed = PackedTracks.from_frame(
        pd.DataFrame(
            [
                {
                    "spotify_artist_id": a,
                    "track_id": t.track_id,
                    "track_name": t.name,
                    "rank": t.rank,
                }
                for a, listed_tracks in reversed(tracks.items())
                for t in reversed(listed_tracks)
            ],
            columns=["spotify_artist_id", "track_id", "track_name", "rank"],
        )
    )

    assert dict(packed) == tracks
    for artist, expected in tracks.items():
        assert packed.top(artist, count) == expected[: max(count, 0)]
        assert packed.top_ids(artist, count) == [t.track_id for t in expected[: max(count, 0)]]
    assert packed.top("nobody", 3) == [] and "nobody" not in packed
    chained = TracksOf([packed, PackedTracks.of({"other": [Track("x", "y", 1)]})])
    assert chained.top("other", 1) == [Track("x", "y", 1)] and len(chained) == len(tracks) + (
        "other" not in tracks
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(), max_size=12))
def test_packed_text_round_trips_any_text(texts: list[str]) -> None:
    coded = CodedText.of(texts)
    coded.check()
    assert isinstance(coded.texts, PackedText)
    blocked = CodedText(coded.codes, BlockText.of(coded.texts))
    blocked.check()

    for column in (coded, blocked):
        assert column.take(range(len(texts))) == texts
        assert column.take(reversed(range(len(texts)))) == texts[::-1]
        assert column.texts.strings() == list(dict.fromkeys(texts))


def test_titles_kept_compressed_round_trip_and_a_damaged_block_is_refused() -> None:
    titles = [f"Band {n} with Support {n % 7} (late show)" for n in range(300)] + ["", "é ✓"]
    frame = pd.DataFrame({"event_title": titles, "n": range(len(titles))})
    data = to_columns(frame, blocked=["event_title"])

    column = read_columns(data)["event_title"]
    assert isinstance(column, CodedText) and isinstance(column.texts, BlockText)
    assert column.take(range(len(titles))) == titles
    assert column.texts.nbytes < len("".join(titles).encode())  # compressed in memory
    assert from_columns(data, ["event_title"])["event_title"].astype(str).tolist() == titles

    archive = dict(np.load(io.BytesIO(data)))
    damaged = archive["event_title.zblocks"].copy()
    damaged[10:20] = 0
    out = io.BytesIO()
    np.savez(out, **{**archive, "event_title.zblocks": damaged})
    with pytest.raises(ServingLayoutError):
        read_columns(out.getvalue())


def first_version_file(frame: pd.DataFrame) -> bytes:
    """Write a frame as the layout's first version did: distinct texts as a fixed-width array."""
    arrays: dict[str, np.ndarray] = {}
    kinds = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            utc = pd.to_datetime(column, utc=True).dt.tz_localize(None)
            arrays[name] = utc.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            kinds.append(f"{name}:utc")
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            arrays[name] = column.to_numpy()
            kinds.append(f"{name}:plain")
        else:
            codes, distinct = pd.factorize(column.astype(str))
            arrays[f"{name}.codes"] = codes.astype(np.int32)
            arrays[f"{name}.text"] = np.array([str(v) for v in distinct], dtype=str)
            kinds.append(f"{name}:text")
    arrays["columns"] = np.array(kinds, dtype=str)
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def test_a_layout_of_the_first_version_is_still_served_the_same(
    data_copy: FolderStore, sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A deploy between two builds reads the files the previous code wrote (no place numbers,
    texts fixed-width) and serves the same pages as from files written now."""
    shutil.copytree(data_copy.root, tmp_path / "first-version")
    old = FolderStore(tmp_path / "first-version")
    for state in read_index(old).states:  # type: ignore[union-attr]
        rows, tracks = read_state(old, state)
        old.write(shows_file(state), first_version_file(rows.drop(columns=["place"])))
        old.write(tracks_file(state), first_version_file(tracks))
    now = web_app(data_copy, sandbox).test_client()
    before = web_app(old, sandbox).test_client()

    for query in sample_queries(data_copy, 25, seed=11):
        from_now, from_before = now.get(f"/shows?{query}"), before.get(f"/shows?{query}")
        assert from_now.status_code == from_before.status_code == 200, query
        assert main_part(from_now.get_data(as_text=True)) == main_part(
            from_before.get_data(as_text=True)
        ), query


def test_texts_that_are_not_utf8_or_end_inside_a_character_are_refused() -> None:
    with pytest.raises(ValueError):
        PackedText("é".encode(), np.array([1, 2])).check()  # ends inside "é"
    with pytest.raises(ValueError):
        PackedText(b"\xff\xfe", np.array([2])).check()
    whole = BlockText.of(PackedText.of(["a", "é"]))
    with pytest.raises(ValueError):  # a block with bytes after its end
        BlockText(whole.blocks + b"x", whole.block_ends + 1, whole.ends).check()


def test_a_truncated_state_file_is_a_503_for_that_state_and_is_not_read_again(
    data_copy: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DatasetCache(data_copy, check_every=0)
    states = sorted(cache.shows().states)
    whole = data_copy.read(shows_file(states[0])).data
    data_copy.write(shows_file(states[0]), whole[: len(whole) // 2])
    other = cache.shows().state(states[1])
    reads: list[str] = []
    real_read = data_copy.read
    monkeypatch.setattr(data_copy, "read", lambda name: reads.append(name) or real_read(name))

    for _ in range(3):
        with pytest.raises(DataUnavailableError):
            cache.shows().state(states[0])

    assert reads.count(shows_file(states[0])) == 1  # refused once, then not read again
    assert cache.shows().state(states[1]) is other  # and no other state was pushed out


def test_one_show_listed_at_two_starts_is_two_runs_not_a_refusal() -> None:
    from etl.wanted import concert_shows

    def row(event_id: str, starts: str) -> dict[str, object]:
        return {
            "event_id": event_id,
            "source": "tm",
            "event_title": f"Show {event_id}",
            "event_url": "",
            "starts_at": starts,
            "starts_at_local": starts[:19],
            "venue_name": "Hall",
            "venue_city": "Town",
            "venue_state": "NY",
            "venue_lat": 40.0,
            "venue_lon": -74.0,
            "performer_name": f"Act {event_id}",
            "is_headliner": True,
            "billing_order": 1,
            "genres": "",
        }

    concerts = pd.DataFrame(
        [
            row("a1", "2026-12-02T01:00:00Z"),
            row("b2", "2026-12-03T01:00:00Z"),
            row("a1", "2026-12-04T01:00:00Z"),
        ]
    )

    state = concert_shows(concerts).state("NY")

    assert state.rows["show"].tolist() == [0, 1, 2]
    assert ShowTexts.of(state).take("event_title", [0, 1, 2]) == ["Show a1", "Show b2", "Show a1"]


def test_a_radius_around_a_city_without_coordinates_finds_nothing_near(
    data_copy: FolderStore, sandbox: SandboxServer
) -> None:
    concerts, _ = load_dataset(data_copy, CONCERTS)
    state, city = concerts[["venue_state", "venue_city"]].iloc[0]
    unknown = (concerts["venue_state"] == state) & (concerts["venue_city"] == city)
    concerts.loc[unknown, ["venue_lat", "venue_lon"]] = np.nan
    save_dataset(data_copy, CONCERTS, concerts)
    rebuild_serving(data_copy)
    client = web_app(data_copy, sandbox).test_client()

    answer = client.get("/shows", query_string={"state": state, "city": city, "radius": 50})

    assert answer.status_code == 200
    assert re.search(r'id="counts"><strong>0</strong>', answer.get_data(as_text=True))
