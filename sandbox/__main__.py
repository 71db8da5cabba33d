"""Command line: `python -m sandbox serve ...`, `python -m sandbox world ...` and
`python -m sandbox export --user alice --out DIR` (a streaming history export)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sandbox.state import Options
from sandbox.world import generate_world, load_world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve every stand-in on one port")
    serve.add_argument("--port", type=int, default=8099)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--world", type=Path, help="world file (default: a generated world)")
    serve.add_argument("--mode", choices=["development", "extended"], default="development")
    serve.add_argument("--latency-ms", type=int, default=0)
    serve.add_argument(
        "--rate-limit", type=float, default=None, help="Spotify requests a second (rolling 30 s)"
    )
    serve.add_argument(
        "--daily-quota", type=int, default=None, help="Spotify requests before QUOTA_EXCEEDED"
    )
    serve.add_argument(
        "--error-rate", type=float, default=0.0, help="share of answers that are a 5xx or 429"
    )
    serve.add_argument("--seed", type=int, default=1)
    serve.add_argument(
        "--now", type=utc_time, default=None, help="where the sandbox clock starts (default: now)"
    )
    serve.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Secret Manager secret of project sandbox-project",
    )
    world = commands.add_parser("world", help="print a generated world as JSON")
    world.add_argument("--artists", type=int, default=400)
    world.add_argument("--events", type=int, default=1200)
    world.add_argument("--seed", type=int, default=1)
    world.add_argument(
        "--start", type=date.fromisoformat, default=None, help="first day (default: today)"
    )
    export = commands.add_parser(
        "export", help="write a user's Extended streaming history (Streaming_History_Audio_*.json)"
    )
    export.add_argument("--user", default="alice")
    export.add_argument("--out", type=Path, required=True, help="folder to write the files in")
    export.add_argument("--world", type=Path, help="world file (default: a generated world)")
    export.add_argument("--seed", type=int, default=1, help="the sandbox's seed (as serve --seed)")
    export.add_argument(
        "--until", type=utc_time, default=None, help="last play's end, ISO (default: now)"
    )
    export.add_argument(
        "--plays", type=int, default=None, help="the last N plays (default: the last 90 days)"
    )
    args = parser.parse_args(argv)

    if args.command == "export":
        return write_export_command(args)
    if args.command == "world":
        json.dump(generate_world(args.artists, args.events, args.seed, args.start), sys.stdout)
        sys.stdout.write("\n")
        return 0

    from werkzeug.serving import run_simple

    from sandbox.server import create_app

    secrets: dict[str, str] = {}
    for item in args.secret:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--secret takes NAME=VALUE, got {item!r}")
        secrets[name] = value
    options = Options(
        mode=args.mode,
        latency_ms=args.latency_ms,
        rate_limit=args.rate_limit,
        daily_quota=args.daily_quota,
        error_rate=args.error_rate,
        seed=args.seed,
    )
    the_world = load_world(args.world) if args.world else generate_world(seed=args.seed)
    app = create_app(
        the_world, options, {"sandbox-project": secrets} if secrets else None, args.now
    )
    logging.basicConfig(level=logging.WARNING)
    print(f"sandbox serving on http://{args.host}:{args.port} ({args.mode} mode)", flush=True)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


def utc_time(text: str) -> datetime:
    """Read an ISO time; one without a zone is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def write_export_command(args: argparse.Namespace) -> int:
    """Write the export of one user of the world, as the sandbox with that seed reports plays."""
    from sandbox.catalog import Catalog
    from sandbox.listening import Listening
    from sandbox.streaming_history import write_export

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    the_world = load_world(args.world) if args.world else generate_world(seed=args.seed)
    spotify = the_world.get("spotify", {})
    if args.user not in {user["id"] for user in spotify.get("users", [])}:
        print(f"no user {args.user!r} in the world", file=sys.stderr)
        return 2
    catalog = Catalog(
        spotify.get("artists", []), spotify.get("tracks", []), spotify.get("episodes", [])
    )
    listening = Listening.from_world(the_world, catalog, args.seed)
    until = args.until or datetime.now(UTC)
    paths = write_export(listening, args.user, args.out, until, plays=args.plays)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
