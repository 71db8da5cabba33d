"""Command line of the ETL: `python -m etl build [--data DIR] [--states NY,CA]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime

from etl.concerts import NoEventSourceError, make_sources
from etl.pipeline import AllStatesFailedError, BuildSummary, run_build
from etl.sources import StateFetch
from shared.config import ConfigError, load_settings
from shared.logging import setup_logging
from shared.spotify import RequestLedger, SpotifyApi, SpotifyRefused
from shared.storage import open_store

RUN_DEADLINE_SECONDS = 6 * 3600


def print_state(state: str, fetches: list[StateFetch], failures: dict[str, str]) -> None:
    """Print one line of progress for a state."""
    parts = [
        f"{f.source} {len(f.events)} events" + (f" ({f.skipped} skipped)" if f.skipped else "")
        for f in fetches
    ]
    parts += [f"{source} FAILED: {why}" for source, why in failures.items()]
    print(f"  {state}: {'; '.join(parts)}", flush=True)


def print_summary(build: BuildSummary, ledger: RequestLedger) -> None:
    """Print what the build did, step by step."""
    concerts, tracks = build.concerts, build.tracks
    print(
        f"concerts: {concerts.rows} rows, {concerts.events} events, "
        f"{concerts.performers} performers; "
        f"{concerts.duplicates} duplicates merged, {concerts.skipped} malformed skipped, "
        f"{len(concerts.failed)} failed fetches (their {concerts.carried_over_rows} previous rows "
        f"kept); requests: {concerts.requests_by_source}"
    )
    matches = ", ".join(f"{method} {count}" for method, count in sorted(tracks.new_matches.items()))
    print(
        f"artists: {tracks.performers_checked} of {tracks.performers_new} new performers checked "
        f"({matches or 'none'}; match rate {tracks.match_rate:.0%}); "
        f"{tracks.tracks_written} tracks written"
    )
    print(
        f"spotify: {tracks.mode} mode, {ledger.spent} requests {dict(ledger.by_kind)}, "
        f"429s {dict(ledger.status_429)}, {ledger.left} of the budget left"
    )
    print(tracks.message)


def main(argv: list[str] | None = None) -> int:
    """Run the build and print progress; exit non-zero with a clear message when it cannot."""
    parser = argparse.ArgumentParser(prog="python -m etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the datasets")
    build.add_argument("--data", help="where datasets live (overrides DATA_URL)")
    build.add_argument("--states", help="comma-separated states (overrides ETL_STATES)")
    build.add_argument("--verbose", action="store_true", help="log every step")
    args = parser.parse_args(argv)

    setup_logging(logging.INFO if args.verbose else logging.WARNING)
    env = dict(os.environ)
    if args.data:
        env["DATA_URL"] = args.data
    if args.states:
        env["ETL_STATES"] = args.states
    try:
        settings = load_settings(env)
        sources = make_sources(settings)
    except (ConfigError, NoEventSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = open_store(settings.data_url)
    states = settings.etl_states
    names = ", ".join(source.name for source in sources)
    print(f"building for {len(states)} states from {names} into {store!r}", flush=True)
    ledger = RequestLedger(budget=settings.spotify_request_budget)
    spotify = SpotifyApi.for_app(settings, ledger, deadline=time.monotonic() + RUN_DEADLINE_SECONDS)
    try:
        result = run_build(
            store, sources, spotify, states, now=datetime.now(UTC), on_state=print_state
        )
    except AllStatesFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SpotifyRefused as error:
        print(f"error: Spotify refused the app's credentials: {error}", file=sys.stderr)
        return 1
    print_summary(result, ledger)
    return 0


if __name__ == "__main__":
    sys.exit(main())
