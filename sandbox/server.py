"""Assemble the sandbox: every stand-in on one port, its limits, statistics and controls."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any, get_args

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template_string,
    request,
)
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox import (
    accounts,
    listening_api,
    seatgeek,
    secretmanager,
    spotify_api,
    ticketmaster,
)
from sandbox.accounts import TokenStore
from sandbox.catalog import Catalog
from sandbox.charts import SPOTIFY_CHARTS, ChartSpec, build_charts, sandbox_day
from sandbox.listening import Listening, SandboxClock
from sandbox.playlists import PlaylistStore
from sandbox.secretmanager import DEFAULT_SECRETS, SecretStore
from sandbox.spotify_objects import entry_content, owner_out
from sandbox.state import DescriptionLinks, Limits, Options, QuotaBody, Refusal, Stats

controls = Blueprint("controls", __name__, url_prefix="/_sandbox")
HOURS_A_WEEK = 168
HOURS_A_DAY = 24
MAX_DAYS_A_STEP = 400  # advance-day: a year and a bit at once, enough for any test


class Sandbox:
    """The world being served and everything that changes while serving it."""

    def __init__(
        self,
        world: dict[str, Any],
        options: Options,
        secrets: dict[str, dict[str, str]] | None = None,
        start: datetime | None = None,
    ) -> None:
        spotify = world.get("spotify", {})
        self.options = options
        self.catalog = Catalog(
            spotify.get("artists", []), spotify.get("tracks", []), spotify.get("episodes", [])
        )
        self.clock = SandboxClock(start)
        self.listening = Listening.from_world(world, self.catalog, options.seed)
        self.users: dict[str, dict[str, Any]] = {
            user["id"]: user for user in spotify.get("users", [])
        }
        daily = [
            ChartSpec.from_world(raw)
            for raw in spotify.get("daily_playlists", [])
            if raw.get("owner_id") in self.users
        ]
        self.playlists = PlaylistStore(
            spotify.get("playlists", []),
            list(self.catalog.tracks),
            list(self.users),
            options.seed,
            charts=build_charts([*SPOTIFY_CHARTS, *daily], self.catalog.tracks, options.seed),
            clock=self.clock,
        )
        self.tokens = TokenStore()
        self.limits = Limits(options, now=self.clock.now)
        self.stats = Stats()
        self.item_writes = 0
        self.sleep: Callable[[float], None] = time.sleep  # how latency_ms waits (tests see it)
        merged = {project: dict(values) for project, values in DEFAULT_SECRETS.items()}
        for project, values in {**world.get("secrets", {}), **(secrets or {})}.items():
            merged.setdefault(project, {}).update(values)
        self.secrets = SecretStore(merged)
        self.seatgeek_events: list[dict[str, Any]] = world.get("seatgeek", {}).get("events", [])
        self.ticketmaster_events: list[dict[str, Any]] = world.get("ticketmaster", {}).get(
            "events", []
        )
        self.seatgeek_by_state: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in self.seatgeek_events:
            self.seatgeek_by_state[str(event.get("venue", {}).get("state", "")).upper()].append(
                event
            )
        self.ticketmaster_by_state: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in self.ticketmaster_events:
            venues = event.get("_embedded", {}).get("venues", [{}])
            self.ticketmaster_by_state[
                str(venues[0].get("state", {}).get("stateCode", "")).upper()
            ].append(event)


def create_app(
    world: dict[str, Any],
    options: Options | None = None,
    secrets: dict[str, dict[str, str]] | None = None,
    start: datetime | None = None,
) -> Flask:
    """Create the sandbox's WSGI app for a world; its clock starts at `start` (default: now)."""
    app = Flask(__name__)
    app.extensions["sandbox"] = Sandbox(world, options or Options(), secrets, start)
    for blueprint in (
        accounts.bp,
        spotify_api.bp,
        listening_api.bp,
        listening_api.controls,
        seatgeek.bp,
        ticketmaster.bp,
        secretmanager.bp,
        controls,
    ):
        app.register_blueprint(blueprint)
    app.before_request(_apply_limits)
    return app


# Spotify's daily-quota answers, all with a Retry-After of hours: the documented body with a
# reason (Spotify blog 2026-07-23; GuessSong#27), status and message only (spotify/web-api#1402),
# and `{}` with `retry-after: 13749` (spotify-web-api-node#426).
QUOTA_BODIES: dict[str, dict[str, Any]] = {
    "reason": {
        "error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}
    },
    "no_reason": {"error": {"status": 429, "message": "API rate limit exceeded"}},
    "empty": {},
}


def _quota_body(sandbox: Sandbox) -> dict[str, Any]:
    """Return the body of a daily-quota 429: the configured shape, or under "mixed" one of
    them for the nth quota answer since the last reset, fixed by the seed."""
    shape: str = sandbox.options.quota_body
    if shape == "mixed":
        with sandbox.stats.lock:
            nth = sandbox.stats.status_429["quota_exceeded"]
        digest = hashlib.sha256(f"{sandbox.options.seed}:quota:{nth}".encode()).digest()
        shape = sorted(QUOTA_BODIES)[int.from_bytes(digest[:8], "big") % len(QUOTA_BODIES)]
    return QUOTA_BODIES[shape]


def _refusal_response(sandbox: Sandbox, service: str, refusal: Refusal) -> Response:
    if service == "ticketmaster" and refusal.status == 429:
        body: dict[str, Any] = {
            "fault": {
                "faultstring": "Rate limit quota violation. Spike arrest violation.",
                "detail": {"errorcode": "policies.ratelimit.SpikeArrestViolation"},
            }
        }
    elif refusal.reason == "quota_exceeded":
        body = _quota_body(sandbox)
    elif refusal.status == 429:
        body = {"error": {"status": 429, "message": "API rate limit exceeded"}}
    else:
        body = {
            "error": {"status": refusal.status, "message": "Service unavailable (injected fault)"}
        }
    response = jsonify(body)
    response.status_code = refusal.status
    if refusal.retry_after is not None:
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _apply_limits() -> Response | None:
    """Count the request, wait the configured latency, and refuse it if a limit says so."""
    service = request.path.strip("/").split("/", 1)[0]
    if service == "_sandbox":
        return None
    sandbox: Sandbox = current_app.extensions["sandbox"]
    rule = request.url_rule.rule if request.url_rule else request.path
    endpoint = f"{service} {request.method} {rule}"
    sandbox.stats.count(endpoint)
    if sandbox.options.latency_ms:
        sandbox.sleep(sandbox.options.latency_ms / 1000)
    asked_state = (request.args.get("venue.state") or request.args.get("stateCode") or "").upper()
    if service in ("seatgeek", "ticketmaster") and asked_state in sandbox.options.fail_states:
        refusal: Refusal | None = Refusal(503, "outage")
    elif service == "spotify" and _item_write_outage(sandbox, rule):
        refusal = Refusal(503, "outage")
    elif service == "spotify":
        refusal = sandbox.limits.check_spotify()
    elif service == "ticketmaster":
        refusal = sandbox.limits.check_ticketmaster()
    elif service == "seatgeek":
        refusal = sandbox.limits.check_other()
    else:
        refusal = None
    if refusal is None:
        return None
    sandbox.stats.refused(endpoint, refusal)
    return _refusal_response(sandbox, service, refusal)


def _item_write_outage(sandbox: Sandbox, rule: str) -> bool:
    """Tell whether a playlist item write falls in the configured outage."""
    allowed = sandbox.options.item_writes_before_outage
    if allowed is None or not rule.endswith("/items") or request.method not in ("POST", "PUT"):
        return False
    with sandbox.limits.lock:
        sandbox.item_writes += 1
        return sandbox.item_writes > allowed


@controls.get("/stats")
def stats() -> dict[str, Any]:
    """Give requests by endpoint, 429s by reason, the playlists users created, and the quota
    day with the Spotify requests counted in it."""
    sandbox: Sandbox = current_app.extensions["sandbox"]
    created = [
        {
            "id": p.id,
            "name": p.meta["name"],
            "description": p.meta.get("description", ""),
            "public": p.meta.get("public"),
            "owner_id": p.owner_id,
            "track_ids": list(p.track_ids),
        }
        for p in list(sandbox.playlists.playlists.values())
        if p.created_here
    ]
    answer = sandbox.stats.as_dict()
    answer["playlists"] = created
    answer["week"] = sandbox.playlists.week
    answer["day"] = sandbox_day(sandbox.clock)
    answer["now"] = sandbox.clock.now().isoformat()
    day, used = sandbox.limits.quota_used()
    answer["quota"] = {"day": day.isoformat(), "spotify_requests": used}
    answer["options"] = asdict(sandbox.options)
    return answer


# A playlist as a person reads it: no script, every name escaped (autoescape), fit for a phone.
PLAYLIST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} (sandbox)</title>
<style>body { font-family: system-ui, sans-serif; margin: 1rem; overflow-wrap: anywhere; }</style>
</head>
<body>
{% if playlist is none %}
<h1>No such playlist</h1>
<p>The sandbox holds no playlist <code>{{ playlist_id }}</code>.
Created playlists are listed at <a href="../stats">/_sandbox/stats</a>.</p>
{% else %}
<h1>{{ title }}</h1>
<p>by {{ owner.display_name }} ({{ owner.id }}) &middot; {{ entries|length }} items</p>
{% if description %}<p>{{ description }}</p>{% endif %}
<ol>
{% for entry in entries %}
  <li>{% if entry is none %}<em>removed from Spotify</em>
  {%- elif entry.episode %}{{ entry.name }} &mdash; episode of {{ entry.show.name }}
  {%- else %}{{ entry.name }} &mdash; {{ entry.artists|map(attribute="name")|join(", ") }}
  <small>({{ entry.album.name }})</small>{% endif %}</li>
{% endfor %}
</ol>
{% endif %}
</body></html>"""


@controls.get("/playlists/<playlist_id>")
def playlist_page(playlist_id: str) -> tuple[str, int]:
    """Show a playlist's items in order, as HTML, so the demo can see what the app made."""
    sandbox: Sandbox = current_app.extensions["sandbox"]
    playlist = sandbox.playlists.get(playlist_id)
    if playlist is None:
        page = render_template_string(
            PLAYLIST_PAGE, playlist=None, playlist_id=playlist_id, title="No such playlist"
        )
        return page, 404
    with sandbox.playlists.lock:
        refs = list(playlist.track_ids)
        meta = dict(playlist.meta)
    page = render_template_string(
        PLAYLIST_PAGE,
        playlist=playlist,
        title=meta["name"],
        description=meta.get("description", ""),
        owner=owner_out(playlist.owner_id),
        entries=[entry_content(ref) for ref in refs],
    )
    return page, 200


@controls.post("/reset")
def reset() -> dict[str, str]:
    """Clear the counters, the rate window and the day's quota."""
    sandbox: Sandbox = current_app.extensions["sandbox"]
    sandbox.stats.reset()
    sandbox.limits.reset()
    sandbox.item_writes = 0
    return {"status": "reset"}


@controls.post("/advance-week")
def advance_week() -> dict[str, Any]:
    """Move to the next sandbox week: every Discover Weekly changes, the clock moves 168 hours
    (so the daily quota starts afresh too)."""
    sandbox: Sandbox = current_app.extensions["sandbox"]
    now = sandbox.clock.advance(HOURS_A_WEEK)
    return {"week": sandbox.playlists.advance_week(), "now": now.isoformat()}


@controls.post("/advance-day")
def advance_day() -> Any:
    """Move the sandbox clock {"days": n} days (or ?days=n; 1 by default, at most 400): the
    churning playlists change, a day's quota starts afresh. Discover Weekly keeps its week."""
    sandbox: Sandbox = current_app.extensions["sandbox"]
    body = request.get_json(silent=True)
    raw = request.args.get("days", "1")
    if isinstance(body, dict) and "days" in body:
        raw = body["days"]
    try:
        days = int(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) else 0
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS_A_STEP:
        return {"error": f"days must be a whole number from 1 to {MAX_DAYS_A_STEP}: {raw!r}"}, 400
    now = sandbox.clock.advance(HOURS_A_DAY * days)
    return {"day": sandbox_day(sandbox.clock), "now": now.isoformat()}


@controls.post("/config")
def configure() -> Any:
    """Change options at run time: mode, latency_ms, rate_limit, daily_quota, quota_body,
    error_rate, fail_states (event queries for these states answer 503, as in an outage)."""
    sandbox: Sandbox = current_app.extensions["sandbox"]
    body = request.get_json(silent=True) or {}
    allowed = {
        "mode",
        "latency_ms",
        "rate_limit",
        "daily_quota",
        "quota_body",
        "error_rate",
        "fail_states",
        "item_writes_before_outage",
        "description_links",
    }
    unknown = set(body) - allowed
    if unknown or body.get("mode", "development") not in ("development", "extended"):
        return {"error": f"unknown or bad options: {sorted(unknown) or body.get('mode')}"}, 400
    if body.get("quota_body", "mixed") not in get_args(QuotaBody):
        return {"error": f"bad quota_body: {body['quota_body']!r}"}, 400
    if body.get("description_links", "accepted") not in get_args(DescriptionLinks):
        return {"error": f"bad description_links: {body['description_links']!r}"}, 400
    with sandbox.limits.lock:
        for key, value in body.items():
            setattr(sandbox.options, key, value)
    return asdict(sandbox.options)


@controls.post("/revoke")
def revoke() -> Any:
    """Revoke a user's grants, as removing the app from their account does."""
    user_id = (request.get_json(silent=True) or {}).get("user", "")
    return {"revoked": current_app.extensions["sandbox"].tokens.revoke_user(user_id)}


@controls.post("/expire-tokens")
def expire_tokens() -> dict[str, str]:
    """Expire every access token, so that clients must refresh."""
    current_app.extensions["sandbox"].tokens.expire_access_tokens()
    return {"status": "expired"}


class _QuietHandler(WSGIRequestHandler):
    """Keep test output readable: the statistics say what was requested."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class SandboxServer:
    """Serve a sandbox on 127.0.0.1 in a background thread; stop it cleanly."""

    def __init__(
        self,
        world: dict[str, Any],
        options: Options | None = None,
        port: int = 0,
        secrets: dict[str, dict[str, str]] | None = None,
        start: datetime | None = None,
    ) -> None:
        self.app = create_app(world, options, secrets, start)
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="sandbox", daemon=True
        )

    @property
    def sandbox(self) -> Sandbox:
        sandbox: Sandbox = self.app.extensions["sandbox"]
        return sandbox

    def start(self) -> SandboxServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings_env(self) -> dict[str, str]:
        """Return the environment that points the services at this sandbox."""
        return settings_env(self.url)


def settings_env(url: str) -> dict[str, str]:
    """Return the environment that points the services at a sandbox served at url."""
    return {
        "SPOTIFY_CLIENT_ID": "sandbox-client-id",
        "SPOTIFY_CLIENT_SECRET": "sandbox-client-secret",
        "SPOTIFY_API_BASE": f"{url}/spotify/v1/",
        "SPOTIFY_ACCOUNTS_BASE": f"{url}/accounts/",
        "SEATGEEK_CLIENT_ID": "sandbox-seatgeek",
        "SEATGEEK_API_BASE": f"{url}/seatgeek/2/",
        "TICKETMASTER_API_KEY": "sandbox-ticketmaster",
        "TICKETMASTER_API_BASE": f"{url}/ticketmaster/discovery/v2/",
        "SECRET_MANAGER_ENDPOINT": f"{url}/secretmanager",
    }


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
