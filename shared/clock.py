"""The one clock both services read for "now": the system's, or one started at a stated instant.

A started clock is how tests (and anyone replaying a day) give the services a fixed "now" that
still moves: it begins at the instant and runs at the machine's pace, so runs and leases written
a second apart stay a second apart. Every started clock of a process with the same instant
reads the same, whenever it was made: they count from the process's own start, not their own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

# Taken once, when this module is first imported: every StartedClock counts from here.
_PROCESS_ORIGIN = time.monotonic()


class ClockError(ValueError):
    """A clock's instant could not be read."""


class Clock(Protocol):
    """Tell the time now, timezone-aware, in UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class StartedClock:
    """A clock that read `start` when the process started and has run since."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ClockError(f"a clock's start needs a time zone, got {start.isoformat()}")
        self.start = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - _PROCESS_ORIGIN)

    def __repr__(self) -> str:
        return f"StartedClock({self.start.isoformat()})"


def iso_utc(moment: datetime) -> str:
    """Write an instant as ISO 8601 UTC with Z, to the second ("2027-01-01T00:30:00Z")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str) -> datetime:
    """Read an ISO 8601 instant with its zone ("2027-01-01T00:30:00Z") as UTC."""
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ClockError(f"not an ISO 8601 instant: {cleaned!r}") from None
    if moment.tzinfo is None:
        raise ClockError(f"{cleaned!r} has no zone: add Z or +00:00")
    return moment.astimezone(UTC)
