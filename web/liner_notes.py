"""The liner-notes page: a playlist's tracks with their shows, public to anyone with its link.

The link is unguessable, and the playlist's description carries it. The page shows only what
the playlist holds: its name, its tracks and their shows. Never who made it, their other
playlists, or anything of their account. The notes themselves: shared/liner_notes.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from shared.liner_notes import TOKEN, load_notes
from web.auth import current_user
from web.data import app_store

bp = Blueprint("notes", __name__)


@bp.get("/notes/<token>")
def page(token: str) -> Any:
    """Show a playlist's liner notes to anyone with the link."""
    notes = load_notes(app_store(), token) if TOKEN.fullmatch(token) else None
    if notes is None:
        abort(
            404,
            "There are no liner notes at this address: the link may be mistyped, or the "
            "person who made the playlist deleted their data here.",
        )
    return render_template("notes.html", notes=notes, user=current_user())
