"""The landing page."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.auth import current_user

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    """Say what Local Shows does, and where to start."""
    return render_template("index.html", user=current_user())
