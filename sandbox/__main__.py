"""Command line: `python -m sandbox serve ...` and `python -m sandbox world ...`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date
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
    args = parser.parse_args(argv)

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
    app = create_app(the_world, options, {"sandbox-project": secrets} if secrets else None)
    logging.basicConfig(level=logging.WARNING)
    print(f"sandbox serving on http://{args.host}:{args.port} ({args.mode} mode)", flush=True)
    run_simple(args.host, args.port, app, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
