"""Drive the web app's sign-in through the sandbox with Flask's test client."""

from __future__ import annotations

import re

import pandas as pd
import requests
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.shows_data import StateData, state_data
from shared.storage import Store
from tests.clock import clock_now


def sign_in(client: FlaskClient, user: str = "alice") -> TestResponse:
    """Sign a sandbox user in: /login, the sandbox's authorize (no click), then /callback."""
    login = client.get("/login")
    authorize = requests.get(
        login.headers["Location"] + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    return client.get(callback[callback.index("/callback") :])


def follow_sign_in(client: FlaskClient, start: TestResponse, user: str = "alice") -> TestResponse:
    """Follow a redirect to Spotify's authorize page (a feature's added permission) and back."""
    assert start.status_code in (302, 303), start.get_data(as_text=True)[:300]
    authorize = requests.get(
        start.headers["Location"] + f"&sandbox_user={user}", allow_redirects=False, timeout=10
    )
    callback = authorize.headers["Location"]
    return client.get(callback[callback.index("/callback") :])


def turn_history_on(client: FlaskClient, user: str = "alice") -> TestResponse:
    """On the Listening page, turn history on: Spotify asks for the added scope, then back."""
    page = client.get("/listening")
    answer = client.post("/listening/on", data={"csrf_token": csrf_token(page)})
    return follow_sign_in(client, answer, user)


def csrf_token(page: TestResponse) -> str:
    """Return the CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def rebuild_serving(store: Store) -> None:
    """Rebuild the serving layout after a test changed the datasets, as the ETL does after a run."""
    from etl.serving import build_serving_layout

    build_serving_layout(store, now=clock_now())


def state_of(rows: pd.DataFrame) -> StateData:
    """Return hand-made rows (by start, show and billing) as a state holds them: the columns
    they leave out filled as a show in one town would have them."""
    local = rows["starts_at_local"].astype(str)
    defaults = {
        "starts": pd.to_datetime(local + "Z", utc=True),
        "local_day": local.str.slice(0, 10).str.replace("-", "").astype("int32"),
        "venue_state": "NY",
        "venue_lat": 40.7,
        "venue_lon": -73.9,
        "performer_key": rows["performer_name"].astype(str).str.casefold(),
        "is_headliner": True,
        "genres": "",
        "checked": True,
        "uncertain": False,
        "time_tbd": False,
    }
    filled = rows.assign(**{k: v for k, v in defaults.items() if k not in rows.columns})
    no_tracks = pd.DataFrame(columns=["spotify_artist_id", "track_id", "track_name", "rank"])
    return state_data(filled, no_tracks)


# What "Delete my data" leaves of a person: their tombstone (delete counters and a time, for a
# day: work already running gives up) and their session version (their sessions stay ended).
LEFT_AFTER_DELETE = ["deleting/alice.json", "sessions/alice.json"]
