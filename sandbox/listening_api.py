"""Stand-in for Spotify's listening endpoints: recently played, top items and followed artists.

The rules are the real service's (PLATFORM.md, recordings in real-api/exports/api/): only the
last 50 plays are reachable, plays under 30 s are not listed, and an `after` read also returns a
play that ended exactly at `after`, so a poller sees its newest play again
(chekos__recently_played__2023-04-20T0317_after-overlap.json).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, request

from sandbox.listening import TIME_RANGE_DAYS, Listening, Play, ms_of, played_at
from sandbox.spotify_api import (
    ApiError,
    api_error,
    authenticate,
    current_user_id,
    int_arg,
    require_scope,
)
from sandbox.spotify_objects import artist_out, base_url, page, sandbox, track_out

bp = Blueprint("spotify_listening", __name__, url_prefix="/spotify/v1")
bp.before_request(authenticate)
bp.register_error_handler(ApiError, api_error)

MAX_LIMIT = 50


def listening() -> Listening:
    found: Listening = sandbox().listening
    return found


def now_ms() -> int:
    return ms_of(sandbox().clock.now())


def ms_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ApiError(400, f"Invalid {name} cursor")
    return int(raw)


def context_out(context: tuple[str, str] | None) -> dict[str, Any] | None:
    """Return a play's context as recorded: type, href, external_urls, uri; or None."""
    if context is None:
        return None
    kind, context_id = context
    return {
        "type": kind,
        "href": f"{base_url()}{kind}s/{context_id}",
        "external_urls": {"spotify": f"https://open.spotify.com/{kind}/{context_id}"},
        "uri": f"spotify:{kind}:{context_id}",
    }


def play_out(play: Play) -> dict[str, Any]:
    return {
        "track": track_out(sandbox().catalog.tracks[play.track_id]),
        "played_at": played_at(play.end_ms),
        "context": context_out(play.context),
    }


@bp.get("/me/player/recently-played")
def recently_played() -> dict[str, Any]:
    user_id = current_user_id()
    require_scope("user-read-recently-played")
    limit = int_arg("limit", 20, 1, MAX_LIMIT, "Invalid limit")
    after, before = ms_arg("after"), ms_arg("before")
    if after is not None and before is not None:
        raise ApiError(400, "Only one of after or before may be given")
    reachable = listening().recent_plays(user_id, now_ms())
    if after is not None:
        # The `limit` plays next after the cursor, newest first; `>=` gives the recorded overlap.
        chosen = [play for play in reachable if play.end_ms >= after][-limit:]
        more = bool(chosen)
    else:
        older = [play for play in reachable if before is None or play.end_ms < before]
        chosen = older[:limit]
        more = len(older) > limit
    asked = (
        {"after": after} if after is not None else {"before": before} if before is not None else {}
    )
    cursors = {"after": str(chosen[0].end_ms), "before": str(chosen[-1].end_ms)} if chosen else None
    link = f"{base_url()}me/player/recently-played?"
    if cursors is None or not more:
        next_url = None
    elif after is not None:
        next_url = link + urlencode({"after": cursors["after"], "limit": limit})
    else:
        next_url = link + urlencode({"before": cursors["before"], "limit": limit})
    return {
        "items": [play_out(play) for play in chosen],
        "next": next_url,
        "cursors": cursors,
        "limit": limit,
        "href": link + urlencode({**asked, "limit": limit}),
    }


def time_range_arg() -> str:
    time_range = request.args.get("time_range", "medium_term")
    if time_range not in TIME_RANGE_DAYS:
        raise ApiError(400, "Invalid time range")
    return time_range


@bp.get("/me/top/<kind>")
def top_items(kind: str) -> dict[str, Any]:
    user_id = current_user_id()
    if kind not in ("artists", "tracks"):
        raise ApiError(404, "Service not found")
    require_scope("user-top-read")
    time_range = time_range_arg()
    limit = int_arg("limit", 20, 1, MAX_LIMIT, "Invalid limit")
    offset = int_arg("offset", 0, 0, 100_000, "Invalid offset")
    artist_ids, track_ids = listening().top(user_id, now_ms(), time_range)
    catalog = sandbox().catalog
    if kind == "artists":
        return page(
            artist_ids,
            offset,
            limit,
            "me/top/artists",
            params={"time_range": time_range},
            serialize=lambda artist_id: artist_out(catalog.artists[artist_id]),
        )
    return page(
        track_ids,
        offset,
        limit,
        "me/top/tracks",
        params={"time_range": time_range},
        serialize=lambda track_id: track_out(catalog.tracks[track_id]),
    )


@bp.get("/me/following")
def followed_artists() -> dict[str, Any]:
    user_id = current_user_id()
    if request.args.get("type") != "artist":
        raise ApiError(400, "type must be artist")
    require_scope("user-follow-read")
    limit = int_arg("limit", 20, 1, MAX_LIMIT, "Invalid limit")
    after = request.args.get("after")
    followed = listening().followed_artists(user_id)
    following = [artist_id for artist_id in followed if after is None or artist_id > after]
    chosen = following[:limit]
    last = chosen[-1] if chosen and len(following) > limit else None
    params: dict[str, Any] = {"type": "artist", "limit": limit}
    link = f"{base_url()}me/following?"
    catalog = sandbox().catalog
    return {
        "artists": {
            "href": link + urlencode({**params, **({"after": after} if after else {})}),
            "limit": limit,
            "next": link + urlencode({**params, "after": last}) if last else None,
            "cursors": {"after": last},
            "total": len(followed),
            "items": [artist_out(catalog.artists[artist_id]) for artist_id in chosen],
        }
    }


# The sandbox clock's controls, beside the other ones under /_sandbox.
controls = Blueprint("listening_controls", __name__, url_prefix="/_sandbox")
MAX_ADVANCE_HOURS = 24 * 366


@controls.post("/advance-hours")
def advance_hours() -> Any:
    """Move the sandbox clock forward by {"hours": n}: the users' new plays appear.

    Passing midnight UTC starts a new quota day: Spotify's daily quota is counted afresh.
    Discover Weekly rotates only with /_sandbox/advance-week (which also moves 168 hours).
    """
    hours = (request.get_json(silent=True) or {}).get("hours")
    if (
        isinstance(hours, bool)
        or not isinstance(hours, int | float)
        or not 0 <= hours <= MAX_ADVANCE_HOURS
    ):
        return {"error": f"hours must be a number from 0 to {MAX_ADVANCE_HOURS}"}, 400
    clock = sandbox().clock
    return {"now": clock.advance(hours).isoformat(), "hours": clock.hours}


@controls.get("/clock")
def clock_state() -> dict[str, Any]:
    """Give the sandbox's now, where its clock started and how far it has been moved."""
    clock = sandbox().clock
    return {"now": clock.now().isoformat(), "start": clock.start.isoformat(), "hours": clock.hours}
