"""Run every firmware/tests/test_*.py program on the unix port under a board-sized heap.

Each program prints ``ok <name>`` / ``FAIL <name> ...`` lines and ends with ``PASS n`` or ``FAILED k of n``
(``SKIP`` when the port lacks a capability), like MicroPython's own tests. A program that needs more
than the board's heap for its test fixtures (a RAM block device) says so in a ``# heap: 2m`` line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.testing import run_micropython

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PROGRAMS = sorted(p.name for p in (FIRMWARE / "tests").glob("test_*.py"))


@pytest.mark.parametrize("program", PROGRAMS)
def test_program(micropython: Path, program: str) -> None:
    code = f"import sys\nsys.path[:0] = ['tests', '.']\nexec(open('tests/{program}').read())"
    heap = re.search(r"^# heap: (\w+)$", (FIRMWARE / "tests" / program).read_text(), re.MULTILINE)
    proc = run_micropython(
        micropython, code, cwd=FIRMWARE, timeout=120, heap=heap.group(1) if heap else "64k"
    )
    lines = proc.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith("FAIL")]
    assert proc.returncode == 0, proc.stderr + "\n".join(lines[-20:])
    assert not failures, "\n".join(failures)
    assert lines, proc.stderr
    if lines[-1] == "SKIP":
        pytest.skip(f"{program}: the port lacks a capability")
    assert lines[-1].startswith("PASS"), lines[-1]


@pytest.mark.long
def test_power_cut_full_sweep(micropython: Path) -> None:
    """Every N of a 300-block write sequence (~1,700 program/erase operations): 0 lost, 0 corrupt."""
    code = (
        "import sys\nsys.path[:0] = ['tests', '.']\nPOWERCUT_BLOCKS = 300\nPOWERCUT_STRIDE = 1\n"
        "exec(open('tests/test_flashlog.py').read())"
    )
    proc = run_micropython(micropython, code, cwd=FIRMWARE, timeout=600, heap="2m")
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, proc.stderr
    assert not [line for line in lines if line.startswith("FAIL")]
    sweep = next(line for line in lines if line.startswith("powercut ops"))
    assert int(sweep.split()[-1]) > 1000, sweep
    assert lines[-1].startswith("PASS"), lines[-1]
