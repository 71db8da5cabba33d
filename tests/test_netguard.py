"""The test socket guard stops any attempt to leave this machine."""

from __future__ import annotations

import socket

import pytest
import requests

from tests.netguard import InternetAccessError


@pytest.mark.parametrize(
    "address", [("10.0.0.1", 80), ("93.184.216.34", 443), ("2001:db8::1", 443, 0, 0)]
)
def test_connecting_outside_fails(address: tuple[object, ...]) -> None:
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    with socket.socket(family) as sock, pytest.raises(InternetAccessError):
        sock.connect(address)


def test_name_lookup_outside_fails() -> None:
    with pytest.raises(InternetAccessError):
        socket.getaddrinfo("api.spotify.com", 443)


def test_real_clients_cannot_reach_the_internet() -> None:
    with pytest.raises((InternetAccessError, requests.exceptions.ConnectionError)) as raised:
        requests.get("https://api.spotify.com/v1/me", timeout=2)
    assert "only 127.0.0.1" in str(raised.value)


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
