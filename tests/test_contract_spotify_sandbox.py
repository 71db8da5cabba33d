"""The sandbox's Spotify answers hold nothing that real answers (../shared/real-api) lack.

Each answer is walked into `path -> JSON types` and held against recorded real answers of the
same request: every path the sandbox sends must be in a real one, with a type a real one has
there, and the paths our parsers read must be there. Development Mode removes fields the older
recordings still carry; that is fine (the sandbox sends a subset).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer
from tests.contract import SEARCH_READ, assert_no_invented_keys, json_paths, load_real
from tests.sandbox_clients import user_client

ACCOUNTS_ERROR_PATHS = {"error", "error_description"}

# A removed track: the entry's `track` is null. Spotify's playlist reference says "a track object
# may be null ... if a track is no longer available"; an entry recorded in foobuzz/statify#5
# (2021) has this shape. Values are ours.
REMOVED_ENTRY: dict[str, Any] = {
    "added_at": "2021-05-06T22:15:57Z",
    "added_by": {
        "external_urls": {"spotify": "https://open.spotify.com/user/someone"},
        "href": "https://api.spotify.com/v1/users/someone",
        "id": "someone",
        "type": "user",
        "uri": "spotify:user:someone",
    },
    "is_local": False,
    "primary_color": None,
    "track": None,
    "video_thumbnail": {"url": None},
}

# A local file, in the shape of Spotify's guide "Local Files in Spotify Playlists"
# (developer.spotify.com/documentation/general/guides/local-files-spotify-playlists) and of the
# whole object recorded in felix-hilden/tekore#200: no ids or links, empty or zero fields, and a
# URI spotify:local:artist:album:title:seconds. Values are ours.
LOCAL_TRACK: dict[str, Any] = {
    "album": {
        "album_type": None,
        "artists": [],
        "available_markets": [],
        "external_urls": {},
        "href": None,
        "id": None,
        "images": [],
        "name": "Kitchen Tapes",
        "release_date": None,
        "release_date_precision": None,
        "type": "album",
        "uri": None,
    },
    "artists": [
        {
            "external_urls": {},
            "href": None,
            "id": None,
            "name": "Some Band",
            "type": "artist",
            "uri": None,
        }
    ],
    "available_markets": [],
    "disc_number": 0,
    "duration_ms": 201000,
    "explicit": False,
    "external_ids": {},
    "external_urls": {},
    "href": None,
    "id": None,
    "is_local": True,
    "name": "First Song",
    "popularity": 0,
    "preview_url": None,
    "track_number": 0,
    "type": "track",
    "uri": "spotify:local:Some+Band:Kitchen+Tapes:First+Song:201",
}
LOCAL_ENTRY = {**REMOVED_ENTRY, "is_local": True, "track": LOCAL_TRACK}

# The daily quota's documented answer (Spotify blog 2026-07-23; GuessSong#27; PLATFORM.md).
QUOTA_WITH_REASON = {
    "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
}

# What our parsers (shared/spotify_records.py) read from each answer.
ENTRY_READ = {"items[].added_at", "items[].is_local"} | {
    f"items[].{key}.{field}"
    for key in ("item", "track")
    for field in ("type", "episode", "is_local", "id", "name", "artists[].id", "album.name")
}
LISTING_READ = {"items[].id", "items[].name", "items[].owner.id", "items[].external_urls.spotify"}


def real(name: str) -> Any:
    return load_real(f"spotify/{name}")


def page_of(*entries: dict[str, Any]) -> dict[str, Any]:
    """Return a last playlist-items page holding the entries (paging as recorded)."""
    recorded = real("joostlek__playlist_items.json")
    return {**recorded, "items": list(entries), "total": len(entries)}


def under_both_keys(page: dict[str, Any]) -> dict[str, Any]:
    """Return the page with each entry's content under `track` and `item` alike.

    joostlek's March 2026 recording carries one object under both keys: what a recording shows
    under one of them, the 2026 service sends under the other too.
    """
    both = copy.deepcopy(page)
    for entry in both["items"]:
        content = entry.get("item", entry.get("track"))
        entry["track"] = entry["item"] = content
    return both


def recorded_paging(*at: str) -> list[dict[str, Any]]:
    """Return the `next` and `previous` of recorded pages, placed at each path of `at`.

    Every Spotify list is one paging object: recorded pages show `next` null on a last page
    (joostlek__playlist_items.json), `previous` null on a first (joostlek__search.json) and a URL
    on a later one (java__SearchItemRequest.json).
    """
    pages = [
        real("joostlek__playlist_items.json"),
        real("joostlek__search.json")["tracks"],
        real("java__SearchItemRequest.json")["artists"],
    ]
    links = [{"next": page["next"], "previous": page["previous"]} for page in pages]
    return [{where: link} if where else link for link in links for where in at]


def content_of(entry: dict[str, Any]) -> Any:
    return entry["item"] if "item" in entry else entry["track"]


def app_token_answer(sandbox: SandboxServer, secret: str = "sandbox-client-secret") -> Any:
    return requests.post(
        f"{sandbox.url}/accounts/api/token",
        data={"grant_type": "client_credentials"},
        auth=("sandbox-client-id", secret),
        timeout=5,
    )


def api_get(sandbox: SandboxServer, path: str, headers: dict[str, str], **params: Any) -> Any:
    return requests.get(
        f"{sandbox.url}/spotify/v1/{path}", params=params, headers=headers, timeout=5
    )


def app_headers(sandbox: SandboxServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_token_answer(sandbox).json()['access_token']}"}


def user_headers(sandbox: SandboxServer, user: str = "alice") -> dict[str, str]:
    headers: dict[str, str] = user_client(sandbox, user)._auth_headers()
    return headers


# Catalogue


def test_search_of_artists_and_tracks_sends_only_what_real_searches_do(
    sandbox: SandboxServer,
) -> None:
    answer = api_get(
        sandbox, "search", app_headers(sandbox), q='artist:"Sting"', type="artist,track", limit=10
    ).json()

    assert answer["artists"]["items"] and answer["tracks"]["items"]
    assert_no_invented_keys(
        answer,
        [
            real("java__SearchItemRequest.json"),
            real("joostlek__search.json"),
            *recorded_paging("artists", "tracks"),
        ],
    )
    assert set(json_paths(answer)) >= SEARCH_READ


def test_an_artist_sends_only_what_a_real_artist_does(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    artist_id = small_world["spotify"]["artists"][0]["id"]

    answer = api_get(sandbox, f"artists/{artist_id}", app_headers(sandbox)).json()

    assert_no_invented_keys(
        answer,
        [real("joostlek__artist.json"), *real("java__SearchItemRequest.json")["artists"]["items"]],
    )
    assert {"id", "name", "genres"} <= set(json_paths(answer))


# Playlists


def test_playlist_items_send_tracks_episodes_local_files_and_removed_entries_as_real_ones_do(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    alices = next(p for p in small_world["spotify"]["playlists"] if p["owner_id"] == "alice")

    answer = api_get(
        sandbox, f"playlists/{alices['id']}/items", user_headers(sandbox), limit=100
    ).json()

    contents = [content_of(entry) for entry in answer["items"]]
    assert None in contents
    assert {c["type"] for c in contents if c} == {"track", "episode"}
    assert any(entry["is_local"] and content_of(entry)["id"] is None for entry in answer["items"])
    assert_no_invented_keys(
        answer,
        [
            under_both_keys(real("joostlek__playlist_items.json")),
            under_both_keys(real("java__GetPlaylistsItemsRequest_Episode.json")),
            under_both_keys(page_of(LOCAL_ENTRY, REMOVED_ENTRY)),
        ],
    )
    paths = json_paths(answer)
    assert set(paths) >= ENTRY_READ
    # Development Mode removes these track fields (PLATFORM.md).
    assert not {
        f"items[].{key}.{field}"
        for key in ("item", "track")
        for field in ("popularity", "available_markets", "linked_from")
    } & set(paths)


def test_my_playlists_send_only_what_real_listings_do(sandbox: SandboxServer) -> None:
    headers = user_headers(sandbox)
    pages = [api_get(sandbox, "me/playlists", headers, limit=1).json()]
    while pages[-1]["next"]:
        pages.append(requests.get(pages[-1]["next"], headers=headers, timeout=5).json())

    for answer in pages:
        assert_no_invented_keys(
            answer,
            [
                real("joostlek__current_user_playlist_1.json"),
                real("joostlek__current_user_playlist_2.json"),
                *recorded_paging(""),
            ],
        )
        assert set(json_paths(answer)) >= LISTING_READ
        assert all("total" in p.get("items", p["tracks"]) for p in answer["items"])
    assert len(pages) >= 2


# Users and the accounts service


def test_me_sends_only_what_a_real_profile_does(sandbox: SandboxServer) -> None:
    answer = api_get(sandbox, "me", user_headers(sandbox)).json()

    # `account_id` came to /me in May 2026 (Web API changelog, May 2026; PLATFORM.md), after
    # the recording.
    assert_no_invented_keys(
        answer, [real("joostlek__current_user.json")], allowed={"account_id": {"string"}}
    )
    assert {"id", "display_name"} <= set(json_paths(answer))


def test_token_answer_carries_what_clients_read(sandbox: SandboxServer) -> None:
    answer = app_token_answer(sandbox).json()

    assert set(json_paths(real("java__ClientCredentials.json"))) <= set(json_paths(answer))


def test_client_credentials_token_answer_invents_nothing(sandbox: SandboxServer) -> None:
    answer = app_token_answer(sandbox).json()

    assert_no_invented_keys(answer, [real("java__ClientCredentials.json")])


def test_invalid_client_answers_as_recorded(sandbox: SandboxServer) -> None:
    answer = app_token_answer(sandbox, secret="wrong")

    assert answer.json() == real("java__auth-invalid-client.json")


# 429s


@pytest.mark.parametrize(
    ("quota_body", "recorded"),
    [
        ("reason", [QUOTA_WITH_REASON]),
        (
            "no_reason",
            [
                real("issue__spotify-web-api-1402__429_rate_limit.json")["body"],
                real("joostlek__rate_limit.json"),
            ],
        ),
        ("empty", [real("issue__spotify-web-api-node-426__429_long_retry_after.json")["body"]]),
    ],
)
def test_daily_quota_answers_as_each_recorded_429(
    sandbox: SandboxServer, quota_body: str, recorded: list[Any]
) -> None:
    headers = app_headers(sandbox)
    configured = requests.post(
        f"{sandbox.url}/_sandbox/config",
        json={"daily_quota": 0, "quota_body": quota_body},
        timeout=5,
    )

    answer = api_get(sandbox, "search", headers, q="x", type="artist")

    assert configured.status_code == 200
    assert answer.status_code == 429
    assert answer.json() in recorded
    assert_no_invented_keys(answer.json(), recorded)
    # Hours, as recorded (retry-after: 13749) and reported (~50,000 s).
    assert int(answer.headers["Retry-After"]) >= 3600


def test_short_rate_limit_answers_as_recorded(sandbox: SandboxServer) -> None:
    headers = app_headers(sandbox)
    sandbox.sandbox.options.rate_limit = 0.1  # 3 requests a 30 s window

    answers = [api_get(sandbox, "search", headers, q="x", type="artist") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json() == real("joostlek__rate_limit.json")
    assert answers[3].json() == real("issue__spotify-web-api-1402__429_rate_limit.json")["body"]
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 30
