"""Saved areas refreshed by the ETL against the sandbox: after a build, in place, only when changed,
the window rolling, deleted playlists made again or paused, revoked grants; and wanted tiers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from spotipy.cache_handler import MemoryCacheHandler

from etl.pipeline import make_spotify, run_etl
from etl.refresh_areas import DELETED_PAUSED_REASON, refresh_saved_areas
from etl.sources.registry import make_sources
from etl.wanted import area_performers, concert_shows, query_of, wanted_performers
from sandbox.server import SandboxServer
from shared import area_plan
from shared.area_playlists import load_made
from shared.config import Settings, load_settings
from shared.datasets import CONCERTS, load_dataset
from shared.liner_notes import load_notes
from shared.people.grants import REVOKED as REVOKED_REASON
from shared.saved_areas import (
    ACTIVE,
    NEEDS_SIGN_IN,
    PAUSE,
    REMAKE,
    SAVED_AREAS,
    SavedArea,
    SavedAreas,
    remember_preview,
)
from shared.shows_data import ShowsData, load_shows
from shared.spotify import RequestLedger, make_oauth
from shared.storage import FolderStore, Store
from shared.tokens import TokenBox
from tests.clock import clock_now
from tests.conftest import BASE_ENV

NOW = clock_now()
TODAY = NOW.date()


@pytest.fixture
def settings(sandbox: SandboxServer, data_copy: FolderStore) -> Settings:
    return load_settings(
        {
            **BASE_ENV,
            **sandbox.settings_env(),
            "DATA_URL": str(data_copy.root),
            "TICKETMASTER_API_KEY": "",
        }
    )


def sign_in_for_refresh_token(settings: Settings, user: str) -> str:
    """Sign a sandbox user in as the web does (its scopes), and return the refresh token."""
    oauth = make_oauth(settings, MemoryCacheHandler())
    authorize = requests.get(
        oauth.get_authorize_url() + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
    oauth.get_access_token(code, as_dict=False, check_cache=False)
    token = oauth.cache_handler.get_cached_token()
    assert token is not None
    return str(token["refresh_token"])


def busiest_city(data: ShowsData) -> dict[str, Any]:
    """Return the choices of the city with the most shows in the next 30 days that have tracks."""
    best: tuple[int, dict[str, Any]] = (-1, {})
    for state, summary in sorted(data.states.items()):
        for city, _, _ in summary.cities:
            query = {"state": state, "city": city, "days": 30, "tracks_per_artist": 2}
            _, uris = area_plan.plan(data, query_of(query), TODAY)
            if len(uris) > best[0]:
                best = (len(uris), query)
    assert best[0] > 0, "no city has shows with tracks in the built world"
    return best[1]


def save_area(
    store: Store,
    settings: Settings,
    user: str,
    query: dict[str, Any],
    *,
    when_deleted: str = REMAKE,
    playlist_id: str = "",
) -> SavedArea:
    """Store a person's saved area with their sealed grant, as the web does."""
    box = TokenBox(settings.token_encryption_key)
    sealed = box.seal({"refresh_token": sign_in_for_refresh_token(settings, user)})
    area = SavedArea(
        area_id="a1",
        query=query,
        playlist_id=playlist_id,
        playlist_name="",
        playlist_url="",
        notes_token=f"notes-{user}",
        saved_at="2026-11-20T10:00:00Z",
        when_deleted=when_deleted,
    )
    SAVED_AREAS.put(store, SavedAreas(user_id=user, sealed_refresh_token=sealed, areas=(area,)))
    return area


def stored_area(store: Store, user: str) -> SavedArea:
    loaded = SAVED_AREAS.load(store, user)
    assert loaded is not None
    return loaded[0].areas[0]


def stats(sandbox: SandboxServer) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    return answer


def sandbox_playlist(sandbox: SandboxServer, playlist_id: str) -> dict[str, Any]:
    return next(p for p in stats(sandbox)["playlists"] if p["id"] == playlist_id)


def refresh(store: Store, settings: Settings, now: datetime = NOW) -> Any:
    return refresh_saved_areas(store, settings, RequestLedger(), now=now, sleep=lambda s: None)


def test_a_saved_area_is_refreshed_after_a_build(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    query = busiest_city(load_shows(data_copy))
    save_area(data_copy, settings, "alice", query)

    report = run_etl(
        data_copy,
        make_sources(settings),
        make_spotify(settings),
        settings.etl_states,
        now=NOW,
        settings=settings,
    )

    assert report["kind"] == "build"
    assert report["saved_areas"]["updated"] == 1 and report["saved_areas"]["failed"] == 0
    area = stored_area(data_copy, "alice")
    shows, uris = area_plan.plan(load_shows(data_copy), query_of(query), TODAY)
    playlist = sandbox_playlist(sandbox, area.playlist_id)
    assert [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris
    assert playlist["owner_id"] == "alice"
    assert playlist["name"] == area.playlist_name
    assert playlist["description"].endswith("/notes/notes-alice")
    with_tracks = sum(1 for show in shows if any(a.in_playlist for a in show.artists))
    assert area.last_result == f"Updated: {len(uris)} tracks from {with_tracks} shows"
    assert area.content_hash and area.last_refresh_at
    notes = load_notes(data_copy, "notes-alice")
    assert notes is not None and len(notes.lines) == len(uris)
    made = load_made(data_copy, "alice").get(area.playlist_id)
    assert made is not None and made.notes_token == "notes-alice" and made.tracks == len(uris)


def test_a_refresh_with_nothing_changed_makes_no_spotify_request(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    save_area(data_copy, settings, "alice", busiest_city(load_shows(data_copy)))
    first = refresh(data_copy, settings)
    before = stats(sandbox)["requests"]

    again = refresh(data_copy, settings)

    assert (first.updated, again.updated, again.unchanged) == (1, 0, 1)
    assert stats(sandbox)["requests"] == before
    assert stored_area(data_copy, "alice").last_result.startswith("Unchanged: ")


def test_the_window_rolls_forward_with_the_build(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    query = busiest_city(load_shows(data_copy))
    save_area(data_copy, settings, "alice", query)
    refresh(data_copy, settings)
    first = stored_area(data_copy, "alice")

    later = NOW + timedelta(days=10)
    refresh(data_copy, settings, now=later)

    area = stored_area(data_copy, "alice")
    _, uris = area_plan.plan(load_shows(data_copy), query_of(query), later.date())
    assert area.playlist_id == first.playlist_id  # in place
    assert area.playlist_name != first.playlist_name
    assert area.playlist_name == area_plan.playlist_name(
        query_of(query), later.date(), later.date() + timedelta(days=29)
    )
    playlist = sandbox_playlist(sandbox, area.playlist_id)
    assert [f"spotify:track:{t}" for t in playlist["track_ids"]] == uris


@pytest.mark.parametrize("when_deleted", [REMAKE, PAUSE])
def test_a_deleted_playlist_is_made_again_or_the_area_paused(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer, when_deleted: str
) -> None:
    save_area(data_copy, settings, "alice", busiest_city(load_shows(data_copy)),
              when_deleted=when_deleted)  # fmt: skip
    refresh(data_copy, settings)
    first = stored_area(data_copy, "alice")
    sandbox.sandbox.playlists.playlists.pop(first.playlist_id)  # deleted in Spotify

    summary = refresh(data_copy, settings, now=NOW + timedelta(days=1))

    area = stored_area(data_copy, "alice")
    if when_deleted == REMAKE:
        assert summary.made_again == 1
        assert area.playlist_id != first.playlist_id and not area.paused
        assert area.last_result.startswith("Made again: you had deleted it.")
        assert sandbox_playlist(sandbox, area.playlist_id)["track_ids"]
        made = load_made(data_copy, "alice")
        assert made.get(area.playlist_id) is not None and made.get(first.playlist_id) is None
    else:
        assert summary.paused_areas == 1
        assert area.paused == DELETED_PAUSED_REASON and area.playlist_id == first.playlist_id
        before = stats(sandbox)["requests"]
        assert refresh(data_copy, settings, now=NOW + timedelta(days=2)).areas == 0
        assert stats(sandbox)["requests"] == before  # a paused area costs nothing


def test_a_revoked_grant_pauses_only_that_person(
    data_copy: FolderStore, settings: Settings, sandbox: SandboxServer
) -> None:
    query = busiest_city(load_shows(data_copy))
    save_area(data_copy, settings, "alice", query)
    save_area(data_copy, settings, "bob", query)
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "alice"}, timeout=10)

    summary = refresh(data_copy, settings)

    assert (summary.newly_paused, summary.updated, summary.failed) == (1, 1, 0)
    alice = SAVED_AREAS.load(data_copy, "alice")
    bob = SAVED_AREAS.load(data_copy, "bob")
    assert alice is not None and alice[0].status == NEEDS_SIGN_IN
    assert alice[0].status_reason == REVOKED_REASON
    assert bob is not None and bob[0].status == ACTIVE
    assert bob[0].areas[0].last_result.startswith("Updated: ")
    assert refresh(data_copy, settings).waiting_for_sign_in == 1


def test_wanted_tiers_come_from_saved_areas_then_recent_previews(
    data_copy: FolderStore, settings: Settings
) -> None:
    concerts, _ = load_dataset(data_copy, CONCERTS)
    shows = concert_shows(concerts)
    saved = busiest_city(load_shows(data_copy))
    state = str(saved["state"])
    previewed = {"state": state, "days": 90}
    stale = {"state": next(s for s in sorted(shows.states) if s != state), "days": 30}
    save_area(data_copy, settings, "alice", {**saved, "genres": ["no-such-genre"]})
    remember_preview(data_copy, "bob", previewed, TODAY)
    remember_preview(data_copy, "carol", stale, TODAY - timedelta(days=31))  # too old
    data_copy.write("areas/mallory.json", b"not json")  # skipped, and logged

    wanted = wanted_performers(data_copy, concerts, TODAY)

    saved_keys = area_performers(shows, query_of(saved), TODAY)  # genres ignored
    previewed_keys = area_performers(shows, query_of(previewed), TODAY) - saved_keys
    assert saved_keys and previewed_keys
    assert {key for key, tier in wanted.items() if tier == 0} == saved_keys
    assert {key for key, tier in wanted.items() if tier == 1} == previewed_keys
    assert set(wanted) == saved_keys | previewed_keys
