"""The signed-in preview's fast path: what it skips on a repeat, and what it must still show."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.server import SandboxServer
from shared import area_plan
from shared.area_playlists import load_made, made_object
from shared.saved_areas import previews_object
from shared.shows_data import PackedTracks, ShowTexts, Track
from shared.storage import FolderStore, StorageError, StoredObject
from shared.taste import Known
from tests.conftest import BASE_ENV
from tests.test_web_saved_areas import busiest_state, make
from tests.web_helpers import sign_in, state_of

USER = "alice"


class CountingStore:
    """A folder store that counts each call by object, and fails those under `failing`."""

    def __init__(self, store: FolderStore) -> None:
        self.store = store
        self.calls: Counter[tuple[str, str]] = Counter()
        self.failing: tuple[str, ...] = ()

    def _call(self, verb: str, name: str) -> None:
        self.calls[(verb, name)] += 1
        if self.failing and name.startswith(self.failing):
            raise StorageError(f"{name}: storage is down")

    def read(self, name: str) -> StoredObject:
        self._call("read", name)
        return self.store.read(name)

    def generation(self, name: str) -> int | None:
        self._call("generation", name)
        return self.store.generation(name)

    def write(self, name: str, data: bytes, **options: Any) -> int:
        self._call("write", name)
        return self.store.write(name, data, **options)

    def __getattr__(self, attribute: str) -> Any:  # list, delete, generations: as they are
        return getattr(self.store, attribute)


@pytest.fixture
def counting(data_copy: FolderStore) -> CountingStore:
    return CountingStore(data_copy)


@pytest.fixture
def app(sandbox: SandboxServer, counting: CountingStore) -> Flask:
    from shared.config import load_settings
    from web import create_app

    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(counting.store.root)}
    return create_app(load_settings(env), counting, DATASET_CHECK_SECONDS=0)  # type: ignore[arg-type]


@pytest.fixture
def signed_in(client: FlaskClient) -> FlaskClient:
    sign_in(client, USER)
    return client


def test_a_repeat_preview_of_an_area_notes_nothing_again(
    signed_in: FlaskClient, counting: CountingStore
) -> None:
    state = busiest_state(counting.store)
    previews = previews_object(USER)

    for _ in range(3):
        assert signed_in.get(f"/shows?state={state}&days=30").status_code == 200
    assert counting.calls[("write", previews)] == 1
    assert counting.calls[("read", previews)] == 1

    assert signed_in.get(f"/shows?state={state}&days=14").status_code == 200
    assert counting.calls[("write", previews)] == 2  # another area is news
    assert counting.store.read(previews).data.count(b'"on"') == 2


def test_a_preview_not_noted_is_tried_again(
    signed_in: FlaskClient, counting: CountingStore
) -> None:
    state = busiest_state(counting.store)
    counting.failing = ("previews/",)
    assert signed_in.get(f"/shows?state={state}&days=30").status_code == 200

    counting.failing = ()
    assert signed_in.get(f"/shows?state={state}&days=30").status_code == 200
    assert counting.calls[("read", previews_object(USER))] == 2  # the failed note, again
    assert counting.calls[("write", previews_object(USER))] == 1


def test_the_made_record_is_read_once_until_it_changes(
    signed_in: FlaskClient, counting: CountingStore
) -> None:
    state = busiest_state(counting.store)
    form = {"state": state, "days": "30", "tracks": "2"}
    signed_in.get("/shows", query_string=form)  # the record read (and earlier ones taken in)

    made = make(signed_in, form)
    assert made.status_code == 200
    reads_after_make = counting.calls[("read", made_object(USER))]
    pages = [signed_in.get("/shows", query_string=form).get_data(True) for _ in range(3)]

    newest = max(load_made(counting.store, USER).playlists, key=lambda p: p.updated_at)
    offered = f'name="update" value="{newest.playlist_id}"'
    assert all(offered in page for page in pages)  # offered right after it was made
    assert counting.calls[("read", made_object(USER))] == reads_after_make + 1


def test_a_failing_store_still_shows_the_preview(
    signed_in: FlaskClient, counting: CountingStore
) -> None:
    state = busiest_state(counting.store)
    counting.failing = ("previews/", "playlists/", "taste/")

    answer = signed_in.get(f"/shows?state={state}&days=30")

    assert answer.status_code == 200
    assert 'id="existing"' not in answer.get_data(as_text=True)


def rows_of(shows: list[list[tuple[str, str]]]) -> pd.DataFrame:
    """Rows as the serving layout orders them: by start, show and billing."""
    records = [
        {
            "show_key": f"s:{number}",
            "performer_name": name,
            "starts_at_local": f"2026-12-{number + 1:02d}T20:00:00",
            "venue_name": "Hall",
            "venue_city": "Town",
            "event_title": f"Bill {number}",
            "event_url": "https://example.com/e",
            "spotify_artist_id": artist_id,
            "checked": True,
            "uncertain": False,
            "time_tbd": False,
        }
        for number, bill in enumerate(shows)
        for name, artist_id in bill
    ]
    return pd.DataFrame(records)


BILLS = [
    [("Zed", "z")],
    [("The Apples", "a"), ("Opener", "o")],
    [("Mid", "m"), ("Zed", "z")],
    [("Unmatched", "")],
    [("apples", "a2"), ("Loved", "k")],
    [("Bee", "b")],
]
KNOWN = {"k": Known("Loved", plays=40), "m": Known("Mid", followed=True), "z": Known("Zed")}
TRACKS = PackedTracks.of(
    {a: [Track(f"t-{a}-{n}", f"{a} {n}", n + 1) for n in range(3)] for a in "zaomkb"}
)


@pytest.mark.parametrize("order", ["date", "artist", "known"])
@pytest.mark.parametrize("shown", [None, 1, 3, 100])
def test_a_plan_in_an_order_is_the_whole_plan_sorted(order: str, shown: int | None) -> None:
    state = state_of(rows_of(BILLS))
    texts = ShowTexts.of(state)
    whole, whole_uris = area_plan.plan_playlist(state.rows, TRACKS, 2, texts=texts, known=KNOWN)

    shows, uris = area_plan.plan_playlist(
        state.rows, TRACKS, 2, shown, texts=texts, known=KNOWN, order=order
    )

    assert uris == whole_uris
    expected = area_plan.sort_shows(whole, order)[:shown]
    assert [asdict(show) for show in shows] == [asdict(show) for show in expected]
    assert {show.title for show in whole} == {f"Bill {n}" for n in range(len(BILLS))}


def test_counts_come_from_codes_as_from_text() -> None:
    genres = ["rock|indie", "", "rock", "jazz", "rock", "indie"]  # a list per show
    rows = rows_of(BILLS)
    rows["genres"] = [genres[int(key.removeprefix("s:"))] for key in rows["show_key"]]
    frame = state_of(rows).rows

    assert area_plan.genre_counts(frame) == [("rock", 3), ("indie", 2), ("jazz", 1)]
    mix = area_plan.mix_counts(frame, KNOWN, "")
    assert (mix.known, mix.new) == (3, 4)
    assert area_plan.count(frame) == area_plan.Counts(len(BILLS), 8)


GENRE_NAMES = [f"g{n}" for n in range(70)]  # more than one 64-bit word of genres


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.lists(st.sampled_from(GENRE_NAMES[:3] + GENRE_NAMES[60:70]), max_size=3),
            min_size=1,
            max_size=3,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_genre_counts_count_each_show_once_per_genre(bills: list[list[list[str]]]) -> None:
    rows = rows_of(
        [[(f"P{n}-{at}", "") for at, _ in enumerate(bill)] for n, bill in enumerate(bills)]
    )
    rows["genres"] = ["|".join(genres) for bill in bills for genres in bill]
    frame = state_of(rows).rows

    expected: Counter[str] = Counter()
    for bill in bills:
        expected.update({genre for genres in bill for genre in genres})
    assert area_plan.genre_counts(frame) == sorted(
        expected.items(), key=lambda item: (-item[1], item[0])
    )


def test_the_whole_playlist_plans_the_shows_that_bring_its_tracks() -> None:
    """Making a playlist plans the shows through the last that brings a track (and the first
    few, for the description): the same tracks, notes and description as planning them all."""
    bills = [[(f"Act {n}", f"a{n % 40}")] for n in range(200)]
    rows = rows_of(bills)
    days = pd.Timestamp("2026-12-01T20:00:00") + pd.to_timedelta(range(len(bills)), unit="D")
    rows["starts_at_local"] = days.strftime("%Y-%m-%dT%H:%M:%S")
    state = state_of(rows)
    tracks = PackedTracks.of(
        {f"a{n}": [Track(f"t{n}-{r}", f"s{r}", r + 1) for r in range(3)] for n in range(0, 40, 3)}
    )
    texts = ShowTexts.of(state)

    shows, uris = area_plan.plan_playlist(state.rows, tracks, 2, texts=texts)
    every, every_uris = area_plan.plan_playlist(state.rows, tracks, 2, len(bills), texts=texts)

    assert uris == every_uris and len(every) == len(bills)
    assert area_plan.DESCRIBED_SHOWS <= len(shows) < len(every)
    assert [asdict(s) for s in shows] == [asdict(s) for s in every[: len(shows)]]
    assert not any(a.in_playlist for s in every[len(shows) :] for a in s.artists)
    assert area_plan.playlist_description(shows) == area_plan.playlist_description(every)
