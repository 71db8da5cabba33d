"""The sandbox's running state: options, limits, fault injection and request statistics."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["development", "extended"]
# The body of a daily-quota 429: Spotify's documented one with `reason`, one with only `status`
# and `message`, `{}`, or (by default) each of them in turn, seeded, as real answers vary.
QuotaBody = Literal["mixed", "reason", "no_reason", "empty"]
DescriptionLinks = Literal["accepted", "refused"]

# The quota answer of Spotify's Development Mode (Spotify blog 2026-07-23).
QUOTA_RETRY_AFTER_SECONDS = 50_400
RATE_WINDOW_SECONDS = 30.0


@dataclass
class Options:
    """How the sandbox behaves; every field can be changed at run time via /_sandbox/config."""

    mode: Mode = "development"
    latency_ms: int = 0
    rate_limit: float | None = None  # Spotify requests a second, averaged over a rolling 30 s
    daily_quota: int | None = None  # Spotify requests a sandbox day, then a quota 429
    quota_body: QuotaBody = "mixed"  # what that 429 says (see QuotaBody)
    error_rate: float = 0.0  # share of API answers replaced by a 5xx or a short 429
    seed: int = 1
    ticketmaster_per_second: int = 5
    fail_states: list[str] = field(default_factory=list)  # event queries for these answer 503
    item_writes_before_outage: int | None = None  # then playlist item writes answer 503
    description_links: DescriptionLinks = "accepted"  # "refused": a link in a description is a 400


@dataclass
class Refusal:
    """An answer the limits give instead of serving the request."""

    status: int
    reason: str
    retry_after: int | None = None


@dataclass
class Limits:
    """Rolling-window rate limit, daily quota and seeded faults, shared by all threads."""

    options: Options
    lock: threading.Lock = field(default_factory=threading.Lock)
    spotify_times: deque[float] = field(default_factory=deque)
    spotify_today: int = 0
    ticketmaster_times: deque[float] = field(default_factory=deque)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.options.seed)

    def reset(self) -> None:
        """Forget past requests: a new day, an empty window."""
        with self.lock:
            self.spotify_times.clear()
            self.ticketmaster_times.clear()
            self.spotify_today = 0
            self.rng.seed(self.options.seed)

    def check_spotify(self) -> Refusal | None:
        """Count a Spotify Web API request, or refuse it as Spotify would."""
        with self.lock:
            options = self.options
            if options.daily_quota is not None and self.spotify_today >= options.daily_quota:
                return Refusal(429, "quota_exceeded", QUOTA_RETRY_AFTER_SECONDS)
            now = time.monotonic()
            if options.rate_limit:
                while self.spotify_times and now - self.spotify_times[0] >= RATE_WINDOW_SECONDS:
                    self.spotify_times.popleft()
                allowed = max(1, int(options.rate_limit * RATE_WINDOW_SECONDS))
                if len(self.spotify_times) >= allowed:
                    wait = RATE_WINDOW_SECONDS - (now - self.spotify_times[0])
                    return Refusal(429, "rate_limit", max(1, int(wait + 0.999)))
                self.spotify_times.append(now)
            self.spotify_today += 1
            return self._fault()

    def check_ticketmaster(self) -> Refusal | None:
        """Count a Ticketmaster request, or refuse it over 5 a second."""
        with self.lock:
            now = time.monotonic()
            while self.ticketmaster_times and now - self.ticketmaster_times[0] >= 1.0:
                self.ticketmaster_times.popleft()
            if len(self.ticketmaster_times) >= self.options.ticketmaster_per_second:
                return Refusal(429, "rate_limit", 1)
            self.ticketmaster_times.append(now)
            return self._fault()

    def check_other(self) -> Refusal | None:
        """Decide whether to inject a fault into a request of another stand-in."""
        with self.lock:
            return self._fault()

    def _fault(self) -> Refusal | None:
        if self.options.error_rate <= 0 or self.rng.random() >= self.options.error_rate:
            return None
        if self.rng.random() < 0.5:
            return Refusal(429, "injected", 1)
        return Refusal(self.rng.choice([500, 502, 503]), "injected")


@dataclass
class Stats:
    """What the sandbox served: requests by endpoint, 429s by reason, injected faults."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[str] = field(default_factory=Counter)
    status_429: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def count(self, endpoint: str) -> None:
        with self.lock:
            self.requests[endpoint] += 1

    def refused(self, endpoint: str, refusal: Refusal) -> None:
        with self.lock:
            if refusal.status == 429:
                self.status_429[refusal.reason] += 1
            else:
                self.faults[f"{endpoint} {refusal.status}"] += 1

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.status_429.clear()
            self.faults.clear()

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "status_429": dict(self.status_429),
                "faults": dict(self.faults),
            }
