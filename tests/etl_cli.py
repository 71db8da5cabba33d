"""Run the ETL's command line (`python -m etl build`) as an operator would, for tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python -m etl build ARGS` with this process's environment plus env."""
    return subprocess.run(
        [sys.executable, "-m", "etl", "build", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
