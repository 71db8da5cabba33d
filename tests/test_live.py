"""Live contract checks: the real services, with your own keys, against what our code relies on.

Never run by `make test`. Run with `.venv/bin/pytest -m live` (README: "Live contract tests").
Each test skips unless its keys are in the environment:
SEATGEEK_CLIENT_ID, TICKETMASTER_API_KEY, SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET, and for
the user endpoints SPOTIFY_LIVE_REFRESH_TOKEN (a refresh token of an allowlisted user, with the
scopes `playlist-read-private playlist-modify-private`, and SPOTIFY_REDIRECT_URI of that app).
They check what the offline suite checks against recorded answers: that today's answers carry
every field our parsers read, that the parsers read them without a skip they cannot explain,
and that the sandbox sends nothing today's answers do not (so the two cannot drift apart).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from shared.config import Settings, load_settings
from shared.spotify import SpotifyApi, StoredGrant, make_spotipy
from shared.spotify_records import items_of, page_items, parse_playlist_item
from tests.contract import SEARCH_READ, invented_keys, json_paths

pytestmark = pytest.mark.live

ENTRY_READ = {"items[].added_at", "items[].is_local"}


def _needs(*names: str) -> None:
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.skip(f"set {', '.join(missing)} to run this live check")


@pytest.fixture
def live_settings() -> Settings:
    """Settings from the environment, against the real services (their default bases)."""
    return load_settings(
        {
            # Each test skips unless its own keys are set; these only let settings load.
            "SPOTIFY_CLIENT_ID": "unset",
            "SPOTIFY_CLIENT_SECRET": "unset",
            **{k: v for k, v in os.environ.items() if v},
            "FLASK_SECRET_KEY": "live",
            "TOKEN_ENCRYPTION_KEY": "zIzSjbcOxAVn8-uB6e3AOKYj2LGU7K3oWvJ7YxKuoXk=",
        }
    )


@pytest.fixture
def app_api(live_settings: Settings) -> SpotifyApi:
    _needs("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET")
    return SpotifyApi.for_app(live_settings, max_attempts=2)


def _sandbox_search(sandbox_url: str) -> Any:
    token = requests.post(
        f"{sandbox_url}/accounts/api/token",
        data={"grant_type": "client_credentials"},
        auth=("sandbox-client-id", "sandbox-client-secret"),
        timeout=10,
    ).json()["access_token"]
    return requests.get(
        f"{sandbox_url}/spotify/v1/search",
        params={"q": 'artist:"Muse"', "type": "artist,track", "limit": 10},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    from sandbox.server import SandboxServer
    from sandbox.world import generate_world

    with SandboxServer(generate_world(artists=300, events=300, seed=7)) as server:
        yield server.url


def test_spotify_search_carries_what_matching_reads_and_the_sandbox_invents_nothing(
    app_api: SpotifyApi, sandbox_url: str
) -> None:
    answer = app_api.call(
        "search", app_api.client.search, q='artist:"Muse"', type="artist,track", limit=10
    )

    assert set(json_paths(answer)) >= SEARCH_READ
    assert items_of(answer, "artists") and items_of(answer, "tracks")
    assert invented_keys(_sandbox_search(sandbox_url), [answer]) == []


def test_spotify_search_limit_above_ten_is_still_refused(app_api: SpotifyApi) -> None:
    response = requests.get(
        app_api.client.prefix + "search",
        params={"q": "Muse", "type": "artist", "limit": 11},
        headers={"Authorization": f"Bearer {app_api.client.auth_manager.get_access_token()}"},
        timeout=15,
    )

    # Development Mode: limit 11 answers 400 "Invalid limit" (PLATFORM.md). Extended Quota: 200.
    assert response.status_code in (200, 400)


def test_spotify_playlist_entries_of_your_own_playlist_parse_to_tracks_or_a_known_skip(
    live_settings: Settings,
) -> None:
    _needs("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_LIVE_REFRESH_TOKEN")
    grant = StoredGrant(live_settings, os.environ["SPOTIFY_LIVE_REFRESH_TOKEN"])
    api = SpotifyApi(make_spotipy(live_settings, grant), max_attempts=2)
    me = api.me()
    own = [p for p in api.my_playlists(max_pages=2) if p.owner_id == me.id and p.total]
    if not own:
        pytest.skip("the live user has no playlist of their own with items")

    page = api.call("playlist_read", api.client.playlist_items, own[0].id, limit=50)

    assert set(json_paths(page)) >= ENTRY_READ
    items = [parse_playlist_item(n, raw) for n, raw in enumerate(page_items(page, "live page"))]
    assert {item.skipped for item in items} <= {"", "episode", "local", "removed"}


def test_ticketmaster_events_parse_and_the_sandbox_invents_nothing(
    live_settings: Settings, sandbox_url: str
) -> None:
    _needs("TICKETMASTER_API_KEY")
    from etl.sources.ticketmaster import TicketmasterSource

    params = {
        "apikey": os.environ["TICKETMASTER_API_KEY"],
        "countryCode": "US",
        "stateCode": "RI",
        "classificationName": "music",
        "size": 50,
        "sort": "date,asc",
    }
    live = requests.get(live_settings.ticketmaster_api_base + "events.json", params, timeout=30)
    live.raise_for_status()
    params["apikey"] = "sandbox-ticketmaster"
    params["stateCode"] = "NY"
    offline = requests.get(
        f"{sandbox_url}/ticketmaster/discovery/v2/events.json", params, timeout=10
    )

    fetched = TicketmasterSource(
        live_settings.ticketmaster_api_base, os.environ["TICKETMASTER_API_KEY"]
    ).fetch_state_events("RI", since=datetime.now(UTC))

    assert fetched.events or fetched.skipped == 0
    assert invented_keys(offline.json(), [live.json()]) == [], (
        "the sandbox sends what today's Ticketmaster does not (or the recordings and today differ)"
    )


def test_seatgeek_events_parse(live_settings: Settings) -> None:
    _needs("SEATGEEK_CLIENT_ID")
    from etl.sources.seatgeek import SeatGeekSource

    fetched = SeatGeekSource(
        live_settings.seatgeek_api_base,
        os.environ["SEATGEEK_CLIENT_ID"],
        os.environ.get("SEATGEEK_CLIENT_SECRET") or None,
    ).fetch_state_events("RI", since=datetime.now(UTC))

    assert fetched.requests >= 1
    assert all(event.url.startswith(("http://", "https://", "")) for event in fetched.events)
