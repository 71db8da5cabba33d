"""Command line of the ETL: `python -m etl build [--data DIR] [--states NY,CA]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime

from etl.concerts import NoEventSourceError, make_sources
from etl.pipeline import AllStatesFailedError, build_concerts_dataset
from etl.sources import StateFetch
from shared.config import ConfigError, load_settings
from shared.logging import setup_logging
from shared.storage import open_store


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
    print(
        f"building concerts for {len(states)} states "
        f"from {', '.join(s.name for s in sources)} into {store!r}"
    )

    def on_state(state: str, fetches: list[StateFetch], failures: dict[str, str]) -> None:
        parts = [
            f"{f.source} {len(f.events)} events" + (f" ({f.skipped} skipped)" if f.skipped else "")
            for f in fetches
        ]
        parts += [f"{source} FAILED: {why}" for source, why in failures.items()]
        print(f"  {state}: {'; '.join(parts)}", flush=True)

    try:
        summary = build_concerts_dataset(
            store, sources, states, now=datetime.now(UTC), on_state=on_state
        )
    except AllStatesFailedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"concerts: {summary.rows} rows, {summary.events} events, {summary.performers} performers; "
        f"{summary.duplicates} duplicates merged, {summary.skipped} malformed skipped, "
        f"{len(summary.failed)} failed fetches "
        f"(their {summary.carried_over_rows} previous rows kept); "
        f"requests: {summary.requests_by_source}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
