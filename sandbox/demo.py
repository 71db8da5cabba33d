"""Run the whole product offline: the sandbox, the ETL build, then the web app (make demo)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sandbox.charts import TOP_50_GLOBAL_ID
from sandbox.server import SandboxServer
from sandbox.streaming_history import write_export
from sandbox.world import generate_world

REPO_ROOT = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines (the keys `make demo` made once in var/local.env)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def sign_in_help(world: dict[str, Any], web_url: str, sandbox_url: str) -> list[str]:
    """Build the lines that say where to sign in, as whom, and where made playlists show."""
    users = world.get("spotify", {}).get("users", [])
    allowed = [f"{u['id']} ({u['display_name']})" for u in users if u.get("allowlisted")]
    refused = [f"{u['id']} ({u['display_name']})" for u in users if not u.get("allowlisted")]
    lines = [
        f"web app: {web_url}  (Ctrl-C stops both)",
        '  "Sign in" opens the sandbox\'s own Spotify consent page; sign in as',
    ]
    if allowed:
        lines.append(f"    {' or '.join(allowed)}: on the app's allowlist")
    if refused:
        lines.append(
            f"    {' or '.join(refused)}: not on the allowlist, "
            "to see Development Mode's 5-user limit refuse"
        )
    lines.append(
        f"  a playlist's items: {sandbox_url}/_sandbox/playlists/<playlist id> "
        f"(made playlists are listed at {sandbox_url}/_sandbox/stats)"
    )
    return lines


def listening_help(sandbox: SandboxServer, folder: Path, env: dict[str, str]) -> list[str]:
    """Write alice's Spotify export for the Listening page's import, and read plays every minute.

    On App Engine cron reads plays hourly; the demo does it every minute (`python -m etl plays`)
    so that plays show up while you look.
    """
    state = sandbox.sandbox
    files = write_export(state.listening, "alice", folder / "alice", state.clock.now())

    def hourly_in_a_minute() -> None:
        while True:
            time.sleep(60)
            subprocess.call(
                [sys.executable, "-m", "etl", "plays"],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )

    threading.Thread(target=hourly_in_a_minute, daemon=True).start()
    return [
        f"  listening: alice's Spotify export is in {files[0].parent} (import it on /listening);",
        "    plays are read every minute here (hourly on App Engine); move the sandbox clock with",
        f"    curl -X POST {sandbox.url}/_sandbox/advance-hours -H 'Content-Type: application/json'"
        " -d '{\"hours\": 3}'",
    ]


def charts_help(sandbox: SandboxServer, env: dict[str, str]) -> list[str]:
    """Take the chart snapshots every minute, on the sandbox's day, so that charts move.

    On App Engine cron runs `/tasks/charts` daily; the demo runs `python -m etl charts` every
    minute with the sandbox's clock (`--now`), so that a day moved with advance-day is a new
    chart day. The operator's Top 50 is listed too: in Development Mode (the sandbox's default)
    the Charts page says why it cannot be read.
    """

    def daily_in_a_minute() -> None:
        while True:
            now = sandbox.sandbox.clock.now().isoformat()
            subprocess.call(  # noqa: S603 (our own command)
                [sys.executable, "-m", "etl", "charts", "--now", now],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            time.sleep(60)

    threading.Thread(target=daily_in_a_minute, daemon=True).start()
    return [
        '  charts: add "Alice\'s daily 50" on /charts (as alice); snapshots are taken every minute',
        "    here (daily on App Engine) on the sandbox's day; move it a day with",
        f"    curl -X POST {sandbox.url}/_sandbox/advance-day",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="port of the web app")
    parser.add_argument("--sandbox-port", type=int, default=8099)
    parser.add_argument("--artists", type=int, default=400)
    parser.add_argument("--events", type=int, default=1200)
    parser.add_argument("--data", type=Path, default=REPO_ROOT / "var" / "demo-data")
    parser.add_argument("--export", type=Path, default=REPO_ROOT / "var" / "demo-export")
    args = parser.parse_args(argv)

    world = generate_world(args.artists, args.events, seed=1)
    with SandboxServer(world, port=args.sandbox_port) as sandbox:
        env = {
            **os.environ,
            **read_env_file(REPO_ROOT / "var" / "local.env"),
            **sandbox.settings_env(),
            "DATA_URL": str(args.data),
            "SPOTIFY_REDIRECT_URI": f"http://127.0.0.1:{args.port}/callback",
            "CHART_PLAYLISTS": os.environ.get("CHART_PLAYLISTS", TOP_50_GLOBAL_ID),
        }
        print(f"sandbox: {sandbox.url} (stats at {sandbox.url}/_sandbox/stats)", flush=True)
        build = [sys.executable, "-m", "etl", "build"]
        if subprocess.call(build, cwd=REPO_ROOT, env=env) != 0:  # noqa: S603 (our own command)
            print("the ETL build failed; serving what data there is", file=sys.stderr)
        help_lines = sign_in_help(world, f"http://127.0.0.1:{args.port}", sandbox.url)
        help_lines += listening_help(sandbox, args.export, env)
        help_lines += charts_help(sandbox, env)
        print("\n".join(help_lines), flush=True)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [
            str(gunicorn),
            "-b",
            f"127.0.0.1:{args.port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "web.main:app",
        ]
        try:
            return subprocess.call(command, cwd=REPO_ROOT, env=env)  # noqa: S603 (our own command)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
