"""The web service: sign in with Spotify, turn local shows and backups into playlists."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings, load_settings
from shared.storage import Store, open_store


def create_app(config: Settings | None = None, store: Store | None = None) -> Flask:
    """Create the web app from settings (read from the environment when not given)."""
    settings = config or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.flask_secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions["settings"] = settings
    app.extensions["store"] = store or open_store(settings.data_url)

    from web import errors, home, status

    errors.init_app(app)
    app.register_blueprint(home.bp)
    app.register_blueprint(status.bp)
    return app
