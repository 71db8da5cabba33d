"""Real clients (spotipy, requests) pointed at a running sandbox, as the services will be."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials, SpotifyOAuth

from sandbox.server import SandboxServer

REDIRECT_URI = "http://127.0.0.1:8080/callback"
ALL_SCOPES = "playlist-read-private playlist-modify-private playlist-modify-public"


def oauth(
    server: SandboxServer, scope: str = ALL_SCOPES, secret: str = "sandbox-client-secret"
) -> SpotifyOAuth:
    """Return spotipy's OAuth manager talking to the sandbox's accounts service."""
    manager = SpotifyOAuth(
        client_id="sandbox-client-id",
        client_secret=secret,
        redirect_uri=REDIRECT_URI,
        scope=scope,
        cache_handler=MemoryCacheHandler(),
        open_browser=False,
    )
    manager.OAUTH_AUTHORIZE_URL = f"{server.url}/accounts/authorize"
    manager.OAUTH_TOKEN_URL = f"{server.url}/accounts/api/token"
    return manager


def authorize_code(
    server: SandboxServer, manager: SpotifyOAuth, user: str, state: str = "s1"
) -> str:
    """Sign a sandbox user in without the consent click; return the code of the redirect."""
    url = manager.get_authorize_url(state=state) + f"&sandbox_user={user}"
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [state]
    return query["code"][0]


def user_client(
    server: SandboxServer, user: str = "alice", scope: str = ALL_SCOPES
) -> spotipy.Spotify:
    """Return a spotipy client signed in as a sandbox user, with spotipy's retry sleeping off."""
    manager = oauth(server, scope)
    manager.get_access_token(authorize_code(server, manager, user), as_dict=False)
    client = spotipy.Spotify(auth_manager=manager, retries=0, status_retries=0, requests_timeout=10)
    client.prefix = f"{server.url}/spotify/v1/"
    return client


def app_client(server: SandboxServer) -> spotipy.Spotify:
    """Return a spotipy client with the app's own (client credentials) token."""
    manager = SpotifyClientCredentials(
        "sandbox-client-id", "sandbox-client-secret", cache_handler=MemoryCacheHandler()
    )
    manager.OAUTH_TOKEN_URL = f"{server.url}/accounts/api/token"
    client = spotipy.Spotify(auth_manager=manager, retries=0, status_retries=0, requests_timeout=10)
    client.prefix = f"{server.url}/spotify/v1/"
    return client
