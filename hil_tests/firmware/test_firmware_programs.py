"""Run every firmware/tests/test_*.py program on the unix port under a board-sized heap.

Each program prints ``ok <name>`` / ``FAIL <name> ...`` lines and ends with ``PASS n`` or ``FAILED k of n``
(``SKIP`` when the port lacks a capability), like MicroPython's own tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PROGRAMS = sorted(p.name for p in (FIRMWARE / "tests").glob("test_*.py"))


@pytest.mark.parametrize("program", PROGRAMS)
def test_program(micropython: Path, program: str) -> None:
    code = f"import sys\nsys.path[:0] = ['tests', '.']\nexec(open('tests/{program}').read())"
    proc = run_micropython(micropython, code, cwd=FIRMWARE, timeout=120)
    lines = proc.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert proc.returncode == 0, proc.stderr + "\n".join(lines[-20:])
    assert not failures, "\n".join(failures)
    assert lines, proc.stderr
    if lines[-1] == "SKIP":
        pytest.skip(f"{program}: the port lacks a capability")
    assert lines[-1].startswith("PASS"), lines[-1]
