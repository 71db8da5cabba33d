"""Pick an area and dates, preview the shows, and make (or update) the playlist."""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from shared import area_plan, form_once, places
from shared.area_playlists import (
    MadePlaylist,
    MadePlaylists,
    adopt_earlier_playlists,
    load_made,
    made_object,
    new_notes_token,
    remember_playlist,
    write_area_playlist,
)
from shared.area_query import DAY_CHOICES, MIXES, AreaQuery, FormError, parse_area
from shared.form_once import is_form_key
from shared.liner_notes import build_notes, save_notes
from shared.links import is_web_link
from shared.saved_areas import (
    REMAKE,
    SAVED_AREAS,
    SavedAreasError,
    content_hash,
    playlist_identity,
)
from shared.shows_data import ShowsData
from shared.spotify import SpotifyError
from shared.storage import StorageError
from shared.taste import TASTE, Known, TasteError
from shared.text import clean_name
from web.auth import current_user, login_required, spotify_problem, user_api
from web.clock import utc_now
from web.data import app_store as store
from web.data import shows_data
from web.saved_areas import (
    KeepFreshError,
    MadeForArea,
    check_can_keep,
    keep_fresh,
    query_fields,
    query_of,
    remember_previewed,
)

logger = logging.getLogger(__name__)

bp = Blueprint("shows", __name__)

PREVIEW_SHOWS = 100
ADOPTED_KEY = "adopted_earlier_playlists"
MADE_KEY = "made_playlist"  # the session's note of the last playlist made, for its result page
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


@bp.app_template_filter("clean_name")
def clean_name_filter(text: object) -> str:
    """Show a name without control characters or bidi overrides (a second guard in templates)."""
    return clean_name(text)


@bp.app_template_test("web_link")
def web_link_test(url: object) -> bool:
    """{% if url is web_link %}: only http(s) URLs become links, whatever a dataset holds."""
    return is_web_link(url)


@bp.app_template_filter("plural")
def plural_filter(count: int, singular: str, plural_form: str = "") -> str:
    """Count in words: {{ n|plural("show") }} gives "1 show" or "2 shows"."""
    return places.plural(int(count), singular, plural_form)


@bp.app_template_filter("noun")
def noun_filter(count: int, singular: str, plural_form: str = "") -> str:
    """The word alone, agreeing with count: {{ n|noun("show") }} gives "show" or "shows"."""
    return places.noun(int(count), singular, plural_form)


@bp.app_template_filter("state_label")
def state_label_filter(code: str) -> str:
    """Name a state: "New York (NY)"."""
    return places.state_label(str(code))


@bp.app_template_filter("show_day")
def show_day_filter(starts_at_local: str) -> str:
    """A show's date with its weekday: "Tue, Nov 24"."""
    return places.show_day(str(starts_at_local))


@bp.app_template_filter("show_time")
def show_time_filter(starts_at_local: str, time_tbd: bool = False) -> str:
    """A show's start ("8:30 PM"), or "time TBA"."""
    return places.show_time(str(starts_at_local), bool(time_tbd))


def today() -> date:
    """Return today's date (UTC)."""
    return utc_now().date()


def site_url(path: str) -> str:
    """Return a page's public address: the site is where Spotify sends people back to."""
    parts = urlsplit(current_app.extensions["settings"].spotify_redirect_uri)
    return f"{parts.scheme}://{parts.netloc}{path}"


def _sort(form: Any) -> str:
    order = str((form or {}).get("sort", "date"))
    return order if order in area_plan.SORTS else "date"


def _with_chosen(genres: list[tuple[str, int]], chosen: tuple[str, ...]) -> list[tuple[str, int]]:
    """Keep every ticked genre on the list, with no shows if the other choices leave none:
    a filter the page applies must stay in sight, to be unticked."""
    present = {genre for genre, _ in genres}
    return genres + [(genre, 0) for genre in chosen if genre not in present]


MADE_CACHE_KEY = "made_playlists"
MADE_CACHE_PEOPLE = 256


def _kept_elsewhere(user_id: str, area_id: str) -> set[str]:
    """Return the playlists the person's other saved areas keep ("Update it" never offers
    them: two areas writing one playlist would overwrite each other)."""
    try:
        loaded = SAVED_AREAS.load(store(), user_id)
    except (SavedAreasError, StorageError):
        return set()
    areas = loaded[0].areas if loaded else ()
    return {a.playlist_id for a in areas if playlist_identity(a.query) != area_id and a.playlist_id}


def _area_id(query: AreaQuery) -> str:
    return playlist_identity(query_fields(query, today()))


def _made_for_area(user_id: str, query: AreaQuery) -> list[MadePlaylist]:
    """Return the person's playlists for an area, taking in earlier ones on their first visit.

    The record is parsed once per worker and generation, as the taste profile is: a preview
    asks storage only for its generation. A store that fails shows none, never a 500.
    """
    try:
        # One look a session (a storage call, and at most one Spotify request), even on failure.
        if not session.get(ADOPTED_KEY):
            session[ADOPTED_KEY] = True
            if store().generation(made_object(user_id)) is None:
                try:
                    adopt_earlier_playlists(store(), user_api(), user_id, area_plan.NAME_PREFIX)
                except SpotifyError as error:
                    logger.warning("earlier playlists not taken in", extra={"error": str(error)})
        area_id = _area_id(query)
        return _made_record(user_id).for_area(
            area_id, area_plan.name_prefix(query), _kept_elsewhere(user_id, area_id)
        )
    except StorageError as error:
        logger.warning("playlists made unreadable", extra={"user_id": user_id, "error": error})
        return []


def _made_record(user_id: str) -> MadePlaylists:
    """Return the person's record of playlists made, re-read only when its generation moved."""
    generation = store().generation(made_object(user_id))
    if generation is None:
        return MadePlaylists()
    cache: OrderedDict[str, MadePlaylists] = current_app.extensions.setdefault(
        MADE_CACHE_KEY, OrderedDict()
    )
    cached = cache.get(user_id)
    if cached is not None and cached.generation == generation:
        cache.move_to_end(user_id)
        return cached
    loaded = load_made(store(), user_id)
    cache[user_id] = loaded
    while len(cache) > MADE_CACHE_PEOPLE:
        cache.popitem(last=False)
    return loaded


def _page(
    data: ShowsData,
    query: AreaQuery | None,
    error: str = "",
    form: Any = None,
    selection: area_plan.Selection | None = None,
) -> dict[str, Any]:
    """Return everything the area page shows for a query (or for none yet)."""
    user = current_user()
    context: dict[str, Any] = {
        "states": sorted(data.state_counts.items(), key=lambda item: places.state_label(item[0])),
        "query": query,
        "form": form or {},
        "error": error,
        "day_choices": DAY_CHOICES,
        "user": user,
        "stale": data.stale,
        "cities": area_plan.city_counts(
            data, (form or {}).get("state", "").upper() if form else ""
        ),
        "sorts": area_plan.SORTS,
        "sort": _sort(form),
        "mixes": MIXES,
        "form_key": form_once.new_form_key(),  # a Make sent twice makes one playlist
    }
    context["taste_on"], context["known"] = _taste(user)
    if query is None:
        return context
    context["cities"] = area_plan.city_counts(data, query.state)
    chosen = selection or area_plan.select(data, query, today())
    first, last, rows = chosen.first, chosen.last, chosen.rows
    known = context["known"]
    area_rows = rows
    if query.known_only:
        rows = area_plan.only_known_shows(rows, known)
    first_rows = area_plan.artist_first_rows(rows)
    shows, uris = area_plan.plan_playlist(
        rows,
        chosen.tracks_of,
        query.tracks_per_artist,
        PREVIEW_SHOWS,
        texts=chosen.texts,
        known=known,
        mix=query.mix,
        order=context["sort"],
        first_rows=first_rows,
    )
    counts = area_plan.count(rows)
    mix = area_plan.mix_counts(rows, known, query.mix, first_rows=first_rows)
    context.update(
        {
            "mix": mix,
            # The known count is the mix's own unless "only artists I know" narrowed the rows.
            "known_in_area": mix.known
            if rows is area_rows
            else area_plan.mix_counts(area_rows, known, "").known,
            "unchecked": area_plan.unchecked_artists(rows),
            "first": first,
            "last": last,
            "window_label": query.window_label(today()),
            "genres": _with_chosen(area_plan.genre_counts(chosen.without_genres), query.genres),
            "counts": counts,
            "window_counts": chosen.window_counts,
            "weekly": area_plan.weekly_counts(rows, first, last),
            "shows": shows,
            "more_shows": max(0, counts.shows - len(shows)),
            "track_count": len(uris),
            "playlist_name": area_plan.playlist_name(query, first, last),
            "hidden": query.as_form(),
            "existing": _made_for_area(user["id"], query) if user else [],
        }
    )
    return context


TASTE_CACHE_KEY = "known_artists"
TASTE_CACHE_PEOPLE = 256


def _taste(user: dict[str, str] | None) -> tuple[bool, dict[str, Known]]:
    """Return whether the signed-in person has taste on, and the artists they know.

    The profile is parsed once per worker and generation (a preview asks storage only for the
    generation); a damaged record is no taste, never a 500.
    """
    try:
        generation = store().generation(TASTE.object(user["id"])) if user else None
    except StorageError:
        generation = None
    if user is None or generation is None:
        return False, {}
    cache: OrderedDict[str, tuple[int, dict[str, Known]]] = current_app.extensions.setdefault(
        TASTE_CACHE_KEY, OrderedDict()
    )
    cached = cache.get(user["id"])
    if cached is not None and cached[0] == generation:
        cache.move_to_end(user["id"])
        return True, cached[1]
    try:
        loaded = TASTE.load(store(), user["id"])
    except (TasteError, StorageError) as error:
        logger.warning("taste record unreadable", extra={"user_id": user["id"], "error": error})
        return True, {}
    if loaded is None:
        return False, {}
    cache[user["id"]] = (loaded[1], dict(loaded[0].artists))
    while len(cache) > TASTE_CACHE_PEOPLE:
        cache.popitem(last=False)
    return True, cache[user["id"]][1]


def _known(user: dict[str, str] | None) -> dict[str, Known]:
    """Return the signed-in person's known artists ({} when signed out or taste is off)."""
    return _taste(user)[1]


@bp.get("/shows", endpoint="area")
def area_page() -> Any:
    """Show the area form; with an area chosen, the counts and the preview too."""
    data = shows_data()
    if not request.args.get("state"):
        return render_template("shows.html", **_page(data, None))
    try:
        query = parse_area(request.args, request.args.getlist, data, today())
    except FormError as error:
        return render_template("shows.html", **_page(data, None, str(error), request.args)), 400
    user = current_user()
    if user:
        remember_previewed(user["id"], query, today())
    return render_template("shows.html", **_page(data, query, form=request.args))


def _keep(user: dict[str, str], query: AreaQuery, written: MadeForArea) -> str:
    """Keep the area of a playlist just made fresh; return why not ("" when kept)."""
    try:
        keep_fresh(user, query, written, str(request.form.get("when_deleted", REMAKE)), today())
    except (KeepFreshError, StorageError, ValueError) as error:  # SavedAreasError included
        logger.error("playlist made, but its area not saved", extra={"error": str(error)})
        problem = str(error) if isinstance(error, KeepFreshError) else ""
        return problem or "Local Shows could not save the area just now."
    return ""


@bp.post("/shows/playlist")
@login_required
def make_playlist() -> Any:
    """Make the area's playlist once per form sent: a double click or a second tab sends the
    same form key, and the second answer is the first's result (shared/form_once.py)."""
    user_id = (current_user() or {}).get("id", "")
    form_key = str(request.form.get("form_key", ""))
    if not is_form_key(form_key):  # a page from before form keys
        return _make_playlist()
    claimed = form_once.claim(store(), user_id, form_key)
    if not claimed.mine:
        if claimed.result is not None:
            session[MADE_KEY] = claimed.result
            return redirect(url_for("shows.made"), code=303)
        message = (
            "This playlist is being made already (the form was sent twice): it will be on "
            "your Made page in a moment."
        )
        return render_template("shows.html", **_page(shows_data(), None, message)), 409
    answer = _make_playlist()
    if isinstance(answer, Response) and answer.status_code == 303 and MADE_KEY in session:
        with contextlib.suppress(StorageError):  # made; only a second send would redo it
            form_once.finish(store(), user_id, form_key, session[MADE_KEY])
    else:  # refused or failed: the same form may be sent again
        form_once.release(store(), user_id, form_key)
    return answer


def _make_playlist() -> Any:
    """Make the area's playlist, or update one the person made for it before (in place)."""
    data = shows_data()
    try:
        query = parse_area(request.form, request.form.getlist, data, today())
    except FormError as error:
        return render_template("shows.html", **_page(data, None, str(error), request.form)), 400
    user = current_user() or {}
    made = load_made(store(), user.get("id", ""))
    update_id = str(request.form.get("update", ""))
    area_id = _area_id(query)
    offered = made.for_area(
        area_id, area_plan.name_prefix(query), _kept_elsewhere(user.get("id", ""), area_id)
    )
    earlier = next((p for p in offered if p.playlist_id == update_id), None)
    if update_id and earlier is None:
        message = "That playlist is not one you made for this area: pick again below."
        return render_template("shows.html", **_page(data, query, message, request.form)), 400
    keeping = bool(request.form.get("keep_fresh"))
    try:
        if keeping:  # refused before anything is made
            check_can_keep(user.get("id", ""), query, today())
    except KeepFreshError as error:
        return render_template("shows.html", **_page(data, query, str(error), request.form)), 400
    first, last = query.window(today())  # the same dates the selection below uses
    selection = area_plan.select(data, query, today())
    known = _known(user) if query.uses_taste else None
    shows, uris = area_plan.plan_selected(selection, known)
    if not uris:
        message = (
            "None of these shows' artists has tracks yet, so there is nothing to put in a playlist."
            if shows and not query.mix
            else "The mix you chose leaves no artist with tracks: pick another mix."
            if shows
            else "None of these shows has an artist you know, so there is nothing to put in a "
            "playlist."
            if query.known_only
            else "No shows match these choices, so there is nothing to put in a playlist."
        )
        context = _page(data, query, message, request.form, selection)
        return render_template("shows.html", **context), 400
    token = earlier.notes_token if earlier else new_notes_token()
    notes_url = site_url(f"/notes/{token}")
    name = area_plan.playlist_name(query, first, last)
    description = area_plan.playlist_description(shows, notes_url)
    plain_description = area_plan.playlist_description(shows)
    try:
        result = write_area_playlist(
            user_api(),
            user_id=user.get("id", ""),
            update_id=earlier.playlist_id if earlier else "",
            name=name,
            description=description,
            plain_description=plain_description,
            uris=uris,
        )
    except SpotifyError as error:
        context = _page(data, query, spotify_problem(error), request.form, selection)
        return render_template("shows.html", **context), 502
    now = utc_now().strftime(ISO_UTC)
    kept = MadePlaylist(
        result.playlist.id,
        result.playlist.name,
        area_plan.name_prefix(query),
        result.playlist.url,
        token,
        earlier.made_at if earlier and not result.recreated else now,
        now,
        result.written,
        area_id,
    )
    notes_saved = True
    try:
        notes = build_notes(name, query.area_label, now, shows, result.written)
        save_notes(store(), token, notes, user.get("id", ""))
        remember_playlist(store(), user.get("id", ""), kept)
    except (StorageError, ValueError) as error:  # ConflictError is a StorageError
        notes_saved = False
        logger.error(
            "playlist made, but its liner notes or record were not saved",
            extra={"playlist_id": result.playlist.id, "error": str(error)},
        )
    written = MadeForArea(
        result.playlist.id,
        result.playlist.name,
        result.playlist.url,
        token,
        # What a refresh compares with: the same name, description and tracks write nothing.
        content_hash(name, plain_description if result.description_refused else description, uris)
        if result.complete
        else "",
    )
    keep_problem = _keep(user, query, written) if keeping else ""
    # Post/Redirect/Get: reloading the result page must not make the playlist again.
    session[MADE_KEY] = {
        "owner": user.get("id", ""),  # a made playlist is its maker's: checked at every use
        "id": result.playlist.id,
        "name": result.playlist.name,
        "url": result.playlist.url,
        "complete": result.complete,
        "written": result.written,
        "total": result.total,
        "refreshed": result.refreshed,
        "recreated": result.recreated,
        "description_refused": result.description_refused,
        "problem": spotify_problem(result.error) if result.error else "",
        "notes_url": notes_url,
        "notes_saved": notes_saved,
        "earlier_name": earlier.name if earlier else "",
        "back": url_for("shows.area", **query.as_form()),
        "kept_fresh": keeping and not keep_problem,
        "keep_problem": keep_problem,
        # For "Keep it fresh" on the result page: the area (a rolling window only) and playlist.
        "area": query_fields(query, today()) if query.days else None,
        "notes_token": token,
        "content_hash": written.content_hash,
    }
    return redirect(url_for("shows.made"), code=303)


def _my_made() -> dict[str, Any] | None:
    """Return the session's last playlist made if the signed-in person made it (else None)."""
    made = session.get(MADE_KEY)
    user = current_user() or {}
    if not isinstance(made, dict) or made.get("owner") != user.get("id"):
        return None
    return made


@bp.get("/shows/made")
@login_required
def made() -> Any:
    """Say what the last playlist made did: made, updated, made again, or partly."""
    made = _my_made()
    if made is None:
        return redirect(url_for("shows.area"))
    return render_template("result.html", made=made, user=current_user())


@bp.post("/shows/made/keep")
@login_required
def keep_made_fresh() -> Any:
    """Keep the playlist just made fresh, from its result page."""
    made = _my_made()
    if made is None or not isinstance(made.get("area"), dict):
        return redirect(url_for("shows.area"), code=303)
    user = current_user() or {}
    written = MadeForArea(
        str(made.get("id", "")),
        str(made.get("name", "")),
        str(made.get("url", "")),
        str(made.get("notes_token", "")),
        str(made.get("content_hash", "")),
    )
    problem = _keep(user, query_of(made["area"]), written)
    session[MADE_KEY] = {**made, "kept_fresh": not problem, "keep_problem": problem}
    return redirect(url_for("shows.made"), code=303)
