"""The instant every test runs at, whatever the day: the services' clock and the sandbox's.

The services read "now" from CLOCK_START (BASE_ENV sets it to TEST_NOW), the sandbox's clock and
its world start at TEST_NOW, and a test that needs "now" calls `clock_now()`, which reads the
same clock the services do. `make test-dates` runs the suite with the machine's clock and
TEST_NOW both moved (LOCAL_SHOWS_TEST_NOW) to the instants where calendars break.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from shared.clock import StartedClock, parse_instant

# A Wednesday afternoon in June, noon in New York: nowhere near a month end or a clock change.
DEFAULT_TEST_NOW = "2026-06-10T16:00:00Z"
TEST_NOW = parse_instant(os.environ.get("LOCAL_SHOWS_TEST_NOW") or DEFAULT_TEST_NOW)
TEST_DAY = TEST_NOW.date()
TEST_CLOCK = StartedClock(TEST_NOW)


def clock_now() -> datetime:
    """Return now by the services' clock in tests (TEST_NOW and the time the suite has run)."""
    return TEST_CLOCK.now()


class ManualClock:
    """A clock that stands still until a test moves it: leases and heartbeats without waiting."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, step: timedelta) -> None:
        self.moment += step
