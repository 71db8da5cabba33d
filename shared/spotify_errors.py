"""How talking to Spotify can fail: one small family of errors, below the client and its parsers."""

from __future__ import annotations


class SpotifyError(Exception):
    """Base of every Spotify failure the services handle."""


class QuotaExhaustedError(SpotifyError):
    """Spotify's daily quota is spent, or its wait reaches past the deadline: stop spending."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExhaustedError(SpotifyError):
    """This run has spent the requests SPOTIFY_REQUEST_BUDGET allows (or its time is up)."""


class SpotifyUnavailableError(SpotifyError):
    """Spotify kept failing (5xx, timeouts) for one request, after bounded retries."""


class SpotifyRefusedError(SpotifyError):
    """Spotify refused a request (400, 401, 403, 404): retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Spotify answered {status}: {message}")
        self.status = status


class SpotifyShapeError(SpotifyError):
    """Spotify answered, but not in the shape its API documents (a field missing or mistyped).

    Raised where the answer is parsed, naming what was wrong; an odd element inside an
    otherwise good answer (one garbled artist in a search) is skipped and logged instead.
    """
