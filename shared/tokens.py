"""Encrypt Spotify tokens with Fernet before they go into a cookie or the store."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class TokenDecryptError(Exception):
    """A stored token cannot be read with this key (tampered, or the key changed)."""


class TokenBox:
    """Seal and open token dictionaries with one Fernet key."""

    def __init__(self, key: str) -> None:
        self.fernet = Fernet(key.encode())

    def seal(self, token: dict[str, Any]) -> str:
        """Return the token encrypted and authenticated, as text."""
        return self.fernet.encrypt(json.dumps(token, sort_keys=True).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        """Return the token a seal() made; TokenDecryptError when it cannot."""
        try:
            token = json.loads(self.fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError, TypeError) as error:
            raise TokenDecryptError("the stored Spotify token cannot be decrypted") from error
        if not isinstance(token, dict):
            raise TokenDecryptError("the stored Spotify token is not a token")
        return token
