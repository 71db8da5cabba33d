"""Fixtures shared by every test; the internet guard is installed before any test runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from sandbox.server import free_port
from shared.config import Settings, load_settings
from shared.storage import FolderStore
from tests import netguard
from tests.clock import TEST_DAY, TEST_NOW, clock_now

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from sandbox.server import SandboxServer


# Property tests give the same verdict on every run and machine: the same examples each time
# (derandomize), no example database carried between runs, and no clock in the verdict (no
# deadline, no "too slow" health check). `HYPOTHESIS_PROFILE=explore pytest ...` searches anew.
hypothesis_settings.register_profile(
    "fixed",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))


def pytest_configure(config: pytest.Config) -> None:
    """Guard the internet for every run but `pytest -m live` (the opt-in live contract suite)."""
    if config.option.markexpr.strip() != "live":
        netguard.install()


REPO_ROOT = Path(__file__).resolve().parent.parent

# Settings a test can build an app from: sandbox credentials, no real service reached.
BASE_ENV = {
    "SPOTIFY_CLIENT_ID": "sandbox-client-id",
    "SPOTIFY_CLIENT_SECRET": "sandbox-client-secret",
    "FLASK_SECRET_KEY": "test-secret-key",
    "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "CLOCK_START": TEST_NOW.isoformat(),
}
# The same on App Engine (which sets GAE_ENV): the machine's clock there, CLOCK_START is refused.
APP_ENGINE_ENV = {
    **{name: value for name, value in BASE_ENV.items() if name != "CLOCK_START"},
    "GAE_ENV": "standard",
}


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """Return an environment with every required setting, its data in a temporary folder."""
    return {**BASE_ENV, "DATA_URL": str(tmp_path / "data")}


@pytest.fixture
def settings(base_env: dict[str, str]) -> Settings:
    """Return settings for a local run with its data in a temporary folder."""
    return load_settings(base_env)


@pytest.fixture
def folder_store(tmp_path: Path) -> FolderStore:
    """Return an empty folder store."""
    return FolderStore(tmp_path / "store")


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[str]:
    """Run gcp-storage-emulator in memory on a free port; yield its URL."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="local-shows-test")
    server.start()
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        yield url
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture(scope="session")
def small_world() -> dict[str, Any]:
    """Return a generated world small enough for quick tests, with every trap in it."""
    from sandbox.world import generate_world

    return generate_world(artists=300, events=900, seed=7, start=TEST_DAY)


@pytest.fixture(scope="session")
def sandbox_session(small_world: dict[str, Any]) -> Iterator[SandboxServer]:
    """Run one sandbox on a free port for the whole session."""
    from sandbox.server import SandboxServer

    with SandboxServer(small_world, start=TEST_NOW) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_session: SandboxServer) -> Iterator[SandboxServer]:
    """Yield the session's sandbox with default options and clean counters, restored after."""
    from sandbox.state import Options

    def restore() -> None:
        defaults = Options()
        options = sandbox_session.sandbox.options
        for name in vars(defaults):
            if name != "seed":
                setattr(options, name, getattr(defaults, name))
        sandbox_session.sandbox.limits.reset()
        sandbox_session.sandbox.stats.reset()
        sandbox_session.sandbox.item_writes = 0
        sandbox_session.sandbox.clock.rewind()  # every test starts at TEST_NOW
        sandbox_session.sandbox.playlists.rewind_week()

    restore()
    yield sandbox_session
    restore()


@pytest.fixture(scope="session")
def built_datasets(
    sandbox_session: SandboxServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Build every dataset of the small world once, with the real ETL (SeatGeek only: quick).

    A whole run, as cron starts it: the run report (runs/) is there for the status page.
    """

    from etl.pipeline import make_spotify, run_etl
    from etl.sources.registry import make_sources

    folder = tmp_path_factory.mktemp("built")
    env = {
        **BASE_ENV,
        **sandbox_session.settings_env(),
        "DATA_URL": str(folder),
        "TICKETMASTER_API_KEY": "",
    }
    settings = load_settings(env)
    run_etl(
        FolderStore(folder),
        make_sources(settings),
        make_spotify(settings),
        settings.etl_states,
        now=clock_now(),
    )
    return folder


@pytest.fixture
def data_copy(built_datasets: Path, tmp_path: Path) -> FolderStore:
    """Return a store holding a fresh copy of the built datasets."""
    import shutil

    shutil.copytree(built_datasets, tmp_path / "webdata")
    return FolderStore(tmp_path / "webdata")


def web_app(store: FolderStore, sandbox: SandboxServer) -> Flask:
    """Return the web app on a store, signed in through the sandbox, re-checking data at once."""
    from web import create_app

    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root)}
    return create_app(load_settings(env), store, DATASET_CHECK_SECONDS=0)


@pytest.fixture
def app(sandbox: SandboxServer, data_copy: FolderStore) -> Flask:
    """The web app on a copy of the built datasets (a test module may define its own)."""
    return web_app(data_copy, sandbox)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
