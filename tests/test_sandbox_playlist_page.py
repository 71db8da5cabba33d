"""The demo shows what it made: the sandbox's playlist page, the web app's link to it, and
the demo's sign-in lines."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote_plus

import pytest
import requests
from flask import Flask, render_template_string

from sandbox.demo import sign_in_help
from sandbox.server import SandboxServer
from shared.config import Settings, load_settings
from tests.conftest import APP_ENGINE_ENV, BASE_ENV
from tests.sandbox_clients import user_client
from web import sandbox_links


class ListItems(HTMLParser):
    """Collect the text of each <li>, its whitespace folded, and the page's <h1>."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []
        self.heading = ""
        self.scripts = 0
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag in ("li", "h1"):
            self._in = tag
            if tag == "li":
                self.items.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            if tag == "li":
                self.items[-1] = " ".join(self.items[-1].split())
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "li":
            self.items[-1] += data
        elif self._in == "h1":
            self.heading += data


def read_page(text: str) -> ListItems:
    parser = ListItems()
    parser.feed(text)
    return parser


def track_line(track: dict[str, Any]) -> str:
    artists = ", ".join(artist["name"] for artist in track["artists"])
    return f"{track['name']} — {artists} ({track['album']['name']})"


# The sandbox's playlist page


def test_page_lists_a_made_playlists_items_in_order_with_names_escaped(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    tracks = small_world["spotify"]["tracks"][:5]
    client = user_client(sandbox, "alice")
    playlist = client.current_user_playlist_create(
        "<script>x</script>", public=False, description='Tom & "Jerry" <b>live</b>'
    )
    client.playlist_add_items(playlist["id"], [t["uri"] for t in tracks[2:]])
    client.playlist_add_items(playlist["id"], [t["uri"] for t in tracks[:2]], position=0)

    answer = requests.get(f"{sandbox.url}/_sandbox/playlists/{playlist['id']}", timeout=5)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<script>" not in answer.text
    assert "&lt;script&gt;x&lt;/script&gt;" in answer.text
    assert "Tom &amp; &#34;Jerry&#34; &lt;b&gt;live&lt;/b&gt;" in answer.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in answer.text
    page = read_page(answer.text)
    assert page.scripts == 0
    assert page.heading == "<script>x</script>"
    assert page.items == [track_line(t) for t in tracks]
    assert "Alice Sandbox (alice)" in answer.text


def test_page_shows_episodes_local_files_and_removed_tracks(
    sandbox: SandboxServer, small_world: dict[str, Any]
) -> None:
    alices = next(p for p in small_world["spotify"]["playlists"] if p["owner_id"] == "alice")
    tracks = {t["id"]: t for t in small_world["spotify"]["tracks"]}
    episodes = {e["uri"]: e for e in small_world["spotify"]["episodes"]}
    refs = alices["track_ids"]
    kinds = {"removed" if r is None else r.split(":")[1] if ":" in r else "track" for r in refs}
    assert kinds == {"removed", "episode", "local", "track"}

    answer = requests.get(f"{sandbox.url}/_sandbox/playlists/{alices['id']}", timeout=5)

    items = read_page(answer.text).items
    assert len(items) == len(refs)
    for line, ref in zip(items, refs, strict=True):
        if ref is None:
            assert line == "removed from Spotify"
        elif ref.startswith("spotify:episode:"):
            episode = episodes[ref]
            assert line == f"{episode['name']} — episode of {episode['show']['name']}"
        elif ref.startswith("spotify:local:"):
            artist, album, title, _ = map(unquote_plus, ref.split(":")[2:])
            assert line == f"{title} — {artist} ({album})"
        else:
            assert line == track_line(tracks[ref])


def test_unknown_playlist_is_a_404_page(sandbox: SandboxServer) -> None:
    answer = requests.get(f"{sandbox.url}/_sandbox/playlists/<b>nothing", timeout=5)

    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("text/html")
    assert read_page(answer.text).heading == "No such playlist"
    assert "&lt;b&gt;nothing" in answer.text and "<b>" not in answer.text


def test_page_is_not_counted_as_an_api_request(sandbox: SandboxServer) -> None:
    requests.get(f"{sandbox.url}/_sandbox/playlists/nothing", timeout=5)

    assert requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()["requests"] == {}


# The web app's link to it


@pytest.mark.parametrize(
    ("env", "sandbox_url"),
    [
        ({"SPOTIFY_API_BASE": "http://127.0.0.1:8099/spotify/v1/"}, "http://127.0.0.1:8099"),
        ({"SPOTIFY_API_BASE": "http://[::1]:8099/spotify/v1"}, "http://[::1]:8099"),
        ({"SPOTIFY_API_BASE": "http://localhost:8099/spotify/v1/"}, "http://localhost:8099"),
        (
            {"SPOTIFY_API_BASE": "http://127.0.0.1:8099/root/spotify/v1/"},
            "http://127.0.0.1:8099/root",
        ),
        ({}, ""),
        ({"SPOTIFY_API_BASE": "https://api.spotify.com/v1/"}, ""),
        ({"SPOTIFY_API_BASE": "http://10.0.0.5:8099/spotify/v1/"}, ""),
        ({"SPOTIFY_API_BASE": "http://127.0.0.1:8099/v1/"}, ""),
        (
            {
                "SPOTIFY_API_BASE": "http://127.0.0.1:8099/spotify/v1/",
                "GAE_ENV": "standard",
                "DATA_URL": "gs://bucket/prefix",
            },
            "",
        ),
    ],
)
def test_sandbox_url_only_for_a_loopback_sandbox_outside_production(
    env: dict[str, str], sandbox_url: str
) -> None:
    base = APP_ENGINE_ENV if env.get("GAE_ENV") else BASE_ENV
    settings = load_settings({**base, **env})

    assert settings.sandbox_url == sandbox_url


def test_sandbox_playlist_page_quotes_the_id() -> None:
    sandboxed = load_settings({**BASE_ENV, "SPOTIFY_API_BASE": "http://127.0.0.1:8099/spotify/v1/"})
    real = load_settings(BASE_ENV)

    assert sandboxed.sandbox_playlist_page("abc") == "http://127.0.0.1:8099/_sandbox/playlists/abc"
    assert sandboxed.sandbox_playlist_page("a/b?c") == (
        "http://127.0.0.1:8099/_sandbox/playlists/a%2Fb%3Fc"
    )
    assert real.sandbox_playlist_page("abc") == ""


def render_link(settings: Settings, playlist_id: str) -> str:
    app = Flask(__name__)
    app.extensions["settings"] = settings
    sandbox_links.init_app(app)
    with app.app_context():
        return render_template_string(
            "{{ sandbox_playlist_url(playlist_id) }}", playlist_id=playlist_id
        )


def test_jinja_global_links_to_the_sandbox_page(sandbox: SandboxServer) -> None:
    settings = load_settings({**BASE_ENV, **sandbox.settings_env()})

    link = render_link(settings, "abc")

    assert link == f"{sandbox.url}/_sandbox/playlists/abc"


def test_jinja_global_is_empty_against_real_spotify() -> None:
    assert render_link(load_settings(BASE_ENV), "abc") == ""


# The demo's sign-in lines


def test_sign_in_help_names_the_world_users_and_the_playlist_page() -> None:
    world = {
        "spotify": {
            "users": [
                {"id": "alice", "display_name": "Alice Sandbox", "allowlisted": True},
                {"id": "bob", "display_name": "Bob Sandbox", "allowlisted": True},
                {"id": "mallory", "display_name": "Mallory Outsider", "allowlisted": False},
            ]
        }
    }

    lines = sign_in_help(world, "http://127.0.0.1:8080", "http://127.0.0.1:8099")

    assert lines == [
        "web app: http://127.0.0.1:8080  (Ctrl-C stops both)",
        '  "Sign in" opens the sandbox\'s own Spotify consent page; sign in as',
        "    alice (Alice Sandbox) or bob (Bob Sandbox): on the app's allowlist",
        "    mallory (Mallory Outsider): not on the allowlist, "
        "to see Development Mode's 5-user limit refuse",
        "  a playlist's items: http://127.0.0.1:8099/_sandbox/playlists/<playlist id> "
        "(made playlists are listed at http://127.0.0.1:8099/_sandbox/stats)",
    ]


def test_sign_in_help_without_users_still_says_where_to_go() -> None:
    lines = sign_in_help({}, "http://127.0.0.1:8080", "http://127.0.0.1:8099")

    assert lines[0] == "web app: http://127.0.0.1:8080  (Ctrl-C stops both)"
    assert "alice" not in "\n".join(lines)
    assert lines[-1].startswith("  a playlist's items: http://127.0.0.1:8099/_sandbox/playlists/")
