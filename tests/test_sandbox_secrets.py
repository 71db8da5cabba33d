"""Secret Manager's stand-in, read through the real google-cloud-secret-manager client."""

from __future__ import annotations

import base64

import pytest
import requests

from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.secrets import SecretManagerReader
from tests.clock import TEST_NOW


@pytest.fixture
def reader(sandbox: SandboxServer) -> SecretManagerReader:
    return SecretManagerReader("sandbox-project", endpoint=f"{sandbox.url}/secretmanager")


def test_reads_a_secret_given_at_start(reader: SecretManagerReader) -> None:
    assert reader.read("spotify-client-id") == "sandbox-client-id"


def test_missing_secret_is_none(reader: SecretManagerReader) -> None:
    assert reader.read("no-such-secret") is None
    assert reader.read("spotify-client-id", version="99") is None


def test_added_version_becomes_latest(sandbox: SandboxServer, reader: SecretManagerReader) -> None:
    secret_url = f"{sandbox.url}/secretmanager/v1/projects/sandbox-project/secrets/flask-secret-key"
    payload = {"payload": {"data": base64.b64encode(b"rotated-key").decode()}}

    first = requests.post(f"{secret_url}:addVersion", json=payload, timeout=5).json()
    payload["payload"]["data"] = base64.b64encode(b"rotated-again").decode()
    second = requests.post(f"{secret_url}:addVersion", json=payload, timeout=5).json()

    assert second["name"].endswith(f"/versions/{int(first['name'].rsplit('/', 1)[1]) + 1}")
    assert reader.read("flask-secret-key") == "rotated-again"
    assert reader.read("flask-secret-key", version=first["name"].rsplit("/", 1)[1]) == "rotated-key"


def test_settings_fall_back_to_secret_manager(sandbox: SandboxServer) -> None:
    env = {
        "GOOGLE_CLOUD_PROJECT": "sandbox-project",
        "SECRET_MANAGER_ENDPOINT": f"{sandbox.url}/secretmanager",
    }

    settings = load_settings(env)

    assert settings.spotify_client_id == "sandbox-client-id"
    assert settings.spotify_client_secret == "sandbox-client-secret"
    assert settings.ticketmaster_api_key == "sandbox-ticketmaster"
    assert settings.event_sources == ("seatgeek", "ticketmaster")


def test_secrets_from_the_world_file(small_world: dict[str, object]) -> None:
    world = {**small_world, "secrets": {"other-project": {"spotify-client-id": "from-world"}}}

    with SandboxServer(world, start=TEST_NOW) as server:
        reader = SecretManagerReader("other-project", endpoint=f"{server.url}/secretmanager")

        assert reader.read("spotify-client-id") == "from-world"
