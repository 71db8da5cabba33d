"""The objects the Spotify stand-in serves, in the real API's shapes (2026 Development Mode)."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote_plus, urlencode

from flask import current_app, request

from sandbox.playlists import Playlist, spotify_time

DEV_REMOVED_ARTIST_FIELDS = {"popularity", "followers"}
DEV_REMOVED_TRACK_FIELDS = {"popularity", "available_markets", "linked_from"}
WORLD_ONLY_FIELDS = {"top_track_ids", "_week"}
MAX_ITEMS_PER_WRITE = 100
TRACK_PREFIX = "spotify:track:"
LOCAL_PREFIX = "spotify:local:"
EPISODE_PREFIX = "spotify:episode:"
# Which keys carry a playlist entry's content. The one 2026 recording (joostlek, March 2026) has
# `track` and `item`, the same object, on every entry; the migration guide renames `track` to
# `item`; older answers (spotify-web-api-java's episode fixture) carry `track` alone. So most
# entries carry both, and one in ten each carries only `track` or only `item`: a client that
# reads one key fails against the sandbox, not for real users.
BOTH_KEYS_SHARE = 0.8
TRACK_KEY_ONLY_SHARE = 0.1
# /me/playlists: joostlek's two March 2026 pages give each playlist's size under `tracks` and
# `items` (one page) or under `tracks` alone (the other, Spotify-owned ones too): half and half.
TRACKS_ONLY_LISTING_SHARE = 0.5


def sandbox() -> Any:
    return current_app.extensions["sandbox"]


def development() -> bool:
    return bool(sandbox().options.mode == "development")


def base_url() -> str:
    return request.host_url + "spotify/v1/"


def seeded_share(*key: object) -> float:
    """Return a number in [0, 1) fixed by the sandbox's seed and the key, the same every run."""
    text = ":".join(str(part) for part in (sandbox().options.seed, *key))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def artist_out(artist: dict[str, Any]) -> dict[str, Any]:
    hidden = WORLD_ONLY_FIELDS | (DEV_REMOVED_ARTIST_FIELDS if development() else set())
    out = {k: v for k, v in artist.items() if k not in hidden}
    out["href"] = f"{base_url()}artists/{artist['id']}"
    out["external_urls"] = {"spotify": f"https://open.spotify.com/artist/{artist['id']}"}
    return out


def links(kind: str, item_id: str) -> dict[str, Any]:
    """Return the `href` and `external_urls` of an object of the catalogue."""
    return {
        "href": f"{base_url()}{kind}s/{item_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{item_id}"},
    }


def track_out(track: dict[str, Any]) -> dict[str, Any]:
    """Return a track as search and playlists give it: album and artists with their links."""
    hidden = DEV_REMOVED_TRACK_FIELDS if development() else set()
    out = {k: v for k, v in track.items() if k not in hidden}
    artists = [{**artist, **links("artist", artist["id"])} for artist in track["artists"]]
    album = track["album"]
    out["album"] = {
        "type": "album",
        "uri": f"spotify:album:{album['id']}",
        "images": [],
        "total_tracks": sandbox().catalog.album_sizes.get(album["id"], 1),
        **album,
        **links("album", album["id"]),
        "artists": artists,
    }
    out["artists"] = artists
    out.setdefault("disc_number", 1)
    # Null in the 2026 recordings (joostlek__playlist_items.json, joostlek__search.json).
    out.setdefault("preview_url", None)
    out.update(links("track", track["id"]))
    return out


def local_track_out(uri: str) -> dict[str, Any]:
    """Return the track object of a local file, as Spotify's guide "Local Files in Spotify
    Playlists" (developer.spotify.com/documentation/general/guides/local-files-spotify-playlists)
    and a recorded answer (felix-hilden/tekore#200) show it: no ids, no links, empty or zero
    fields, names and duration read from `spotify:local:artist:album:title:seconds`."""
    artist, album, title, seconds = (
        unquote_plus(part) for part in uri.removeprefix(LOCAL_PREFIX).split(":")
    )
    hidden = DEV_REMOVED_TRACK_FIELDS if development() else set()
    out = {
        "album": {
            "album_type": None,
            "artists": [],
            "available_markets": [],
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": album,
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
                "name": artist,
                "type": "artist",
                "uri": None,
            }
        ],
        "available_markets": [],
        "disc_number": 0,
        "duration_ms": int(seconds) * 1000,
        "explicit": False,
        "external_ids": {},
        "external_urls": {},
        "href": None,
        "id": None,
        "is_local": True,
        "name": title,
        "popularity": 0,
        "preview_url": None,
        "track_number": 0,
        "type": "track",
        "uri": uri,
    }
    return {k: v for k, v in out.items() if k not in hidden}


def episode_out(episode: dict[str, Any]) -> dict[str, Any]:
    """Return a podcast episode as a playlist gives it: with its show, no artists, no album."""
    show = episode["show"]
    return {
        **episode,
        **links("episode", episode["id"]),
        "images": [],
        "show": {**show, **links("show", show["id"]), "images": []},
    }


def user_out(user: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": user["id"],
        "display_name": user["display_name"],
        "type": "user",
        "uri": f"spotify:user:{user['id']}",
        "href": f"{base_url()}users/{user['id']}",
        "external_urls": {"spotify": f"https://open.spotify.com/user/{user['id']}"},
        "account_id": user["account_id"],
        "images": [],
    }
    if not development():
        out.update(
            {"email": f"{user['id']}@sandbox.invalid", "country": "US", "product": "premium"}
        )
    return out


def user_ref(user_id: str) -> dict[str, Any]:
    """Return a user as playlists name them (`added_by`)."""
    return {
        "id": user_id,
        "type": "user",
        "uri": f"spotify:user:{user_id}",
        **links("user", user_id),
    }


def owner_out(owner_id: str) -> dict[str, Any]:
    if owner_id == "spotify":
        return {**user_ref("spotify"), "display_name": "Spotify"}
    user = sandbox().users.get(owner_id, {"id": owner_id, "display_name": owner_id})
    return {**user_ref(owner_id), "display_name": user["display_name"]}


def playlist_out(playlist: Playlist, with_items: bool) -> dict[str, Any]:
    out = {k: v for k, v in playlist.meta.items() if k not in WORLD_ONLY_FIELDS}
    out.update(
        {
            "href": f"{base_url()}playlists/{playlist.id}",
            "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist.id}"},
            "owner": owner_out(playlist.owner_id),
            "snapshot_id": f"snapshot-{playlist.snapshot}",
            "images": [],
            "primary_color": None,
        }
    )
    items: dict[str, Any] = {
        "href": f"{base_url()}playlists/{playlist.id}/items",
        "total": len(playlist.track_ids),
    }
    if with_items:
        items = paged_items(playlist, 0, 100)
    out["items"] = items
    return out


def page(
    items: list[Any],
    offset: int,
    limit: int,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    serialize: Any = None,
) -> dict[str, Any]:
    """Return one page in Spotify's paging shape, with absolute next/previous URLs."""
    chosen = items[offset : offset + limit]
    if serialize is not None:
        chosen = [serialize(item) for item in chosen]

    def link(at: int) -> str:
        return f"{base_url()}{path}?{urlencode({**(params or {}), 'offset': at, 'limit': limit})}"

    return {
        "href": link(offset),
        "items": chosen,
        "limit": limit,
        "offset": offset,
        "total": len(items),
        "next": link(offset + limit) if offset + limit < len(items) else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
    }


def listed_playlist_out(playlist: Playlist) -> dict[str, Any]:
    """Return a playlist as /me/playlists lists it: its size under `tracks` (an `href` to the
    old path, as recorded), and for some playlists (seeded) under `items` too."""
    out = playlist_out(playlist, with_items=False)
    out["tracks"] = {
        "href": f"{base_url()}playlists/{playlist.id}/tracks",
        "total": len(playlist.track_ids),
    }
    if seeded_share("listing", playlist.id) < TRACKS_ONLY_LISTING_SHARE:
        del out["items"]
    return out


def entry_content(ref: str | None) -> dict[str, Any] | None:
    """Return what a playlist entry holds: a track, an episode, a local file, or None (removed)."""
    catalog = sandbox().catalog
    if ref is None:
        return None
    if ref.startswith(LOCAL_PREFIX):
        return {**local_track_out(ref), "episode": False, "track": True}
    if ref.startswith(EPISODE_PREFIX):
        episode = catalog.episodes.get(ref.removeprefix(EPISODE_PREFIX))
        return {**episode_out(episode), "episode": True, "track": False} if episode else None
    track = catalog.tracks.get(ref)
    return {**track_out(track), "episode": False, "track": True} if track else None


def entry_keys(playlist_id: str, position: int) -> tuple[str, ...]:
    """Return which keys carry an entry's content: `track` and `item`, or one of them (seeded)."""
    share = seeded_share("entry", playlist_id, position)
    if share < BOTH_KEYS_SHARE:
        return ("track", "item")
    return ("track",) if share < BOTH_KEYS_SHARE + TRACK_KEY_ONLY_SHARE else ("item",)


def playlist_entry_out(playlist: Playlist, position: int, ref: str | None) -> dict[str, Any]:
    """Return one playlist entry in the 2026 shape."""
    entry: dict[str, Any] = {
        "added_at": playlist.added_at[position]
        if position < len(playlist.added_at)
        else spotify_time(sandbox().clock.now()),
        "added_by": user_ref(playlist.owner_id),
        "is_local": ref is not None and ref.startswith(LOCAL_PREFIX),
        "primary_color": None,
        "video_thumbnail": {"url": None},
    }
    content = entry_content(ref)
    for key in entry_keys(playlist.id, position):
        entry[key] = content
    return entry


def paged_items(playlist: Playlist, offset: int, limit: int) -> dict[str, Any]:
    return page(
        list(enumerate(playlist.track_ids)),
        offset,
        limit,
        f"playlists/{playlist.id}/items",
        serialize=lambda pair: playlist_entry_out(playlist, *pair),
    )
