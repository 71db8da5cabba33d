"""Pick an area and dates, preview the shows, and make the playlist."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, render_template, request

from shared.spotify import SpotifyError
from web import area
from web.auth import current_user, login_required, spotify_problem, user_api
from web.data import ShowsData, shows_data
from web.playlists import write_playlist
from web.text import clean_name

bp = Blueprint("shows", __name__)

PREVIEW_SHOWS = 100


@bp.app_template_filter("clean_name")
def clean_name_filter(text: object) -> str:
    """Show a name without control characters or bidi overrides (a second guard in templates)."""
    return clean_name(text)


def today() -> date:
    """Return today's date (UTC)."""
    return datetime.now(UTC).date()


def _page(
    data: ShowsData, query: area.AreaQuery | None, error: str = "", form: Any = None
) -> dict[str, Any]:
    """Return everything the area page shows for a query (or for none yet)."""
    context: dict[str, Any] = {
        "states": sorted(data.state_counts.items()),
        "query": query,
        "form": form or {},
        "error": error,
        "day_choices": area.DAY_CHOICES,
        "user": current_user(),
        "stale": data.stale,
        "cities": area.city_counts(data, (form or {}).get("state", "").upper() if form else ""),
    }
    if query is None:
        return context
    context["cities"] = area.city_counts(data, query.state)
    first, last = query.window(today())
    without_genres = area.select_shows(data, query, today(), with_genres=False)
    rows = area.select_shows(data, query, today())
    shows, uris = area.plan_playlist(rows, data, query.tracks_per_artist, PREVIEW_SHOWS)
    total_shows = area.count(rows).shows
    context.update(
        {
            "first": first,
            "last": last,
            "genres": area.genre_counts(without_genres),
            "counts": area.count(rows),
            "window_counts": area.window_counts(data, query, today()),
            "weekly": area.weekly_counts(rows, first, last),
            "shows": shows,
            "more_shows": max(0, total_shows - len(shows)),
            "track_count": len(uris),
            "playlist_name": area.playlist_name(query, first, last),
            "hidden": query.as_form(),
        }
    )
    return context


@bp.get("/shows", endpoint="area")
def area_page() -> Any:
    """Show the area form; with an area chosen, the counts and the preview too."""
    data = shows_data()
    if not request.args.get("state"):
        return render_template("shows.html", **_page(data, None))
    try:
        query = area.parse_area(request.args, request.args.getlist, data, today())
    except area.FormError as error:
        return render_template("shows.html", **_page(data, None, str(error), request.args)), 400
    return render_template("shows.html", **_page(data, query, form=request.args))


@bp.post("/shows/playlist")
@login_required
def make_playlist() -> Any:
    """Create (or refresh in place) the area's playlist in the user's account."""
    data = shows_data()
    try:
        query = area.parse_area(request.form, request.form.getlist, data, today())
    except area.FormError as error:
        return render_template("shows.html", **_page(data, None, str(error), request.form)), 400
    first, last = query.window(today())
    rows = area.select_shows(data, query, today())
    shows, uris = area.plan_playlist(rows, data, query.tracks_per_artist)
    if not uris:
        message = (
            "None of these shows' artists has tracks yet, so there is nothing to put in a playlist."
            if shows
            else "No shows match these choices, so there is nothing to put in a playlist."
        )
        return render_template("shows.html", **_page(data, query, message, request.form)), 400
    user = current_user() or {}
    try:
        result = write_playlist(
            user_api(),
            user_id=user.get("id", ""),
            prefix=area.name_prefix(query),
            name=area.playlist_name(query, first, last),
            description=area.playlist_description(shows),
            uris=uris,
        )
    except SpotifyError as error:
        return render_template(
            "shows.html", **_page(data, query, spotify_problem(error), request.form)
        ), 502
    problem = spotify_problem(result.error) if result.error else ""
    return render_template(
        "result.html", result=result, query=query, problem=problem, user=user
    ), 200
