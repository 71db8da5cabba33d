"""The sandbox's Spotify Web API keeps the 2026 Development Mode rules, and Extended Quota's."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import spotipy
from spotipy.exceptions import SpotifyException

from sandbox import spotify_objects
from sandbox.server import SandboxServer
from sandbox.world import discover_weekly_id
from tests.sandbox_clients import app_client, user_client


def status_of(call: Any) -> int:
    with pytest.raises(SpotifyException) as raised:
        call()
    return int(raised.value.http_status)


def content(entry: dict[str, Any]) -> Any:
    """Return what a playlist entry holds, under `item` (2026) or `track` (before)."""
    return entry["item"] if "item" in entry else entry["track"]


def extended(sandbox: SandboxServer) -> None:
    sandbox.sandbox.options.mode = "extended"


# Search


def test_search_limit_is_at_most_10_in_development_mode(sandbox: SandboxServer) -> None:
    client = app_client(sandbox)

    with pytest.raises(SpotifyException) as raised:
        client.search("artist:Sting", type="artist", limit=11)
    answer = client.search("artist:Sting", type="artist,track", limit=10)

    assert raised.value.http_status == 400
    assert "Invalid limit" in raised.value.msg
    assert answer["artists"]["limit"] == 10 and answer["tracks"]["limit"] == 10
    assert status_of(lambda: client.search("artist:Sting", type="artist", limit=0)) == 400


def test_search_takes_50_in_extended_mode(sandbox: SandboxServer) -> None:
    extended(sandbox)

    answer = app_client(sandbox).search("Silver", type="artist", limit=50)

    assert answer["artists"]["limit"] == 50


def test_search_ranks_exact_then_prefix(sandbox: SandboxServer) -> None:
    answer = app_client(sandbox).search('artist:"Sting"', type="artist", limit=10)

    names = [artist["name"] for artist in answer["artists"]["items"]]
    assert names[:2] == ["Sting", "Stingray"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("artist:Beyonce", "Beyoncé"),
        ("artist:ACDC", "AC/DC"),
        ('artist:"Guns N Roses"', "Guns N' Roses"),
        ('artist:"simon and garfunkel"', "Simon & Garfunkel"),
        ('artist:"sigur ros"', "Sigur Rós"),
    ],
)
def test_search_ignores_case_accents_and_punctuation(
    sandbox: SandboxServer, query: str, expected: str
) -> None:
    answer = app_client(sandbox).search(query, type="artist", limit=5)

    assert answer["artists"]["items"][0]["name"] == expected


def test_quoted_phrase_filter_and_free_text(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    client = app_client(sandbox)
    names = [artist["name"].lower() for artist in small_world["spotify"]["artists"]]
    # An artist whose name starts no other's: "Yes" also finds "Yesterday's Kids", by design.
    track = next(
        t
        for t in small_world["spotify"]["tracks"]
        if sum(n.startswith(t["artists"][0]["name"].lower()) for n in names) == 1
    )

    by_phrase = client.search(
        f'artist:"{track["artists"][0]["name"]}" track:"{track["name"]}"', type="track", limit=10
    )

    assert track["id"] in [t["id"] for t in by_phrase["tracks"]["items"]]
    assert all(
        t["artists"][0]["name"] == track["artists"][0]["name"] for t in by_phrase["tracks"]["items"]
    )


def test_one_search_gives_artists_and_their_tracks_in_popularity_order(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    artist = next(a for a in small_world["spotify"]["artists"] if a["name"] == "Sting")
    world_tracks = sorted(
        (t for t in small_world["spotify"]["tracks"] if t["artists"][0]["id"] == artist["id"]),
        key=lambda t: -t["popularity"],
    )

    answer = app_client(sandbox).search('artist:"Sting"', type="artist,track", limit=10)

    sting_tracks = [
        t["id"] for t in answer["tracks"]["items"] if t["artists"][0]["id"] == artist["id"]
    ]
    assert answer["artists"]["items"][0]["id"] == artist["id"]
    assert sting_tracks == [t["id"] for t in world_tracks][: len(sting_tracks)]
    assert sting_tracks


def test_search_pages_with_absolute_next_urls(sandbox: SandboxServer) -> None:
    client = app_client(sandbox)

    first = client.search("The", type="artist", limit=3)["artists"]
    second = client.next(first)["artists"]

    assert first["next"].startswith(f"{sandbox.url}/spotify/v1/search?")
    assert second["offset"] == 3
    assert {a["id"] for a in first["items"]}.isdisjoint(a["id"] for a in second["items"])


def test_bad_search_type_is_400(sandbox: SandboxServer) -> None:
    assert status_of(lambda: app_client(sandbox).search("x", type="planet")) == 400


# Fields and endpoints removed in Development Mode


def test_development_mode_hides_removed_fields(sandbox: SandboxServer) -> None:
    client = user_client(sandbox, "alice")
    answer = client.search('artist:"Sting"', type="artist,track", limit=1)
    artist, track = answer["artists"]["items"][0], answer["tracks"]["items"][0]

    me = client.me()

    assert not {"popularity", "followers"} & set(artist)
    assert not {"popularity", "available_markets", "linked_from"} & set(track)
    assert track["external_ids"]["isrc"]
    assert {"id", "display_name", "account_id"} <= set(me)
    assert not {"email", "country", "product"} & set(me)
    assert not {"popularity", "followers", "top_track_ids"} & set(client.artist(artist["id"]))


def test_extended_mode_serves_the_fields(sandbox: SandboxServer) -> None:
    extended(sandbox)
    client = user_client(sandbox, "alice")

    answer = client.search('artist:"Sting"', type="artist,track", limit=1)

    assert "popularity" in answer["artists"]["items"][0]
    assert "popularity" in answer["tracks"]["items"][0]
    assert {"email", "country", "product"} <= set(client.me())


def test_removed_endpoints_answer_403_in_development_mode(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    client = app_client(sandbox)
    artist_id = small_world["spotify"]["artists"][0]["id"]
    track_id = small_world["spotify"]["tracks"][0]["id"]

    assert status_of(lambda: client.artist_top_tracks(artist_id)) == 403
    assert status_of(lambda: client.artists([artist_id])) == 403
    assert status_of(lambda: client.tracks([track_id])) == 403
    assert client.track(track_id)["id"] == track_id


def test_extended_mode_answers_top_tracks_and_several_artists(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    extended(sandbox)
    client = app_client(sandbox)
    artist = small_world["spotify"]["artists"][0]

    top = client.artist_top_tracks(artist["id"])["tracks"]
    several = client.artists([artist["id"]])["artists"]

    assert [t["id"] for t in top] == artist["top_track_ids"]
    assert [t["popularity"] for t in top] == sorted((t["popularity"] for t in top), reverse=True)
    assert several[0]["id"] == artist["id"]


def test_creating_a_playlist_for_another_user_path_is_gone(sandbox: SandboxServer) -> None:
    client = user_client(sandbox, "alice")

    assert status_of(lambda: client._post("users/alice/playlists", payload={"name": "x"})) == 403


# Playlists


def test_create_fill_replace_and_page_through_a_playlist(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    client = user_client(sandbox, "alice")
    uris = [t["uri"] for t in small_world["spotify"]["tracks"][:150]]

    playlist = client.current_user_playlist_create(
        "Local Shows: NY", public=False, description="Next: Sting"
    )
    client.playlist_add_items(playlist["id"], uris[:100])
    client.playlist_add_items(playlist["id"], uris[100:])
    pages = [client.playlist_items(playlist["id"], limit=100)]
    while pages[-1]["next"]:
        pages.append(client.next(pages[-1]))

    assert pages[0]["next"].startswith(f"{sandbox.url}/spotify/v1/playlists/")
    assert [content(entry)["uri"] for page in pages for entry in page["items"]] == uris
    client.playlist_replace_items(playlist["id"], uris[:3])
    assert [content(e)["uri"] for e in client.playlist_items(playlist["id"])["items"]] == uris[:3]
    created = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["playlists"]
    mine = next(p for p in created if p["id"] == playlist["id"])
    assert mine["owner_id"] == "alice" and mine["name"] == "Local Shows: NY"
    assert mine["track_ids"] == [u.split(":")[-1] for u in uris[:3]]


def test_more_than_100_uris_in_one_write_is_400(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    client = user_client(sandbox, "alice")
    uris = [t["uri"] for t in small_world["spotify"]["tracks"][:101]]
    playlist = client.current_user_playlist_create("too many", public=False)

    assert status_of(lambda: client.playlist_add_items(playlist["id"], uris)) == 400
    assert status_of(lambda: client.playlist_replace_items(playlist["id"], uris)) == 400
    assert (
        status_of(lambda: client._post(f"playlists/{playlist['id']}/items", payload={"uris": uris}))
        == 400
    )


def test_old_tracks_paths_answer_403(sandbox: SandboxServer) -> None:
    client = user_client(sandbox, "alice")
    playlist = client.current_user_playlist_create("old paths", public=False)

    assert status_of(lambda: client._get(f"playlists/{playlist['id']}/tracks")) == 403
    assert (
        status_of(lambda: client._post(f"playlists/{playlist['id']}/tracks", payload={"uris": []}))
        == 403
    )


def test_items_of_someone_elses_playlist_answer_403_but_metadata_reads(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    alices = next(p for p in small_world["spotify"]["playlists"] if p["owner_id"] == "alice")
    bob = user_client(sandbox, "bob")

    metadata = bob.playlist(alices["id"])

    assert metadata["name"] == alices["name"]
    assert "items" not in metadata["items"]
    assert status_of(lambda: bob.playlist_items(alices["id"])) == 403
    assert (
        status_of(
            lambda: bob.playlist_add_items(
                alices["id"], [small_world["spotify"]["tracks"][0]["uri"]]
            )
        )
        == 403
    )


def test_own_playlist_items_hold_episodes_a_local_file_and_removed_tracks(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    alices = next(p for p in small_world["spotify"]["playlists"] if p["owner_id"] == "alice")
    episodes = {e["uri"]: e for e in small_world["spotify"]["episodes"]}

    items = user_client(sandbox, "alice").playlist_items(alices["id"])["items"]

    assert len(items) == len(alices["track_ids"])
    for entry, ref in zip(items, alices["track_ids"], strict=True):
        held = content(entry)
        if ref is None:
            assert held is None and entry["is_local"] is False
        elif ref.startswith("spotify:episode:"):
            assert (held["type"], held["episode"], held["track"]) == ("episode", True, False)
            assert held["uri"] == ref and held["show"]["name"] == episodes[ref]["show"]["name"]
            assert "artists" not in held
        elif ref.startswith("spotify:local:"):
            assert entry["is_local"] is True and held["is_local"] is True
            assert held["id"] is None and held["uri"] == ref
            assert held["artists"][0]["id"] is None and held["artists"][0]["name"]
        else:
            assert (held["id"], held["type"], held["episode"]) == (ref, "track", False)


def test_entries_carry_item_and_track_mostly_both_at_seeded_shares(
    sandbox: SandboxServer,
) -> None:
    with sandbox.app.test_request_context():
        keys = [spotify_objects.entry_keys("some-playlist", position) for position in range(2000)]
        again = [spotify_objects.entry_keys("some-playlist", position) for position in range(2000)]

    shares = {shape: keys.count(shape) / len(keys) for shape in set(keys)}
    assert keys == again
    assert set(shares) == {("track", "item"), ("track",), ("item",)}
    assert 0.75 < shares[("track", "item")] < 0.85
    assert 0.07 < shares[("track",)] < 0.13 and 0.07 < shares[("item",)] < 0.13


def test_my_playlists_give_the_size_under_tracks_and_for_some_under_items_too(
    sandbox: SandboxServer,
) -> None:
    listed = user_client(sandbox, "alice").current_user_playlists(limit=50)["items"]

    assert all(p["tracks"]["href"].endswith(f"/playlists/{p['id']}/tracks") for p in listed)
    assert all(p["items"]["total"] == p["tracks"]["total"] for p in listed if "items" in p)
    with sandbox.app.test_request_context():
        tracks_only = [
            spotify_objects.seeded_share("listing", number)
            < spotify_objects.TRACKS_ONLY_LISTING_SHARE
            for number in range(1000)
        ]
    assert 0.45 < sum(tracks_only) / len(tracks_only) < 0.55


def test_known_episodes_can_be_added_but_not_local_files_or_unknown_ids(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    client = user_client(sandbox, "alice")
    episode = small_world["spotify"]["episodes"][0]
    track = small_world["spotify"]["tracks"][0]
    playlist = client.current_user_playlist_create("with a podcast", public=False)

    client.playlist_add_items(playlist["id"], [track["uri"], episode["uri"]])
    held = [content(e) for e in client.playlist_items(playlist["id"])["items"]]

    assert [(h["type"], h["id"]) for h in held] == [
        ("track", track["id"]),
        ("episode", episode["id"]),
    ]
    for uri in ("spotify:local:A:B:C:120", "spotify:episode:" + "x" * 22):
        assert status_of(lambda uri=uri: client.playlist_add_items(playlist["id"], [uri])) == 400


def test_discover_weekly_is_listed_but_answers_404_in_development_mode(
    sandbox: SandboxServer,
) -> None:
    client = user_client(sandbox, "alice")

    listed = client.current_user_playlists()["items"]
    weekly = next(p for p in listed if p["name"] == "Discover Weekly")

    assert weekly["owner"]["id"] == "spotify"
    assert weekly["id"] == discover_weekly_id("alice")
    assert status_of(lambda: client.playlist(weekly["id"])) == 404
    assert status_of(lambda: client.playlist_items(weekly["id"])) == 404


def test_discover_weekly_answers_in_extended_mode_and_rotates_weekly(
    sandbox: SandboxServer,
) -> None:
    extended(sandbox)
    client = user_client(sandbox, "alice")
    weekly_id = discover_weekly_id("alice")

    this_week = [content(e)["id"] for e in client.playlist_items(weekly_id)["items"]]
    requests.post(f"{sandbox.url}/_sandbox/advance-week", timeout=5)
    next_week = [content(e)["id"] for e in client.playlist_items(weekly_id)["items"]]

    assert len(this_week) == len(next_week) == 30
    assert this_week != next_week
    assert [content(e)["id"] for e in client.playlist_items(weekly_id)["items"]] == next_week


def test_user_not_on_the_allowlist_gets_403(sandbox: SandboxServer) -> None:
    mallory = user_client(sandbox, "mallory")

    with pytest.raises(SpotifyException) as raised:
        mallory.me()

    assert raised.value.http_status == 403
    assert "may not be registered" in raised.value.msg


def test_writes_need_a_modify_scope(sandbox: SandboxServer) -> None:
    reader = user_client(sandbox, "alice", scope="playlist-read-private")

    assert status_of(lambda: reader.current_user_playlist_create("nope", public=False)) == 403


# Limits and faults


def test_rolling_window_rate_limit_answers_429_with_retry_after(sandbox: SandboxServer) -> None:
    client = app_client(sandbox)
    sandbox.sandbox.options.rate_limit = 0.1  # 3 requests a 30 s window

    for _ in range(3):
        client.search("Sting", type="artist", limit=1)
    answer = requests.get(
        f"{sandbox.url}/spotify/v1/search",
        params={"q": "Sting", "type": "artist"},
        headers=client._auth_headers(),
        timeout=5,
    )

    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 30
    assert "QUOTA_EXCEEDED" not in answer.text
    assert requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["status_429"] == {
        "rate_limit": 1
    }


def test_daily_quota_answers_quota_exceeded_with_a_long_retry_after(sandbox: SandboxServer) -> None:
    client = app_client(sandbox)
    headers = client._auth_headers()
    sandbox.sandbox.options.daily_quota = 2
    sandbox.sandbox.options.quota_body = "reason"

    codes = [
        requests.get(
            f"{sandbox.url}/spotify/v1/search",
            params={"q": "x", "type": "artist"},
            headers=headers,
            timeout=5,
        )
        for _ in range(3)
    ]

    assert [c.status_code for c in codes] == [200, 200, 429]
    assert codes[2].json() == {
        "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
    }
    assert int(codes[2].headers["Retry-After"]) >= 3600  # until the next sandbox quota day
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    assert client.search("x", type="artist")["artists"] is not None


def quota_answers(sandbox: SandboxServer, headers: dict[str, str], count: int) -> list[Any]:
    return [
        requests.get(
            f"{sandbox.url}/spotify/v1/search",
            params={"q": "x", "type": "artist"},
            headers=headers,
            timeout=5,
        )
        for _ in range(count)
    ]


def test_daily_quota_answers_vary_between_the_real_bodies_by_default(
    sandbox: SandboxServer,
) -> None:
    headers = app_client(sandbox)._auth_headers()
    sandbox.sandbox.options.daily_quota = 0

    first = quota_answers(sandbox, headers, 12)
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    again = quota_answers(sandbox, headers, 12)

    bodies = [answer.json() for answer in first]
    assert {answer.status_code for answer in first} == {429}
    assert all(int(answer.headers["Retry-After"]) >= 3600 for answer in first)
    real_bodies = [
        {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}},
        {"error": {"status": 429, "message": "API rate limit exceeded"}},
        {},
    ]
    assert all(body in real_bodies for body in bodies)
    assert all(body in bodies for body in real_bodies)
    assert [answer.json() for answer in again] == bodies


def test_config_pins_the_quota_body_and_refuses_an_unknown_one(sandbox: SandboxServer) -> None:
    pinned = requests.post(
        f"{sandbox.url}/_sandbox/config", json={"quota_body": "empty"}, timeout=5
    )
    refused = requests.post(f"{sandbox.url}/_sandbox/config", json={"quota_body": "odd"}, timeout=5)

    assert pinned.json()["quota_body"] == "empty"
    assert refused.status_code == 400


def test_spotipy_without_retries_raises_429_at_once_but_loses_the_reason(
    sandbox: SandboxServer,
) -> None:
    # PLATFORM.md: spotipy's urllib3 retry turns a 429 into "Max Retries" and drops the JSON
    # reason, so the ETL must read 429 answers itself to tell QUOTA_EXCEEDED from a rate limit.
    client = app_client(sandbox)
    sandbox.sandbox.options.daily_quota = 0

    with pytest.raises(SpotifyException) as raised:
        client.search("x", type="artist")

    assert raised.value.http_status == 429
    assert raised.value.reason != "QUOTA_EXCEEDED"
    assert "Max Retries" in raised.value.msg


def fault_pattern(sandbox: SandboxServer, headers: dict[str, str]) -> list[int]:
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    return [
        requests.get(
            f"{sandbox.url}/spotify/v1/search",
            params={"q": "x", "type": "artist"},
            headers=headers,
            timeout=5,
        ).status_code
        for _ in range(40)
    ]


def test_injected_faults_are_seeded_and_repeat(sandbox: SandboxServer) -> None:
    headers = app_client(sandbox)._auth_headers()
    sandbox.sandbox.options.error_rate = 0.3

    first = fault_pattern(sandbox, headers)
    second = fault_pattern(sandbox, headers)

    assert first == second
    assert 429 in first and {500, 502, 503} & set(first) and 200 in first


def test_latency_is_injected(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(sandbox.sandbox, "sleep", waits.append)
    sandbox.sandbox.options.latency_ms = 120

    answer = requests.get(
        f"{sandbox.url}/seatgeek/2/events", params={"client_id": "sandbox-seatgeek"}, timeout=5
    )

    assert answer.status_code == 200 and waits == [0.12]


def test_stats_count_requests_by_endpoint_and_reset_clears_them(sandbox: SandboxServer) -> None:
    client = app_client(sandbox)
    client.search("x", type="artist")
    client.search("y", type="artist")

    counted = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]
    requests.post(f"{sandbox.url}/_sandbox/reset", timeout=5)
    cleared = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"]

    assert counted["spotify GET /spotify/v1/search"] == 2
    assert counted["accounts POST /accounts/api/token"] == 1
    assert cleared == {}


def test_config_control_refuses_unknown_options(sandbox: SandboxServer) -> None:
    answer = requests.post(f"{sandbox.url}/_sandbox/config", json={"speed": "fast"}, timeout=5)
    changed = requests.post(f"{sandbox.url}/_sandbox/config", json={"mode": "extended"}, timeout=5)

    assert answer.status_code == 400
    assert changed.json()["mode"] == "extended"


def test_spotipy_is_a_real_client_here() -> None:
    assert spotipy.Spotify.max_retries == 3  # the default the services must switch off
