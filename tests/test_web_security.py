"""The web app under attack: redirects after sign-in, dead tokens, ended sessions, headers."""

from __future__ import annotations

import builtins
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.storage import FolderStore, StoredObject
from shared.tokens import TokenBox
from tests.conftest import BASE_ENV
from tests.web_helpers import csrf_token, sign_in
from web import SECURITY_HEADERS, create_app, security_headers
from web.auth import SessionVersions, safe_next

C0_AND_SPACE = "".join(chr(code) for code in range(0x21))  # what browsers trim from a URL
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


class CountingStore(FolderStore):
    """A folder store that counts the reads of each object."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def read(self, name: str) -> StoredObject:
        self.reads.append(name)
        return super().read(name)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "data")


def make_app(sandbox: SandboxServer, store: FolderStore, **env: str) -> Flask:
    merged = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root), **env}
    return create_app(load_settings(merged), store)


@pytest.fixture
def app(sandbox: SandboxServer, store: CountingStore) -> Flask:
    return make_app(sandbox, store)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign_in_with_next(client: FlaskClient, next_page: str, user: str = "alice") -> TestResponse:
    """Sign in through the sandbox, starting from /login?next=next_page."""
    login = client.get("/login", query_string={"next": next_page})
    authorize = requests.get(
        login.headers["Location"] + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    return client.get(callback[callback.index("/callback") :])


def copy_of_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    """Return another browser holding a copy of client's session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def stays_on_site(location: str) -> bool:
    # Browsers drop tabs and newlines anywhere in a URL and read "\" as "/".
    seen = re.sub(r"[\t\n\r]", "", location).strip(C0_AND_SPACE)
    parts = urlsplit(seen)
    return (
        not parts.scheme
        and not parts.netloc
        and seen.startswith("/")
        and not seen.replace("\\", "/").startswith("//")
    )


# Defect 4: the redirect after sign-in stays on the site


def test_the_next_page_from_the_issue_ends_at_home(client: FlaskClient) -> None:
    login = client.get("/login?next=%2F%09%2Fevil.example%2F")
    authorize = requests.get(
        login.headers["Location"] + "&sandbox_user=alice", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]

    answer = client.get(callback[callback.index("/callback") :])

    assert answer.status_code == 302
    assert answer.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/shows?state=NY&days=30", "/shows?state=NY&days=30"),
        ("/backups", "/backups"),
        ("/", "/"),
        ("//evil.example/", "/"),
        ("/\t/evil.example/", "/"),
        ("/\n/evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("\\/evil.example/", "/"),
        (" //evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\x00/evil.example", "/"),
        ("/\u202e/evil.example", "/"),
        ("/\u3000/evil.example", "/"),
        ("shows", "/"),
        ("", "/"),
    ],
)
def test_only_paths_on_this_site_are_kept(target: str, expected: str) -> None:
    assert safe_next(target) == expected


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(next_page=st.text())
def test_any_next_page_ends_on_this_site(app: Flask, next_page: str) -> None:
    answer = sign_in_with_next(app.test_client(), next_page)

    assert answer.status_code == 302
    assert stays_on_site(answer.headers["Location"]), answer.headers["Location"]


@given(
    next_page=st.sampled_from(["/", "//", "/\\", "\\"]).flatmap(
        lambda start: st.text().map(lambda rest: start + rest)
    )
)
@settings(max_examples=300, deadline=None)
def test_safe_next_never_lets_a_host_through(next_page: str) -> None:
    assert stays_on_site(safe_next(next_page))


# Defect 5: a token that cannot be opened means signed out


@pytest.fixture
def old_key_cookie(app: Flask, client: FlaskClient, sandbox: SandboxServer) -> dict[str, Any]:
    """Sign in under one token key; return an app with another key and the old cookie."""
    sign_in(client)
    token = csrf_token(client.get("/"))
    rotated = make_app(
        sandbox,
        app.extensions["store"],
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    return {"app": rotated, "browser": copy_of_cookie(rotated, client), "csrf_token": token}


def no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> str:
        raise AssertionError("the server asked for input()")

    monkeypatch.setattr(builtins, "input", refuse)


def test_an_old_key_cookie_on_the_home_page_says_signed_out(
    old_key_cookie: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_prompt(monkeypatch)

    page = old_key_cookie["browser"].get("/")
    again = old_key_cookie["browser"].get("/")

    assert page.status_code == 200
    assert b"Signed in as" not in page.data and b"You were signed out" in page.data
    assert b"You were signed out" not in again.data  # said once; the cookie is cleaned
    with old_key_cookie["browser"].session_transaction() as session:
        assert "spotify_token" not in session and "user" not in session


def test_an_old_key_cookie_on_backups_says_signed_out(
    old_key_cookie: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_prompt(monkeypatch)

    answer = old_key_cookie["browser"].get("/backups")

    assert answer.status_code == 401
    assert b"You were signed out. Please sign in again." in answer.data


def test_an_old_key_cookie_making_a_playlist_says_signed_out(
    old_key_cookie: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_prompt(monkeypatch)

    answer = old_key_cookie["browser"].post(
        "/shows/playlist", data={"state": "NY", "csrf_token": old_key_cookie["csrf_token"]}
    )

    assert answer.status_code == 401
    assert b"You were signed out. Please sign in again." in answer.data


def test_a_token_spotipy_cannot_use_is_signed_out_not_a_prompt(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_prompt(monkeypatch)
    sign_in(client)
    box = TokenBox(app.extensions["settings"].token_encryption_key)
    with client.session_transaction() as session:
        token = box.open(session["spotify_token"])
        token["scope"] = ""  # spotipy's cache check returns None for too few scopes
        session["spotify_token"] = box.seal(token)

    answer = client.get("/backups")

    assert answer.status_code == 401
    assert b"You were signed out. Please sign in again." in answer.data
    with client.session_transaction() as session:
        assert "spotify_token" not in session


# Defect 9: sign-out and delete-my-data end the session on the server


def test_a_cookie_copied_before_sign_out_is_refused_after(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    copy = copy_of_cookie(app, client)
    assert b"Signed in as" in copy.get("/").data

    client.post("/logout", data={"csrf_token": csrf_token(client.get("/"))})
    home = copy.get("/")
    backups = copy.get("/backups")

    assert b"Signed in as" not in home.data and b"You were signed out" in home.data
    assert backups.status_code == 302 and "/login" in backups.headers["Location"]


def test_a_cookie_copied_before_delete_my_data_is_refused_after(
    app: Flask, client: FlaskClient
) -> None:
    sign_in(client)
    copy = copy_of_cookie(app, client)

    deleted = client.post(
        "/backups/delete-my-data", data={"csrf_token": csrf_token(client.get("/"))}
    )
    backups = copy.get("/backups")

    assert deleted.status_code == 200
    assert backups.status_code == 401 and b"You were signed out" in backups.data


def test_signing_in_again_after_sign_out_works(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/"))})

    sign_in(client)

    assert b"Signed in as" in client.get("/").data


def test_another_instance_refuses_a_copied_cookie_within_the_cache_period(
    app: Flask, client: FlaskClient, sandbox: SandboxServer
) -> None:
    clock = FakeClock()
    other_instance = make_app(sandbox, app.extensions["store"])
    versions = SessionVersions(other_instance.extensions["store"], ttl_seconds=5, clock=clock)
    other_instance.extensions["session_versions"] = versions
    sign_in(client)
    copy = copy_of_cookie(other_instance, client)
    assert b"Signed in as" in copy.get("/").data

    client.post("/logout", data={"csrf_token": csrf_token(client.get("/"))})
    still_cached = copy.get("/")
    clock.now += 5

    assert b"Signed in as" in still_cached.data  # the documented bound: up to 5 s elsewhere

    assert b"Signed in as" not in copy.get("/").data


def test_page_views_read_the_session_version_at_most_once_per_cache_period(
    app: Flask, client: FlaskClient, store: CountingStore
) -> None:
    clock = FakeClock()
    app.extensions["session_versions"] = SessionVersions(store, ttl_seconds=5, clock=clock)
    sign_in(client)
    store.reads.clear()

    for period in range(3):
        for _ in range(40):
            assert b"Signed in as" in client.get("/").data
            clock.now += 0.1  # 40 views take 4 s: one cache period
        clock.now = 1000.0 + 5 * (period + 1)

    session_reads = [name for name in store.reads if name.startswith("sessions/")]
    # The first period is served by what sign-in read; each later one by one read.
    assert session_reads == ["sessions/alice.json"] * 2


# Defect 10: a forged callback neither signs in nor out


def test_a_cross_site_callback_leaves_the_session_as_it_was(client: FlaskClient) -> None:
    sign_in(client)
    with client.session_transaction() as session:
        before = dict(session)

    answer = client.get("/callback?state=x&code=stolen")

    assert answer.status_code == 400
    with client.session_transaction() as session:
        assert dict(session) == before
    assert b"Signed in as" in client.get("/").data


def test_a_mismatched_state_with_a_sign_in_pending_signs_no_one_in(
    client: FlaskClient,
) -> None:
    login = requests.get(
        client.get("/login").headers["Location"] + "&sandbox_user=bob",
        allow_redirects=False,
        timeout=10,
    )
    callback = login.headers["Location"]
    forged = re.sub(r"state=[^&]+", "state=x", callback[callback.index("/callback") :])

    answer = client.get(forged)

    assert answer.status_code == 400
    with client.session_transaction() as session:
        assert "user" not in session and "spotify_token" not in session


# Headers and templates


EXAMPLE_URLS = {
    "static": "/static/style.css",
    "notes.page": "/notes/" + "N" * 22,
    "charts.chart": "/charts/" + "C" * 22,
    "charts.history_csv": "/charts/" + "C" * 22 + "/history.csv",
    "charts.stop": "/charts/" + "C" * 22 + "/stop",
}


def every_route(app: Flask) -> list[tuple[str, str]]:
    """Return (method, url) for every rule of the app."""
    routes = []
    for rule in app.url_map.iter_rules():
        url = EXAMPLE_URLS.get(rule.endpoint, rule.rule)
        assert "<" not in url, f"give {rule.rule} an example URL here"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, url))
    return [*routes, ("GET", "/no-such-page"), ("DELETE", "/")]


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_response_carries_the_security_headers(
    app: Flask, client: FlaskClient, signed_in: bool
) -> None:
    if signed_in:
        sign_in(client)

    expected = security_headers(app.extensions["settings"])
    for method, url in every_route(app):
        answer = client.open(url, method=method)
        for name, value in expected.items():
            assert answer.headers.get(name) == value, (method, url, answer.status_code)
    csp = expected["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert expected.keys() == SECURITY_HEADERS.keys()


@pytest.mark.parametrize("signed_in", [False, True])
def test_no_page_or_download_is_kept_in_a_cache_but_static_files(
    app: Flask, client: FlaskClient, signed_in: bool
) -> None:
    if signed_in:
        sign_in(client)

    for method, url in every_route(app):
        answer = client.open(url, method=method)
        if url.startswith("/static/"):
            assert answer.headers.get("Cache-Control") != "no-store", url
        else:
            assert answer.headers.get("Cache-Control") == "no-store", (method, url)


def test_production_tells_browsers_https_only(base_env: dict[str, str]) -> None:
    env = {**base_env, "GAE_ENV": "standard", "DATA_URL": "gs://bucket/p"}
    env.pop("CLOCK_START", None)

    headers = security_headers(load_settings(env))

    assert headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert "Strict-Transport-Security" not in security_headers(load_settings(base_env))


def test_forms_may_lead_only_here_and_to_spotifys_consent_page(app: Flask) -> None:
    accounts = urlsplit(app.extensions["settings"].spotify_accounts_base)
    csp = security_headers(app.extensions["settings"])["Content-Security-Policy"]

    (form_action,) = [p.strip() for p in csp.split(";") if p.strip().startswith("form-action")]
    assert form_action == f"form-action 'self' {accounts.scheme}://{accounts.netloc}"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|<[^>]*\sstyle\s*=", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_has_inline_script_or_style(template: str) -> None:
    text = (TEMPLATES / template).read_text()

    assert not INLINE_SCRIPT.search(text)
    assert not EVENT_HANDLER.search(text)
    assert not INLINE_STYLE.search(text)
