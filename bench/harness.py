"""What the benchmarks share: a sandbox in its own process, worlds, and simple statistics."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from sandbox.server import free_port, settings_env

REPO_ROOT = Path(__file__).resolve().parent.parent
KEYS = {"FLASK_SECRET_KEY": "bench-secret", "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}


@contextmanager
def sandbox_process(world_file: Path, *options: str) -> Iterator[str]:
    """Run the sandbox in its own process (so its CPU does not slow what is measured)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--world",
        str(world_file),
        *options,
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(f"{url}/_sandbox/stats", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def sandbox_env(url: str) -> dict[str, str]:
    """Return settings that point the services at a sandbox, with keys for this run."""
    return {**settings_env(url), **KEYS}


def sandbox_stats(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    return stats


def requests_of(stats: dict[str, Any], service: str) -> int:
    return sum(n for endpoint, n in stats["requests"].items() if endpoint.startswith(service + " "))


def write_world(world: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(world))
    return path


def percentile(values: list[float], share: float) -> float:
    """Return the share-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def peak_rss_mb(pid: int) -> float:
    """Return a process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc")


def env_with(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def wait_for_http(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    """Wait until url answers at all (a slow answer while the service starts counts as not yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.2)


@contextmanager
def storage_emulator_process(bucket_name: str) -> Iterator[str]:
    """Run the Cloud Storage emulator (in memory) in its own process; point clients at it."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gcp_storage_emulator",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--default-bucket",
        bucket_name,
        "--in-memory",
        "--quiet",
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        wait_for_http(f"{url}/storage/v1/b/{bucket_name}", process)
        yield url
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
        process.terminate()
        process.wait(timeout=20)
