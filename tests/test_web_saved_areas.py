"""Saved areas on the web: keep a playlist fresh, the Areas page, previews remembered, the truth
about matching under way, and Delete my data."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from sandbox.server import SandboxServer
from shared.datasets import ARTISTS, CONCERTS, TOP_TRACKS, load_dataset, save_dataset
from shared.names import performer_key
from shared.places import state_label
from shared.saved_areas import (
    MAX_SAVED_AREAS,
    NEEDS_SIGN_IN,
    PAUSE,
    SAVED_AREAS,
    content_hash,
    previews_object,
    with_area,
)
from shared.serving import read_state, shape_rows, shape_tracks, write_layout
from shared.storage import FolderStore
from shared.tokens import TokenBox
from tests.clock import clock_now
from tests.conftest import web_app
from tests.web_helpers import csrf_token, rebuild_serving, sign_in

TODAY = clock_now().date()


def busiest_state(store: FolderStore) -> str:
    concerts, _ = load_dataset(store, CONCERTS)
    return str(concerts.groupby("venue_state")["event_id"].nunique().idxmax())


def created_playlists(sandbox: SandboxServer) -> list[dict[str, Any]]:
    playlists: list[dict[str, Any]] = requests.get(
        f"{sandbox.url}/_sandbox/stats", timeout=5
    ).json()["playlists"]
    return playlists


def make(client: FlaskClient, form: dict[str, str], **extra: str) -> Any:
    """Preview an area, then press Make with the extra fields (keep_fresh, when_deleted)."""
    page = client.get("/shows", query_string=form)
    return client.post(
        "/shows/playlist",
        data={**form, **extra, "csrf_token": csrf_token(page)},
        follow_redirects=True,
    )


def keep(client: FlaskClient, form: dict[str, str], **extra: str) -> Any:
    return make(client, form, keep_fresh="1", **extra)


def area_ids(page: str) -> list[str]:
    return re.findall(r'<li class="saved-area" id="area-([0-9a-f]+)">', page)


@pytest.fixture
def state(data_copy: FolderStore) -> str:
    return busiest_state(data_copy)


# Keep it fresh, from the Make form


def test_keeping_fresh_saves_the_area_with_a_sealed_grant_and_the_hash_written(
    client: FlaskClient, app: Flask, sandbox: SandboxServer, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    with client.session_transaction() as session:
        box = TokenBox(app.extensions["settings"].token_encryption_key)
        raw_refresh = box.open(session["spotify_token"])["refresh_token"]

    answer = keep(client, {"state": state, "days": "30", "tracks": "2"}, when_deleted=PAUSE)

    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    page = answer.get_data(as_text=True)
    assert 'id="kept-fresh"' in page and 'href="/areas"' in page
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    record = loaded[0]
    assert raw_refresh not in (data_copy.root / "areas" / "alice.json").read_text()
    assert box.open(record.sealed_refresh_token) == {"refresh_token": raw_refresh}
    [area] = record.areas
    [playlist] = [p for p in created_playlists(sandbox) if p["id"] == area.playlist_id]
    uris = [f"spotify:track:{track_id}" for track_id in playlist["track_ids"]]
    assert area.content_hash == content_hash(playlist["name"], playlist["description"], uris)
    assert area.query == {
        "state": state,
        "city": "",
        "radius_miles": 0,
        "days": 30,
        "genres": [],
        "tracks_per_artist": 2,
        "headliners_only": False,
    }
    assert (area.when_deleted, area.playlist_name) == (PAUSE, playlist["name"])
    assert area.notes_token and area.notes_token in playlist["description"]


def test_the_same_area_again_updates_its_entry_and_a_fourth_is_refused_before_making(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    for tracks in range(1, MAX_SAVED_AREAS + 1):
        assert (
            keep(client, {"state": state, "days": "90", "tracks": str(tracks)}).status_code == 200
        )
    again = keep(client, {"state": state, "days": "90", "tracks": "1"})
    made_before = len(created_playlists(sandbox))

    fourth = keep(client, {"state": state, "days": "90", "tracks": str(MAX_SAVED_AREAS + 1)})

    assert again.status_code == 200 and b'id="kept-fresh"' in again.data
    assert fourth.status_code == 400
    assert "the most there can be: stop one on the Areas page first" in fourth.get_data(
        as_text=True
    )
    assert len(created_playlists(sandbox)) == made_before
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    assert [a.query["tracks_per_artist"] for a in loaded[0].areas] == [2, 3, 1]


def test_own_dates_are_refused_before_making(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    before = len(created_playlists(sandbox))
    dates = {"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=20)).isoformat()}

    answer = keep(client, {"state": state, "tracks": "2", **dates})

    assert answer.status_code == 400
    assert "needs a rolling window" in answer.get_data(as_text=True)
    assert len(created_playlists(sandbox)) == before
    assert SAVED_AREAS.load(data_copy, "alice") is None


def test_keep_it_fresh_from_the_result_page(
    client: FlaskClient, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    made = make(client, {"state": state, "days": "30", "tracks": "1"})
    assert b'id="keep-made-fresh"' in made.data

    kept = client.post(
        "/shows/made/keep",
        data={"csrf_token": csrf_token(made), "when_deleted": PAUSE},
        follow_redirects=True,
    )

    assert b'id="kept-fresh"' in kept.data
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    assert [(a.query["days"], a.when_deleted) for a in loaded[0].areas] == [(30, PAUSE)]


# The Areas page


def test_the_page_lists_pauses_resumes_changes_and_stops(
    client: FlaskClient, sandbox: SandboxServer, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    keep(client, {"state": state, "days": "30", "tracks": "3"})
    keep(client, {"state": state, "days": "90", "tracks": "3"})
    made = len(created_playlists(sandbox))
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    first, second = (a.area_id for a in loaded[0].areas)
    SAVED_AREAS.update(
        data_copy,
        "alice",
        lambda r: with_area(r, first, lambda a: replace(a, paused="gone")),
    )

    listed = client.get("/areas").get_data(as_text=True)
    token = csrf_token(client.get("/areas"))
    resumed = client.post("/areas/resume", data={"area": first, "csrf_token": token})
    changed = client.post(
        "/areas/when-deleted", data={"area": second, "csrf_token": token, "when_deleted": PAUSE}
    )
    stopped = client.post("/areas/stop", data={"area": second, "csrf_token": token})
    after = client.get("/areas").get_data(as_text=True)

    assert 'href="/areas" id="nav-areas">Areas</a>' in listed
    assert area_ids(listed) == [first, second]
    assert f"<h2>{state_label(state)} · next 30 days · 3 tracks each</h2>" in listed
    assert "not refreshed yet" in listed and "Paused: gone" in listed
    assert "or sooner when new artists here get their tracks" in listed
    assert "The playlist stays in your Spotify" in listed
    assert {resumed.status_code, changed.status_code, stopped.status_code} == {303}
    assert area_ids(after) == [first] and "Paused:" not in after and "Stopped." in after
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None and [a.paused for a in loaded[0].areas] == [""]
    assert len(created_playlists(sandbox)) == made  # stopping leaves the playlists in Spotify


def test_posts_need_csrf_and_a_bad_choice_is_refused(
    client: FlaskClient, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    keep(client, {"state": state, "days": "30", "tracks": "3"})
    [area_id] = area_ids(client.get("/areas").get_data(as_text=True))
    token = csrf_token(client.get("/areas"))

    no_token = client.post("/areas/stop", data={"area": area_id})
    bad_choice = client.post(
        "/areas/when-deleted",
        data={"area": area_id, "csrf_token": token, "when_deleted": "explode"},
    )

    assert no_token.status_code == 400 and bad_choice.status_code == 400
    assert area_ids(client.get("/areas").get_data(as_text=True)) == [area_id]


def test_another_person_never_sees_nor_stops_yours(
    client: FlaskClient, app: Flask, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    keep(client, {"state": state, "days": "30", "tracks": "3"})
    [area_id] = area_ids(client.get("/areas").get_data(as_text=True))
    other = app.test_client()
    sign_in(other, "bob")
    token = csrf_token(other.get("/areas"))

    page = other.get("/areas").get_data(as_text=True)
    answers = [
        other.post(
            f"/areas/{action}", data={"area": area_id, "csrf_token": token, "when_deleted": PAUSE}
        )
        for action in ("stop", "resume", "when-deleted")
    ]
    unknown = client.post(
        "/areas/stop", data={"area": "nosuch", "csrf_token": csrf_token(client.get("/areas"))}
    )

    assert area_ids(page) == [] and 'id="no-areas"' in page
    assert [a.status_code for a in answers] == [404, 404, 404] and unknown.status_code == 404
    assert area_ids(client.get("/areas").get_data(as_text=True)) == [area_id]


def test_a_paused_grant_says_so_and_signing_in_again_resumes_it(
    client: FlaskClient, app: Flask, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    keep(client, {"state": state, "days": "30", "tracks": "3"})
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    old_sealed = loaded[0].sealed_refresh_token
    SAVED_AREAS.update(
        data_copy,
        "alice",
        lambda r: replace(r, status=NEEDS_SIGN_IN, status_reason="revoked"),
    )

    paused = client.get("/areas").get_data(as_text=True)
    sign_in(client)

    assert 'id="needs-sign-in"' in paused and "Sign in again</a> to resume it" in paused
    loaded = SAVED_AREAS.load(data_copy, "alice")
    assert loaded is not None
    assert (loaded[0].status, loaded[0].status_reason) == ("active", "")
    assert loaded[0].sealed_refresh_token != old_sealed
    assert 'id="needs-sign-in"' not in client.get("/areas").get_data(as_text=True)


@pytest.mark.parametrize("stored", [b"not json", b"[]", b'{"user_id": "alice"}'])
def test_a_bad_record_gives_a_message_not_a_500(
    client: FlaskClient, data_copy: FolderStore, state: str, stored: bytes
) -> None:
    sign_in(client)
    data_copy.write("areas/alice.json", stored)

    page = client.get("/areas")
    token = csrf_token(page)
    stop = client.post(
        "/areas/stop", data={"area": "abc", "csrf_token": token}, follow_redirects=True
    )
    refused = keep(client, {"state": state, "days": "30", "tracks": "3"})
    confirm = client.get("/backups/delete-my-data").get_data(as_text=True)

    assert page.status_code == 200 and "could not be read just now" in page.get_data(as_text=True)
    assert stop.status_code == 200 and b"could not be read just now" in stop.data
    assert refused.status_code == 400 and b"could not be read just now" in refused.data
    assert "your saved areas and the Spotify permission kept to refresh them" in confirm


def test_the_areas_page_needs_sign_in(client: FlaskClient) -> None:
    answer = client.get("/areas")

    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert b"nav-areas" not in client.get("/shows").data


# Delete my data


def test_delete_my_data_removes_saved_areas_and_previews(
    client: FlaskClient, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    keep(client, {"state": state, "days": "30", "tracks": "3"})
    keep(client, {"state": state, "days": "90", "tracks": "3"})
    confirm = client.get("/backups/delete-my-data")
    assert "your 2 saved areas" in confirm.get_data(as_text=True)
    assert data_copy.generation(previews_object("alice")) is not None

    done = client.post("/backups/delete-my-data", data={"csrf_token": csrf_token(confirm)})

    assert done.status_code == 200 and b"your 2 saved areas" in done.data
    assert SAVED_AREAS.load(data_copy, "alice") is None
    assert data_copy.generation(previews_object("alice")) is None


# Previews remembered


def test_previews_are_remembered_once_a_day_and_a_failure_never_breaks_the_preview(
    client: FlaskClient, data_copy: FolderStore, state: str
) -> None:
    form = {"state": state, "days": "30", "tracks": "3"}
    client.get("/shows", query_string=form)  # not signed in: nothing remembered
    assert data_copy.generation(previews_object("alice")) is None
    sign_in(client)

    client.get("/shows", query_string=form)
    written = data_copy.generation(previews_object("alice"))
    client.get("/shows", query_string=form)
    kept = json.loads(data_copy.read(previews_object("alice")).data)
    data_copy.write(previews_object("alice"), b"not json")
    broken = client.get("/shows", query_string=form)

    assert written is not None
    assert kept == {
        "previews": [
            {
                "on": TODAY.isoformat(),
                "query": {
                    "state": state,
                    "city": "",
                    "radius_miles": 0,
                    "days": 30,
                    "genres": [],
                    "tracks_per_artist": 3,
                    "headliners_only": False,
                },
            }
        ]
    }
    assert broken.status_code == 200 and b'id="counts"' in broken.data


def test_a_second_preview_the_same_day_writes_nothing(
    client: FlaskClient, data_copy: FolderStore, state: str
) -> None:
    sign_in(client)
    form = {"state": state, "days": "30", "tracks": "3"}
    client.get("/shows", query_string=form)
    written = data_copy.generation(previews_object("alice"))

    client.get("/shows", query_string=form)

    assert written is not None and data_copy.generation(previews_object("alice")) == written


# The preview tells the truth while matching is under way


def concert(event_id: str, performer: str, day: int, **fields: Any) -> dict[str, Any]:
    """Return a concerts.csv row: a show in Brooklyn, `day` days from today."""
    starts = datetime.combine(TODAY + timedelta(days=day), datetime.min.time(), UTC)
    return {
        "event_id": event_id,
        "source": "seatgeek",
        "event_title": f"{performer} live",
        "event_url": f"https://example.com/{event_id}",
        "starts_at": (starts + timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "starts_at_local": f"{starts:%Y-%m-%d}T19:00:00",
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


# Five performers in the next 30 days (Alpha twice), one after: Alpha matched, Beta looked up
# and not found, Gamma, Delta and Echo not looked up yet; Zeta (day 40) not looked up either.
CONCERTS_ROWS = [
    concert("1", "Alpha", 2),
    concert("1", "Beta", 2, is_headliner=False, billing_order=2),
    concert("2", "Gamma", 5),
    concert("3", "Delta", 9),
    concert("4", "Alpha", 12),
    concert("5", "Echo", 20),
    concert("6", "Zeta", 40),
]
ARTISTS_ROWS = [artist("Alpha", "alpha1"), artist("Beta", "")]
TRACKS_ROWS = [track("alpha1", rank) for rank in (1, 2)]


@pytest.fixture
def matching_under_way(tmp_path: Path) -> FolderStore:
    store = FolderStore(tmp_path / "under-way")
    save_dataset(store, CONCERTS, pd.DataFrame(CONCERTS_ROWS))
    save_dataset(store, ARTISTS, pd.DataFrame(ARTISTS_ROWS))
    save_dataset(store, TOP_TRACKS, pd.DataFrame(TRACKS_ROWS))
    rebuild_serving(store)
    return store


def test_the_preview_counts_the_artists_not_looked_up_yet(
    matching_under_way: FolderStore, sandbox: SandboxServer
) -> None:
    client = web_app(matching_under_way, sandbox).test_client()

    month = client.get("/shows?state=NY&days=30").get_data(as_text=True)
    quarter = client.get("/shows?state=NY&days=90").get_data(as_text=True)

    assert (
        '<p class="notice" id="unchecked">3 of 5 artists here are not looked up yet; '
        "they will be within a day.</p>"
    ) in month
    assert "4 of 6 artists here are not looked up yet" in quarter
    assert month.count("(not matched yet)") == 3 and month.count("(not found on Spotify)") == 1


def test_all_looked_up_says_nothing(
    matching_under_way: FolderStore, sandbox: SandboxServer
) -> None:
    everyone = [artist(name, "") for name in ("Gamma", "Delta", "Echo", "Zeta")]
    save_dataset(matching_under_way, ARTISTS, pd.DataFrame([*ARTISTS_ROWS, *everyone]))
    rebuild_serving(matching_under_way)
    client = web_app(matching_under_way, sandbox).test_client()

    page = client.get("/shows?state=NY&days=30").get_data(as_text=True)

    assert 'id="counts"' in page and 'id="unchecked"' not in page


def test_a_layout_written_before_the_checked_column_reads_as_all_checked(
    tmp_path: Path,
) -> None:
    store = FolderStore(tmp_path / "old-layout")
    rows = shape_rows(pd.DataFrame(CONCERTS_ROWS), pd.DataFrame(ARTISTS_ROWS))
    tracks = shape_tracks(pd.DataFrame(TRACKS_ROWS))
    write_layout(store, {"NY": (rows.drop(columns="checked"), tracks)}, {}, "2026-11-20")

    read, _ = read_state(store, "NY")

    assert len(read) == len(CONCERTS_ROWS) and read["checked"].all()
