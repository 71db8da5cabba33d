"""Settings come from the environment, fall back to Secret Manager, and fail by name."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.clock import StartedClock, SystemClock
from shared.config import US_STATES, ConfigError, load_settings, secret_name
from tests.conftest import APP_ENGINE_ENV, BASE_ENV


def test_defaults_follow_the_architecture() -> None:
    settings = load_settings(BASE_ENV)

    assert settings.data_url == "./var/data"
    assert settings.spotify_redirect_uri == "http://127.0.0.1:8080/callback"
    assert settings.spotify_api_base == "https://api.spotify.com/v1/"
    assert settings.spotify_accounts_base == "https://accounts.spotify.com/"
    assert settings.seatgeek_api_base == "https://api.seatgeek.com/2/"
    assert settings.ticketmaster_api_base == "https://app.ticketmaster.com/discovery/v2/"
    assert settings.spotify_request_budget == 1000
    assert settings.etl_states == US_STATES
    assert len(US_STATES) == 51
    assert settings.event_sources == ()
    assert settings.production is False


def test_settings_are_frozen() -> None:
    settings = load_settings(BASE_ENV)

    with pytest.raises(AttributeError):
        settings.data_url = "elsewhere"  # type: ignore[misc]


@pytest.mark.parametrize("variable", ["SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_required_setting_names_the_variable(variable: str, value: str | None) -> None:
    env = dict(BASE_ENV)
    if value is None:
        del env[variable]
    else:
        env[variable] = value

    with pytest.raises(ConfigError, match=variable):
        load_settings(env)


@pytest.mark.parametrize("variable", ["FLASK_SECRET_KEY", "TOKEN_ENCRYPTION_KEY"])
def test_keys_are_required_in_production(variable: str) -> None:
    env = {**APP_ENGINE_ENV, "DATA_URL": "gs://bucket/prefix"}
    del env[variable]

    with pytest.raises(ConfigError, match=variable):
        load_settings(env)


def test_local_run_makes_up_missing_keys() -> None:
    env = {key: value for key, value in BASE_ENV.items() if "KEY" not in key}

    settings = load_settings(env)

    assert settings.flask_secret_key
    assert len(settings.token_encryption_key) == 44


def test_secrets_fall_back_to_secret_manager_by_kebab_name() -> None:
    stored = {
        "spotify-client-id": "id-from-secret-manager",
        "spotify-client-secret": "secret-from-secret-manager",
        "ticketmaster-api-key": "tm-key",
    }
    asked: list[str] = []

    def lookup(name: str) -> str | None:
        asked.append(name)
        return stored.get(name)

    env = {"GOOGLE_CLOUD_PROJECT": "my-project", "SPOTIFY_CLIENT_ID": "id-from-env"}
    settings = load_settings(env, secret_lookup=lookup)

    assert settings.spotify_client_id == "id-from-env"
    assert settings.spotify_client_secret == "secret-from-secret-manager"
    assert settings.ticketmaster_api_key == "tm-key"
    assert settings.event_sources == ("ticketmaster",)
    assert "spotify-client-id" not in asked


def test_missing_secret_in_secret_manager_names_variable_and_secret() -> None:
    env = {"GOOGLE_CLOUD_PROJECT": "my-project"}

    with pytest.raises(ConfigError, match=r"SPOTIFY_CLIENT_ID.*spotify-client-id.*my-project"):
        load_settings(env, secret_lookup=lambda name: None)


def test_secret_name_is_kebab_case() -> None:
    assert secret_name("SPOTIFY_CLIENT_ID") == "spotify-client-id"
    assert secret_name("TOKEN_ENCRYPTION_KEY") == "token-encryption-key"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SPOTIFY_REQUEST_BUDGET", "lots", "whole number"),
        ("SPOTIFY_REQUEST_BUDGET", "0", "at least 1"),
        ("ETL_STATES", "NY,XX", "XX"),
        ("ETL_STATES", ",", "ETL_STATES"),
        ("SPOTIFY_API_BASE", "not a url", "SPOTIFY_API_BASE"),
        ("SPOTIFY_REDIRECT_URI", "http://localhost:8080/callback", "localhost"),
        ("SPOTIFY_REDIRECT_URI", "http://example.com/callback", "https"),
        ("TOKEN_ENCRYPTION_KEY", "too-short", "Fernet"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({**BASE_ENV, variable: value})


def test_values_are_parsed() -> None:
    env = {
        **BASE_ENV,
        "SPOTIFY_REQUEST_BUDGET": "250",
        "ETL_STATES": "ny, ca,NY",
        "SPOTIFY_API_BASE": "http://127.0.0.1:9000/spotify/v1",
        "SEATGEEK_CLIENT_ID": "sg",
        "TICKETMASTER_API_KEY": "tm",
    }

    settings = load_settings(env)

    assert settings.spotify_request_budget == 250
    assert settings.etl_states == ("NY", "CA")
    assert settings.spotify_api_base == "http://127.0.0.1:9000/spotify/v1/"
    assert settings.event_sources == ("seatgeek", "ticketmaster")


def test_the_webs_spotify_share_has_defaults_that_leave_a_reserve_for_the_etl() -> None:
    settings = load_settings(BASE_ENV)

    assert settings.web_requests_per_person == 100
    assert settings.web_requests_per_day == 400  # of a quota of about 1,000-2,000 a day


def test_the_webs_spotify_share_is_read_from_the_environment() -> None:
    env = {
        **BASE_ENV,
        "WEB_SPOTIFY_REQUESTS_PER_PERSON": "20",
        "WEB_SPOTIFY_REQUESTS_PER_DAY": "60",
    }

    settings = load_settings(env)

    assert (settings.web_requests_per_person, settings.web_requests_per_day) == (20, 60)


@pytest.mark.parametrize(
    ("per_person", "per_day", "message"),
    [
        ("0", "400", "WEB_SPOTIFY_REQUESTS_PER_PERSON must be at least 1"),
        ("many", "400", "WEB_SPOTIFY_REQUESTS_PER_PERSON must be a whole number"),
        ("100", "-1", "WEB_SPOTIFY_REQUESTS_PER_DAY must be at least 1"),
        ("500", "400", "cannot be more than WEB_SPOTIFY_REQUESTS_PER_DAY"),
    ],
)
def test_a_share_that_cannot_be_used_is_refused_by_name(
    per_person: str, per_day: str, message: str
) -> None:
    env = {
        **BASE_ENV,
        "WEB_SPOTIFY_REQUESTS_PER_PERSON": per_person,
        "WEB_SPOTIFY_REQUESTS_PER_DAY": per_day,
    }

    with pytest.raises(ConfigError, match=message):
        load_settings(env)


@pytest.mark.parametrize(
    ("data_url", "message"),
    [
        ("./var/data", "gs://"),
        ("gs://YOUR-BUCKET/local-shows", "placeholder"),
    ],
)
def test_app_engine_needs_a_real_bucket(data_url: str, message: str) -> None:
    env = {**APP_ENGINE_ENV, "DATA_URL": data_url}

    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_secrets_are_not_shown_in_repr() -> None:
    settings = load_settings(BASE_ENV)

    assert "sandbox-client-secret" not in repr(settings)
    assert BASE_ENV["TOKEN_ENCRYPTION_KEY"] not in repr(settings)


def test_the_clock_is_the_machines_unless_clock_start_is_set() -> None:
    env = {name: value for name, value in BASE_ENV.items() if name != "CLOCK_START"}

    assert isinstance(load_settings(env).clock, SystemClock)
    started = load_settings({**env, "CLOCK_START": "2027-03-14T01:30:00-05:00"}).clock
    assert isinstance(started, StartedClock)
    assert started.start == datetime(2027, 3, 14, 6, 30, tzinfo=UTC)
    assert started.now() >= started.start


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2027-01-01T00:30:00", "has no zone"),
        ("next monday", "not an ISO 8601 instant"),
    ],
)
def test_clock_start_must_be_an_instant_with_its_zone(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"CLOCK_START: .*{message}"):
        load_settings({**BASE_ENV, "CLOCK_START": value})


def test_app_engine_refuses_a_started_clock() -> None:
    env = {**APP_ENGINE_ENV, "DATA_URL": "gs://bucket/prefix", "CLOCK_START": "2027-01-01T00:00Z"}

    with pytest.raises(ConfigError, match="CLOCK_START is for tests"):
        load_settings(env)
