"""Health check of the web service."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Answer that the service is up."""
    return {"status": "ok", "service": "web"}
