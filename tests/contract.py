"""Hold a stand-in's JSON answers against real recorded ones, key by key."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def find_real_api() -> Path:
    """Return the handbook's real recorded answers, which live beside the repo, never in it.

    Looked for in REAL_API_DIR if set, then in ../shared beside this checkout, then beside the
    checkout this one was cloned from (a fresh clone in a temporary folder). When none is there,
    the first place is returned, and the contract tests fail loudly on it.
    """
    places = [Path(os.environ["REAL_API_DIR"])] if os.environ.get("REAL_API_DIR") else []
    places.append(REPO.parent / "shared" / "real-api")
    try:
        origin = subprocess.run(
            ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        origin = ""
    if origin and Path(origin).is_dir():
        places.append(Path(origin).resolve().parent / "shared" / "real-api")
    return next((place for place in places if place.is_dir()), places[0])


REAL_API = find_real_api()


# What our Spotify parsers read of a search answer (`type=artist,track`): the sandbox must send
# it, and so must the live service (tests/test_live.py).
SEARCH_READ = {
    "artists.items[].id",
    "artists.items[].name",
    "artists.items[].genres",
    "tracks.items[].id",
    "tracks.items[].name",
    "tracks.items[].artists[].id",
    "tracks.items[].artists[].name",
    "tracks.items[].album.name",
    "tracks.items[].album.release_date",
    "tracks.items[].duration_ms",
    "tracks.items[].explicit",
    "tracks.items[].external_ids.isrc",
}


def load_real(relative: str) -> Any:
    """Return the parsed JSON of a recorded answer, e.g. load_real("seatgeek/x.json")."""
    return json.loads((REAL_API / relative).read_text(encoding="utf-8"))


def json_type(value: Any) -> str:
    """Name a value's JSON type: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def json_paths(document: Any) -> dict[str, set[str]]:
    """Return every path in a JSON document with the types seen there; list items are `[]`.

    {"a": [{"b": 1}, {"b": null}]} gives {"": {"object"}, "a": {"array"}, "a[]": {"object"},
    "a[].b": {"number", "null"}}.
    """
    paths: dict[str, set[str]] = {}
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        path, value = pending.pop()
        paths.setdefault(path, set()).add(json_type(value))
        if isinstance(value, dict):
            pending.extend((f"{path}.{key}" if path else key, item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((f"{path}[]", item) for item in value)
    return paths


def merged_paths(documents: Iterable[Any]) -> dict[str, set[str]]:
    """Return the paths of several documents together, with every type seen at each."""
    merged: dict[str, set[str]] = {}
    for document in documents:
        for path, types in json_paths(document).items():
            merged.setdefault(path, set()).update(types)
    return merged


def invented_keys(
    sandbox_doc: Any,
    real_docs: Iterable[Any],
    allowed: Mapping[str, Collection[str]] | None = None,
) -> list[str]:
    """Return what the sandbox sends that no real answer does: a path, or a type at a path.

    `allowed` maps paths the recordings happen to lack (but the real service does send, as a
    cited source shows) to the types allowed there.
    """
    real = merged_paths(real_docs)
    for path, types in (allowed or {}).items():
        real.setdefault(path, set()).update(types)
    problems = []
    for path, types in sorted(json_paths(sandbox_doc).items()):
        if path not in real:
            problems.append(f"{path or '(root)'}: never in a real answer")
        elif types - real[path]:
            problems.append(
                f"{path or '(root)'}: sandbox sends {sorted(types - real[path])}, "
                f"real answers only {sorted(real[path])}"
            )
    return problems


def assert_no_invented_keys(
    sandbox_doc: Any,
    real_docs: Iterable[Any],
    allowed: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Fail, naming each one, when the sandbox sends a key or a type no real answer has."""
    problems = invented_keys(sandbox_doc, real_docs, allowed)
    assert not problems, "the sandbox invents:\n  " + "\n  ".join(problems)
