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
from dataclasses import replace
from datetime import UTC, datetime
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
    CHART_SCOPES,
    MAX_TRACKED,
    ChartAbout,
    ChartsError,
    ChartsRecord,
    TrackedPlaylist,
    delete_chart_files,
    history_csv_rows,
    load_about,
    load_charts_record,
    load_history,
    people_object,
    playlists_kept_by_others,
    save_charts_record,
    update_charts_record,
    without_playlist,
)
from shared.datasets import DatasetSchemaError
from shared.spotify import SpotifyApi, SpotifyError
from shared.spotify_records import SPOTIFY_ID, PlaylistRecord
from shared.storage import IF_ABSENT, ConflictError, NotFoundError, Store, retry_on_conflict
from web.auth import (
    EncryptedSessionCache,
    authorize_feature,
    current_user,
    login_required,
    spotify_problem,
    token_box,
    user_api,
)
from web.backups import escape_cell
from web.chart_view import ChartView, build_chart_view
from web.data import app_store

logger = logging.getLogger(__name__)

bp = Blueprint("charts", __name__)

PENDING_KEY = "chart_pending"  # the playlist to add once Spotify has given the permission
UNREADABLE_RECORD = (
    "Your tracked playlists could not be read. Adding a playlist starts them afresh; "
    '"Delete my data" removes them.'
)
UNREADABLE_HISTORY = (
    "This chart's stored history could not be read, so it is not shown. The snapshots it is "
    "built from are kept: the next daily run rebuilds it."
)
NOT_ADDABLE = "Only playlists you own or collaborate on can be tracked: Spotify shows no others."


def store() -> Store:
    return app_store()


def operator_playlists() -> tuple[str, ...]:
    playlists: tuple[str, ...] = current_app.extensions["settings"].chart_playlists
    return playlists


def utc_now() -> datetime:
    """The time now (tests move it)."""
    return datetime.now(UTC)


def _record(user_id: str) -> tuple[ChartsRecord | None, str]:
    """The person's record, or a problem to show when it cannot be read."""
    try:
        loaded = load_charts_record(store(), user_id)
    except ChartsError as error:
        logger.error("unreadable charts record", extra={"user_id": user_id, "error": str(error)})
        return None, UNREADABLE_RECORD
    return (loaded[0] if loaded else None), ""


def _session_has_chart_scopes() -> bool:
    """Whether the session's own grant may read the person's private and collaborative lists."""
    token = EncryptedSessionCache(token_box()).get_cached_token() or {}
    given = set(str(token.get("scope", "")).split())
    return set(CHART_SCOPES.split()) <= given and bool(token.get("refresh_token"))


def addable(api: SpotifyApi, user_id: str) -> list[PlaylistRecord]:
    """The person's playlists the daily job may read with their grant: own or collaborative."""
    return [p for p in api.my_playlists() if p.owner_id == user_id or p.collaborative]


def _about_all(playlist_ids: list[str]) -> dict[str, ChartAbout]:
    return {playlist_id: load_about(store(), playlist_id) for playlist_id in playlist_ids}


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
            choices = [
                p for p in addable(user_api(), user["id"]) if not (record and record.tracks(p.id))
            ]
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
    try:
        playlist = next((p for p in addable(user_api(), user["id"]) if p.id == playlist_id), None)
    except SpotifyError as error:
        flash(spotify_problem(error), "error")
        return _back()
    if playlist is None:
        abort(400, NOT_ADDABLE)
    if (record is not None and record.status != ACTIVE) or not _session_has_chart_scopes():
        session[PENDING_KEY] = {"id": playlist.id, "name": playlist.name}
        return authorize_feature("charts", url_for("charts.page"))
    # The session's grant has the scopes: a new record keeps it, an active one keeps its own.
    token = EncryptedSessionCache(token_box()).get_cached_token() or {}
    sealed = token_box().seal({"refresh_token": str(token["refresh_token"])})
    _keep(user["id"], user.get("name", ""), sealed, playlist, renew=False)
    return _back()


@bp.post("/charts/grant")
@login_required
def grant() -> Any:
    """Give the permission again (a paused grant): Spotify asks, the sign-in resumes charts."""
    session.pop(PENDING_KEY, None)
    return authorize_feature("charts", url_for("charts.page"))


def grant_charts(user_id: str, display_name: str, refresh_token: str) -> None:
    """Keep the grant just given (resuming a paused one) and add the playlist that waited for it."""
    pending = session.pop(PENDING_KEY, None)
    playlist = None
    if isinstance(pending, dict) and SPOTIFY_ID.fullmatch(str(pending.get("id", ""))):
        playlist = PlaylistRecord(str(pending["id"]), str(pending.get("name", "")), user_id, "")
    sealed = token_box().seal({"refresh_token": refresh_token})
    _keep(user_id, display_name, sealed, playlist, renew=True)


def _keep(
    user_id: str, display_name: str, sealed: str, playlist: PlaylistRecord | None, *, renew: bool
) -> None:
    """Write the record with the playlist added (when there is room) and, when `renew`, this
    grant. A record that cannot be read is replaced; a person who tracks nothing gets none."""
    now = utc_now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def attempt() -> tuple[str, str]:
        try:
            loaded = load_charts_record(store(), user_id)
        except ChartsError:
            logger.warning("unreadable charts record replaced", extra={"user_id": user_id})
            loaded = None
        if loaded is None and playlist is None:
            return "", ""
        said = ("", "")
        if loaded is None:
            record = ChartsRecord(user_id, sealed, display_name=display_name)
            generation = IF_ABSENT if store().generation(people_object(user_id)) is None else None
        else:
            record, generation = loaded
            if renew:
                if record.status != ACTIVE:
                    said = ("done", "Charts are on again: your playlists are read every day.")
                record = replace(
                    record,
                    sealed_refresh_token=sealed,
                    display_name=display_name,
                    status=ACTIVE,
                    status_reason="",
                )
        if playlist is not None and not record.tracks(playlist.id):
            if len(record.playlists) >= MAX_TRACKED:
                said = ("error", f"You track {MAX_TRACKED} playlists, the most one person may.")
            else:
                added = TrackedPlaylist(playlist.id, playlist.name, now)
                record = replace(record, playlists=(*record.playlists, added))
                said = (
                    "done",
                    f"{playlist.name or playlist.id} is tracked: its first snapshot is taken "
                    "by the next daily run.",
                )
        save_charts_record(store(), record, if_generation_match=generation)
        return said

    try:
        category, message = retry_on_conflict(people_object(user_id), attempt)
    except ConflictError:
        flash("Your charts were changed elsewhere at the same moment. Please try again.", "error")
        return
    if message:
        flash(message, category)


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
        changed = update_charts_record(
            store(), user["id"], lambda r: without_playlist(r, playlist_id)
        )
    except (ChartsError, ConflictError):
        flash("Your charts could not be changed just now. Please try again.", "error")
        return _back()
    if changed is not None and not changed.playlists:
        with contextlib.suppress(NotFoundError):
            store().delete(people_object(user["id"]))  # nothing tracked: no grant kept either
    if playlist_id not in playlists_kept_by_others(store(), user["id"], operator_playlists()):
        delete_chart_files(store(), playlist_id)
    flash(f"{name or playlist_id} is no longer tracked.", "done")
    return _back()


def _chart_name(playlist_id: str) -> tuple[str, bool]:
    """The playlist's name as the person knows it, and whether it is the operator's; 404 for a
    playlist that is neither the operator's nor tracked by the signed-in person."""
    if not SPOTIFY_ID.fullmatch(playlist_id):
        abort(404)
    if playlist_id in operator_playlists():
        return "", True
    user = current_user()
    record = _record(user["id"])[0] if user else None
    if record is None or not record.tracks(playlist_id):
        abort(404)
    return next(p.name for p in record.playlists if p.playlist_id == playlist_id), False


def _history(playlist_id: str) -> pd.DataFrame | None:
    """The chart's history, or None when the stored file cannot be read."""
    try:
        return load_history(store(), playlist_id)[0]
    except (DatasetSchemaError, ValueError, TypeError) as error:
        logger.error("unreadable chart history", extra={"playlist_id": playlist_id, "error": error})
        return None


@bp.get("/charts/<playlist_id>")
def chart(playlist_id: str) -> Any:
    """A chart's latest day with movement, its churn, and one track's rank over time."""
    tracked_name, is_operator = _chart_name(playlist_id)
    about = load_about(store(), playlist_id)
    track_id = request.args.get("track")
    if track_id is not None and not SPOTIFY_ID.fullmatch(track_id):
        abort(404, "There is no such track on this chart.")
    history = _history(playlist_id)
    view: ChartView | None = None
    if history is not None:
        try:
            view = build_chart_view(history, track_id, utc_now().date().isoformat())
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
