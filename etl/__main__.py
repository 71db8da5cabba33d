"""Command line of the ETL: `python -m etl build [--data DIR] [--states NY,CA]`,
`python -m etl catch-up [--data DIR]` to resume the matching a build left undone,
`python -m etl plays` and `python -m etl taste` for the listening-history and taste jobs,
`python -m etl charts [--rebuild]` for the daily chart snapshots (or to rebuild every chart's
history from its snapshots), and `python -m etl serving [--data DIR]` to rebuild the web's
serving layout from the datasets."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from etl.catch_up import NOTHING_TO_DO, run_catch_up
from etl.charts import rebuild_charts, run_charts
from etl.lease import LeaseHeld
from etl.pipeline import AllStatesFailedError, make_spotify, run_etl
from etl.scheduled import Scheduled, scheduled_jobs
from etl.serving import ServingBuildError, rebuild_serving_layout
from etl.sources import StateFetch
from etl.sources.registry import NoEventSourceError, make_sources
from shared.clock import ClockError, parse_instant
from shared.config import ConfigError, Settings, load_settings
from shared.datasets import DatasetSchemaError
from shared.logging import setup_logging
from shared.spotify import SpotifyRefusedError
from shared.storage import Store, open_store


def print_state(state: str, fetches: list[StateFetch], failures: dict[str, str]) -> None:
    """Print one line of progress for a state."""
    parts = [
        f"{f.source} {len(f.events)} events" + (f" ({f.skipped} skipped)" if f.skipped else "")
        for f in fetches
    ]
    parts += [f"{source} FAILED: {why}" for source, why in failures.items()]
    print(f"  {state}: {'; '.join(parts)}", flush=True)


def print_summary(report: dict[str, Any]) -> None:
    """Print what the run did, from its report."""
    concerts, artists, spotify = report["concerts"], report["artists"], report["spotify"]
    print(
        f"concerts: {concerts['rows']} rows, {concerts['events']} events, "
        f"{concerts['performers']} performers; {concerts['duplicates_merged']} duplicates merged, "
        f"{concerts['skipped']} skipped {concerts['skipped_by_reason'] or ''}, "
        f"{len(report['states']['failed'])} failed fetches "
        f"(their {concerts['rows_kept_from_failed_states']} previous rows kept); "
        f"requests: {report['source_requests']}"
    )
    matches = ", ".join(
        f"{method} {count}" for method, count in sorted(artists["new_matches_by_method"].items())
    )
    print(
        f"artists: {artists['checked']} of {artists['new_performers']} new performers checked "
        f"({matches or 'none'}; match rate {artists['match_rate']:.0%}); "
        f"{report['tracks']['written']} tracks written"
    )
    print(
        f"spotify: {spotify['mode']} mode, {spotify['requests']} requests "
        f"{spotify['requests_by_kind']}, "
        f"429s {spotify['status_429_by_reason']}, {spotify['budget_left']} of the budget left"
    )
    if "backups" in report:
        backups = report["backups"]
        print(
            f"backups: {backups['snapshotted']} snapshots of {backups['people']} users "
            f"({backups['already_done']} already done this week, {backups['failed']} failed, "
            f"{backups['newly_paused'] + backups['waiting_for_sign_in']} "
            "need to sign in again)"
        )
    if "serving" in report:
        print(f"serving: {serving_line(report['serving'])}")
    if "saved_areas" in report:
        print(f"saved areas: {saved_areas_line(report['saved_areas'])}")
    print(f"{report['message']} (run {report['run_id']}, {report['duration_s']} s)")


def saved_areas_line(refresh: dict[str, Any]) -> str:
    """Return what the report says of the saved areas' refresh, as one line."""
    if refresh.get("error"):
        return f"NOT REFRESHED: {refresh['error']}"
    stopped = f", stopped: {refresh['stopped']}" if refresh.get("stopped") else ""
    return (
        f"{refresh['areas']} areas of {refresh['people']} people: {refresh['updated']} updated, "
        f"{refresh['unchanged']} unchanged, {refresh['made_again']} made again, "
        f"{refresh['paused_areas']} paused, {refresh['newly_paused']} people paused, "
        f"{refresh['failed']} failed{stopped}"
    )


def serving_line(serving: dict[str, Any]) -> str:
    """Return what the report says of the serving layout, as one line."""
    if "error" in serving:
        return f"NOT WRITTEN, the last layout stays: {serving['error']}"
    return (
        f"{serving['states']} states, {serving['rows']} rows, "
        f"{serving['bytes'] / 1e6:.1f} MB in {serving['seconds']} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the build and print progress; exit non-zero with a clear message when it cannot."""
    parser = argparse.ArgumentParser(prog="python -m etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the datasets")
    build.add_argument("--data", help="where datasets live (overrides DATA_URL)")
    build.add_argument("--states", help="comma-separated states (overrides ETL_STATES)")
    build.add_argument("--verbose", action="store_true", help="log every step")
    serving = commands.add_parser("serving", help="rebuild the serving layout from the datasets")
    serving.add_argument("--data", help="where datasets live (overrides DATA_URL)")
    serving.add_argument("--verbose", action="store_true", help="log every step")
    scheduled = scheduled_jobs()
    for name, text in {**{n: j.what for n, j in scheduled.items()}, **JOB_COMMANDS}.items():
        job = commands.add_parser(name, help=text)
        job.add_argument("--data", help="where the data lives (overrides DATA_URL)")
        job.add_argument("--verbose", action="store_true", help="log every step")
        if name == "charts":
            job.add_argument(
                "--rebuild",
                action="store_true",
                help="rebuild every chart's history from its snapshots (no Spotify request)",
            )
            job.add_argument(
                "--now",
                type=_moment,
                help="the run's time, ISO 8601 with a zone (the demo passes the sandbox's clock)",
            )
    args = parser.parse_args(argv)

    setup_logging(logging.INFO if args.verbose else logging.WARNING)
    env = dict(os.environ)
    if args.data:
        env["DATA_URL"] = args.data
    if getattr(args, "states", None):
        env["ETL_STATES"] = args.states
    try:
        settings = load_settings(env)
        one_off = {
            **ONE_OFF_COMMANDS,
            **{name: _scheduled_command(job) for name, job in scheduled.items()},
        }
        if args.command in one_off:
            return one_off[args.command](open_store(settings.data_url), settings, args)
        sources = make_sources(settings)
    except (ConfigError, NoEventSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    store = open_store(settings.data_url)
    states = settings.etl_states
    names = ", ".join(source.name for source in sources)
    print(f"building for {len(states)} states from {names} into {store!r}", flush=True)
    try:
        report = run_etl(
            store, sources, make_spotify(settings), states, settings=settings, on_state=print_state
        )
    except LeaseHeld as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (AllStatesFailedError, DatasetSchemaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SpotifyRefusedError as error:
        print(f"error: Spotify refused the app's credentials: {error}", file=sys.stderr)
        return 1
    print_summary(report)
    return 1 if report["status"] == "failed" else 0


def catch_up(store: Store, settings: Settings) -> int:
    """Run the daily catch-up once and say what it did."""
    try:
        report = run_catch_up(store, make_spotify(settings), settings=settings)
    except LeaseHeld as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except (DatasetSchemaError, SpotifyRefusedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    left = report["left_before"]
    print(
        f"catch-up: {left['performers']} performers and {left['tracks_due']} artists' tracks "
        f"were left; {report['spotify']['requests']} Spotify requests",
        flush=True,
    )
    if report["status"] != NOTHING_TO_DO:
        artists = report["artists"]
        print(f"artists: {artists['checked']} checked, {artists['left_for_next_run']} left")
        if "serving" in report:
            print(f"serving: {serving_line(report['serving'])}")
        if "saved_areas" in report:
            print(f"saved areas: {saved_areas_line(report['saved_areas'])}")
    print(f"{report['status']}: {report['message']} (run {report['run_id']})")
    return 1 if report["status"] == "failed" else 0


def _scheduled_command(job: Scheduled) -> Callable[[Store, Settings, argparse.Namespace], int]:
    return lambda store, settings, _args: run_scheduled(job, store, settings)


def run_scheduled(job: Scheduled, store: Store, settings: Settings) -> int:
    """Run a per-person job once (etl/scheduled.py) and say what it did."""
    try:
        report = job.run(store, settings)
    except LeaseHeld as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(job.describe(report), flush=True)
    return 1 if report["failed"] else 0


def _moment(text: str) -> datetime:
    """Read --now: an ISO 8601 time with its zone (a bare one would be read in no known zone)."""
    try:
        return parse_instant(text)
    except ClockError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def collect_charts(
    store: Store, settings: Settings, *, rebuild: bool = False, now: datetime | None = None
) -> int:
    """Run the daily chart job once (or rebuild every history) and say what it did."""
    try:
        report = (
            rebuild_charts(store, settings, now=now)
            if rebuild
            else run_charts(store, settings, now=now)
        )
    except LeaseHeld as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    if rebuild:
        days, failed = report["days_by_playlist"], report["failed"]
        assert isinstance(days, dict) and isinstance(failed, dict)
        print(f"charts: {len(days)} histories rebuilt, {len(failed)} failed", flush=True)
        for playlist_id, why in failed.items():
            print(f"  {playlist_id}: {why}", file=sys.stderr)
        return 1 if failed else 0
    stopped = f", stopped: {report['stopped']}" if report["stopped"] else ""
    print(
        f"charts {report['day']}: {report['snapshotted']} of {report['playlists']} playlists "
        f"snapshotted, {report['already']} already done today, {report['failed']} failed "
        f"{report['failed_by_reason'] or ''}, skipped items {report['skipped_items'] or 'none'}, "
        f"{report['newly_paused']} people paused, {report['requests']} Spotify requests{stopped}",
        flush=True,
    )
    return 1 if report["failed"] else 0


def rebuild_serving(store: Store, settings: Settings) -> int:
    """Rebuild the serving layout and print what was written; 1 when it was not."""
    started = time.monotonic()
    try:
        index = rebuild_serving_layout(store, now=settings.clock.now())
    except ServingBuildError as error:
        print(f"error: serving layout not written, the last one stays: {error}", file=sys.stderr)
        return 1
    states = index.states.values()
    print(
        f"serving layout in {store!r}: {len(index.states)} states, "
        f"{sum(state.rows for state in states)} rows, "
        f"{sum(state.bytes for state in states) / 1e6:.1f} MB in "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0


# The commands that read the data already there (no event source needed).
ONE_OFF_COMMANDS: dict[str, Callable[[Store, Settings, argparse.Namespace], int]] = {
    "serving": lambda store, settings, _args: rebuild_serving(store, settings),
    "catch-up": lambda store, settings, _args: catch_up(store, settings),
    "charts": lambda store, settings, args: collect_charts(
        store, settings, rebuild=args.rebuild, now=args.now
    ),
}
# The jobs cron runs, each also a command: name, and what it does.
JOB_COMMANDS = {
    "charts": "snapshot every tracked chart playlist (daily)",
    "catch-up": "resume the matching a build left undone (daily)",
}


if __name__ == "__main__":
    sys.exit(main())
