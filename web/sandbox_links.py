"""Let pages link to the sandbox's own pages, in the demo only (empty against real Spotify)."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings


def init_app(app: Flask) -> None:
    """Register the Jinja global `sandbox_playlist_url(playlist_id)`: "" outside the sandbox."""
    settings: Settings = app.extensions["settings"]
    app.add_template_global(settings.sandbox_playlist_page, "sandbox_playlist_url")
