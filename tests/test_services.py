"""Both services start under gunicorn exactly as their App Engine entrypoint says."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import BASE_ENV, REPO_ROOT, free_port


def start_entrypoint(yaml_name: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the yaml's entrypoint with $PORT set, as App Engine does; return it and its URL."""
    entrypoint = yaml.safe_load((REPO_ROOT / yaml_name).read_text())["entrypoint"]
    port = free_port()
    env = {
        **os.environ,
        **BASE_ENV,
        "PORT": str(port),
        "DATA_URL": str(data_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    args = shlex.split(entrypoint.replace("$PORT", str(port)))
    # App Engine binds to all interfaces; here "-b :PORT" becomes loopback only.
    args[args.index("-b") + 1] = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return process, f"http://127.0.0.1:{port}"


def wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    """Wait until gunicorn answers, or fail with its output when it exits (a hang is
    pytest-timeout's: no test bets on how fast a machine starts a server)."""
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{output}")
        try:
            requests.get(url + "/healthz", timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or a worker still importing on a busy machine.
            time.sleep(0.2)


@pytest.mark.parametrize(("yaml_name", "service"), [("app.yaml", "web"), ("etl.yaml", "etl")])
def test_service_answers_healthz_under_gunicorn(
    yaml_name: str, service: str, tmp_path: Path
) -> None:
    process, url = start_entrypoint(yaml_name, tmp_path / "data")
    try:
        wait_until_up(process, url)

        health = requests.get(url + "/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "service": service}
        if service == "web":
            home = requests.get(url + "/", timeout=5)
            assert home.status_code == 200
            assert "Local Shows" in home.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_service_refuses_to_start_without_a_required_setting(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SPOTIFY_")}
    env.update({"DATA_URL": str(tmp_path), "SPOTIFY_CLIENT_SECRET": "x"})

    result = subprocess.run(
        [sys.executable, "-c", "import web.main"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "SPOTIFY_CLIENT_ID is not set" in result.stderr
