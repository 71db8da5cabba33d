"""Stand-in for Secret Manager's REST API: access a version, add a version."""

from __future__ import annotations

import base64
import threading
from typing import Any

import google_crc32c
from flask import Blueprint, current_app, request

bp = Blueprint("secretmanager", __name__, url_prefix="/secretmanager/v1")

DEFAULT_SECRETS = {
    "sandbox-project": {
        "spotify-client-id": "sandbox-client-id",
        "spotify-client-secret": "sandbox-client-secret",
        "seatgeek-client-id": "sandbox-seatgeek",
        "ticketmaster-api-key": "sandbox-ticketmaster",
    }
}


class SecretStore:
    """Secrets by project and name, each a list of versions (1-based)."""

    def __init__(self, initial: dict[str, dict[str, str]]) -> None:
        self.lock = threading.Lock()
        self.versions: dict[tuple[str, str], list[bytes]] = {
            (project, name): [value.encode()]
            for project, secrets in initial.items()
            for name, value in secrets.items()
        }

    def add(self, project: str, name: str, value: bytes) -> int:
        with self.lock:
            versions = self.versions.setdefault((project, name), [])
            versions.append(value)
            return len(versions)

    def get(self, project: str, name: str, version: str) -> tuple[int, bytes] | None:
        with self.lock:
            versions = self.versions.get((project, name))
        if not versions:
            return None
        number = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
        if not 1 <= number <= len(versions):
            return None
        return number, versions[number - 1]


def _not_found(what: str) -> tuple[dict[str, Any], int]:
    return {
        "error": {
            "code": 404,
            "message": f"{what} not found or has no versions.",
            "status": "NOT_FOUND",
        }
    }, 404


@bp.get("/projects/<project>/secrets/<secret>/versions/<version_action>")
def access(project: str, secret: str, version_action: str) -> Any:
    version, _, action = version_action.partition(":")
    if action != "access":
        return _not_found(f"Method {action}")
    store: SecretStore = current_app.extensions["sandbox"].secrets
    found = store.get(project, secret, version)
    if found is None:
        return _not_found(f"Secret [projects/{project}/secrets/{secret}/versions/{version}]")
    number, value = found
    return {
        "name": f"projects/{project}/secrets/{secret}/versions/{number}",
        "payload": {
            "data": base64.b64encode(value).decode(),
            "dataCrc32c": str(google_crc32c.value(value)),
        },
    }


@bp.post("/projects/<project>/secrets/<secret_action>")
def add_version(project: str, secret_action: str) -> Any:
    secret, _, action = secret_action.partition(":")
    if action != "addVersion":
        return _not_found(f"Method {action}")
    body = request.get_json(silent=True) or {}
    try:
        value = base64.b64decode(body["payload"]["data"], validate=True)
    except (KeyError, TypeError, ValueError):
        return {
            "error": {
                "code": 400,
                "message": "payload.data must be base64",
                "status": "INVALID_ARGUMENT",
            }
        }, 400
    store: SecretStore = current_app.extensions["sandbox"].secrets
    store_clock_now = current_app.extensions["sandbox"].clock.now
    number = store.add(project, secret, value)
    return {
        "name": f"projects/{project}/secrets/{secret}/versions/{number}",
        "createTime": store_clock_now().isoformat().replace("+00:00", "Z"),
        "state": "ENABLED",
    }
