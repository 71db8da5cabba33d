"""Page through one state's events of a source, splitting date windows that hold too many."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from etl.sources import Event, MalformedEvent, StateFetch, split_window

logger = logging.getLogger(__name__)

# (window start, window end or None for open-ended, page number) -> the source's answer
GetPage = Callable[[datetime, "datetime | None", int], dict[str, Any]]
# (one raw event, the fetch's notes) -> an Event, or MalformedEvent (or a subclass) to skip it
ParseEvent = Callable[[Any, "Counter[str]"], Event]


@dataclass(frozen=True)
class Paging:
    """How a source pages: its first page number, page size, and how deep one query may go.

    Past `max_results` a source either answers unreliably (SeatGeek: page on, with a warning)
    or refuses (Ticketmaster: stop there and count the events left out as truncated).
    """

    first_page: int
    page_size: int
    max_results: int
    refuses_deeper: bool
    total: Callable[[dict[str, Any]], int]  # the query's number of events, from an answer
    events: Callable[[dict[str, Any]], list[Any]]  # one answer's raw events


def fetch_windows(
    fetched: StateFetch,
    paging: Paging,
    get_page: GetPage,
    parse: ParseEvent,
    *,
    since: datetime,
) -> None:
    """Add every event from `since` on to `fetched`, counting what could not be listed and why.

    A query that holds more than `paging.max_results` is split by dates (see `split_window`)
    and each part fetched in turn; a window too small to split is paged as deep as allowed.
    """
    pending: list[tuple[datetime, datetime | None]] = [(since, None)]
    while pending:
        start, end = pending.pop(0)
        first = get_page(start, end, paging.first_page)
        total = paging.total(first)
        if total > paging.max_results:
            parts = split_window(start, end, since=since)
            if parts:
                pending[:0] = parts  # keep date order: the parts come before later windows
                continue
            missed = total - paging.max_results
            if paging.refuses_deeper:
                fetched.truncated += missed
            logger.warning(
                "more events in one window than the source pages through; some may be missed",
                extra={
                    "source": fetched.source,
                    "state": fetched.state,
                    "window_start": start.isoformat(),
                    "events": total,
                },
            )
        reachable = min(total, paging.max_results) if paging.refuses_deeper else total
        page, answer, pages_read = paging.first_page, first, 1
        while True:
            raws = paging.events(answer)
            for raw in raws:
                _add(fetched, raw, parse)
            if not raws or pages_read * paging.page_size >= reachable:
                break
            page, pages_read = page + 1, pages_read + 1
            answer = get_page(start, end, page)


def _add(fetched: StateFetch, raw: Any, parse: ParseEvent) -> None:
    try:
        fetched.events.append(parse(raw, fetched.notes))
    except MalformedEvent as error:
        fetched.skipped_reasons[error.reason] += 1
        logger.warning(
            "skipped an event",
            extra={
                "source": fetched.source,
                "state": fetched.state,
                "skip_reason": error.reason,
                "detail": str(error),
            },
        )
