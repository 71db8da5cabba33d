"""Read every setting of both services, once, from the environment (and Secret Manager)."""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import secrets as random_secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from shared.charts import ChartsError, parse_chart_playlists
from shared.clock import Clock, ClockError, StartedClock, SystemClock, parse_instant

logger = logging.getLogger(__name__)

US_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL",
    "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE",
    "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD",
    "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip
# Each state's name, for people to read (the codes above are what the sources and pages use).
STATE_NAMES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "PR": "Puerto Rico",
}  # fmt: skip

# Where the sandbox serves its Spotify stand-in, under its own root (sandbox/server.py).
SANDBOX_SPOTIFY_PATH = "spotify/v1/"

# A function that returns a secret's value, or None when the secret does not exist.
SecretLookup = Callable[[str], "str | None"]


class ConfigError(Exception):
    """A setting is missing or has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every setting of both services; built by `load_settings`."""

    spotify_client_id: str
    spotify_client_secret: str = field(repr=False)
    flask_secret_key: str = field(repr=False)
    token_encryption_key: str = field(repr=False)
    data_url: str = "./var/data"
    spotify_redirect_uri: str = "http://127.0.0.1:8080/callback"
    spotify_api_base: str = "https://api.spotify.com/v1/"
    spotify_accounts_base: str = "https://accounts.spotify.com/"
    seatgeek_client_id: str | None = None
    seatgeek_client_secret: str | None = field(default=None, repr=False)
    seatgeek_api_base: str = "https://api.seatgeek.com/2/"
    ticketmaster_api_key: str | None = field(default=None, repr=False)
    ticketmaster_api_base: str = "https://app.ticketmaster.com/discovery/v2/"
    secret_manager_endpoint: str | None = None
    google_cloud_project: str | None = None
    spotify_request_budget: int = 1000
    # The web's draw on the app's daily Spotify quota (shared/quota.py): each person's share,
    # and all people's together, so that the rest of the day's quota stays for the ETL's jobs.
    web_requests_per_person: int = 100
    web_requests_per_day: int = 400
    etl_states: tuple[str, ...] = US_STATES
    # The operator's chart playlists (issue 18), read daily with the app's own token.
    chart_playlists: tuple[str, ...] = ()
    # Who sees /status (the ETL runs): these Spotify user ids; unset, everyone signed in on a
    # local run (the demo) and nobody on App Engine.
    operators: tuple[str, ...] = ()
    production: bool = False
    # What "now" is for both services: the machine's, or CLOCK_START's (tests, replays).
    clock: Clock = field(default_factory=SystemClock, compare=False)

    @property
    def event_sources(self) -> tuple[str, ...]:
        """Name the event sources whose keys are set, in order of preference."""
        sources = []
        if self.seatgeek_client_id:
            sources.append("seatgeek")
        if self.ticketmaster_api_key:
            sources.append("ticketmaster")
        return tuple(sources)

    @property
    def sandbox_url(self) -> str:
        """Give the root of the sandbox that stands in for Spotify, or "" when Spotify is real.

        Only a loopback sandbox counts, and never in production: the demo may link to the
        sandbox's own pages, but a deployed app must not point users at a local address.
        """
        parts = urlsplit(self.spotify_api_base)
        if self.production or not parts.path.endswith("/" + SANDBOX_SPOTIFY_PATH):
            return ""
        if not _is_loopback(parts.hostname or ""):
            return ""
        root = parts.path.removesuffix(SANDBOX_SPOTIFY_PATH).rstrip("/")
        return f"{parts.scheme}://{parts.netloc}{root}"

    def is_operator(self, user_id: str | None) -> bool:
        """Tell whether a signed-in person may see the operator's pages (/status)."""
        if not user_id:
            return False
        return user_id in self.operators if self.operators else not self.production

    def sandbox_playlist_page(self, playlist_id: str) -> str:
        """Give the sandbox's page of a playlist's items, or "" when Spotify is real."""
        root = self.sandbox_url
        return f"{root}/_sandbox/playlists/{quote(playlist_id, safe='')}" if root else ""


def secret_name(variable: str) -> str:
    """Give the Secret Manager name of a setting: SPOTIFY_CLIENT_ID -> spotify-client-id."""
    return variable.lower().replace("_", "-")


def is_production(environ: Mapping[str, str]) -> bool:
    """Tell whether we run on App Engine (which sets GAE_ENV=standard)."""
    return environ.get("GAE_ENV", "").startswith("standard")


def load_settings(
    environ: Mapping[str, str] | None = None,
    secret_lookup: SecretLookup | None = None,
) -> Settings:
    """Build the settings from the environment, reading unset secrets from Secret Manager."""
    env = os.environ if environ is None else environ
    project = _clean(env.get("GOOGLE_CLOUD_PROJECT"))
    endpoint = _clean(env.get("SECRET_MANAGER_ENDPOINT"))
    if secret_lookup is None and project:
        from shared.secrets import SecretManagerReader

        secret_lookup = SecretManagerReader(project, endpoint=endpoint).read
    production = is_production(env)

    def secret(variable: str) -> str | None:
        value = _clean(env.get(variable))
        if value is None and secret_lookup is not None:
            value = _clean(secret_lookup(secret_name(variable)))
        return value

    def required_secret(variable: str) -> str:
        value = secret(variable)
        if value is None:
            where = (
                f" nor in Secret Manager as {secret_name(variable)!r} of project {project!r}"
                if project
                else " (set it, or set GOOGLE_CLOUD_PROJECT to read it from Secret Manager)"
            )
            raise ConfigError(f"{variable} is not set{where}")
        return value

    def text(variable: str, default: str) -> str:
        return _clean(env.get(variable)) or default

    flask_secret_key = secret("FLASK_SECRET_KEY")
    token_encryption_key = secret("TOKEN_ENCRYPTION_KEY")
    if production:
        flask_secret_key = required_secret("FLASK_SECRET_KEY")
        token_encryption_key = required_secret("TOKEN_ENCRYPTION_KEY")
    if flask_secret_key is None:
        logger.warning("FLASK_SECRET_KEY is not set: using a random key; sessions end on restart")
        flask_secret_key = random_secrets.token_urlsafe(32)
    if token_encryption_key is None:
        logger.warning("TOKEN_ENCRYPTION_KEY is not set: using a random key for this process")
        token_encryption_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    _check_fernet_key(token_encryption_key)

    data_url = text("DATA_URL", "./var/data")
    if production and not data_url.startswith("gs://"):
        raise ConfigError(
            "DATA_URL must be gs://BUCKET/PREFIX on App Engine (its disk is read-only), "
            f"got {data_url!r}"
        )
    settings = Settings(
        spotify_client_id=required_secret("SPOTIFY_CLIENT_ID"),
        spotify_client_secret=required_secret("SPOTIFY_CLIENT_SECRET"),
        flask_secret_key=flask_secret_key,
        token_encryption_key=token_encryption_key,
        data_url=data_url,
        spotify_redirect_uri=_redirect_uri(
            text("SPOTIFY_REDIRECT_URI", "http://127.0.0.1:8080/callback")
        ),
        spotify_api_base=_base_url(env, "SPOTIFY_API_BASE", "https://api.spotify.com/v1/"),
        spotify_accounts_base=_base_url(
            env, "SPOTIFY_ACCOUNTS_BASE", "https://accounts.spotify.com/"
        ),
        seatgeek_client_id=secret("SEATGEEK_CLIENT_ID"),
        seatgeek_client_secret=secret("SEATGEEK_CLIENT_SECRET"),
        seatgeek_api_base=_base_url(env, "SEATGEEK_API_BASE", "https://api.seatgeek.com/2/"),
        ticketmaster_api_key=secret("TICKETMASTER_API_KEY"),
        ticketmaster_api_base=_base_url(
            env, "TICKETMASTER_API_BASE", "https://app.ticketmaster.com/discovery/v2/"
        ),
        secret_manager_endpoint=endpoint,
        google_cloud_project=project,
        spotify_request_budget=_positive_int(env, "SPOTIFY_REQUEST_BUDGET", 1000),
        web_requests_per_person=_positive_int(env, "WEB_SPOTIFY_REQUESTS_PER_PERSON", 100),
        web_requests_per_day=_positive_int(env, "WEB_SPOTIFY_REQUESTS_PER_DAY", 400),
        etl_states=_states(env.get("ETL_STATES")),
        chart_playlists=_chart_playlists(env.get("CHART_PLAYLISTS")),
        operators=tuple(
            dict.fromkeys(i.strip() for i in (env.get("OPERATORS") or "").split(",") if i.strip())
        ),
        production=production,
        clock=_clock(env.get("CLOCK_START"), production),
    )
    if settings.web_requests_per_person > settings.web_requests_per_day:
        raise ConfigError(
            f"WEB_SPOTIFY_REQUESTS_PER_PERSON ({settings.web_requests_per_person}) cannot be more "
            f"than WEB_SPOTIFY_REQUESTS_PER_DAY ({settings.web_requests_per_day}), all people's"
        )
    for variable, value in (
        ("DATA_URL", settings.data_url),
        ("SPOTIFY_REDIRECT_URI", settings.spotify_redirect_uri),
    ):
        if "YOUR-" in value:
            raise ConfigError(
                f"{variable} still holds the placeholder {value!r}: edit app.yaml and etl.yaml"
            )
    return settings


def _clean(value: str | None) -> str | None:
    """Treat an empty or blank value as unset."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(env: Mapping[str, str], variable: str, default: str) -> str:
    value = _clean(env.get(variable)) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{variable} must be an http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _redirect_uri(value: str) -> str:
    # Spotify accepts HTTPS, or plain HTTP only on a loopback IP literal (not "localhost").
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "::1")
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return value
    raise ConfigError(
        "SPOTIFY_REDIRECT_URI must be https://..., or http://127.0.0.1:PORT/... for local "
        f"runs (Spotify refuses 'localhost'), got {value!r}"
    )


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = _clean(env.get(variable))
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{variable} must be at least 1, got {value}")
    return value


def _states(raw: str | None) -> tuple[str, ...]:
    cleaned = _clean(raw)
    if cleaned is None:
        return US_STATES
    states = tuple(
        dict.fromkeys(code.strip().upper() for code in cleaned.split(",") if code.strip())
    )
    unknown = [code for code in states if code not in US_STATES]
    if unknown or not states:
        raise ConfigError(
            f"ETL_STATES must be comma-separated US state codes (e.g. NY,CA), "
            f"unknown: {', '.join(unknown) or raw!r}"
        )
    return states


def _clock(raw: str | None, production: bool) -> Clock:
    """Give the machine's clock, or one started at CLOCK_START (never on App Engine)."""
    cleaned = _clean(raw)
    if cleaned is None:
        return SystemClock()
    if production:
        raise ConfigError("CLOCK_START is for tests and local replays; unset it on App Engine")
    try:
        return StartedClock(parse_instant(cleaned))
    except ClockError as error:
        raise ConfigError(f"CLOCK_START: {error}") from None


def _chart_playlists(raw: str | None) -> tuple[str, ...]:
    try:
        return parse_chart_playlists(raw or "")
    except ChartsError as error:
        raise ConfigError(
            f"CHART_PLAYLISTS must list Spotify playlist ids, URIs or links: {error}"
        ) from None


def _check_fernet_key(key: str) -> None:
    try:
        decoded = base64.urlsafe_b64decode(key.encode())
    except (ValueError, TypeError):
        decoded = b""
    if len(decoded) != 32:
        raise ConfigError(
            "TOKEN_ENCRYPTION_KEY must be a Fernet key (32 url-safe base64-encoded bytes); "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
