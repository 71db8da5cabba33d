"""Uploads to the import: the largest legitimate file and hostile ones (issue 28).

Each upload goes to a fresh gunicorn worker as app.yaml runs it (one worker, a signed-in
cookie): the worker's peak RSS above its idle peak (after a small import, so the import's code
is loaded), the request's seconds and status, and each hostile file's seconds against what a
legitimate file of its size takes (the legitimate file's seconds a MB, times its MB). The files
are made here, in the shapes of the real ones in ../shared/real-api/exports, never committed.
After the thousand-member zip, the first stats view of that history is timed too.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import time
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import requests

from bench.bench_listening import session_cookie
from bench.bench_web import web_worker
from bench.harness import peak_rss_mb
from tests.contract import find_real_api

MB = 1024 * 1024
LEGIT_BYTES = 31 * MB  # the largest file that fits App Engine's 32 MB request with the form
REAL_2026 = "exports/extended/Efrrowini__Streaming_History_Audio_2026.json"


@cache
def real_rows() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads((find_real_api() / REAL_2026).read_text()))


def legit_file(size: int) -> bytes:
    """Rows of the real 2026 file, each a play of its own (times a few minutes apart), to size."""
    rows = []
    total = 2
    number = 0
    templates = real_rows()
    while total < size:
        row = dict(templates[number % len(templates)])
        minutes = number * 3
        row["ts"] = f"2025-{1 + minutes // 44_640 % 12:02d}-{1 + minutes // 1440 % 28:02d}T" + (
            f"{minutes // 60 % 24:02d}:{minutes % 60:02d}:{number % 60:02d}Z"
        )
        text = json.dumps(row)
        total += len(text) + 2
        rows.append(text)
        number += 1
    return ("[" + ",\n".join(rows) + "]").encode()


def one_track_under_many_names(count: int) -> bytes:
    """One track at one time, under `count` names: every row a near double of every other."""
    base = dict(real_rows()[0]) | {
        "ts": "2025-03-01T12:00:00Z",
        "spotify_track_uri": "spotify:track:" + "a" * 22,
    }
    rows = [base | {"master_metadata_track_name": f"Name {n}"} for n in range(count)]
    return json.dumps(rows).encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def empty_rows_zip() -> bytes:
    """A 40 KB zip whose member is 39 MB of `[{},{},...]` (13 million empty rows)."""
    body = b"[" + b"{}," * (13 * 1000 * 1000 - 1) + b"{}]"
    return zipped({"Spotify Extended Streaming History/Streaming_History_Audio_2020.json": body})


def thousand_members_zip() -> bytes:
    """A zip of 1,000 account-export files, one play each, each in a month of its own."""
    return zipped(
        {
            f"MyData/StreamingHistory_music_{n}.json": json.dumps(
                [
                    {
                        "endTime": f"{2008 + n // 12:04d}-{n % 12 + 1:02d}-15 12:00",
                        "artistName": "An Artist",
                        "trackName": f"Track {n}",
                        "msPlayed": 200_000,
                    }
                ]
            ).encode()
            for n in range(1000)
        }
    )


def nested_under_an_unread_key(size: int) -> bytes:
    """One play whose unknown key holds `size` bytes of nested lists."""
    row = json.dumps(dict(real_rows()[0]) | {"later": 0})
    nested = b"[" + b"[]," * (size // 3) + b"[]]"
    return b"[" + row.encode().replace(b'"later": 0', b'"later": ' + nested) + b"]"


def one_long_name(size: int) -> bytes:
    row = dict(real_rows()[0]) | {"master_metadata_track_name": "x" * size}
    return json.dumps([row]).encode()


def small_rows_in_one_month() -> bytes:
    """A zip of one account-data file: 39 MB of 100-byte rows, all in January 2020."""
    rows = ",".join(
        f'{{"endTime":"2020-01-{1 + n % 28:02d} {n // 60 % 24:02d}:{n % 60:02d}","msPlayed":{n},'
        f'"trackName":"t{n}","artistName":null}}'
        for n in range(400_000)
    )
    return zipped({"MyData/StreamingHistory_music_0.json": f"[{rows}]".encode()})


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "legit_31mb": ("Streaming_History_Audio_2025_0.json", lambda: legit_file(LEGIT_BYTES)),
    "empty_rows_39mb_in_zip": ("my_spotify_data.zip", empty_rows_zip),
    "one_track_5000_names": (
        "Streaming_History_Audio_2025_1.json",
        lambda: one_track_under_many_names(5000),
    ),
    "one_track_10000_names": (
        "Streaming_History_Audio_2025_2.json",
        lambda: one_track_under_many_names(10_000),
    ),
    "thousand_member_zip": ("my_spotify_data.zip", thousand_members_zip),
    "nested_30mb_unread_key": (
        "Streaming_History_Audio_2025_3.json",
        lambda: nested_under_an_unread_key(30 * MB),
    ),
    "deep_nesting_30mb": ("Streaming_History_Audio_2025_4.json", lambda: b"[" * (30 * MB)),
    "one_30mb_name": ("Streaming_History_Audio_2025_5.json", lambda: one_long_name(30 * MB)),
    "escaped_quotes_30mb_name": (
        "Streaming_History_Audio_2025_6.json",
        lambda: b'[{"ts":"' + b'\\"' * (15 * MB) + b'"}]',
    ),
    "small_rows_400k_one_month_in_zip": ("my_spotify_data.zip", small_rows_in_one_month),
}


def upload_once(name: str, body: bytes) -> dict[str, Any]:
    """Upload to a fresh worker; its memory above idle, the seconds, the status."""
    with tempfile.TemporaryDirectory() as folder, web_worker(Path(folder)) as (url, pid):
        session = requests.Session()
        # For the host the worker answers as, so its Set-Cookie replaces this one (the CSRF token).
        session.cookies.set("session", session_cookie("alice"), domain="127.0.0.1", path="/")

        def post(filename: str, data: bytes) -> tuple[int, float]:
            page = session.get(f"{url}/listening", timeout=60).text
            found = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert found, "no CSRF token on the Listening page"
            started = time.perf_counter()
            answer = session.post(
                f"{url}/listening/import",
                data={"csrf_token": found.group(1), "mine": "1"},
                files={"files": (filename, data)},
                allow_redirects=False,
                timeout=600,
            )
            return answer.status_code, time.perf_counter() - started

        post("Streaming_History_Audio_2020_9.json", legit_file(200_000))  # the code loaded
        idle = peak_rss_mb(pid)
        status, seconds = post(name, body)
        figures = {
            "status": status,
            "seconds": round(seconds, 2),
            "mb": round(len(body) / MB, 2),
            "unpacked_mb": round(unpacked_size(name, body) / MB, 2),
            "rss_above_idle_mb": round(peak_rss_mb(pid) - idle, 1),
        }
        if name.endswith(".zip") and status == 303:
            started = time.perf_counter()
            stats = session.get(f"{url}/listening/stats?tz=UTC", timeout=120)
            assert stats.status_code == 200
            figures["first_stats_view_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return figures


def unpacked_size(name: str, body: bytes) -> int:
    """Return the bytes a parser reads: a zip's members' sizes, else the file's own."""
    if not name.endswith(".zip"):
        return len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        return sum(info.file_size for info in archive.infolist())


def run() -> dict[str, Any]:
    results = {case: upload_once(name, build()) for case, (name, build) in CASES.items()}
    legit = results["legit_31mb"]
    per_mb = legit["seconds"] / legit["unpacked_mb"]
    figures: dict[str, Any] = {}
    for case, found in results.items():
        for figure, value in found.items():
            figures[f"{case}_{figure}"] = value
        # Against a legitimate file of the bytes parsed; not for the thousand one-play files,
        # whose goal is its own (seconds, however small its bytes: a thousand months to write).
        if case not in ("legit_31mb", "thousand_member_zip"):
            figures[f"{case}_time_vs_legit_same_size"] = round(
                found["seconds"] / (per_mb * found["unpacked_mb"]), 2
            )
    figures["largest_rss_above_idle_mb"] = max(r["rss_above_idle_mb"] for r in results.values())
    return figures
