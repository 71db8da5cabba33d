"""The Taste page: the artists a person already knows, read from Spotify with their consent.

Turning taste on asks Spotify, once, to read the person's top artists and the artists they
follow (`user-top-read user-follow-read`); people who never turn it on are never asked. The
grant is sealed in `taste/<id>.json` (shared/taste.py), the profile is read at once with the
fresh sign-in, and the daily job (etl/taste.py) reads it again when it is a day old.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, g, redirect, render_template, session, url_for

from shared.people.deletion import delete_person
from shared.people.grants import pause, pause_reason, seal
from shared.places import plural
from shared.plays import month_objects
from shared.spotify import SpotifyError
from shared.storage import ConflictError, StorageError, Store, retry_on_conflict
from shared.taste import (
    ACTIVE,
    REFRESH_EVERY,
    TASTE,
    TASTE_SCOPES,
    Known,
    TasteError,
    TasteRecord,
    with_profile,
)
from shared.taste_read import read_profile, refresh_taste
from shared.tokens import TokenDecryptError
from web import stats as stats_module
from web.auth import (
    SignedOutError,
    authorize_feature,
    current_user,
    grant_feature,
    login_required,
    spotify_problem,
    user_api,
)
from web.clock import utc_now
from web.data import app_store
from web.listening import TIMEZONE_KEY
from web.quota import request_ledger
from web.writes import PERSON_WRITES

logger = logging.getLogger(__name__)

bp = Blueprint("taste", __name__)

MAX_LISTED = 50  # known artists named on the page, the strongest first
READ_LATER = (
    "Your artists could not be read just now; Local Shows reads them again within a day, "
    "or press Refresh now later."
)
# A web request may wait a few seconds for Spotify, never minutes (as web.auth.user_api).
WEB_API_OPTIONS: dict[str, Any] = {"max_attempts": 3, "max_wait_seconds": 5, "backoff_seconds": 0.5}


def store() -> Store:
    return app_store()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def grant_taste(user_id: str, display_name: str, refresh_token: str) -> None:
    """Turn taste on (or resume it) with the grant just given, and read the profile at once.

    The read uses the session's fresh token; when it fails, taste stays on and the daily job
    reads the profile (its `refreshed_at` is empty, so it is due).
    """
    sealed = seal(current_app.extensions["settings"], refresh_token)
    _keep_grant(user_id, display_name, sealed)
    try:
        artists, requests = read_profile(user_api(), store(), user_id)
        now = utc_now()
        TASTE.update(
            store(), user_id, lambda r: with_profile(r, artists, now=now, requests=requests)
        )
    except (SpotifyError, SignedOutError, TasteError, ConflictError) as error:
        logger.warning(
            "a taste profile could not be read at once",
            extra={"user_id": user_id, "error": f"{type(error).__name__}: {error}"},
        )
        _note_problem(user_id, READ_LATER)
        flash(f"Taste is on. {READ_LATER}", "error")
        return
    flash(f"Taste is on: Local Shows knows {plural(len(artists), 'artist')} you listen to.", "done")


def _keep_grant(user_id: str, display_name: str, sealed: str) -> None:
    now = _iso(utc_now())

    def attempt() -> None:
        current, generation = TASTE.load_replacing(store(), user_id)
        if current is None:
            record = TasteRecord(user_id, sealed, display_name=display_name, granted_at=now)
            TASTE.save(store(), record, generation=generation)
            return
        resumed = replace(
            current,
            sealed_refresh_token=sealed,
            display_name=display_name,
            status=ACTIVE,
            status_reason="",
            granted_at=now,
            problem="",
        )
        TASTE.save(store(), resumed, generation=generation)

    retry_on_conflict(TASTE.object(user_id), attempt)


def _note_problem(user_id: str, problem: str) -> None:
    try:
        TASTE.update(store(), user_id, lambda r: replace(r, problem=problem))
    except (TasteError, ConflictError):
        logger.exception("could not note a taste problem", extra={"user_id": user_id})


def _record(user_id: str) -> tuple[TasteRecord | None, str]:
    """The person's record, or a problem to show when it cannot be read."""
    try:
        loaded = TASTE.load(store(), user_id)
    except TasteError as error:
        logger.error("unreadable taste record", extra={"user_id": user_id, "error": str(error)})
        return None, "Your taste settings could not be read. Turn taste on again to repair them."
    return (loaded[0] if loaded else None), ""


def counts_of(artists: dict[str, Known]) -> dict[str, int]:
    """How many artists the person knows, and how: in their top, followed, played."""
    known = artists.values()
    return {
        "known": len(artists),
        "top": sum(1 for k in known if k.top),
        "followed": sum(1 for k in known if k.followed),
        "played": sum(1 for k in known if k.plays > 0),
    }


def strongest(artists: dict[str, Known], limit: int = MAX_LISTED) -> list[tuple[str, Known]]:
    """The artists the person knows best first (plays, then top, then followed), then by name."""
    ranked = sorted(artists.items(), key=lambda item: (-item[1].weight, item[1].name.casefold()))
    return ranked[:limit]


def _moment(text: str, zone: ZoneInfo) -> str:
    """A stored UTC time in the person's timezone: "Mon Nov 23, 14:05 (Europe/Berlin)"."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%H:%M} ({zone.key})"


def _zone() -> ZoneInfo:
    """The person's timezone as they chose it on the stats page (UTC until they have)."""
    zone, _ = stats_module.pick_timezone(None, session.get(TIMEZONE_KEY))
    return zone


def _next_refresh(record: TasteRecord, zone: ZoneInfo) -> str:
    try:
        last = datetime.fromisoformat(record.refreshed_at.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return _moment(_iso(last + REFRESH_EVERY), zone)


@bp.get("/taste")
@login_required
def page() -> Any:
    """What taste reads and why; when on, what Local Shows knows of the person's artists."""
    user = current_user() or {}
    record, problem = _record(user["id"])
    artists = record.artists if record else {}
    zone = _zone()
    return render_template(
        "taste.html",
        user=user,
        record=record,
        problem=problem,
        counts=counts_of(artists),
        listed=strongest(artists),
        refreshed=_moment(record.refreshed_at, zone) if record else "",
        next_refresh=_next_refresh(record, zone) if record else "",
        can_refresh=record is not None and record.due(utc_now()),
        keeps_history=bool(month_objects(store(), user["id"])),
    )


@bp.post("/taste/on")
@login_required
def turn_on() -> Any:
    """Ask Spotify for the added permissions; the sign-in callback turns taste on."""
    user = current_user() or {}
    record, _ = _record(user["id"])
    if record is not None and record.status == ACTIVE:
        flash("Taste is already on.", "done")
        return redirect(url_for("taste.page"), code=303)
    return authorize_feature("taste", url_for("taste.page"))


@bp.post("/taste/refresh")
@login_required
def refresh() -> Any:
    """Read the person's artists again now, at most once a day (it costs Spotify requests)."""
    user = current_user() or {}
    record, problem = _record(user["id"])
    if record is None:
        flash(problem or "Taste is off: turn it on first.", "error")
    elif record.status != ACTIVE:
        flash("Taste is paused: give the permission again first.", "error")
    elif not record.due(utc_now()):
        zone = _zone()
        flash(
            f"Your artists were read on {_moment(record.refreshed_at, zone)}; they can be read "
            f"again from {_next_refresh(record, zone)} (at most once a day).",
            "error",
        )
    else:
        _refresh(record)
    return redirect(url_for("taste.page"), code=303)


def _refresh(record: TasteRecord) -> None:
    settings = current_app.extensions["settings"]
    try:
        refreshed = refresh_taste(
            store(), settings, record, now=utc_now(), ledger=request_ledger(), **WEB_API_OPTIONS
        )
    except (SpotifyError, TokenDecryptError) as error:
        reason = pause_reason(error)
        if reason:
            try:
                pause(store(), TASTE, record.user_id, reason)
            except (TasteError, StorageError) as unkept:
                logger.error("a taste pause was not kept", extra={"error": str(unkept)})
            flash(reason, "error")
        elif isinstance(error, SpotifyError):
            flash(spotify_problem(error), "error")
        return
    except (TasteError, ConflictError) as error:
        logger.error("a taste refresh was not kept", extra={"error": str(error)})
        flash("Your artists were read but could not be kept. Please try again later.", "error")
        return
    if refreshed is None:
        flash("Taste is off: turn it on first.", "error")
        return
    known = plural(len(refreshed.artists), "artist")
    flash(f"Your artists were read again: Local Shows knows {known} you listen to.", "done")


@bp.post("/taste/off")
@login_required
def turn_off() -> Any:
    """Forget the person's taste: the permission and the profile."""
    user = current_user() or {}
    g.pop(PERSON_WRITES, None)  # this request deletes: it has nothing to sweep after
    # By the deletion protocol: a daily read or "Refresh now" under way gives up.
    settings = current_app.extensions["settings"]
    delete_person(store(), user["id"], settings, now=utc_now(), feature="taste")
    flash("Taste is off: your top and followed artists are forgotten.", "done")
    return redirect(url_for("taste.page"), code=303)


grant_feature("taste", TASTE_SCOPES, grant_taste, renewed_with=TASTE)
