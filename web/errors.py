"""Render every HTTP error as a page that says what happened, in one place."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from web.auth import SignedOutError, forget_sign_in, signed_out_page

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register the error pages."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        return render_template("error.html", error=error), error.code or 500

    @app.errorhandler(SignedOutError)
    def signed_out(error: SignedOutError) -> tuple[str, int]:
        # Spotify was to be called with a token that is gone or unusable: sign out, not a 500.
        logger.info("signed out: %s", error)
        forget_sign_in()
        return signed_out_page()

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        logger.exception("unexpected error")
        return render_template("error.html", error=InternalServerError()), 500
