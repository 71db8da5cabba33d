"""Saved areas: keep a playlist fresh, list the areas kept, pause, resume, change or stop one."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from shared.area_query import MIXES, AreaQuery
from shared.backups import next_weekly_run
from shared.people.grants import seal
from shared.places import plural
from shared.saved_areas import (
    ACTIVE,
    MAX_SAVED_AREAS,
    NEEDS_SIGN_IN,
    PAUSE,
    REMAKE,
    SAVED_AREAS,
    WHEN_DELETED,
    SavedArea,
    SavedAreas,
    SavedAreasError,
    remember_preview,
    with_area,
)
from shared.storage import IF_ABSENT, NotFoundError, StorageError
from web.auth import (
    TOKEN_KEY,
    USER_KEY,
    EncryptedSessionCache,
    current_user,
    login_required,
    token_box,
)
from web.backups import moment_label
from web.clock import utc_now
from web.data import app_store as store

logger = logging.getLogger(__name__)

bp = Blueprint("saved_areas", __name__)

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
WHEN_DELETED_LABELS = {
    REMAKE: "make it again",
    PAUSE: "pause this area",
}
OWN_DATES = (
    "A playlist kept fresh needs a rolling window (such as “next 30 days”), not dates of your "
    "own: pick a number of days, then make it again."
)
TOO_MANY = (
    f"You already keep {plural(MAX_SAVED_AREAS, 'area')} fresh, the most there can be: stop one "
    "on the Areas page first. Nothing was made."
)
UNREADABLE = (
    "Your saved areas could not be read just now, so none are shown and none can be changed. "
    "Nothing was changed; “Delete my data” removes them."
)
NO_GRANT = (
    "Spotify gave no lasting permission for this sign-in: sign out, sign in again, then retry."
)


class KeepFreshError(ValueError):
    """An area that cannot be kept fresh; the message says why, for the page."""


@dataclass(frozen=True)
class MadeForArea:
    """The playlist a Make wrote, as a saved area keeps it."""

    playlist_id: str
    name: str
    url: str
    notes_token: str
    content_hash: str


def query_fields(query: AreaQuery, today: date) -> dict[str, Any]:
    """Return an area's choices as a saved area and a remembered preview keep them (JSON)."""
    first, last = query.window(today)
    return {
        "state": query.state,
        "city": query.city,
        "radius_miles": query.radius_miles,
        "days": query.days if query.days else (last - first).days + 1,
        "genres": list(query.genres),
        "tracks_per_artist": query.tracks_per_artist,
        "headliners_only": query.headliners_only,
        # Only when chosen: areas saved before these existed keep their ids (area_id_of).
        **({"known_only": True} if query.known_only else {}),
        **({"mix": query.mix} if query.mix else {}),
    }


def query_of(fields: dict[str, Any]) -> AreaQuery:
    """Return the AreaQuery a saved area's choices stand for."""
    return AreaQuery(
        state=str(fields.get("state", "")),
        city=str(fields.get("city", "")),
        radius_miles=int(fields.get("radius_miles", 0) or 0),
        days=int(fields.get("days", 30) or 30),
        genres=tuple(str(g) for g in fields.get("genres", ()) or ()),
        tracks_per_artist=int(fields.get("tracks_per_artist", 3) or 3),
        headliners_only=bool(fields.get("headliners_only", False)),
        known_only=bool(fields.get("known_only", False)),
        mix=str(fields.get("mix", "")) if fields.get("mix", "") in MIXES else "",
    )


def area_id_of(fields: dict[str, Any]) -> str:
    """Name an area by its choices: the same choices, the same area (saved once)."""
    text = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def area_label(fields: dict[str, Any]) -> str:
    """Say an area's choices: "New York, NY · next 30 days · 3 tracks each"."""
    query = query_of(fields)
    parts = [
        query.area_label,
        f"next {query.days} days",
        f"{plural(query.tracks_per_artist, 'track')} each",
    ]
    if query.genres:
        parts.append(", ".join(query.genres))
    if query.headliners_only:
        parts.append("headliners only")
    if query.known_only:
        parts.append("artists I know")
    if query.mix and not (query.known_only and query.mix == "all_known"):
        parts.append(MIXES[query.mix].lower())
    return " · ".join(parts)


def check_can_keep(user_id: str, query: AreaQuery, today: date) -> None:
    """Refuse, before anything is made, an area that could not be saved: KeepFreshError."""
    if query.days is None:
        raise KeepFreshError(OWN_DATES)
    try:
        loaded = SAVED_AREAS.load(store(), user_id)
    except (SavedAreasError, StorageError) as error:
        logger.warning("saved areas unreadable", extra={"user_id": user_id, "error": str(error)})
        raise KeepFreshError(UNREADABLE) from error
    area_id = area_id_of(query_fields(query, today))
    if loaded and _is_full(loaded[0], area_id):
        raise KeepFreshError(TOO_MANY)
    if not _session_refresh_token():
        raise KeepFreshError(NO_GRANT)


def _is_full(record: SavedAreas, area_id: str) -> bool:
    """Say whether adding the area would pass the limit (an area saved already only updates)."""
    ids = {area.area_id for area in record.areas}
    return area_id not in ids and len(ids) >= MAX_SAVED_AREAS


def _session_refresh_token() -> str:
    token = EncryptedSessionCache(token_box()).get_cached_token() or {}
    return str(token.get("refresh_token") or "")


def _sealed_grant(refresh_token: str) -> str:
    """Seal the refresh token for the store, as backups and listening do (never kept raw)."""
    return seal(current_app.extensions["settings"], refresh_token)


def keep_fresh(
    user: dict[str, str], query: AreaQuery, made: MadeForArea, when_deleted: str, today: date
) -> SavedArea:
    """Save the area with its playlist and the person's grant: add it, or update its entry."""
    if when_deleted not in WHEN_DELETED:
        when_deleted = REMAKE
    check_can_keep(user["id"], query, today)
    fields = query_fields(query, today)
    area = SavedArea(
        area_id=area_id_of(fields),
        query=fields,
        playlist_id=made.playlist_id,
        playlist_name=made.name,
        playlist_url=made.url,
        notes_token=made.notes_token,
        saved_at=utc_now().strftime(ISO_UTC),
        when_deleted=when_deleted,
        content_hash=made.content_hash,
    )
    sealed = _sealed_grant(_session_refresh_token())

    def change(record: SavedAreas) -> SavedAreas:
        if _is_full(record, area.area_id):
            raise KeepFreshError(TOO_MANY)
        if any(
            a.playlist_id == area.playlist_id != ""
            for a in record.areas
            if a.area_id != area.area_id
        ):
            raise KeepFreshError(KEPT_BY_ANOTHER)
        earlier = {a.area_id: a for a in record.areas}.get(area.area_id)
        kept = replace(area, saved_at=earlier.saved_at) if earlier else area
        others = tuple(a for a in record.areas if a.area_id != area.area_id)
        return replace(
            record,
            sealed_refresh_token=sealed,
            display_name=user.get("name", ""),
            status=ACTIVE,
            status_reason="",
            areas=(*others, kept),
        )

    if SAVED_AREAS.update(store(), user["id"], change) is None:
        fresh = SavedAreas(user["id"], sealed, user.get("name", ""), areas=(area,))
        SAVED_AREAS.save(store(), fresh, generation=IF_ABSENT)
    return area


KEPT_BY_ANOTHER = (
    "That playlist is kept fresh by another of your saved areas: one playlist is kept by one "
    "area, or each refresh would overwrite the other's tracks. Make a new playlist for this area."
)
PREVIEWS_NOTED_KEY = "previews_noted"
PREVIEWS_NOTED_MOST = 10_000


def remember_previewed(user_id: str, query: AreaQuery, today: date) -> None:
    """Note the area a signed-in person previewed, for the matching; never break the preview.

    A worker notes each (person, area, day) once: a preview of an area already noted today
    costs no storage call. A note that failed is tried again on the next preview.
    """
    fields = query_fields(query, today)
    day = today.isoformat()
    noted: dict[str, set[tuple[str, str]]] = current_app.extensions.setdefault(
        PREVIEWS_NOTED_KEY, {}
    )
    key = (user_id, area_id_of(fields))
    if key in noted.get(day, ()):
        return
    try:
        remember_preview(store(), user_id, fields, today)
    except (StorageError, SavedAreasError, ValueError) as error:
        logger.warning("preview not remembered", extra={"user_id": user_id, "error": str(error)})
        return
    if day not in noted or len(noted[day]) >= PREVIEWS_NOTED_MOST:
        noted.clear()  # the days before go, and a busy day's notes start afresh
        noted[day] = set()
    noted[day].add(key)


@bp.after_app_request
def resume_after_sign_in(response: Response) -> Response:
    """After a sign-in, refresh the saved areas with the new grant and resume them.

    Hooked here rather than called from web/auth.py's callback: sign-in knows nothing of the
    features that build on it, and no import goes back from it to them.
    """
    if request.endpoint != "auth.callback" or response.status_code != 302:
        return response
    user = session.get(USER_KEY)
    refresh_token = _session_refresh_token() if session.get(TOKEN_KEY) else ""
    if not isinstance(user, dict) or not refresh_token:
        return response
    user_id = str(user.get("id", ""))
    sealed = _sealed_grant(refresh_token)
    try:
        SAVED_AREAS.update(
            store(),
            user_id,
            lambda record: replace(
                record, sealed_refresh_token=sealed, status=ACTIVE, status_reason=""
            ),
        )
    except (SavedAreasError, StorageError) as error:
        logger.warning(
            "saved areas not resumed on sign-in", extra={"user_id": user_id, "error": str(error)}
        )
    return response


@dataclass
class AreaRow:
    """A saved area as the page lists it."""

    area: SavedArea
    label: str
    last_refresh: str


def _row(area: SavedArea) -> AreaRow:
    last = ""
    if area.last_refresh_at:
        try:
            moment = datetime.strptime(area.last_refresh_at, ISO_UTC).replace(tzinfo=UTC)
            last = moment_label(moment)
        except ValueError:
            last = area.last_refresh_at
    try:
        label = area_label(area.query)
    except (TypeError, ValueError):
        label = "an area whose choices could not be read"
    return AreaRow(area, label, last)


@bp.get("/areas")
@login_required
def page() -> Any:
    """List the person's saved areas: playlist, last and next refresh, pause, choice, stop."""
    user = current_user() or {}
    problem = ""
    record = None
    try:
        loaded = SAVED_AREAS.load(store(), user["id"])
        record = loaded[0] if loaded else None
    except (SavedAreasError, StorageError) as error:
        logger.error("unreadable saved areas", extra={"user_id": user["id"], "error": str(error)})
        problem = UNREADABLE
    return render_template(
        "areas.html",
        user=user,
        record=record,
        rows=[_row(area) for area in record.areas] if record else [],
        problem=problem,
        needs_sign_in=bool(record and record.status == NEEDS_SIGN_IN),
        next_run=moment_label(next_weekly_run(utc_now())),
        max_areas=MAX_SAVED_AREAS,
        choices=WHEN_DELETED_LABELS,
    )


def _change_area(area_id: str, change: Callable[[SavedAreas], SavedAreas]) -> SavedAreas | None:
    """Change one of the person's own areas; 404 when they have none by that id."""
    user_id = (current_user() or {})["id"]

    def apply(record: SavedAreas) -> SavedAreas:
        if area_id not in {area.area_id for area in record.areas}:
            abort(404)
        return change(record)

    try:
        changed = SAVED_AREAS.update(store(), user_id, apply)
    except (SavedAreasError, StorageError) as error:
        logger.error("saved areas not changed", extra={"user_id": user_id, "error": str(error)})
        flash(UNREADABLE, "problem")
        return None
    if changed is None:
        abort(404)
    return changed


def _to_page() -> Response:
    return redirect(url_for("saved_areas.page"), code=303)


@bp.post("/areas/resume")
@login_required
def resume() -> Any:
    """Resume a paused area: the next refresh updates (or makes again) its playlist."""
    area_id = str(request.form.get("area", ""))
    if _change_area(area_id, lambda r: with_area(r, area_id, lambda a: replace(a, paused=""))):
        flash("Resumed: the next refresh updates its playlist.", "done")
    return _to_page()


@bp.post("/areas/when-deleted")
@login_required
def when_deleted() -> Any:
    """Choose what a refresh does when the playlist was deleted in Spotify."""
    area_id = str(request.form.get("area", ""))
    choice = str(request.form.get("when_deleted", ""))
    if choice not in WHEN_DELETED:
        abort(400)
    changed = _change_area(
        area_id, lambda r: with_area(r, area_id, lambda a: replace(a, when_deleted=choice))
    )
    if changed:
        what = WHEN_DELETED_LABELS[choice]
        flash(f"If you delete the playlist in Spotify, Local Shows will {what}.", "done")
    return _to_page()


@bp.post("/areas/stop")
@login_required
def stop() -> Any:
    """Stop keeping an area fresh; its playlist stays in Spotify as it is."""
    area_id = str(request.form.get("area", ""))
    changed = _change_area(
        area_id,
        lambda r: replace(r, areas=tuple(a for a in r.areas if a.area_id != area_id)),
    )
    if changed is None:
        return _to_page()
    if not changed.areas:  # no area left: the grant it kept goes too
        try:
            with contextlib.suppress(NotFoundError):
                store().delete(SAVED_AREAS.object(changed.user_id))
        except StorageError as error:
            logger.error("saved areas not deleted", extra={"error": str(error)})
    flash("Stopped. The playlist stays in your Spotify as it is; it is no longer updated.", "done")
    return _to_page()
