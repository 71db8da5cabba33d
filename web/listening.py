"""The Listening page: history on or off, an import of Spotify's export, the stats and the CSV.

Turning history on asks Spotify, once, for one more permission (`user-read-recently-played`);
people who never turn it on are never asked. The grant is sealed in `listening/<id>.json`
(shared/listening.py) and the hourly job (etl/plays.py) reads their plays with it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms.validators import ValidationError

from shared.history_import import LAST_IMPORT, import_export_files
from shared.listening import (
    ACTIVE,
    GRANT_LIFETIME_DAYS,
    HISTORY_SCOPE,
    LISTENING,
    NEEDS_SIGN_IN,
    RENEW_WARNING_DAYS,
    ListeningRecord,
    ListeningRecordError,
)
from shared.people.deletion import Writes, delete_person
from shared.people.grants import seal
from shared.places import plural
from shared.plays import (
    PLAY_COLUMNS,
    month_objects,
    plays_prefix,
    read_month_frame,
)
from shared.storage import NotFoundError, Store, retry_on_conflict
from web import csrf_exempt
from web import stats as stats_module
from web.auth import authorize_feature, current_user, grant_feature, login_required
from web.backups import escape_cell
from web.clock import utc_now
from web.data import app_store
from web.history import HISTORY_CACHE
from web.writes import PERSON_WRITES

logger = logging.getLogger(__name__)

bp = Blueprint("listening", __name__)

# App Engine refuses a request body over 32 MB; a bigger export goes file by file.
IMPORT_LIMIT_BYTES = 32 * 1024 * 1024
TIMEZONE_KEY = "stats_tz"
PAUSED_KEY = "history_paused"
PAUSED_CHECKED_KEY = "history_paused_checked"
PAUSED_CHECK_SECONDS = 600


def store() -> Store:
    return app_store()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # stored times are UTC


def grant_history(user_id: str, display_name: str, refresh_token: str) -> None:
    """Turn history on (or resume it) with the grant the person just gave, with its added scope."""
    sealed = seal(current_app.extensions["settings"], refresh_token)
    now = _iso(utc_now())

    def attempt() -> None:
        current, generation = LISTENING.load_replacing(store(), user_id)
        if current is None:
            record = ListeningRecord(
                user_id, sealed, display_name=display_name, opted_in_at=now, granted_at=now
            )
            LISTENING.save(store(), record, generation=generation)
            return
        resumed = replace(
            current,
            sealed_refresh_token=sealed,
            display_name=display_name,
            status=ACTIVE,
            status_reason="",
            granted_at=now,
        )
        LISTENING.save(store(), resumed, generation=generation)

    retry_on_conflict(f"user {user_id}'s listening record", attempt)
    session[PAUSED_KEY] = False
    flash(
        "History is on: from now on your plays are saved every hour. Spotify keeps only your "
        "last 50, so import your Spotify export below for everything before today.",
        "done",
    )


def _record(user_id: str) -> tuple[ListeningRecord | None, str]:
    """The person's record, or a problem to show when it cannot be read."""
    try:
        loaded = LISTENING.load(store(), user_id)
    except ListeningRecordError as error:
        logger.error("unreadable listening record", extra={"user_id": user_id, "error": str(error)})
        return None, (
            "Your history settings could not be read. Turn history on again to repair them; "
            "the plays kept so far are safe."
        )
    return (loaded[0] if loaded else None), ""


def _months(user_id: str) -> dict[str, int]:
    """The person's month files with their generations (one listing)."""
    prefix = plays_prefix(user_id)
    names = set(month_objects(store(), user_id))
    return {n: g for n, g in store().generations(prefix).items() if n in names}


def _last_import(user_id: str) -> dict[str, Any] | None:
    try:
        data = store().read(plays_prefix(user_id) + LAST_IMPORT).data
        found = json.loads(data)
    except (NotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _renewal(record: ListeningRecord | None) -> tuple[datetime | None, bool]:
    """When the permission ends, and whether to ask for a renewal now."""
    if record is None:
        return None, False
    granted = _parse_iso(record.granted_at or record.opted_in_at)
    if granted is None:
        return None, False
    ends = granted + timedelta(days=GRANT_LIFETIME_DAYS)
    return ends, utc_now() >= ends - timedelta(days=RENEW_WARNING_DAYS)


def _page(user: dict[str, str], status: int = 200, **extra: Any) -> tuple[str, int]:
    record, problem = _record(user["id"])
    months = _months(user["id"])
    ends, renew = _renewal(record)
    zone = _zone()
    kept_plays = None
    if months:
        history = HISTORY_CACHE.get(store(), user["id"], history_version(store(), user["id"]))
        kept_plays = len(history.played_ms)
    return render_template(
        "listening.html",
        user=user,
        record=record,
        problem=extra.pop("problem", "") or problem,
        months=[n.rsplit("/", 1)[1].removesuffix(".csv") for n in months],
        month_label=_month_label,
        kept_plays=kept_plays,
        last_read=_moment(record.last_read_at, zone) if record else "",
        gaps=[(_moment(g.after, zone), _moment(g.before, zone)) for g in reversed(record.gaps)]
        if record
        else [],
        last_import=_last_import(user["id"]),
        grant_ends=ends,
        renew=renew,
        import_limit_mb=IMPORT_LIMIT_BYTES // (1024 * 1024),
        **extra,
    ), status


def _zone() -> ZoneInfo:
    """The person's timezone as they chose it on the stats page (UTC until they have)."""
    zone, _ = stats_module.pick_timezone(None, session.get(TIMEZONE_KEY))
    return zone


def _moment(text: str, zone: ZoneInfo) -> str:
    """A stored UTC time in the person's timezone: "Mon Nov 23, 14:05 (Europe/Berlin)"."""
    moment = _parse_iso(text)
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%a %b} {local.day}, {local:%H:%M} ({zone.key})"


def _month_label(month: str) -> str:
    """ "2026-08" as "Aug 2026"."""
    try:
        return datetime.strptime(month, "%Y-%m").strftime("%b %Y")
    except ValueError:
        return month


@bp.before_app_request
def notice_paused_history() -> None:
    """Tell a person whose collection is paused, on whatever page they visit, within minutes.

    The record is read at most every PAUSED_CHECK_SECONDS per session (the answer kept in it).
    """
    user = current_user()
    if user is None or request.method != "GET" or request.endpoint in (None, "static"):
        return
    if request.endpoint.startswith("auth."):  # signing in or out leaves the session to auth
        return
    now = utc_now().timestamp()
    if now - float(session.get(PAUSED_CHECKED_KEY, 0)) < PAUSED_CHECK_SECONDS:
        return
    try:
        record = LISTENING.load(store(), user["id"])
    except ListeningRecordError:
        record = None
    paused = record is not None and record[0].status == NEEDS_SIGN_IN
    session[PAUSED_CHECKED_KEY] = now
    session[PAUSED_KEY] = bool(paused)


@bp.app_context_processor
def paused_history() -> dict[str, bool]:
    """Whether the signed-in person's history collection is paused (base.html says so)."""
    return {"history_paused": bool(session.get(PAUSED_KEY)) and current_user() is not None}


@bp.get("/listening")
@login_required
def page() -> Any:
    """History on or off, where collection stands, the import, and links to stats and the CSV."""
    return _page(current_user() or {})


@bp.post("/listening/on")
@login_required
def turn_on() -> Any:
    """Ask Spotify for the added permission; the sign-in callback turns history on."""
    user = current_user() or {}
    record, _ = _record(user["id"])
    _, renew = _renewal(record)
    if record is not None and record.status == ACTIVE and not renew:
        flash("History is already on.", "done")
        return redirect(url_for("listening.page"), code=303)
    return authorize_feature("history", url_for("listening.page"))


@bp.post("/listening/off")
@login_required
def turn_off() -> Any:
    """Stop collecting: forget the grant. The plays kept stay until the person deletes them."""
    user = current_user() or {}
    had = LISTENING.delete(store(), user["id"])
    months = len(_months(user["id"]))
    if not had:
        flash("History was already off.", "done")
    elif months:
        flash(
            f"History is off: no more plays are read. Your {plural(months, 'month')} of "
            "history stay here until you delete them.",
            "done",
        )
    else:
        flash("History is off: no more plays are read.", "done")
    return redirect(url_for("listening.page"), code=303)


@bp.get("/listening/delete")
@login_required
def confirm_delete() -> Any:
    """Ask before deleting the history: say what goes."""
    user = current_user() or {}
    record, _ = _record(user["id"])
    return render_template(
        "confirm_delete_history.html", user=user, record=record, months=len(_months(user["id"]))
    )


@bp.post("/listening/delete")
@login_required
def delete() -> Any:
    """Delete every play kept and the grant: history is off and empty."""
    user = current_user() or {}
    if request.form.get("confirm") != "yes":
        return redirect(url_for("listening.confirm_delete"), code=303)
    removed = forget_history(store(), user["id"])
    flash(f"Your listening history is deleted ({plural(removed, 'file')}).", "done")
    return redirect(url_for("listening.page"), code=303)


def forget_history(data: Store, user_id: str) -> int:
    """Delete a person's plays and their listening record, by the deletion protocol: an hourly
    read or an import under way gives up and sweeps again (shared/people/deletion.py)."""
    settings = current_app.extensions["settings"]
    g.pop(PERSON_WRITES, None)  # this request deletes: it has nothing to sweep after
    return delete_person(data, user_id, settings, now=utc_now(), feature="listening")["listening"]


@bp.post("/listening/import")
@csrf_exempt  # checked below, after the larger body limit is set (CSRFProtect reads the form first)
@login_required
def import_export() -> Any:
    """Import the JSON files (or a zip) of Spotify's export; each file whole or not at all."""
    user = current_user() or {}
    request.max_content_length = IMPORT_LIMIT_BYTES
    try:
        validate_csrf(request.form.get("csrf_token", ""))
        uploads = [u for u in request.files.getlist("files") if u.filename]
    except RequestEntityTooLarge:
        return _page(
            user,
            413,
            problem=f"That is more than {IMPORT_LIMIT_BYTES // (1024 * 1024)} MB, the most one "
            "upload can hold. Upload the export's files one by one (each is a few MB).",
        )
    except ValidationError:
        return _page(user, 400, problem="The form had expired. Please choose the files again.")
    if not uploads:
        return _page(user, 400, problem="Choose at least one file of your Spotify export.")
    result = import_export_files(
        store(),
        user["id"],
        [(u.filename or "file", u.read()) for u in uploads],
        mine_confirmed="1" in (request.form.get("mine"), request.form.get("not_mine")),
        now=utc_now(),
        writes=Writes(store(), user["id"], current_app.extensions["settings"], feature="listening"),
    )
    if not result["files"]:
        return _page(user, 400, problem="Nothing was imported.", import_result=result)
    return redirect(url_for("listening.page", _anchor="last-import"), code=303)


def history_version(data: Store, user_id: str) -> int:
    """A number that changes whenever the person's plays change (their months' generations)."""
    names = set(month_objects(data, user_id))
    found = tuple((n, g) for n, g in data.generations(plays_prefix(user_id)).items() if n in names)
    return hash(found)


@bp.get("/listening/stats")
@login_required
def stats() -> Any:
    """The person's own stats, drawn on the server."""
    user = current_user() or {}
    requested = request.args.get("tz")
    tz, tz_chosen = stats_module.pick_timezone(requested, session.get(TIMEZONE_KEY))
    if tz_chosen and requested:
        session[TIMEZONE_KEY] = str(tz)
    result = stats_module.stats_for(
        store(), user["id"], history_version(store(), user["id"]), utc_now(), tz
    )
    return render_template(
        "listening_stats.html",
        user=user,
        stats=result,
        tz_name=str(tz),
        tz_chosen=tz_chosen,
        timezones=stats_module.TIMEZONES,
    )


@bp.get("/listening/history.csv")
@login_required
def download() -> Response:
    """Every play kept, oldest first, as one CSV (cells that look like formulas escaped)."""
    user = current_user() or {}
    data = store()
    names = month_objects(data, user["id"])

    def rows() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(PLAY_COLUMNS)
        for name in names:
            try:
                frame = read_month_frame(data.read(name).data)
            except (NotFoundError, ValueError) as error:
                logger.error("a plays file left out of a download", extra={"error": str(error)})
                continue
            for row in frame.itertuples(index=False):
                writer.writerow([escape_cell(value) for value in row])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        yield out.getvalue()

    disposition = {"Content-Disposition": 'attachment; filename="listening-history.csv"'}
    return Response(stream_with_context(rows()), mimetype="text/csv", headers=disposition)


grant_feature("history", HISTORY_SCOPE, grant_history, renewed_with=LISTENING)
