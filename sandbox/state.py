"""The sandbox's running state: options, limits, fault injection and request statistics."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

Mode = Literal["development", "extended"]
# The body of a daily-quota 429: Spotify's documented one with `reason`, one with only `status`
# and `message`, `{}`, or (by default) each of them in turn, seeded, as real answers vary.
QuotaBody = Literal["mixed", "reason", "no_reason", "empty"]
DescriptionLinks = Literal["accepted", "refused"]

# The daily quota's Retry-After is the time left until the next sandbox quota day, kept within
# these bounds. Real quota answers ask for hours (13,749 s recorded in spotify-web-api-node#426,
# ~50,000 s reported by the Spotify blog 2026-07-23). At least an hour, even just before midnight:
# the sandbox clock moves only by its controls, so a client that waited a few real seconds would
# find the same day, and a short wait on a body without a reason reads as the 30 s window's 429.
QUOTA_RETRY_AFTER_MIN_SECONDS = 3_600
QUOTA_RETRY_AFTER_MAX_SECONDS = 86_400
RATE_WINDOW_SECONDS = 30.0


def quota_day(moment: datetime) -> date:
    """Return the quota day a moment falls in: its UTC date.

    Spotify does not publish its daily quota's window (a rolling 24 h by some reports); the
    sandbox counts calendar days, starting at midnight UTC of the sandbox clock, so moving the
    clock a day at a time gives a fresh quota each day.
    """
    return moment.astimezone(UTC).date()


def seconds_until_next_quota_day(moment: datetime) -> int:
    """Return the Retry-After of a quota 429 at a moment: until the next quota day, bounded."""
    next_day = datetime.combine(quota_day(moment) + timedelta(days=1), datetime.min.time(), UTC)
    left = math.ceil((next_day - moment).total_seconds())
    return min(max(left, QUOTA_RETRY_AFTER_MIN_SECONDS), QUOTA_RETRY_AFTER_MAX_SECONDS)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


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
    """Rolling-window rate limit, daily quota and seeded faults, shared by all threads.

    The rate window runs on real time (spotipy waits in real seconds); the daily quota runs on
    `now`, the sandbox clock, and starts afresh with each quota day (see `quota_day`).
    """

    options: Options
    now: Callable[[], datetime] = _wall_clock
    lock: threading.Lock = field(default_factory=threading.Lock)
    spotify_times: deque[float] = field(default_factory=deque)
    spotify_today: int = 0  # Spotify requests counted in `counted_day`
    counted_day: date | None = None
    ticketmaster_times: deque[float] = field(default_factory=deque)
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.options.seed)

    def reset(self) -> None:
        """Forget past requests: a fresh quota, an empty window."""
        with self.lock:
            self.spotify_times.clear()
            self.ticketmaster_times.clear()
            self.spotify_today = 0
            self.counted_day = None
            self.rng.seed(self.options.seed)

    def quota_used(self) -> tuple[date, int]:
        """Return the sandbox's quota day and the Spotify requests counted in it so far."""
        with self.lock:
            return self._count_from(self.now())

    def _count_from(self, moment: datetime) -> tuple[date, int]:
        """Start a new count when the sandbox clock has passed into another quota day."""
        day = quota_day(moment)
        if day != self.counted_day:
            self.counted_day, self.spotify_today = day, 0
        return day, self.spotify_today

    def check_spotify(self) -> Refusal | None:
        """Count a Spotify Web API request, or refuse it as Spotify would."""
        with self.lock:
            options = self.options
            sandbox_now = self.now()
            _, used = self._count_from(sandbox_now)
            if options.daily_quota is not None and used >= options.daily_quota:
                return Refusal(429, "quota_exceeded", seconds_until_next_quota_day(sandbox_now))
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
