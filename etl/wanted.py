"""Which performers people want matched first: saved areas' (tier 0), then recent previews' (1).

An area's performers are selected the way the web selects its shows (`shared.area_plan.select`)
from the ETL's concerts dataset, shaped as the serving layout shapes it. Genres are left out of
the choice: a performer's genres come from the match this ordering is for.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from typing import Any

import pandas as pd

from shared.area_plan import select
from shared.area_query import DEFAULT_DAYS, MIXES, AreaQuery
from shared.saved_areas import ACTIVE, SAVED_AREAS, SavedArea, SavedAreasError, recent_previews
from shared.serving import shape_rows, summarize
from shared.shows_data import ShowsData, state_data
from shared.storage import StorageError, Store

logger = logging.getLogger(__name__)

SAVED_AREAS_TIER = 0
PREVIEWED_TIER = 1

AreaKey = tuple[str, str]  # (user id, area id)


def query_of(stored: dict[str, Any]) -> AreaQuery:
    """Return the AreaQuery of a saved area's choices; SavedAreasError when a value is wrong."""
    state, city = stored.get("state"), stored.get("city", "")
    radius, days = stored.get("radius_miles", 0), stored.get("days", DEFAULT_DAYS)
    genres, tracks = stored.get("genres", []), stored.get("tracks_per_artist", 3)
    headliners = stored.get("headliners_only", False)
    known_only, mix = stored.get("known_only", False), stored.get("mix", "")
    if not (isinstance(state, str) and state and isinstance(city, str)):
        raise SavedAreasError("an area's state or city is not text")
    if not all(_whole(value) for value in (radius, days, tracks)):
        raise SavedAreasError("an area's radius, days or tracks is not a whole number")
    if not isinstance(genres, list | tuple) or not all(isinstance(g, str) for g in genres):
        raise SavedAreasError("an area's genres are not a list of text")
    if not isinstance(headliners, bool):
        raise SavedAreasError("an area's headliners choice is not true or false")
    if not isinstance(known_only, bool) or mix not in MIXES:
        raise SavedAreasError("an area's known-artists choice or mix is not one the page offers")
    return AreaQuery(
        state=state,
        city=city,
        radius_miles=radius,
        days=days,
        genres=tuple(genres),
        tracks_per_artist=tracks,
        headliners_only=headliners,
        known_only=known_only,
        mix=mix,
    )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def concert_shows(concerts: pd.DataFrame) -> ShowsData:
    """Return the concerts dataset as the pages read shows (no matches or tracks needed)."""
    no_artists = pd.DataFrame({"performer_key": [], "spotify_artist_id": []})
    rows = shape_rows(concerts, no_artists) if not concerts.empty else pd.DataFrame()
    no_tracks = pd.DataFrame(columns=["spotify_artist_id", "track_id", "track_name", "rank"])
    groups = (
        {str(code): group.reset_index(drop=True)
         for code, group in rows.groupby("venue_state", sort=True)}
        if len(rows) else {}
    )  # fmt: skip
    states = {code: state_data(group, no_tracks) for code, group in groups.items()}
    return ShowsData({code: summarize(group) for code, group in groups.items()}, states.__getitem__)


def area_performers(data: ShowsData, query: AreaQuery, today: date) -> set[str]:
    """Return the performer keys of an area's shows in its window, whatever their genres."""
    if query.state not in data.states:
        return set()
    rows = select(data, replace(query, genres=()), today).rows
    return {str(key) for key in rows["performer_key"].astype(str) if key}


def saved_area_performers(store: Store, data: ShowsData, today: date) -> dict[AreaKey, set[str]]:
    """Return the performers of each saved area that refreshes (not paused, grant active)."""
    found: dict[AreaKey, set[str]] = {}
    for user_id, area in active_saved_areas(store):
        try:
            found[(user_id, area.area_id)] = area_performers(data, query_of(area.query), today)
        except (SavedAreasError, KeyError, ValueError) as error:
            logger.warning(
                "a saved area's shows could not be selected",
                extra={"user_id": user_id, "area_id": area.area_id, "error": str(error)},
            )
    return found


def active_saved_areas(store: Store) -> list[tuple[str, SavedArea]]:
    """Return every saved area that refreshes; unreadable records are skipped and logged."""
    found = []
    for user_id in SAVED_AREAS.people(store):
        try:
            loaded = SAVED_AREAS.load(store, user_id)
        except (SavedAreasError, StorageError) as error:
            logger.warning(
                "unreadable saved areas skipped", extra={"user_id": user_id, "error": str(error)}
            )
            continue
        if loaded is None or loaded[0].status != ACTIVE:
            continue
        found += [(user_id, area) for area in loaded[0].areas if not area.paused]
    return found


def wanted_from_shows(
    store: Store, data: ShowsData, today: date, saved: dict[AreaKey, set[str]] | None = None
) -> dict[str, int]:
    """Return performer key -> tier: saved areas' performers 0, recently previewed areas' 1."""
    wanted: dict[str, int] = {}
    for stored in recent_previews(store, today):
        try:
            keys = area_performers(data, query_of(stored), today)
        except (SavedAreasError, KeyError, ValueError) as error:
            logger.warning("a previewed area was skipped", extra={"error": str(error)})
            continue
        wanted.update(dict.fromkeys(keys, PREVIEWED_TIER))
    areas = saved_area_performers(store, data, today) if saved is None else saved
    for keys in areas.values():
        wanted.update(dict.fromkeys(keys, SAVED_AREAS_TIER))
    return wanted


def wanted_performers(store: Store, concerts: pd.DataFrame, today: date) -> dict[str, int]:
    """Return performer key -> tier for the concerts: saved areas' 0, recent previews' 1."""
    wanted = wanted_from_shows(store, concert_shows(concerts), today)
    logger.info(
        "wanted performers",
        extra={
            "saved_areas": sum(1 for tier in wanted.values() if tier == SAVED_AREAS_TIER),
            "previewed": sum(1 for tier in wanted.values() if tier == PREVIEWED_TIER),
        },
    )
    return wanted
