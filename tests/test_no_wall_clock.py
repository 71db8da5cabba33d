"""The suite's own rule about time: no test reads the machine's clock or bets on its pace.

Tests read "now" from tests/clock.py (TEST_NOW, `clock_now()`), and start every sandbox and world
there; speed belongs to `make bench`. This reads every test module's syntax tree, so a test that
calls `datetime.now()`, starts a sandbox at the machine's time or asserts how long something took
fails here, on any day, instead of on the day the calendar catches it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# tests/clock.py is where the suite's clock lives; the live contract (pytest -m live, never in
# `make test`) asks the real services about the real today.
ALLOWED = {"clock.py", "test_live.py"}
WALL_CLOCK = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
}
TIMERS = {("time", "monotonic"), ("time", "perf_counter"), ("time", "monotonic_ns")}
# What starts at the machine's date unless told where to start.
NEEDS_START = {"SandboxServer": 5, "generate_world": 4, "SandboxClock": 1}


def _call_name(node: ast.Call) -> tuple[str, str] | None:
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id, func.attr
    return None


def offences(source: str) -> list[str]:
    """Name each place in a test module's source that reads the machine's clock or pace."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in WALL_CLOCK:
                found.append(f"line {node.lineno}: {'.'.join(name)}() reads the machine's clock")
            callee = node.func.id if isinstance(node.func, ast.Name) else None
            if callee in NEEDS_START:
                given = any(k.arg == "start" for k in node.keywords)
                if not given and len(node.args) < NEEDS_START[callee]:
                    found.append(f"line {node.lineno}: {callee}(...) without start= starts today")
        if isinstance(node, ast.Assert):
            for inner in ast.walk(node.test):
                if isinstance(inner, ast.Call) and _call_name(inner) in TIMERS:
                    found.append(f"line {node.lineno}: an assert on a timer asserts a duration")
                if isinstance(inner, ast.Attribute) and inner.attr == "elapsed":
                    found.append(f"line {node.lineno}: an assert on .elapsed asserts a duration")
    return found


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.glob("*.py") if p.name not in ALLOWED)


@pytest.mark.parametrize("module", _test_modules(), ids=lambda path: path.name)
def test_no_test_reads_the_machines_clock_or_times_itself(module: Path) -> None:
    assert offences(module.read_text()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("datetime.now(UTC)", 1),
        ("date.today()", 1),
        ("time.time()", 1),
        ("clock_now()", 0),
        ("SandboxServer(world)", 1),
        ("SandboxServer(world, start=TEST_NOW)", 0),
        ("generate_world(60, 120, seed=2)", 1),
        ("generate_world(60, 120, 2, TEST_DAY)", 0),
        ("assert time.monotonic() - started < 10", 1),
        ("assert answer.elapsed.total_seconds() >= 0.12", 1),
        ("deadline = time.monotonic() + 5", 0),
    ],
)
def test_the_rule_finds_what_it_says(source: str, expected: int) -> None:
    assert len(offences(source)) == expected
