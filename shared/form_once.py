"""One form, one effect: a person's submission claimed by the key the form carried.

A double click or a second tab sends the same Make twice; both would make a Spotify playlist.
The page puts a fresh key in its form; the first request to claim it (an object created only
if absent, `requests/<user>/<key>.json`) does the work and writes down its result there, and
a second finds the claim and shows that result instead of doing it again. A claim whose work
failed is released, so the same form can be sent again.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from shared.storage import IF_ABSENT, ConflictError, NotFoundError, Store, check_name, delete_under

_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: the claim is ours (`mine`), or another request's result."""

    mine: bool
    result: dict[str, Any] | None = None  # the other request's, once it has one


def new_form_key() -> str:
    """Return a key for one rendering of a form."""
    return secrets.token_urlsafe(18)


def requests_prefix(user_id: str) -> str:
    return check_name(f"requests/{user_id}") + "/"


def _object(user_id: str, key: str) -> str:
    return requests_prefix(user_id) + f"{key}.json"


def is_form_key(key: str) -> bool:
    return bool(_KEY.fullmatch(key))


def claim(store: Store, user_id: str, key: str) -> Claim:
    """Claim a form's key for this request; or say another has, with its result if it has one."""
    try:
        store.write(_object(user_id, key), b"{}", if_generation_match=IF_ABSENT)
    except ConflictError:
        try:
            found = json.loads(store.read(_object(user_id, key)).data)
        except (NotFoundError, ValueError):
            found = {}
        result = found.get("result") if isinstance(found, dict) else None
        return Claim(False, result if isinstance(result, dict) else None)
    return Claim(True)


def finish(store: Store, user_id: str, key: str, result: dict[str, Any]) -> None:
    """Write down the claimed work's result, for a second request with the same key."""
    store.write(_object(user_id, key), json.dumps({"result": result}).encode())


def release(store: Store, user_id: str, key: str) -> None:
    """Give a claim back (its work failed): the same form may be sent again."""
    with contextlib.suppress(NotFoundError):
        store.delete(_object(user_id, key))


def delete_claims(store: Store, user_id: str) -> int:
    """Delete every claim of a person (Delete my data); return how many there were."""
    return delete_under(store, requests_prefix(user_id))
