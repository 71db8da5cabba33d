"""Backups: opt in with a source, see your weeks, make a playlist from them, download them."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
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

from shared.datasets import backups_of, load_dataset
from shared.spotify import SpotifyApi, SpotifyError
from shared.spotify_records import PlaylistRecord, track_uris
from shared.storage import NotFoundError, Store
from shared.tokens import TokenBox
from shared.users import (
    ACTIVE,
    BackupSettings,
    UserSettingsError,
    load_user,
    save_user,
    update_user,
    user_object,
)
from web.auth import (
    TOKEN_KEY,
    current_user,
    end_sessions_and_forget,
    login_required,
    spotify_problem,
    user_api,
)
from web.playlists import write_playlist

logger = logging.getLogger(__name__)

bp = Blueprint("backups", __name__)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEVELOPMENT_MODE_DW = (
    "Discover Weekly cannot be backed up directly: since November 2024 Spotify hides its "
    "own playlists (Discover Weekly, Release Radar) from apps in Development Mode, which is "
    "what this app is. Instead, save Discover Weekly's tracks into a playlist of your own each "
    "week (or let Spotify's 'Add to playlist' do it) and back up that playlist."
)


@dataclass
class Week:
    """One backed-up week, as the page lists it."""

    week: str
    monday: date
    tracks: int
    new: int


def store() -> Store:
    found: Store = current_app.extensions["store"]
    return found


def weeks_of(frame: pd.DataFrame) -> list[Week]:
    """Return the weeks in a user's backups, oldest first, with how many tracks were new."""
    seen: set[str] = set()
    weeks = []
    for week, rows in sorted(frame.groupby("week"), key=lambda pair: str(pair[0])):
        ids = set(rows["track_id"])
        year, number = str(week).split("-W")
        weeks.append(
            Week(
                str(week),
                date.fromisocalendar(int(year), int(number), 1),
                len(rows),
                len(ids - seen),
            )
        )
        seen |= ids
    return weeks


def escape_cell(value: Any) -> Any:
    """Keep spreadsheets from running a cell as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _sources(
    api: SpotifyApi, user_id: str
) -> tuple[list[PlaylistRecord], PlaylistRecord | None, str]:
    """Return the user's own playlists, their Discover Weekly if readable, else why not."""
    playlists = api.my_playlists()
    own = [p for p in playlists if p.owner_id == user_id]
    weekly = next(
        (p for p in playlists if p.owner_id == "spotify" and p.name == "Discover Weekly"), None
    )
    if weekly is None:
        return own, None, DEVELOPMENT_MODE_DW
    if not api.can_read_items(weekly.id):
        return own, None, DEVELOPMENT_MODE_DW
    return own, weekly, ""


def _user_settings(user_id: str) -> tuple[BackupSettings | None, str]:
    try:
        loaded = load_user(store(), user_id)
    except UserSettingsError:
        logger.exception("unreadable user settings", extra={"user_id": user_id})
        return None, "Your backup settings could not be read; opting in again will replace them."
    return (loaded[0] if loaded else None), ""


@bp.get("/backups")
@login_required
def page() -> Any:
    """Show the backup settings and weeks of the signed-in user (and no one else's)."""
    user = current_user() or {}
    settings, problem = _user_settings(user["id"])
    frame, _ = load_dataset(store(), backups_of(user["id"]))
    context: dict[str, Any] = {
        "user": user,
        "settings": settings,
        "weeks": weeks_of(frame),
        "problem": problem,
    }
    if settings is None:
        try:
            context["own"], context["weekly"], context["weekly_note"] = _sources(
                user_api(), user["id"]
            )
        except SpotifyError as error:
            context.update(own=[], weekly=None, weekly_note="", problem=spotify_problem(error))
    return render_template("backups.html", **context)


@bp.post("/backups/opt-in")
@login_required
def opt_in() -> Any:
    """Store the chosen source, the archive choice and the sealed refresh token."""
    user = current_user() or {}
    kind, _, playlist_id = request.form.get("source", "").partition(":")
    try:
        own, weekly, _ = _sources(user_api(), user["id"])
    except SpotifyError as error:
        return render_template(
            "backups.html",
            user=user,
            settings=None,
            weeks=[],
            own=[],
            weekly=None,
            problem=spotify_problem(error),
        ), 502
    allowed = (
        {p.id: p for p in own}
        if kind == "playlist"
        else ({weekly.id: weekly} if weekly and kind == "discover_weekly" else {})
    )
    source = allowed.get(playlist_id)
    if source is None:
        return render_template(
            "backups.html",
            user=user,
            settings=None,
            weeks=[],
            own=own,
            weekly=weekly,
            problem="Pick one of your own playlists (or a readable Discover Weekly) to back up.",
        ), 400
    box = TokenBox(current_app.extensions["settings"].token_encryption_key)
    token = box.open(session[TOKEN_KEY])
    settings = BackupSettings(
        user_id=user["id"],
        display_name=user["name"],
        source_kind=kind,
        source_playlist_id=source.id,
        source_name=source.name,
        sealed_refresh_token=box.seal({"refresh_token": token["refresh_token"]}),
        archive=bool(request.form.get("archive")),
        opted_in_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    save_user(store(), settings)
    return redirect(url_for("backups.page"))


def _remove_everything(user_id: str) -> None:
    for name in (user_object(user_id), backups_of(user_id).name):
        with contextlib.suppress(NotFoundError):
            store().delete(name)


@bp.post("/backups/opt-out")
@login_required
def opt_out() -> Any:
    """Stop backups: forget the source and the token, and delete the backups."""
    _remove_everything((current_user() or {})["id"])
    return redirect(url_for("backups.page"))


@bp.post("/backups/delete-my-data")
@login_required
def delete_my_data() -> Any:
    """Delete everything Local Shows keeps about the user, and sign them out."""
    _remove_everything((current_user() or {})["id"])
    end_sessions_and_forget()
    return render_template(
        "auth_error.html",
        title="Your data is deleted",
        message="Your backup settings, your stored Spotify sign-in and your backups are gone.",
    ), 200


@bp.post("/backups/playlist")
@login_required
def make_playlist() -> Any:
    """Make a playlist from the chosen weeks: each track once, in week order."""
    user = current_user() or {}
    frame, _ = load_dataset(store(), backups_of(user["id"]))
    weeks = [w.week for w in weeks_of(frame)]
    chosen = (
        weeks
        if request.form.get("all")
        else [w for w in weeks if w in set(request.form.getlist("week"))]
    )
    if not chosen:
        return render_template(
            "backups.html",
            user=user,
            settings=_user_settings(user["id"])[0],
            weeks=weeks_of(frame),
            problem="Pick at least one week.",
        ), 400
    rows = frame[frame["week"].isin(chosen)].sort_values(["week", "position"], kind="stable")
    uris = track_uris(rows["track_id"])
    label = chosen[0] if len(chosen) == 1 else f"{chosen[0]} to {chosen[-1]}"
    name = f"Backup: {rows['source_kind'].iloc[0].replace('_', ' ').title()} {label}"
    try:
        result = write_playlist(
            user_api(),
            user_id=user["id"],
            prefix=name,
            name=name,
            description=f"{len(chosen)} weeks of backups, kept by Local Shows.",
            uris=uris,
        )
    except SpotifyError as error:
        return render_template(
            "backups.html",
            user=user,
            settings=_user_settings(user["id"])[0],
            weeks=weeks_of(frame),
            problem=spotify_problem(error),
        ), 502
    problem = spotify_problem(result.error) if result.error else ""
    return render_template("backup_result.html", result=result, problem=problem, user=user)


@bp.get("/backups.csv")
@login_required
def download() -> Response:
    """Download the user's backups as CSV, safe to open in a spreadsheet."""
    user_id = (current_user() or {})["id"]
    frame, _ = load_dataset(store(), backups_of(user_id))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow([escape_cell(value) for value in row])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="local-shows-backups-{user_id}.csv"'
        },
    )


def refresh_stored_grant(user_id: str, refresh_token: str) -> None:
    """After a new sign-in, keep the new grant for backups and resume them."""
    box = TokenBox(current_app.extensions["settings"].token_encryption_key)
    sealed = box.seal({"refresh_token": refresh_token})
    try:
        update_user(
            store(),
            user_id,
            lambda s: replace(s, sealed_refresh_token=sealed, status=ACTIVE, status_reason=""),
        )
    except UserSettingsError:
        logger.warning("unreadable user settings left as they are", extra={"user_id": user_id})
