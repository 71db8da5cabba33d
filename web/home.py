"""The landing page."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    """Say what Local Shows does."""
    return render_template("index.html")
