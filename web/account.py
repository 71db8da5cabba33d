"""Stop backups and delete one's data: each behind a page that says exactly what goes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from shared.charts import CHART_PEOPLE, ChartsError
from shared.datasets import backups_of
from shared.liner_notes import count_user_notes
from shared.listening import LISTENING
from shared.people.deletion import delete_person, features
from shared.places import plural
from shared.plays import month_objects
from shared.saved_areas import SAVED_AREAS, SavedAreasError
from shared.storage import NotFoundError, StorageError
from shared.taste import TASTE
from shared.users import BACKUPS, BackupSettings
from web.auth import current_user, end_sessions_and_forget, login_required
from web.backups import Week, load_weeks, user_settings, weeks_of
from web.clock import utc_now
from web.data import app_store as store
from web.writes import PERSON_WRITES

bp = Blueprint("account", __name__)


@dataclass
class Kept:
    """What Local Shows keeps about a user's backups: what the confirm pages count."""

    settings: BackupSettings | None
    unreadable: bool  # a settings file is there, but cannot be read
    weeks: list[Week]
    rows: int
    unreadable_weeks: bool = False  # a backups file is there, but cannot be read


def kept_of(user_id: str) -> Kept:
    """Return what Local Shows keeps of a user's backups."""
    settings, problem = user_settings(user_id)
    frame, weeks_problem = load_weeks(user_id)
    return Kept(settings, bool(problem), weeks_of(frame), len(frame), bool(weeks_problem))


def _remove(user_id: str, *, settings: bool = True, weeks: bool = True) -> None:
    """Delete the user's backup settings (and token) and, if asked, their weeks."""
    names = ([BACKUPS.object(user_id)] if settings else []) + (
        [backups_of(user_id).name] if weeks else []
    )
    for name in names:
        with contextlib.suppress(NotFoundError):
            store().delete(name)


@bp.get("/backups/stop")
@login_required
def confirm_stop() -> Any:
    """Ask before stopping: say what goes, what stays, and offer to keep the weeks."""
    user = current_user() or {}
    kept = kept_of(user["id"])
    if kept.settings is None and not kept.unreadable:
        return redirect(url_for("backups.page"))
    return render_template("confirm_stop.html", user=user, kept=kept)


@bp.post("/backups/stop")
@login_required
def stop() -> Any:
    """Stop backups: forget the source and the token; keep or delete the weeks, as chosen."""
    user = current_user() or {}
    choice = request.form.get("weeks", "")
    if choice not in ("keep", "delete"):
        return render_template(
            "confirm_stop.html",
            user=user,
            kept=kept_of(user["id"]),
            problem="Choose whether to keep or delete your weeks.",
        ), 400
    weeks = kept_of(user["id"]).weeks
    _remove(user["id"], weeks=choice == "delete")
    if choice == "keep" and weeks:
        flash(f"Backups are stopped. Your {plural(len(weeks), 'week')} stay here.", "done")
    elif weeks:
        flash(f"Backups are stopped and your {plural(len(weeks), 'week')} are deleted.", "done")
    else:
        flash("Backups are stopped.", "done")
    return redirect(url_for("backups.page"), code=303)


@bp.get("/backups/delete-my-data")
@login_required
def confirm_delete() -> Any:
    """Ask before deleting: say exactly what goes, and what stays."""
    user = current_user() or {}
    return render_template(
        "confirm_delete.html",
        user=user,
        kept=kept_of(user["id"]),
        notes=count_user_notes(store(), user["id"]),
        history=history_kept(user["id"]),
        areas=areas_kept(user["id"]),
        taste=taste_kept(user["id"]),
        charts=charts_kept(user["id"]),
    )


def areas_kept(user_id: str) -> int:
    """How many saved areas a person keeps (-1: a record is there, but cannot be read)."""
    try:
        loaded = SAVED_AREAS.load(store(), user_id)
    except (SavedAreasError, StorageError):
        return -1
    return len(loaded[0].areas) if loaded else 0


def taste_kept(user_id: str) -> bool:
    """Whether Local Shows keeps a person's taste record (readable or not)."""
    return store().generation(TASTE.object(user_id)) is not None


def charts_kept(user_id: str) -> int:
    """How many playlists a person tracks on Charts (-1: a record is there, but cannot be read)."""
    try:
        loaded = CHART_PEOPLE.load(store(), user_id)
    except (ChartsError, StorageError):
        return -1 if store().generation(CHART_PEOPLE.object(user_id)) is not None else 0
    return len(loaded[0].playlists) if loaded else 0


def history_kept(user_id: str) -> dict[str, int]:
    """What Local Shows keeps of a person's listening: months of plays, and whether it is on."""
    return {
        "months": len(month_objects(store(), user_id)),
        "on": int(store().generation(LISTENING.object(user_id)) is not None),
    }


@bp.post("/backups/delete-my-data")
@login_required
def delete_my_data() -> Any:
    """Delete everything Local Shows keeps about the user, and sign them out."""
    user_id = (current_user() or {})["id"]
    kept = kept_of(user_id)
    history = history_kept(user_id)
    areas = areas_kept(user_id)
    taste = taste_kept(user_id)
    charts = charts_kept(user_id)
    notes = count_user_notes(store(), user_id)
    g.pop(PERSON_WRITES, None)  # this request deletes: it has nothing to sweep after
    deleted: dict[str, int] = {}
    try:
        # The deletion protocol: a tombstone first, so that work already writing this person's
        # data gives up and sweeps again; then every registered feature's sweep.
        deleted = delete_person(store(), user_id, current_app.extensions["settings"], now=utc_now())
    finally:
        end_sessions_and_forget()  # signed out everywhere, whatever else failed
    return render_template(
        "backups_deleted.html",
        user=None,
        # Every registered feature, said by name, with the files it deleted (a new feature
        # shows here without this page naming it).
        swept=[(keeps.label, deleted.get(name, 0)) for name, keeps in features().items()],
        kept=kept,
        notes=notes,
        history=history,
        areas=areas,
        taste=taste,
        charts=charts,
    ), 200
