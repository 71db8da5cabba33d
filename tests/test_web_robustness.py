"""The web answers every request with a page, never a 500: odd forms, empty selections, far
dates, broken datasets and hostile names, on a small world built by hand."""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from sandbox.server import SandboxServer
from shared import area_query
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, save_dataset
from shared.names import performer_key
from shared.serving import shape_rows
from shared.storage import FolderStore
from shared.text import clean_name
from tests.clock import clock_now
from tests.conftest import BASE_ENV
from tests.web_helpers import csrf_token, sign_in
from web import create_app
from web.data import DatasetCache

TODAY = clock_now().date()
HOSTILE_CITY = "Aus\x00tin\u202e"
HOSTILE_ARTIST = "Evil\u202eName\x00\x07"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def concert(
    event_id: str,
    state: str,
    city: str,
    performer: str,
    *,
    days_ahead: int = 3,
    genres: str = "rock",
    headliner: bool = True,
    billing: int = 1,
) -> dict[str, Any]:
    """Return one concert row, its start days_ahead from today at 8 pm UTC."""
    day = TODAY + timedelta(days=days_ahead)
    return {
        "event_id": event_id,
        "source": "seatgeek",
        "event_title": f"{performer} live",
        "event_url": f"https://example.com/{event_id}",
        "starts_at": f"{day.isoformat()}T20:00:00+00:00",
        "starts_at_local": f"{day.isoformat()}T15:00:00",
        "time_tbd": False,
        "venue_name": f"Hall {event_id}",
        "venue_city": city,
        "venue_state": state,
        "venue_postal_code": "00000",
        "venue_lat": 40.0,
        "venue_lon": -74.0,
        "performer_id": event_id,
        "performer_name": performer,
        "is_headliner": headliner,
        "billing_order": billing,
        "genres": genres,
        "source_spotify_artist_id": "",
        "fetched_at": "",
        "performer_kind": "",
        "performer_from_title": False,
        "performer_key": performer_key(performer),
    }


def write_world(store: FolderStore, spotify_artists: list[dict[str, Any]]) -> None:
    """Write a small world: NY busy, AL one jazz show, WY one show in half a year, TX hostile."""
    matched = spotify_artists[:3]
    rows = [
        concert("1", "NY", "New York", matched[0]["name"], genres="rock|indie"),
        concert("1", "NY", "New York", "Nobody Known", headliner=False, billing=2),
        concert("2", "NY", "Brooklyn", matched[1]["name"], days_ahead=10, genres="pop"),
        concert("3", "NY", "New York", "Checked Not Found", days_ahead=20, genres=""),
        concert("4", "AL", "Mobile", matched[2]["name"], genres="jazz", headliner=False),
        concert("5", "WY", "Cody", matched[0]["name"], days_ahead=180),
        concert("6", "TX", HOSTILE_CITY, HOSTILE_ARTIST, days_ahead=5),
    ]
    artists = [
        {
            "performer_key": performer_key(name),
            "performer_name": name,
            "spotify_artist_id": artist_id,
            "spotify_artist_name": name,
            "match_method": "exact",
            "match_score": 1.0,
            "checked_at": "",
            "match_confidence": "high",
            "match_evidence": "",
            "tracks_checked_at": "",
        }
        for name, artist_id in [
            *((a["name"], a["id"]) for a in matched),
            ("Checked Not Found", ""),
            (HOSTILE_ARTIST, matched[1]["id"]),
        ]
    ]
    tracks = [
        {
            "spotify_artist_id": artist["id"],
            "rank": rank,
            "track_id": track_id,
            "track_name": f"Track {rank}",
            "album_name": "",
            "release_date": "",
            "duration_ms": 1000,
            "explicit": False,
            "isrc": "",
            "tracks_source": "top",
            "fetched_at": "",
        }
        for artist in matched
        for rank, track_id in enumerate(artist["top_track_ids"][:5], start=1)
    ]
    save_dataset(store, CONCERTS, pd.DataFrame(rows))
    save_dataset(store, ARTISTS, pd.DataFrame(artists))
    save_dataset(store, TOP_TRACKS, pd.DataFrame(tracks))


def make_app(sandbox: SandboxServer, store: FolderStore) -> Flask:
    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)}
    return create_app(load_settings(env), store, DATASET_CHECK_SECONDS=0)


@pytest.fixture(scope="module")
def world_store(
    tmp_path_factory: pytest.TempPathFactory, small_world: dict[str, Any]
) -> FolderStore:
    store = FolderStore(tmp_path_factory.mktemp("robust"))
    write_world(store, [a for a in small_world["spotify"]["artists"] if a["top_track_ids"]])
    return store


@pytest.fixture(scope="module")
def app(sandbox_session: SandboxServer, world_store: FolderStore) -> Flask:
    return make_app(sandbox_session, world_store)


@pytest.fixture(scope="module")
def signed_in(app: Flask) -> tuple[FlaskClient, str]:
    client = app.test_client()
    sign_in(client)
    return client, csrf_token(client.get("/shows"))


@pytest.fixture
def store(tmp_path: Path, small_world: dict[str, Any]) -> FolderStore:
    """Return a fresh store of the small world, for tests that break its files."""
    fresh = FolderStore(tmp_path / "data")
    write_world(fresh, [a for a in small_world["spotify"]["artists"] if a["top_track_ids"]])
    return fresh


def read_concerts(store: FolderStore) -> pd.DataFrame:
    """Return the concerts file as plain text columns, as a careless operator would edit it."""
    return pd.read_csv(io.BytesIO(store.read(CONCERTS.name).data), dtype=str, keep_default_na=False)


def page_text(answer: Any) -> str:
    return str(answer.get_data(as_text=True))


def show_count(page: str) -> int:
    found = re.search(r'id="counts"><strong>(\d+)</strong> shows', page)
    assert found, "the page has no counts"
    return int(found.group(1))


# Defect 1: a selection that comes out empty is "no shows", never a 500.


@pytest.mark.parametrize(
    "query",
    [
        "state=AL&genre=rock",
        "state=WY&genre=rock",  # nothing in the window before the genre filter (the demo's 500)
        "state=AL&genre=rock&genre=no-such-genre",
        "state=AL&headliners=1",
        "state=WY&days=7",
        "state=NY&city=Brooklyn&genre=jazz",
        "state=NY&city=New+York&radius=5&genre=jazz&headliners=1",
    ],
)
def test_an_empty_selection_says_no_shows(app: Flask, query: str) -> None:
    answer = app.test_client().get(f"/shows?{query}")

    assert answer.status_code == 200
    page = page_text(answer)
    assert show_count(page) == 0
    assert "No shows match these choices." in page


def test_making_a_playlist_of_no_shows_says_so(signed_in: tuple[FlaskClient, str]) -> None:
    client, token = signed_in

    answer = client.post(
        "/shows/playlist", data={"state": "AL", "genre": "rock", "csrf_token": token}
    )

    assert answer.status_code == 400
    assert "No shows match these choices, so there is nothing" in page_text(answer)


# Defect 2: dates the code cannot compute are refused with a message.


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        ("9999-12-31", "9999-12-31"),
        ("2262-04-12", "2262-04-12"),
        (TODAY.isoformat(), (TODAY + timedelta(days=area_query.MAX_DAYS_AHEAD + 1)).isoformat()),
    ],
)
def test_far_dates_are_refused_with_a_message(
    app: Flask, signed_in: tuple[FlaskClient, str], date_from: str, date_to: str
) -> None:
    client, token = signed_in
    form = {"state": "NY", "from": date_from, "to": date_to}

    shown = app.test_client().get("/shows", query_string=form)
    posted = client.post("/shows/playlist", data={**form, "csrf_token": token})

    assert shown.status_code == 400 and posted.status_code == 400
    assert "too far ahead" in page_text(shown) and "too far ahead" in page_text(posted)


def test_the_last_day_allowed_still_works(app: Flask) -> None:
    last = TODAY + timedelta(days=area_query.MAX_DAYS_AHEAD)
    form = {"state": "NY", "from": (last - timedelta(days=7)).isoformat(), "to": last.isoformat()}

    answer = app.test_client().get("/shows", query_string=form)

    assert answer.status_code == 200 and show_count(page_text(answer)) == 0


# Defect 7: a broken dataset keeps the last good copy; none at all is a 503.


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (b"\xff\xfe\x00garbage\x81\x82,\n\x00\xc3(", "datasets/concerts.csv"),
        (None, "venue_state"),
        ("starts_at", "starts_at"),
    ],
)
def test_a_broken_concerts_file_keeps_the_last_good_copy(
    sandbox: SandboxServer,
    store: FolderStore,
    caplog: pytest.LogCaptureFixture,
    broken: bytes | str | None,
    problem: str,
) -> None:
    client = make_app(sandbox, store).test_client()
    good = store.read(CONCERTS.name).data
    before = page_text(client.get("/shows?state=NY"))
    if isinstance(broken, bytes):
        store.write(CONCERTS.name, broken)
    else:
        concerts = read_concerts(store)
        dropped = "venue_state" if broken is None else broken
        store.write(CONCERTS.name, concerts.drop(columns=[dropped]).to_csv(index=False).encode())

    with caplog.at_level(logging.ERROR, logger="web.data"):
        stale = client.get("/shows?state=NY")
        health = client.get("/healthz").get_json()
    store.write(CONCERTS.name, good)
    fresh = client.get("/shows?state=NY")

    assert stale.status_code == 200
    assert show_count(page_text(stale)) == show_count(before) == 3
    assert 'id="stale-data"' in page_text(stale) and 'id="stale-data"' not in before
    assert health["data"] == "stale" and problem in health["problem"]
    refused = [r for r in caplog.records if r.getMessage().startswith("dataset refused")]
    assert refused and refused[0].dataset == CONCERTS.name  # type: ignore[attr-defined]
    assert problem in f"{refused[0].dataset} {refused[0].problem}"  # type: ignore[attr-defined]
    assert fresh.status_code == 200 and 'id="stale-data"' not in page_text(fresh)
    assert client.get("/healthz").get_json() == {"status": "ok", "service": "web"}


def test_with_no_good_copy_the_pages_say_the_data_is_unavailable(
    sandbox: SandboxServer, store: FolderStore
) -> None:
    store.write(CONCERTS.name, b"nothing,useful\n1,2\n")
    client = make_app(sandbox, store).test_client()

    shows = client.get("/shows?state=NY")
    health = client.get("/healthz")

    assert shows.status_code == 503
    assert "The list of shows is unavailable right now" in page_text(shows)
    assert health.status_code == 200 and health.get_json()["data"] == "unavailable"


def test_a_refused_version_is_not_read_again_until_it_changes(store: FolderStore) -> None:
    cache = DatasetCache(store, check_every=0)
    cache.shows()
    good = store.read(CONCERTS.name).data
    store.write(CONCERTS.name, b"\xff\xfe")

    first, second = cache.shows(), cache.shows()
    loads_while_broken = cache.loads
    store.write(CONCERTS.name, good)
    third = cache.shows()

    assert first is second and first.stale and loads_while_broken == 1
    assert not third.stale and cache.loads == 2


def test_the_stored_performer_key_is_used_and_computed_when_blank(store: FolderStore) -> None:
    concerts = read_concerts(store)
    concerts["performer_key"] = concerts["performer_name"].map(
        lambda name: "stored-key" if name == "Checked Not Found" else ""
    )
    store.write(CONCERTS.name, concerts.to_csv(index=False).encode())

    shaped = DatasetCache(store, check_every=0).shows().all_rows()
    key_of = dict(
        zip(shaped["performer_name"].astype(str), shaped["performer_key"].astype(str), strict=True)
    )

    assert key_of["Checked Not Found"] == "stored-key"
    assert key_of["Nobody Known"] == performer_key("Nobody Known")


def test_an_old_file_without_performer_keys_computes_them(store: FolderStore) -> None:
    concerts = read_concerts(store)
    empty = pd.DataFrame(columns=["performer_key", "spotify_artist_id", "spotify_artist_name"])

    rows = shape_rows(concerts.drop(columns=["performer_key"]), empty)

    assert set(rows["performer_key"].astype(str)) == {
        performer_key(name) for name in concerts["performer_name"]
    }


# Defect 11: control characters and bidi overrides never reach the page or Spotify.


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("A\x00B", "AB"),
        ("Evil\u202eName", "EvilName"),
        ("\u2066x\u2069\u202a", "x"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("bell\x07 del\x7f c1\x85", "bell del c1"),
        ("Beyoncé · Sigur Rós", "Beyoncé · Sigur Rós"),
    ],
)
def test_clean_name(name: str, cleaned: str) -> None:
    assert clean_name(name) == cleaned


@given(st.text())
@settings(max_examples=150, deadline=None)
def test_clean_name_leaves_no_controls_and_is_idempotent(name: str) -> None:
    cleaned = clean_name(name)

    assert not CONTROLS.search(cleaned)
    assert clean_name(cleaned) == cleaned


def test_hostile_names_are_cleaned_on_the_page_and_in_the_playlist(
    signed_in: tuple[FlaskClient, str], sandbox_session: SandboxServer
) -> None:
    client, token = signed_in
    form = {"state": "TX", "city": clean_name(HOSTILE_CITY), "days": "30"}

    page = page_text(client.get("/shows", query_string=form))
    made = client.post("/shows/playlist", data={**form, "csrf_token": token}, follow_redirects=True)

    assert "EvilName" in page and "Austin" in page
    assert not CONTROLS.search(page)
    assert made.status_code == 200 and not CONTROLS.search(page_text(made))
    playlists = requests.get(f"{sandbox_session.url}/_sandbox/stats", timeout=5).json()["playlists"]
    mine = [p for p in playlists if p["name"].startswith("Local Shows: Austin, TX")]
    assert mine and "EvilName" in mine[-1]["description"]
    assert not CONTROLS.search(mine[-1]["name"] + mine[-1]["description"])


# Property tests: any query or form answers 2xx, 3xx or 4xx.

JUNK = st.text(max_size=120)


def mostly(*values: str) -> st.SearchStrategy[str]:
    """Draw a value the form offers three times in four, junk otherwise: filters must run."""
    offered = st.sampled_from(values)
    return st.one_of(offered, offered, offered, JUNK)


DAYS_FROM_TODAY = st.one_of(st.integers(-5, 60), st.integers(60, 4000)).map(
    lambda n: (TODAY + timedelta(days=n)).isoformat()
)
FIELD_VALUES = {
    "city": mostly("New York", "Brooklyn", "Mobile", "Cody", "Austin", "new york"),
    "radius": mostly("0", "5", "250", "251", "-1"),
    "days": mostly(*(str(days) for days in area_query.DAY_CHOICES), "8"),
    "tracks": mostly("1", "3", "5", "6"),
    "headliners": st.sampled_from(["1", ""]),
}
DATE_VALUES = st.one_of(DAYS_FROM_TODAY, DAYS_FROM_TODAY, st.dates().map(str), JUNK)
# Both dates or neither, mostly: one alone is only one more way to a 400.
WINDOWS = st.one_of(
    st.just(()),
    st.tuples(DATE_VALUES, DATE_VALUES).map(lambda pair: (("from", pair[0]), ("to", pair[1]))),
    st.tuples(st.sampled_from(["from", "to"]), DATE_VALUES).map(lambda one: (one,)),
)
GENRE = mostly("rock", "jazz", "pop", "indie", "ska")
GENRES = st.one_of(st.just([]), st.lists(GENRE, min_size=1, max_size=4))
FORMS = st.builds(
    lambda state, fields, window, genres, extra: [
        ("state", state),
        *fields.items(),
        *window,
        *(("genre", genre) for genre in genres),
        *extra,
    ],
    mostly("NY", "AL", "WY", "TX", "ny", "ZZ", ""),  # WY: one show, months ahead
    st.fixed_dictionaries({}, optional=FIELD_VALUES),
    WINDOWS,
    GENRES,
    st.lists(st.tuples(st.text(max_size=10), JUNK), max_size=2),
)


def assert_not_a_server_error(answer: Any) -> None:
    assert answer.status_code < 500, page_text(answer)[:2000]


@given(FORMS)
@settings(max_examples=150, deadline=None)
def test_any_query_on_the_area_page_answers_without_a_server_error(
    app: Flask, form: list[tuple[str, str]]
) -> None:
    answer = app.test_client().get("/shows", query_string=MultiDict(form))

    event(f"area page: {answer.status_code}")
    assert_not_a_server_error(answer)


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
@settings(max_examples=150, deadline=None)
def test_any_raw_query_string_answers_without_a_server_error(app: Flask, raw: str) -> None:
    client = app.test_client()

    assert_not_a_server_error(client.get("/shows?" + raw.replace("#", "%23")))
    assert_not_a_server_error(client.get("/healthz?" + raw.replace("#", "%23")))


@given(FORMS)
@settings(max_examples=150, deadline=None)
def test_any_form_made_into_a_playlist_answers_without_a_server_error(
    app: Flask, signed_in: tuple[FlaskClient, str], form: list[tuple[str, str]]
) -> None:
    client, token = signed_in
    anonymous = app.test_client()

    with_token = client.post("/shows/playlist", data=MultiDict([*form, ("csrf_token", token)]))
    without_token = client.post("/shows/playlist", data=MultiDict(form))
    signed_out = anonymous.post("/shows/playlist", data=MultiDict(form))

    event(f"signed in with a token: {with_token.status_code}")  # see --hypothesis-show-statistics
    for answer in (with_token, without_token, signed_out):
        assert_not_a_server_error(answer)
    assert without_token.status_code == 400 and signed_out.status_code == 400


def _routes(app: Flask) -> list[tuple[str, str]]:
    """Return every (rule, method) the app serves, but its static files."""
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) & {"GET", "POST"}
    )


_TEXT = st.text(max_size=30)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_query_or_form_on_every_route_answers_without_a_server_error(
    app: Flask, data: st.DataObject
) -> None:
    client = app.test_client()
    if data.draw(st.booleans(), label="signed in"):
        sign_in(client, data.draw(st.sampled_from(["alice", "bob"]), label="user"))
    rule, method = data.draw(st.sampled_from(_routes(app)), label="route")
    path = re.sub(r"<[^>]+>", lambda _: quote(data.draw(_TEXT, label="path part"), safe=""), rule)
    query = data.draw(st.dictionaries(_TEXT, _TEXT, max_size=4), label="query")
    form = data.draw(st.dictionaries(_TEXT, _TEXT | st.lists(_TEXT, max_size=3), max_size=6))
    if method == "POST" and data.draw(st.booleans(), label="with a CSRF token"):
        # Any page with a form carries the session's token (signed out: the backups sign-in
        # page may have none, and then the request goes without, as a forged one would).
        found = re.search(r'name="csrf_token" value="([^"]+)"', page_text(client.get("/shows")))
        if found:
            form["csrf_token"] = found.group(1)

    answer = client.open(path, method=method, query_string=query, data=form)

    assert answer.status_code < 500, f"{method} {path} {query} {form}: {answer.status_code}"
