"""Read secrets from Google Secret Manager (or its sandbox stand-in)."""

from __future__ import annotations

import logging

from google.api_core import exceptions as google_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.rest import (
    SecretManagerServiceRestTransport,
)

logger = logging.getLogger(__name__)


class SecretAccessError(Exception):
    """Secret Manager refused or failed to give a secret that may exist."""


class SecretManagerReader:
    """Give the latest version of a project's secrets, or None for a secret that does not exist."""

    def __init__(self, project: str, endpoint: str | None = None, timeout: float = 10.0) -> None:
        self.project = project
        self.timeout = timeout
        if endpoint:
            # The sandbox speaks the REST API over plain HTTP and needs no credentials.
            transport = SecretManagerServiceRestTransport(
                host=endpoint.rstrip("/"),
                url_scheme="http",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
            self.client = secretmanager.SecretManagerServiceClient(transport=transport)
        else:
            self.client = secretmanager.SecretManagerServiceClient()

    def read(self, secret_id: str, version: str = "latest") -> str | None:
        """Return the secret's value as text, or None when the secret or version does not exist."""
        name = f"projects/{self.project}/secrets/{secret_id}/versions/{version}"
        try:
            response = self.client.access_secret_version(name=name, timeout=self.timeout)
        except google_exceptions.NotFound:
            return None
        except google_exceptions.GoogleAPICallError as error:
            raise SecretAccessError(
                f"Secret Manager refused {name}: {error.message}. The App Engine service "
                "account needs the Secret Manager Secret Accessor role."
            ) from error
        value: str = response.payload.data.decode("utf-8")
        return value
