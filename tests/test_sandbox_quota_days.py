"""The sandbox's daily Spotify quota follows the sandbox clock: a fresh count each UTC day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from etl.pipeline import build_concerts_dataset
from etl.sources.registry import make_sources
from etl.tracks import match_and_fetch_tracks
from sandbox.server import SandboxServer
from sandbox.state import Limits, Options, seconds_until_next_quota_day
from shared.config import load_settings
from shared.datasets import ARTISTS, CONCERTS, load_dataset
from shared.names import performer_key
from shared.spotify import QuotaExhaustedError, RequestLedger, SpotifyApi
from shared.storage import FolderStore
from tests.clock import TEST_DAY
from tests.conftest import BASE_ENV

# 20:00 UTC on the suite's day: four hours before the next quota day.
EVENING = datetime.combine(TEST_DAY, time(20), tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "retry_after"),
    [
        (datetime(2026, 11, 23, 0, 0, tzinfo=UTC), 86_400),
        (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), 50_400),
        (datetime(2026, 11, 23, 20, 0, tzinfo=UTC), 14_400),
        (datetime(2026, 11, 23, 22, 59, 59, 500_000, tzinfo=UTC), 3_601),  # whole seconds, up
        (datetime(2026, 11, 23, 23, 0, tzinfo=UTC), 3_600),
        (datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC), 3_600),  # at least an hour
        # 20:00 in New York is 01:00 UTC the next day: the quota day is UTC's.
        (datetime(2026, 11, 23, 20, 0, tzinfo=timezone(timedelta(hours=-5))), 82_800),
    ],
)
def test_retry_after_is_the_time_until_the_next_utc_day_within_bounds(
    moment: datetime, retry_after: int
) -> None:
    assert seconds_until_next_quota_day(moment) == retry_after


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def outcomes(limits: Limits, count: int) -> list[int | None]:
    """Return the Retry-After of each refusal, None for each request served."""
    return [
        refusal.retry_after if (refusal := limits.check_spotify()) else None for _ in range(count)
    ]


def test_the_count_starts_again_when_the_clock_passes_midnight_utc() -> None:
    clock = FakeClock(EVENING)
    limits = Limits(Options(daily_quota=2), now=clock.now)

    first_evening = outcomes(limits, 3)
    clock.moment = EVENING + timedelta(hours=3, minutes=30)  # 23:30, the same day
    late_evening = outcomes(limits, 1)
    clock.moment = EVENING + timedelta(hours=4)  # midnight
    next_day = outcomes(limits, 3)

    assert first_evening == [None, None, 14_400]
    assert late_evening == [3_600]
    assert next_day == [None, None, 86_400]
    assert limits.quota_used() == ((EVENING + timedelta(days=1)).date(), 2)


def test_without_a_quota_requests_are_still_counted_by_day() -> None:
    clock = FakeClock(EVENING)
    limits = Limits(Options(), now=clock.now)

    outcomes(limits, 5)
    clock.moment += timedelta(days=1)
    outcomes(limits, 2)

    assert limits.quota_used() == ((EVENING + timedelta(days=1)).date(), 2)


# Against a running sandbox whose clock starts in the evening.


@pytest.fixture
def evening_sandbox(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    with SandboxServer(
        small_world, Options(daily_quota=3, quota_body="reason"), start=EVENING
    ) as server:
        yield server


def api_for(sandbox: SandboxServer) -> SpotifyApi:
    settings = load_settings({**BASE_ENV, **sandbox.settings_env()})
    return SpotifyApi.for_app(settings, RequestLedger(), sleep=lambda seconds: None)


def advance_hours(sandbox: SandboxServer, hours: float) -> None:
    answer = requests.post(
        f"{sandbox.url}/_sandbox/advance-hours", json={"hours": hours}, timeout=5
    )
    assert answer.status_code == 200


def searches(api: SpotifyApi, count: int) -> list[int | None]:
    """Search count times; return None for each answer, the Retry-After of each quota stop."""
    results: list[int | None] = []
    for _ in range(count):
        try:
            api.search_artists("Sting")
            results.append(None)
        except QuotaExhaustedError as stop:
            results.append(None if stop.retry_after is None else int(stop.retry_after))
    return results


def test_advancing_the_clock_a_day_gives_a_fresh_quota(evening_sandbox: SandboxServer) -> None:
    api = api_for(evening_sandbox)

    evening = searches(api, 4)
    advance_hours(evening_sandbox, 3)  # 23:00: the same quota day
    late = searches(api, 1)
    advance_hours(evening_sandbox, 1)  # midnight UTC: a new quota day
    next_day = searches(api, 4)
    quota = requests.get(f"{evening_sandbox.url}/_sandbox/stats", timeout=5).json()["quota"]

    assert evening == [None, None, None, 14_400]
    assert late == [3_600]
    assert next_day == [None, None, None, 86_400]
    assert quota == {"day": (TEST_DAY + timedelta(days=1)).isoformat(), "spotify_requests": 3}


def test_reset_still_gives_a_fresh_quota_within_the_day(evening_sandbox: SandboxServer) -> None:
    api = api_for(evening_sandbox)

    before = searches(api, 4)
    requests.post(f"{evening_sandbox.url}/_sandbox/reset", timeout=5)
    after = searches(api, 1)

    assert before[-1] == 14_400 and after == [None]


def test_a_build_resumes_each_sandbox_day_until_every_performer_is_checked(
    small_world: dict[str, Any], tmp_path: Path
) -> None:
    quota = 150
    with SandboxServer(small_world, Options(daily_quota=quota), start=EVENING) as sandbox:
        settings = load_settings({**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(tmp_path)})
        store = FolderStore(tmp_path)
        build_concerts_dataset(store, make_sources(settings), settings.etl_states, now=EVENING)
        concerts, _ = load_dataset(store, CONCERTS)
        served: list[int] = []  # Spotify requests the sandbox served each day
        stops: list[str] = []
        for day in range(10):
            summary = match_and_fetch_tracks(
                store, concerts, api_for(sandbox), now=EVENING + timedelta(days=day)
            )
            stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()
            served.append(stats["quota"]["spotify_requests"])
            stops.append(summary.stopped)
            if not summary.stopped:
                break
            advance_hours(sandbox, 24)

    artists, _ = load_dataset(store, ARTISTS)
    assert len(stops) > 1 and stops[:-1] == ["quota"] * (len(stops) - 1) and stops[-1] == ""
    assert served[:-1] == [quota] * (len(served) - 1) and 0 < served[-1] <= quota
    assert set(artists["performer_key"]) == {performer_key(n) for n in concerts["performer_name"]}
