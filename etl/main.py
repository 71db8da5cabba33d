"""Entry point of the etl service for gunicorn (etl.yaml: gunicorn ... etl.main:app)."""

from etl.service import create_app
from shared.logging import setup_logging

setup_logging()
app = create_app()
