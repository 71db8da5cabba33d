"""The etl service's Flask app: what cron calls, and the health check."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings, load_settings
from shared.storage import Store, open_store


def create_app(config: Settings | None = None, store: Store | None = None) -> Flask:
    """Create the etl service's app from settings (read from the environment when not given)."""
    settings = config or load_settings()
    app = Flask(__name__)
    app.extensions["settings"] = settings
    app.extensions["store"] = store or open_store(settings.data_url)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "etl"}

    return app
