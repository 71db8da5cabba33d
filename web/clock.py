"""The web's "now": the clock of the app's settings (the machine's, or CLOCK_START's)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app


def utc_now() -> datetime:
    """Return the time now, in UTC, by the app's clock."""
    return current_app.extensions["settings"].clock.now()  # type: ignore[no-any-return]
