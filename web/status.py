"""Health check of the web service."""

from __future__ import annotations

from flask import Blueprint, current_app

from web.data import DatasetCache

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer that the service is up; and, when its data is stale or unavailable, why."""
    cache: DatasetCache = current_app.extensions["datasets"]
    return {"status": "ok", "service": "web", **cache.health()}
