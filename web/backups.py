"""Backups: opt in with a source, back up now, see your weeks, make a playlist, download."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from shared.area_playlists import write_playlist
from shared.backups import (
    ISO_UTC,
    WEEKLY_RUN_ZONE,
    WEEKLY_RUN_ZONE_NAME,
    UserBackup,
    back_up_user,
    next_weekly_run,
)
from shared.datasets import DatasetSchemaError, backups_of, empty_frame, load_dataset
from shared.people.grants import REVOKED, pause, seal
from shared.places import clock, plural
from shared.quota import forget_answer, load_answer, save_answer
from shared.spotify import SpotifyApi, SpotifyError, SpotifyRefusedError
from shared.spotify_records import PlaylistRecord, track_uris
from shared.storage import ConflictError, NotFoundError
from shared.tokens import TokenBox
from shared.users import (
    ACTIVE,
    BACKUPS,
    BackupSettings,
    UserSettingsError,
)
from web.auth import (
    TOKEN_KEY,
    current_user,
    login_required,
    spotify_problem,
    user_api,
)
from web.clock import utc_now
from web.data import app_store as store
from web.quota import ANSWER_FOR, playlists_answer, playlists_from

logger = logging.getLogger(__name__)

bp = Blueprint("backups", __name__)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DEVELOPMENT_MODE_DW = (
    "Discover Weekly cannot be backed up directly: since November 2024 Spotify hides its "
    "own playlists (Discover Weekly, Release Radar) from apps in Development Mode, which is "
    "what this app is. Instead, save Discover Weekly's tracks into a playlist of your own each "
    "week (or let Spotify's 'Add to playlist' do it) and back up that playlist."
)
MANUAL_BACKUP_EVERY = timedelta(hours=24)  # "Back up now": once a day per user
ZONE_LABEL = WEEKLY_RUN_ZONE_NAME.split("/")[-1].replace("_", " ") + " time"
BUSY_STATUS = 409  # another writer changed the backups at the same moment
SOURCES_ANSWER = "backup-sources"  # what may be backed up, kept for a person (web/quota.py)
# What a user may back up: their own playlists, their Discover Weekly (if readable), or why not.
Sources = tuple[list[PlaylistRecord], PlaylistRecord | None, str]


class TooSoonError(Exception):
    """A "Back up now" less than a day after the last one."""

    def __init__(self, last: datetime, allowed_at: datetime) -> None:
        super().__init__(f"the next manual backup is allowed at {allowed_at.isoformat()}")
        self.last = last
        self.allowed_at = allowed_at


def day_label(day: date) -> str:
    """A date as the page shows it: "Mon Nov 23, 2026"."""
    return f"{day:%a %b} {day.day}, {day.year}"


def moment_label(moment: datetime) -> str:
    """A time in the weekly run's zone: "Mon Nov 30, 2026, 6:00 AM New York time"."""
    local = moment.astimezone(WEEKLY_RUN_ZONE)
    return f"{day_label(local.date())}, {clock(local)} {ZONE_LABEL}"


@dataclass
class Week:
    """One backed-up week, as the page lists it."""

    week: str
    monday: date
    tracks: int
    new: int

    @property
    def label(self) -> str:
        """Say the week in one line: "Week of Mon Nov 23, 2026 · 30 tracks · 12 new"."""
        tracks = plural(self.tracks, "track")
        return f"Week of {day_label(self.monday)} · {tracks} · {self.new} new"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"day_label": day_label, "moment_label": moment_label}


def week_monday(week: str) -> date:
    """Return the Monday of an ISO week such as 2026-W48."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def weeks_of(frame: pd.DataFrame) -> list[Week]:
    """Return the weeks in a user's backups, oldest first, with how many tracks were new."""
    seen: set[str] = set()
    weeks = []
    for week, rows in sorted(frame.groupby("week"), key=lambda pair: str(pair[0])):
        ids = set(rows["track_id"])
        weeks.append(Week(str(week), week_monday(str(week)), len(rows), len(ids - seen)))
        seen |= ids
    return weeks


def escape_cell(value: Any) -> Any:
    """Keep spreadsheets from running a cell as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def manual_backup_allowed_at(settings: BackupSettings) -> datetime | None:
    """Return when the user may next press "Back up now", or None when never pressed."""
    if not settings.last_manual_backup_at:
        return None
    try:
        last = datetime.strptime(settings.last_manual_backup_at, ISO_UTC).replace(tzinfo=UTC)
    except ValueError:
        logger.warning("unreadable last manual backup time", extra={"user_id": settings.user_id})
        return None
    return last + MANUAL_BACKUP_EVERY


def _sources(user_id: str) -> Sources:
    """Return the user's own playlists, their Discover Weekly if readable, else why not:
    asked of Spotify (a listing and a probe) at most once per ANSWER_FOR, kept for them alone
    on the server (web/quota.py), so that reloading the page costs no request."""
    now = utc_now()
    kept = load_answer(store(), user_id, SOURCES_ANSWER, now=now, fresh_for=ANSWER_FOR)
    sources = _sources_from(kept)
    if sources is None:
        sources = _list_sources(user_api(), user_id)
        own, weekly, note = sources
        answer = {
            "own": playlists_answer(own),
            "weekly": playlists_answer([weekly] if weekly else []),
            "note": note,
        }
        save_answer(store(), user_id, SOURCES_ANSWER, answer, now=now)
    return sources


def _sources_from(kept: Any) -> Sources | None:
    """The sources as kept, or None when nothing (readable) is kept."""
    if not isinstance(kept, dict) or not isinstance(kept.get("note"), str):
        return None
    own, weekly = playlists_from(kept.get("own")), playlists_from(kept.get("weekly"))
    if own is None or weekly is None or len(weekly) > 1:
        return None
    return own, (weekly[0] if weekly else None), kept["note"]


def _list_sources(api: SpotifyApi, user_id: str) -> Sources:
    """Ask Spotify for the user's own playlists, and their Discover Weekly if readable."""
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


def user_settings(user_id: str) -> tuple[BackupSettings | None, str]:
    try:
        loaded = BACKUPS.load(store(), user_id)
    except UserSettingsError:
        logger.exception("unreadable user settings", extra={"user_id": user_id})
        return None, "Your backup settings could not be read; opting in again will replace them."
    return (loaded[0] if loaded else None), ""


UNREADABLE_WEEKS = (
    "Your stored backups could not be read, so no weeks are shown and none can be added. "
    'Nothing was changed: "Download all weeks as CSV" gives you the file as it is stored, '
    'and "Delete my data" removes it.'
)


def load_weeks(user_id: str) -> tuple[pd.DataFrame, str]:
    """Return the user's backups, or no rows and why, when the stored file cannot be read."""
    try:
        frame, _ = load_dataset(store(), backups_of(user_id))
    except DatasetSchemaError as error:
        logger.error("unreadable backups", extra={"user_id": user_id, "error": str(error)})
        return empty_frame(backups_of(user_id)), UNREADABLE_WEEKS
    return frame, ""


def _render_page(
    problem: str = "", status: int = 200, sources: Sources | None = None
) -> tuple[str, int]:
    """Render the backups page of the signed-in user (and no one else's)."""
    user = current_user() or {}
    settings, unreadable = user_settings(user["id"])
    frame, weeks_problem = load_weeks(user["id"])
    now = utc_now()
    allowed_at = manual_backup_allowed_at(settings) if settings else None
    context: dict[str, Any] = {
        "user": user,
        "settings": settings,
        "weeks": weeks_of(frame),
        "problem": problem or unreadable or weeks_problem,
        "next_run": next_weekly_run(now),
        "manual_allowed_at": allowed_at if allowed_at and allowed_at > now else None,
    }
    if settings is None:
        try:
            context["own"], context["weekly"], context["weekly_note"] = sources or _sources(
                user["id"]
            )
        except SpotifyError as error:
            context.update(own=[], weekly=None, weekly_note="")
            context["problem"] = problem or spotify_problem(error)
            status = max(status, 502)
    return render_template("backups.html", **context), status


def _back_up(
    settings: BackupSettings, now: datetime, *, top_up: bool = True
) -> tuple[UserBackup, str]:
    """Back up with the signed-in session's Spotify (adding what the week lacks, with top_up);
    say why not."""
    empty = UserBackup("")
    try:
        return back_up_user(store(), settings, user_api(), now=now, top_up=top_up), ""
    except SpotifyRefusedError as error:
        if error.status == 401:
            pause(store(), BACKUPS, settings.user_id, REVOKED)
        if error.status == 404:
            return empty, (
                f"Spotify could not find {settings.source_name}: it may have been deleted, or "
                "it is no longer yours. Stop backups and opt in again with another playlist."
            )
        return empty, spotify_problem(error)
    except SpotifyError as error:
        return empty, spotify_problem(error)
    except DatasetSchemaError:
        return empty, UNREADABLE_WEEKS
    except (ConflictError, UserSettingsError) as error:
        logger.warning("backup not saved", extra={"user_id": settings.user_id, "error": str(error)})
        return empty, (
            "Your backups were being changed at the same moment (perhaps by the weekly run), "
            "so nothing was saved. Please try again in a minute."
        )


def _said(settings: BackupSettings, backup: UserBackup) -> str:
    """Say what a backup kept."""
    week = day_label(week_monday(backup.week))
    if backup.snapshotted:
        return (
            f"Backed up {plural(backup.rows_written, 'track')} of {settings.source_name} "
            f"as the week of {week}."
        )
    if backup.rows_written:
        return (
            f"Added {plural(backup.rows_written, 'new track')} to the week of {week}; the "
            f"{backup.kept_before} kept before stay as they were."
        )
    return (
        f"Nothing to add: every track now in {settings.source_name} is already kept for the "
        f"week of {week}."
    )


@bp.get("/backups")
@login_required
def page() -> Any:
    """Show the backup settings and weeks of the signed-in user (and no one else's)."""
    return _render_page()


@bp.post("/backups/playlists")
@login_required
def refresh_sources() -> Any:
    """List the person's playlists again (the page keeps the list for a few minutes)."""
    forget_answer(store(), (current_user() or {})["id"], SOURCES_ANSWER)
    return redirect(url_for("backups.page"), code=303)


@bp.post("/backups/opt-in")
@login_required
def opt_in() -> Any:
    """Store the chosen source, the archive choice and the sealed token; take the first backup."""
    user = current_user() or {}
    if user_settings(user["id"])[0] is not None:
        return _render_page(
            "Backups are already on. To back up another playlist, stop them first.", 400
        )
    kind, _, playlist_id = request.form.get("source", "").partition(":")
    try:
        sources = _sources(user["id"])
    except SpotifyError as error:
        return _render_page(spotify_problem(error), 502, ([], None, ""))
    own, weekly, _ = sources
    allowed = (
        {p.id: p for p in own}
        if kind == "playlist"
        else ({weekly.id: weekly} if weekly and kind == "discover_weekly" else {})
    )
    source = allowed.get(playlist_id)
    if source is None:
        return _render_page(
            "Pick one of your own playlists (or a readable Discover Weekly) to back up.",
            400,
            sources,
        )
    app_settings = current_app.extensions["settings"]
    token = TokenBox(app_settings.token_encryption_key).open(session[TOKEN_KEY])
    now = utc_now()
    settings = BackupSettings(
        user_id=user["id"],
        display_name=user["name"],
        source_kind=kind,
        source_playlist_id=source.id,
        source_name=source.name,
        sealed_refresh_token=seal(app_settings, str(token["refresh_token"])),
        archive=bool(request.form.get("archive")),
        opted_in_at=now.strftime(ISO_UTC),
    )
    BACKUPS.put(store(), settings)
    backup, problem = _back_up(settings, now, top_up=False)
    if problem:
        flash(
            f'Backups are on, but the first backup failed: {problem} "Back up now" or the '
            f"weekly run ({moment_label(next_weekly_run(now))}) will try again.",
            "error",
        )
    else:
        flash(f"Backups are on. {_said(settings, backup)}", "done")
    return redirect(url_for("backups.page"))


def _reserve_manual_backup(user_id: str, now: datetime) -> tuple[BackupSettings | None, str]:
    """Record a "Back up now" at now, unless one was less than a day ago (TooSoonError).

    Recorded before the backup, with the settings' generation as precondition, so that two
    presses at once cannot both pass. Return the settings and the time recorded before.
    """
    before = ""

    def take(current: BackupSettings) -> BackupSettings:
        nonlocal before
        allowed_at = manual_backup_allowed_at(current)
        if allowed_at is not None and now < allowed_at:
            raise TooSoonError(allowed_at - MANUAL_BACKUP_EVERY, allowed_at)
        before = current.last_manual_backup_at
        return replace(current, last_manual_backup_at=now.strftime(ISO_UTC))

    return BACKUPS.update(store(), user_id, take), before


@bp.post("/backups/now")
@login_required
def back_up_now() -> Any:
    """Back up the source now: this week's snapshot, or the tracks it lacks. Once a day."""
    user_id = (current_user() or {})["id"]
    now = utc_now()
    try:
        settings, before = _reserve_manual_backup(user_id, now)
    except TooSoonError as too_soon:
        answer = _render_page(
            f"You can back up by hand once a day, and you last did at "
            f"{moment_label(too_soon.last)}. You can back up by hand again after "
            f"{moment_label(too_soon.allowed_at)}; the weekly run still backs up as usual.",
            429,
        )
        wait = max(1, int((too_soon.allowed_at - now).total_seconds()))
        return Response(answer[0], status=429, headers={"Retry-After": str(wait)})
    except (ConflictError, UserSettingsError):
        return _render_page(
            "Your backup settings could not be read or kept changing; please try again.",
            BUSY_STATUS,
        )
    if settings is None:
        return _render_page("Start weekly backups first: pick what to back up below.", 400)
    backup, problem = _back_up(settings, now)
    if problem:
        # A backup that did not happen does not use up the day's "Back up now".
        with contextlib.suppress(ConflictError, UserSettingsError):
            BACKUPS.update(store(), user_id, lambda s: replace(s, last_manual_backup_at=before))
        return _render_page(f"The backup failed: {problem}", 502)
    flash(_said(settings, backup), "done")
    return redirect(url_for("backups.page"), code=303)


@bp.post("/backups/playlist")
@login_required
def make_playlist() -> Any:
    """Make a playlist from the chosen weeks: each track once, in week order."""
    user = current_user() or {}
    frame, problem = load_weeks(user["id"])
    if problem:
        return _render_page(problem, 409)
    weeks = [w.week for w in weeks_of(frame)]
    chosen = (
        weeks
        if request.form.get("all")
        else [w for w in weeks if w in set(request.form.getlist("week"))]
    )
    if not chosen:
        return _render_page("Pick at least one week.", 400)
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
        return _render_page(spotify_problem(error), 502)
    problem = spotify_problem(result.error) if result.error else ""
    return render_template("backup_result.html", result=result, problem=problem, user=user)


@bp.get("/backups.csv")
@login_required
def download() -> Response:
    """Download the user's backups as CSV, safe to open in a spreadsheet.

    A stored file that cannot be read as backups is given as it is: it is still theirs.
    """
    user_id = (current_user() or {})["id"]
    frame, problem = load_weeks(user_id)
    disposition = {
        "Content-Disposition": f'attachment; filename="local-shows-backups-{user_id}.csv"'
    }
    if problem:
        try:
            stored = store().read(backups_of(user_id).name).data
        except NotFoundError:
            stored = b""
        return Response(stored, mimetype="text/csv", headers=disposition)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False):
        writer.writerow([escape_cell(value) for value in row])
    return Response(out.getvalue(), mimetype="text/csv", headers=disposition)


def refresh_stored_grant(user_id: str, refresh_token: str) -> None:
    """After a new sign-in, keep the new grant for backups and resume them."""
    sealed = seal(current_app.extensions["settings"], refresh_token)
    try:
        BACKUPS.update(
            store(),
            user_id,
            lambda s: replace(s, sealed_refresh_token=sealed, status=ACTIVE, status_reason=""),
        )
    except UserSettingsError:
        logger.warning("unreadable user settings left as they are", extra={"user_id": user_id})
