"""Every event source Local Shows knows, and which of them the settings turn on."""

from __future__ import annotations

from collections.abc import Callable

from etl.sources import EventSource, seatgeek, ticketmaster
from shared.config import Settings

# One line a source, in the order their listings are preferred when two list one show (the
# first is kept, the others lend it their Spotify links). A source module exposes
# `from_settings(settings) -> EventSource | None`: None when its keys are not set.
SOURCE_FACTORIES: tuple[Callable[[Settings], EventSource | None], ...] = (
    seatgeek.from_settings,
    ticketmaster.from_settings,
)


class NoEventSourceError(Exception):
    """No event source has its keys set."""


def make_sources(settings: Settings) -> list[EventSource]:
    """Return the event sources whose keys are set, in SOURCE_FACTORIES order."""
    sources = [source for make in SOURCE_FACTORIES if (source := make(settings)) is not None]
    if not sources:
        raise NoEventSourceError(
            "no event source is configured: set TICKETMASTER_API_KEY (self-serve keys are "
            "issued at once) or SEATGEEK_CLIENT_ID (new SeatGeek keys wait months for approval)"
        )
    return sources
