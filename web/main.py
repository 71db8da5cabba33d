"""Entry point of the web service for gunicorn (app.yaml: gunicorn web.main:app)."""

from shared.logging import setup_logging
from web import create_app

setup_logging()
# FREEZE_GC: a serving worker keeps what lives long out of Python's full collections
# (web/data.py keep_out_of_collections).
app = create_app(FREEZE_GC=True)
