"""GET JSON from an event source with timeouts, pacing and bounded retries with backoff."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from etl.sources import SourceError

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
SECRET_PARAMS = {"client_id", "client_secret", "apikey"}


class JsonClient:
    """Fetch JSON from one source; retry 429, 5xx and timeouts a bounded number of times."""

    def __init__(
        self,
        source: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 60.0,
        min_interval_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self.min_interval_seconds = min_interval_seconds
        self.sleep = sleep
        self.requests = 0
        self.retries = 0
        self._lock = threading.Lock()
        self._mine = threading.local()
        self._last_request = 0.0
        self._jitter = random.Random()  # noqa: S311 (spreads retries; not security)

    def get(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        """Return the JSON object at url; SourceError when retries run out or it is refused."""
        shown = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
        for attempt in range(1, self.max_attempts + 1):
            self._pace()
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as error:
                problem, wait = f"{type(error).__name__}", self._backoff(attempt)
            else:
                if response.status_code == 200:
                    return self._json(response, shown)
                if response.status_code not in RETRY_STATUSES:
                    raise SourceError(
                        f"{self.source} answered {response.status_code} to {shown}: "
                        f"{response.text[:200]}"
                    )
                problem = f"HTTP {response.status_code}"
                wait = self._retry_after(response) or self._backoff(attempt)
                if wait > self.max_wait_seconds:
                    raise SourceError(
                        f"{self.source} asks to wait {wait:.0f} s ({problem}); giving up"
                    )
            if attempt == self.max_attempts:
                raise SourceError(f"{self.source} failed {attempt} times ({problem}) for {shown}")
            with self._lock:
                self.retries += 1
            logger.warning(
                "source request failed; retrying",
                extra={
                    "source": self.source,
                    "problem": problem,
                    "attempt": attempt,
                    "wait_s": round(wait, 2),
                },
            )
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _pace(self) -> None:
        # Keep under a source's published request rate (Ticketmaster: 5 a second).
        with self._lock:
            if self.min_interval_seconds:
                wait = self._last_request + self.min_interval_seconds - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
            self._last_request = time.monotonic()
            self.requests += 1
        self._mine.requests = self.thread_requests() + 1

    def thread_requests(self) -> int:
        """Return how many requests this thread has made (a state is fetched in one thread)."""
        return int(getattr(self._mine, "requests", 0))

    def _backoff(self, attempt: int) -> float:
        base = self.backoff_seconds * 2 ** (attempt - 1)
        return float(base * (0.5 + self._jitter.random()))

    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        try:
            return float(response.headers["Retry-After"])
        except (KeyError, ValueError):
            return None

    def _json(self, response: requests.Response, shown: dict[str, Any]) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            raise SourceError(
                f"{self.source} sent something that is not JSON for {shown}"
            ) from None
        if not isinstance(payload, dict):
            raise SourceError(f"{self.source} sent JSON that is not an object for {shown}")
        return payload
