"""Your artists on tour: every upcoming show of the artists a person knows, near them (issue 17).

"Near" is one of their saved areas (its city, within a chosen radius) or anywhere in a state.
The shows are the area page's (`shared.area_plan`), kept to the bills with an artist the
person knows (matched by Spotify artist id only), soonest first. The playlist of those artists
is made by the area page's "Make" with "only artists I know" and the "all known" mix, and kept
fresh as a saved area.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, render_template, request

from shared import area_plan, places
from shared.area_query import MAX_RADIUS_MILES, MAX_WINDOW_DAYS, AreaQuery
from shared.saved_areas import SAVED_AREAS, SavedAreasError
from shared.shows_data import ShowsData
from shared.storage import StorageError
from shared.taste import TASTE, TasteError
from web.auth import current_user, login_required
from web.data import app_store as store
from web.data import shows_data
from web.saved_areas import area_label, query_of
from web.shows import today

logger = logging.getLogger(__name__)

bp = Blueprint("tour", __name__)

RADII = (10, 25, 50, 100, 250)
DEFAULT_RADIUS = 50
PREVIEW_SHOWS = 100
PLAYLIST_DAYS = 90  # the playlist's window: the area page's longest


def _saved_places(user_id: str) -> list[tuple[str, str, str, str]]:
    """Return the person's saved areas as places: (area id, label, state, city)."""
    try:
        loaded = SAVED_AREAS.load(store(), user_id)
    except (SavedAreasError, StorageError) as error:
        logger.warning("saved areas unreadable for the tour page", extra={"error": str(error)})
        return []
    if loaded is None:
        return []
    found = []
    for area in loaded[0].areas:
        query = query_of(area.query)
        found.append((area.area_id, area_label(area.query), query.state, query.city))
    return found


def _whole(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _tour_query(state: str, city: str = "", radius: int = 0) -> AreaQuery:
    """Every upcoming show (a year ahead) of the known artists in a place."""
    return AreaQuery(state, city, radius, MAX_WINDOW_DAYS, known_only=True, mix="all_known")


def _choose(
    data: ShowsData, saved: list[tuple[str, str, str, str]], near: str, radius: int, state: str
) -> tuple[AreaQuery | None, str]:
    """Return the place the person chose as a query (None: nothing chosen yet), or why not."""
    if radius not in RADII:
        return None, f"Pick a radius from the list (up to {MAX_RADIUS_MILES} miles)."
    if near == "state":
        return _in_state(data, state)
    if not near:
        return None, ""
    return _near_saved(data, saved, near, radius)


def _in_state(data: ShowsData, state: str) -> tuple[AreaQuery | None, str]:
    if not state:
        return None, ""
    if state not in data.states:
        return None, f"There are no upcoming shows in {state!r}: pick a state."
    return _tour_query(state), ""


def _near_saved(
    data: ShowsData, saved: list[tuple[str, str, str, str]], near: str, radius: int
) -> tuple[AreaQuery | None, str]:
    place = next((p for p in saved if p[0] == near), None)
    if place is None:
        return None, "That is not one of your saved areas: pick one from the list."
    _, _, area_state, city = place
    if area_state not in data.states:
        return None, "No shows are listed in that area's state any more."
    if city and city not in {c for c, _, _ in data.states[area_state].cities}:
        return _tour_query(area_state), ""  # the city has no shows now: its state
    return _tour_query(area_state, city, radius if city else 0), ""


@bp.get("/tour")
@login_required
def page() -> Any:
    """Show the upcoming shows of the person's known artists near a saved area or in a state."""
    user = current_user() or {}
    try:
        taste = TASTE.load(store(), user["id"])
    except (TasteError, StorageError) as unreadable:
        logger.error(
            "unreadable taste record", extra={"user_id": user["id"], "error": str(unreadable)}
        )
        taste = None
    known = dict(taste[0].artists) if taste else {}
    data = shows_data()
    saved = _saved_places(user["id"])
    states = sorted(data.state_counts, key=places.state_label)
    context: dict[str, Any] = {
        "user": user,
        "taste_on": taste is not None,
        "known_total": len(known),
        "saved": saved,
        "states": states,
        "radii": RADII,
        "near": "",
        "radius": DEFAULT_RADIUS,
        "state": "",
        "query": None,
        "error": "",
    }
    near = str(request.args.get("near", "") or (saved[0][0] if saved else ""))
    radius = _whole(str(request.args.get("radius", DEFAULT_RADIUS)), DEFAULT_RADIUS)
    state = str(request.args.get("state", "")).upper()[:10]
    context.update(near=near, radius=radius, state=state)
    query, error = _choose(data, saved, near, radius, state)
    if error:
        context["error"] = error
        return render_template("tour.html", **context), 400
    if query is None:
        return render_template("tour.html", **context)
    selection = area_plan.select(data, query, today())
    rows = area_plan.only_known_shows(selection.rows, known)
    shows, _ = area_plan.plan_playlist(
        rows,
        selection.tracks_of,
        3,
        PREVIEW_SHOWS,
        texts=selection.texts,
        known=known,
        mix="all_known",
    )
    counts = area_plan.count(rows)
    playlist_query = AreaQuery(
        query.state,
        query.city,
        query.radius_miles,
        PLAYLIST_DAYS,
        known_only=True,
        mix="all_known",
    )
    _, uris = area_plan.plan(data, playlist_query, today(), known)
    context.update(
        query=query,
        shows=shows,
        counts=counts,
        more_shows=max(0, counts.shows - len(shows)),
        track_count=len(uris),
        artists_on_tour=area_plan.mix_counts(rows, known, "").known,
        playlist_fields=playlist_query.as_form(),
        playlist_days=PLAYLIST_DAYS,
    )
    return render_template("tour.html", **context)
