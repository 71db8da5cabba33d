"""Run Spotify look-ups on a thread pool, recording their results in order in the caller."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from etl.track_run import Run
from shared.spotify import BudgetExhaustedError, QuotaExhaustedError, SpotifyError

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(
    run: Run,
    items: Sequence[T],
    work: Callable[[Run, T], R | SpotifyError],
    record: Callable[[R | SpotifyError], None],
    workers: int,
) -> None:
    """Do work on items with several requests in flight; record results in order, here.

    On a stop (quota, budget, time) the work already finished is still recorded, since its
    requests were spent, and then the stop goes on up.
    """
    stop: QuotaExhaustedError | BudgetExhaustedError | None = None

    def finish(future: Future[R | SpotifyError]) -> None:
        nonlocal stop
        try:
            record(future.result())
        except (QuotaExhaustedError, BudgetExhaustedError) as error:
            stop = stop or error

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R | SpotifyError]] = deque()
        for item in items:
            if run.stopping.is_set():
                break
            pending.append(pool.submit(guarded, run, work, item))
            while len(pending) >= 2 * workers and not run.stopping.is_set():
                finish(pending.popleft())
        for future in pending:
            finish(future)
    if stop is not None:
        raise stop


def guarded(run: Run, work: Callable[[Run, T], R | SpotifyError], item: T) -> R | SpotifyError:
    """Run one piece of work; a stop also tells the other workers to stop."""
    if run.stopping.is_set():
        raise BudgetExhaustedError("stopping")
    try:
        return work(run, item)
    except (QuotaExhaustedError, BudgetExhaustedError):
        run.stopping.set()
        raise
