"""Stand-in for the Spotify Web API under the 2026 Development Mode rules (or Extended Quota)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, request

from sandbox.accounts import Grant
from sandbox.catalog import parse_query
from sandbox.playlists import Playlist, spotify_time
from sandbox.spotify_objects import (
    EPISODE_PREFIX,
    MAX_ITEMS_PER_WRITE,
    TRACK_PREFIX,
    artist_out,
    development,
    listed_playlist_out,
    page,
    paged_items,
    playlist_out,
    sandbox,
    track_out,
    user_out,
)

bp = Blueprint("spotify_api", __name__, url_prefix="/spotify/v1")


class ApiError(Exception):
    """An answer in Spotify's error shape: {"error": {"status", "message"}}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@bp.errorhandler(ApiError)
def api_error(error: ApiError) -> tuple[dict[str, Any], int]:
    return {"error": {"status": error.status, "message": error.message}}, error.status


@bp.before_request
def authenticate() -> None:
    """Check the bearer token, then the user's place on the app's allowlist."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "No token provided")
    grant = sandbox().tokens.grant_for(header[7:])
    if grant is None:
        raise ApiError(401, "The access token expired")
    g.grant = grant
    if grant.user_id is not None and development():
        user = sandbox().users.get(grant.user_id, {})
        if not user.get("allowlisted", False):
            raise ApiError(
                403,
                "Check settings on developer.spotify.com/dashboard, "
                "the user may not be registered.",
            )


def current_user_id() -> str:
    grant: Grant = g.grant
    if grant.user_id is None:
        raise ApiError(401, "This request requires user authentication.")
    return grant.user_id


def require_scope(*any_of: str) -> None:
    grant: Grant = g.grant
    if not grant.scopes & set(any_of):
        raise ApiError(403, "Insufficient client scope")


def removed_in_development() -> None:
    if development():
        raise ApiError(403, "This endpoint is not available for apps in Development Mode")


def int_arg(name: str, default: int, low: int, high: int, message: str) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, message) from None
    if not low <= value <= high:
        raise ApiError(400, message)
    return value


# Search, artists and tracks.


@bp.get("/search")
def search() -> dict[str, Any]:
    q = request.args.get("q") or request.args.get("query")
    if not q:
        raise ApiError(400, "No search query")
    types = [t.strip() for t in request.args.get("type", "").split(",") if t.strip()]
    allowed = {"artist", "track", "album", "playlist", "show", "episode", "audiobook"}
    if not types or set(types) - allowed:
        raise ApiError(400, "Bad search type field")
    max_limit = 10 if development() else 50
    limit = int_arg("limit", 5 if development() else 20, 1, max_limit, "Invalid limit")
    offset = int_arg("offset", 0, 0, 1000, "Invalid offset")
    query = parse_query(q)
    catalog = sandbox().catalog
    params = {"query": q, "type": ",".join(types)}
    answer: dict[str, Any] = {}
    for kind in types:
        if kind == "artist":
            answer["artists"] = page(
                catalog.search_artists(query),
                offset,
                limit,
                "search",
                params=params,
                serialize=artist_out,
            )
        elif kind == "track":
            answer["tracks"] = page(
                catalog.search_tracks(query),
                offset,
                limit,
                "search",
                params=params,
                serialize=track_out,
            )
        else:
            answer[kind + "s"] = page([], offset, limit, "search", params=params)
    return answer


@bp.get("/artists/<artist_id>")
def artist(artist_id: str) -> dict[str, Any]:
    found = sandbox().catalog.artists.get(artist_id)
    if found is None:
        raise ApiError(
            404 if len(artist_id) == 22 else 400,
            "Resource not found" if len(artist_id) == 22 else "Invalid base62 id",
        )
    return artist_out(found)


@bp.get("/artists")
@bp.get("/artists/")
def several_artists() -> dict[str, Any]:
    removed_in_development()
    ids = [i for i in request.args.get("ids", "").split(",") if i][:50]
    catalog = sandbox().catalog
    return {
        "artists": [artist_out(catalog.artists[i]) if i in catalog.artists else None for i in ids]
    }


@bp.get("/artists/<artist_id>/top-tracks")
def top_tracks(artist_id: str) -> dict[str, Any]:
    removed_in_development()
    catalog = sandbox().catalog
    found = catalog.artists.get(artist_id)
    if found is None:
        raise ApiError(404, "Resource not found")
    return {"tracks": [track_out(catalog.tracks[t]) for t in found.get("top_track_ids", [])]}


@bp.get("/tracks/<track_id>")
def track(track_id: str) -> dict[str, Any]:
    found = sandbox().catalog.tracks.get(track_id)
    if found is None:
        raise ApiError(404, "Resource not found")
    return track_out(found)


@bp.get("/tracks")
@bp.get("/tracks/")
@bp.get("/albums")
@bp.get("/albums/")
def several_tracks_or_albums() -> dict[str, Any]:
    removed_in_development()
    catalog = sandbox().catalog
    ids = [i for i in request.args.get("ids", "").split(",") if i][:50]
    return {"tracks": [track_out(catalog.tracks[i]) if i in catalog.tracks else None for i in ids]}


# Users and playlists.


@bp.get("/me")
@bp.get("/me/")
def me() -> dict[str, Any]:
    return user_out(sandbox().users[current_user_id()])


@bp.get("/users/<user_id>")
def user_profile(user_id: str) -> dict[str, Any]:
    user = sandbox().users.get(user_id)
    if user is None:
        raise ApiError(404, "No such user")
    return {
        k: v
        for k, v in user_out(user).items()
        if k in ("id", "display_name", "type", "uri", "href", "external_urls", "images")
    }


@bp.get("/me/playlists")
def my_playlists() -> dict[str, Any]:
    user_id = current_user_id()
    limit = int_arg("limit", 20, 1, 50, "Invalid limit")
    offset = int_arg("offset", 0, 0, 100_000, "Invalid offset")
    playlists = sandbox().playlists.owned_or_followed(user_id)
    return page(playlists, offset, limit, "me/playlists", serialize=listed_playlist_out)


# A description with a link can be refused with a 400: links in descriptions were long for
# verified users only (spotify/web-api#897, 2018), and in 2026-09 the Web API answered 400 to a
# description with a URL footer that the official app saved by hand
# (eXPerience83/news-bulletin-playlist#77, #133). Whether it always does is unknown: the option
# `description_links` ("accepted" by default, or "refused") lets tests take both roads.
LINK_IN_TEXT = re.compile(r"https?://|www\.", re.IGNORECASE)


def check_description(description: object) -> str:
    """Return a playlist description the sandbox accepts, or raise the 400 Spotify gives."""
    if not isinstance(description, str) or len(description) > 300:
        raise ApiError(400, "Description too long")
    if sandbox().options.description_links == "refused" and LINK_IN_TEXT.search(description):
        raise ApiError(400, "Invalid description")
    return description


@bp.post("/me/playlists")
def create_playlist() -> tuple[dict[str, Any], int]:
    user_id = current_user_id()
    body = request.get_json(silent=True) or {}
    public = bool(body.get("public", True))
    require_scope("playlist-modify-public" if public else "playlist-modify-private")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "Missing required field: name")
    description = check_description(body.get("description") or "")
    playlist = sandbox().playlists.create(
        user_id, name, description, public, bool(body.get("collaborative", False))
    )
    return playlist_out(playlist, with_items=True), 201


@bp.post("/users/<user_id>/playlists")
def create_playlist_for_user(user_id: str) -> None:
    removed_in_development()
    raise ApiError(403, "Use POST /me/playlists")


def readable_playlist(playlist_id: str, items: bool) -> Playlist:
    """Return a playlist the caller may read, refusing as Development Mode does."""
    playlist = sandbox().playlists.get(playlist_id)
    # Algorithmic, Spotify-owned playlists answer 404 in Development Mode (since 2024-11-27).
    if playlist is None or (playlist.owner_id == "spotify" and development()):
        raise ApiError(404, "Resource not found")
    if items and development() and not playlist.can_edit(g.grant.user_id):
        raise ApiError(403, "Forbidden")
    return playlist


@bp.get("/playlists/<playlist_id>")
def get_playlist(playlist_id: str) -> dict[str, Any]:
    playlist = readable_playlist(playlist_id, items=False)
    readable_items = not development() or playlist.can_edit(g.grant.user_id)
    return playlist_out(playlist, with_items=readable_items)


@bp.put("/playlists/<playlist_id>")
def change_details(playlist_id: str) -> dict[str, str]:
    playlist = writable_playlist(playlist_id)
    body = request.get_json(silent=True) or {}
    description = check_description(body.get("description", playlist.meta.get("description", "")))
    name = body.get("name", playlist.meta["name"])
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "Invalid name")
    with sandbox().playlists.lock:
        playlist.meta.update(name=name, description=description)
        if isinstance(body.get("public"), bool):
            playlist.meta["public"] = body["public"]
    return {}


@bp.get("/playlists/<playlist_id>/items")
def get_items(playlist_id: str) -> dict[str, Any]:
    playlist = readable_playlist(playlist_id, items=True)
    limit = int_arg("limit", 100, 1, 100, "Invalid limit")
    offset = int_arg("offset", 0, 0, 1_000_000, "Invalid offset")
    return paged_items(playlist, offset, limit)


def writable_playlist(playlist_id: str) -> Playlist:
    playlist = sandbox().playlists.get(playlist_id)
    if playlist is None:
        raise ApiError(404, "Resource not found")
    if not playlist.can_edit(current_user_id()):
        raise ApiError(403, "Forbidden")
    require_scope("playlist-modify-public", "playlist-modify-private")
    return playlist


def uris_from_request(body: Any) -> list[str]:
    if isinstance(body, list):
        uris = body
    elif isinstance(body, dict) and "uris" in body:
        uris = body["uris"]
    elif request.args.get("uris"):
        uris = request.args["uris"].split(",")
    else:
        raise ApiError(400, "Missing uris")
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ApiError(400, "Invalid uris")
    if len(uris) > MAX_ITEMS_PER_WRITE:
        raise ApiError(400, "You can add a maximum of 100 tracks per request.")
    return uris


def refs_from(uris: list[str]) -> list[str]:
    """Return what playlists store for written URIs: a track's id, or a known episode's URI."""
    catalog = sandbox().catalog
    refs = []
    for uri in uris:
        if uri.startswith(TRACK_PREFIX):
            ref = uri.removeprefix(TRACK_PREFIX)
            known = ref in catalog.tracks
        elif uri.startswith(EPISODE_PREFIX):
            ref = uri
            known = uri.removeprefix(EPISODE_PREFIX) in catalog.episodes
        else:
            raise ApiError(400, f"Unsupported URL / URI: {uri}")
        if not known:
            raise ApiError(400, "Payload contains a non-existing ID")
        refs.append(ref)
    return refs


@bp.post("/playlists/<playlist_id>/items")
def add_items(playlist_id: str) -> tuple[dict[str, str], int]:
    playlist = writable_playlist(playlist_id)
    body = request.get_json(silent=True)
    refs = refs_from(uris_from_request(body))
    position = (
        body.get("position") if isinstance(body, dict) else request.args.get("position", type=int)
    )
    with sandbox().playlists.lock:
        at = (
            len(playlist.track_ids)
            if position is None
            else max(0, min(int(position), len(playlist.track_ids)))
        )
        playlist.track_ids[at:at] = refs
        playlist.added_at[at:at] = [spotify_time(sandbox().clock.now())] * len(refs)
        playlist.snapshot += 1
    return {"snapshot_id": f"snapshot-{playlist.snapshot}"}, 201


@bp.put("/playlists/<playlist_id>/items")
def replace_items(playlist_id: str) -> dict[str, str]:
    playlist = writable_playlist(playlist_id)
    refs = refs_from(uris_from_request(request.get_json(silent=True)))
    with sandbox().playlists.lock:
        playlist.track_ids = list(refs)
        playlist.added_at = [spotify_time(sandbox().clock.now())] * len(refs)
        playlist.snapshot += 1
    return {"snapshot_id": f"snapshot-{playlist.snapshot}"}


@bp.delete("/playlists/<playlist_id>/items")
def remove_items(playlist_id: str) -> dict[str, str]:
    playlist = writable_playlist(playlist_id)
    body = request.get_json(silent=True) or {}
    entries = body.get("items") or body.get("tracks") or []
    remove = set(refs_from([e.get("uri", "") for e in entries if isinstance(e, dict)]))
    with sandbox().playlists.lock:
        kept = [
            (t, a)
            for t, a in zip(playlist.track_ids, playlist.added_at, strict=False)
            if t not in remove
        ]
        playlist.track_ids = [t for t, _ in kept]
        playlist.added_at = [a for _, a in kept]
        playlist.snapshot += 1
    return {"snapshot_id": f"snapshot-{playlist.snapshot}"}


@bp.route("/playlists/<playlist_id>/tracks", methods=["GET", "POST", "PUT", "DELETE"])
def old_tracks_path(playlist_id: str) -> None:
    raise ApiError(403, "Forbidden: use /playlists/{id}/items")


@bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE"])
def unknown_endpoint(unknown: str) -> None:
    raise ApiError(404, "Service not found")
