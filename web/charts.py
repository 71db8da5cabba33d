"""The Charts pages: daily snapshots of playlists, their movement, churn and history (issue 18).

Two kinds of playlists are charted (shared/charts.py): the operator's (CHART_PLAYLISTS, read
with the app's own token) and a person's own or collaborative ones, added here. Adding asks
Spotify, once, for `playlist-read-private playlist-read-collaborative` when the session's grant
lacks them; the grant is sealed in `chart_people/<id>.json` for the daily job (etl/charts.py).
A chart page is shown only for an operator playlist or one the signed-in person tracks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import pandas as pd
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from shared.charts import (
    ACTIVE,
    CHART_PEOPLE,
    CHART_SCOPES,
    DAILY_RUN_WORDS,
    MAX_TRACKED,
    ChartAbout,
    ChartsError,
    ChartsRecord,
    delete_chart_files,
    history_csv_rows,
    history_dataset,
    latest_run_day,
    load_about,
    load_history,
    load_snapshot,
    playlists_kept_by_others,
    snapshot_days,
    without_playlist,
)
from shared.datasets import DatasetSchemaError
from shared.spotify import SpotifyError
from shared.spotify_records import SPOTIFY_ID, PlaylistRecord
from shared.storage import ConflictError, NotFoundError, StorageError, Store
from web.auth import (
    EncryptedSessionCache,
    authorize_feature,
    current_user,
    grant_feature,
    keep_owned,
    login_required,
    spotify_problem,
    token_box,
    user_api,
)
from web.backups import escape_cell
from web.chart_choices import cached_choices, forget_choices, listed_choice, verify_playlist
from web.chart_keep import keep_playlist
from web.chart_view import ChartView, build_chart_view, public_problem
from web.clock import utc_now
from web.data import app_store

logger = logging.getLogger(__name__)

bp = Blueprint("charts", __name__)

# The playlist to add once Spotify has given the permission, and who chose it: kept when
# someone else signs in at the consent, to tell them it was not theirs to add.
PENDING_KEY = keep_owned("chart_pending")
UNREADABLE_RECORD = (
    "Your tracked playlists could not be read. Adding a playlist starts them afresh; "
    '"Delete my data" removes them.'
)
UNREADABLE_HISTORY = (
    "This chart's stored history could not be read, so it is not shown. The snapshots it is "
    "built from are kept: the next daily run rebuilds it."
)
PAUSED = "Spotify no longer lets Local Shows read your playlists."
NOT_ADDABLE = "Only playlists you own or collaborate on can be tracked: Spotify shows no others."


def store() -> Store:
    return app_store()


def operator_playlists() -> tuple[str, ...]:
    playlists: tuple[str, ...] = current_app.extensions["settings"].chart_playlists
    return playlists


def _record(user_id: str) -> tuple[ChartsRecord | None, str]:
    """The person's record, or a problem to show when it cannot be read."""
    try:
        loaded = CHART_PEOPLE.load(store(), user_id)
    except ChartsError as error:
        logger.error("unreadable charts record", extra={"user_id": user_id, "error": str(error)})
        return None, UNREADABLE_RECORD
    return (loaded[0] if loaded else None), ""


def _session_has_chart_scopes() -> bool:
    """Whether the session's own grant may read the person's private and collaborative lists."""
    token = EncryptedSessionCache(token_box()).get_cached_token() or {}
    given = set(str(token.get("scope", "")).split())
    return set(CHART_SCOPES.split()) <= given and bool(token.get("refresh_token"))


def _about_all(playlist_ids: list[str]) -> dict[str, ChartAbout]:
    """Each playlist's about.json, its problem only when it is not about one person."""
    return {playlist_id: _about(playlist_id) for playlist_id in playlist_ids}


def _about(playlist_id: str) -> ChartAbout:
    about = load_about(store(), playlist_id)
    return replace(about, problem=public_problem(about))


@bp.get("/charts")
def page() -> Any:
    """What charts are; signed in: the operator's charts, the person's, and what they may add."""
    user = current_user()
    if user is None:
        return render_template("charts.html", user=None)
    record, problem = _record(user["id"])
    tracked = list(record.playlists) if record else []
    choices: list[PlaylistRecord] = []
    choices_problem = ""
    if len(tracked) < MAX_TRACKED:
        try:
            listed = cached_choices(user_api(), user["id"], utc_now())
            choices = [p for p in listed if not (record and record.tracks(p.id))]
        except SpotifyError as error:
            choices_problem = spotify_problem(error)
    return render_template(
        "charts.html",
        user=user,
        record=record,
        problem=problem,
        operator=operator_playlists(),
        tracked=tracked,
        about=_about_all([*operator_playlists(), *(p.playlist_id for p in tracked)]),
        choices=choices,
        choices_problem=choices_problem,
        max_tracked=MAX_TRACKED,
        run_words=DAILY_RUN_WORDS,
    )


def _back() -> Any:
    return redirect(url_for("charts.page"), code=303)


@bp.post("/charts/add")
@login_required
def add() -> Any:
    """Track one of the person's playlists, asking Spotify for the permission when needed."""
    user = current_user() or {}
    playlist_id = request.form.get("playlist_id", "")
    if not SPOTIFY_ID.fullmatch(playlist_id):
        abort(400, "Choose one of your playlists to track.")
    record, _ = _record(user["id"])
    if record is not None and record.tracks(playlist_id):
        flash("You track that playlist already.", "done")
        return _back()
    if record is not None and len(record.playlists) >= MAX_TRACKED:
        flash(
            f"You track {MAX_TRACKED} playlists, the most one person may: stop tracking one "
            "before adding another.",
            "error",
        )
        return _back()
    asking = (record is not None and record.status != ACTIVE) or not _session_has_chart_scopes()
    playlist = listed_choice(user["id"], playlist_id, utc_now()) if asking else None
    if playlist is None:  # one request; the list is never read again just for this
        try:
            playlist = verify_playlist(user_api(), user["id"], playlist_id)
        except SpotifyError as error:
            flash(spotify_problem(error), "error")
            return _back()
    if playlist is None:
        abort(400, NOT_ADDABLE)
    if asking:
        # Checked again at the callback, with the grant Spotify gives, for this person only.
        session[PENDING_KEY] = {"id": playlist.id, "user": user["id"]}
        return authorize_feature("charts", url_for("charts.page"))
    # The session's grant has the scopes: a new record keeps it, an active one keeps its own.
    token = EncryptedSessionCache(token_box()).get_cached_token() or {}
    sealed = token_box().seal({"refresh_token": str(token["refresh_token"])})
    keep_playlist(user["id"], user.get("name", ""), sealed, playlist, renew=False, now=utc_now())
    return _back()


@bp.post("/charts/refresh")
@login_required
def refresh() -> Any:
    """List the person's playlists again (the page keeps the list for a few minutes)."""
    forget_choices((current_user() or {})["id"])
    return _back()


@bp.post("/charts/grant")
@login_required
def grant() -> Any:
    """Give the permission again (a paused grant): Spotify asks, the sign-in resumes charts."""
    session.pop(PENDING_KEY, None)
    return authorize_feature("charts", url_for("charts.page"))


def grant_charts(user_id: str, display_name: str, refresh_token: str) -> None:
    """Keep the grant just given (resuming a paused one) and add the playlist that waited for it:
    only for the person who chose it, and only once this grant shows it is theirs to track."""
    pending = session.pop(PENDING_KEY, None)
    playlist = None
    if isinstance(pending, dict) and pending.get("user") != user_id:
        flash(
            "Spotify signed in another account than the one that chose the playlist, so it was "
            "not added.",
            "error",
        )
    elif isinstance(pending, dict) and SPOTIFY_ID.fullmatch(str(pending.get("id", ""))):
        try:
            playlist = verify_playlist(user_api(), user_id, str(pending["id"]))
        except SpotifyError as error:
            flash(f"The playlist could not be added: {spotify_problem(error)}", "error")
        else:
            if playlist is None:
                flash(NOT_ADDABLE, "error")
    sealed = token_box().seal({"refresh_token": refresh_token})
    keep_playlist(user_id, display_name, sealed, playlist, renew=True, now=utc_now())


@bp.post("/charts/<playlist_id>/stop")
@login_required
def stop(playlist_id: str) -> Any:
    """Stop tracking a playlist; its files go when no one else (nor the operator) keeps it."""
    user = current_user() or {}
    record, _ = _record(user["id"])
    if record is None or not record.tracks(playlist_id):
        abort(404)
    name = next(p.name for p in record.playlists if p.playlist_id == playlist_id)
    try:
        changed = CHART_PEOPLE.update(
            store(), user["id"], lambda r: without_playlist(r, playlist_id)
        )
    except (ChartsError, ConflictError):
        flash("Your charts could not be changed just now. Please try again.", "error")
        return _back()
    if changed is not None and not changed.playlists:
        with contextlib.suppress(NotFoundError):
            store().delete(CHART_PEOPLE.object(user["id"]))  # nothing tracked: no grant kept either
    if playlist_id not in playlists_kept_by_others(store(), user["id"], operator_playlists()):
        delete_chart_files(store(), playlist_id)
    flash(f"{name or playlist_id} is no longer tracked.", "done")
    return _back()


def _chart_name(playlist_id: str) -> tuple[str, bool, ChartsRecord | None]:
    """The playlist's name as the person knows it, whether it is the operator's, and the
    person's record when they track it; 404 for a playlist that is neither the operator's nor
    tracked by the signed-in person."""
    if not SPOTIFY_ID.fullmatch(playlist_id):
        abort(404)
    user = current_user()
    record = _record(user["id"])[0] if user else None
    if record is None or not record.tracks(playlist_id):
        if playlist_id in operator_playlists():
            return "", True, None
        abort(404)
    name = next(p.name for p in record.playlists if p.playlist_id == playlist_id)
    return name, playlist_id in operator_playlists(), record


HISTORY_CACHE_KEY = "chart_histories"
HISTORY_CACHE_CHARTS = 16  # a year of a 50-track chart is about 2 MB in memory


def _history(playlist_id: str) -> pd.DataFrame | None:
    """The chart's history, or None when the stored file cannot be read.

    Parsed once per worker and generation (a year's file takes about 90 ms to parse; a view
    then asks storage only for its generation). Pages only read the frame, never change it.
    """
    cache: OrderedDict[str, tuple[int, pd.DataFrame]] = current_app.extensions.setdefault(
        HISTORY_CACHE_KEY, OrderedDict()
    )
    try:
        generation = store().generation(history_dataset(playlist_id).name)
        cached = cache.get(playlist_id)
        if cached is not None and generation is not None and cached[0] == generation:
            cache.move_to_end(playlist_id)
            return cached[1]
        history, generation = load_history(store(), playlist_id)
    except (DatasetSchemaError, ValueError, TypeError, StorageError) as error:
        logger.error("unreadable chart history", extra={"playlist_id": playlist_id, "error": error})
        return None
    if generation is not None:
        cache[playlist_id] = (generation, history)
        while len(cache) > HISTORY_CACHE_CHARTS:
            cache.popitem(last=False)
    return history


def _snapshot_days(playlist_id: str, history: pd.DataFrame) -> list[str]:
    """The chart's days: its snapshots' (one list call). A day the history lacks counts only when
    its snapshot is empty (a playlist emptied); one whose rows have not reached the history yet
    (a run that died between the two writes) waits for the next run to add them."""
    in_history = set(history["day"].astype(str).unique().tolist())
    days = []
    for day in snapshot_days(store(), playlist_id):
        if day in in_history:
            days.append(day)
            continue
        try:
            if load_snapshot(store(), playlist_id, day).empty:
                days.append(day)
        except (DatasetSchemaError, ValueError, TypeError):
            logger.warning("unreadable chart snapshot", extra={"playlist_id": playlist_id})
    return days


@bp.get("/charts/<playlist_id>")
def chart(playlist_id: str) -> Any:
    """A chart's latest day with movement, its churn, and one track's rank over time."""
    tracked_name, is_operator, record = _chart_name(playlist_id)
    about = _about(playlist_id)
    track_id = request.args.get("track")
    if track_id is not None and not SPOTIFY_ID.fullmatch(track_id):
        abort(404, "There is no such track on this chart.")
    history = _history(playlist_id)
    view: ChartView | None = None
    if history is not None:
        try:
            view = build_chart_view(
                history,
                track_id,
                latest_run_day(utc_now()),
                days=_snapshot_days(playlist_id, history),
            )
        except (ValueError, TypeError, KeyError) as error:
            logger.error(
                "unusable chart history", extra={"playlist_id": playlist_id, "error": error}
            )
    if view is not None and track_id is not None and view.track is None:
        abort(404, "That track has never been on this chart.")
    return render_template(
        "chart.html",
        user=current_user(),
        playlist_id=playlist_id,
        name=about.name or tracked_name or playlist_id,
        is_operator=is_operator,
        about=about,
        paused=record.status_reason or PAUSED if record and record.status != ACTIVE else "",
        run_words=DAILY_RUN_WORDS,
        view=view,
        problem="" if view is not None else UNREADABLE_HISTORY,
    )


@bp.get("/charts/<playlist_id>/history.csv")
def history_csv(playlist_id: str) -> Any:
    """The chart's whole history as CSV; cells that a spreadsheet would run are escaped."""
    _chart_name(playlist_id)
    history = _history(playlist_id)
    if history is None:
        abort(409, UNREADABLE_HISTORY)
    out = io.StringIO()
    writer = csv.writer(out)
    try:
        for row in history_csv_rows(history):
            writer.writerow([escape_cell(value) for value in row])
    except KeyError:
        abort(409, UNREADABLE_HISTORY)
    filename = f"chart-{playlist_id}-{utc_now().date().isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


grant_feature("charts", CHART_SCOPES, grant_charts)
