"""Run every benchmark (bench/bench_*.py), print a table, then one JSON line of all figures."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from typing import Any

import bench


def main(only: list[str]) -> int:
    """Run each benchmark's `run()`, which returns {figure name: value}.

    `python -m bench listening web` runs only those; no names runs them all.
    """
    figures: dict[str, Any] = {}
    modules = sorted(
        name
        for _, name, _ in pkgutil.iter_modules(bench.__path__)
        if name.startswith("bench_") and (not only or name.removeprefix("bench_") in only)
    )
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        results = module.run()
        print(f"\n{name}")
        for figure, value in results.items():
            print(f"  {figure:<50} {value}")
            figures[f"{name.removeprefix('bench_')}.{figure}"] = value
    if not modules:
        print("no benchmarks yet")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
