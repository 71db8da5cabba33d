"""Entry point of the web service for gunicorn (app.yaml: gunicorn web.main:app)."""

from shared.logging import setup_logging
from web import create_app

setup_logging()
app = create_app()
