"""The sandbox accounts service: consent, codes, refresh and client credentials."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from spotipy.oauth2 import SpotifyOauthError

from sandbox.server import SandboxServer
from tests.sandbox_clients import REDIRECT_URI, app_client, authorize_code, oauth, user_client


def redirect_query(answer: requests.Response) -> dict[str, list[str]]:
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(REDIRECT_URI)
    return parse_qs(urlsplit(answer.headers["Location"]).query)


def test_consent_page_signs_in_the_chosen_user(sandbox: SandboxServer) -> None:
    url = oauth(sandbox).get_authorize_url(state="abc")

    page = requests.get(url, timeout=5)
    form = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    agreed = requests.post(
        url.split("?")[0],
        data={**form, "sandbox_user": "bob", "decision": "agree"},
        allow_redirects=False,
        timeout=5,
    )

    assert page.status_code == 200
    assert 'name="sandbox_user" value="alice"' in page.text and "Agree" in page.text
    query = redirect_query(agreed)
    assert query["state"] == ["abc"]
    manager = oauth(sandbox)
    manager.get_access_token(query["code"][0], as_dict=False)
    assert manager.cache_handler.get_cached_token()["refresh_token"]


def test_refusing_consent_redirects_with_access_denied(sandbox: SandboxServer) -> None:
    url = oauth(sandbox).get_authorize_url(state="abc")
    form = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    refused = requests.post(
        url.split("?")[0],
        data={**form, "sandbox_user": "alice", "decision": "cancel"},
        allow_redirects=False,
        timeout=5,
    )

    assert redirect_query(refused) == {"error": ["access_denied"], "state": ["abc"]}


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://localhost:8080/callback", "http://example.com/callback", "ftp://127.0.0.1/callback"],
)
def test_insecure_redirect_uris_are_refused(sandbox: SandboxServer, redirect_uri: str) -> None:
    answer = requests.get(
        f"{sandbox.url}/accounts/authorize",
        params={
            "client_id": "sandbox-client-id",
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "sandbox_user": "alice",
        },
        allow_redirects=False,
        timeout=5,
    )

    assert answer.status_code == 400
    assert "redirect URI" in answer.text


def test_a_code_works_once(sandbox: SandboxServer) -> None:
    manager = oauth(sandbox)
    code = authorize_code(sandbox, manager, "alice")

    assert manager.get_access_token(code, as_dict=False, check_cache=False)
    with pytest.raises(SpotifyOauthError) as raised:
        manager.get_access_token(code, as_dict=False, check_cache=False)
    assert raised.value.error == "invalid_grant"


def test_the_redirect_uri_must_match(sandbox: SandboxServer) -> None:
    code = authorize_code(sandbox, oauth(sandbox), "alice")

    answer = requests.post(
        f"{sandbox.url}/accounts/api/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:9999/other",
        },
        auth=("sandbox-client-id", "sandbox-client-secret"),
        timeout=5,
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_wrong_client_credentials_get_401_invalid_client(sandbox: SandboxServer) -> None:
    manager = oauth(sandbox, secret="wrong-secret")
    code = authorize_code(sandbox, manager, "alice")

    with pytest.raises(SpotifyOauthError) as raised:
        manager.get_access_token(code, as_dict=False)
    answer = requests.post(
        f"{sandbox.url}/accounts/api/token",
        data={"grant_type": "client_credentials"},
        auth=("sandbox-client-id", "nope"),
        timeout=5,
    )

    assert raised.value.error == "invalid_client"
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_refresh_token_gives_a_new_access_token_until_revoked(sandbox: SandboxServer) -> None:
    manager = oauth(sandbox)
    manager.get_access_token(authorize_code(sandbox, manager, "bob"), as_dict=False)
    refresh_token = manager.cache_handler.get_cached_token()["refresh_token"]

    refreshed = manager.refresh_access_token(refresh_token)
    requests.post(f"{sandbox.url}/_sandbox/revoke", json={"user": "bob"}, timeout=5)

    assert refreshed["access_token"]
    with pytest.raises(SpotifyOauthError) as raised:
        manager.refresh_access_token(refresh_token)
    assert raised.value.error == "invalid_grant"


def test_expired_access_token_is_refreshed_by_spotipy(sandbox: SandboxServer) -> None:
    client = user_client(sandbox, "alice")
    token = client.auth_manager.cache_handler.get_cached_token()
    token["expires_at"] = 0  # what spotipy sees once an hour has passed
    requests.post(f"{sandbox.url}/_sandbox/expire-tokens", timeout=5)

    assert client.me()["id"] == "alice"


def test_client_credentials_can_search_but_not_read_me(sandbox: SandboxServer) -> None:
    client = app_client(sandbox)

    assert client.search('artist:"Sting"', type="artist", limit=1)["artists"]["items"]
    with pytest.raises(Exception) as raised:
        client.me()
    assert getattr(raised.value, "http_status", None) == 401
