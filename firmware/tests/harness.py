"""Tiny test harness for firmware tests run on the unix port (or a board): prints, never raises."""

import sys

_fails = [0]
_count = [0]


def check(name, got, expected):
    _count[0] += 1
    if got == expected:
        print("ok", name)
    else:
        _fails[0] += 1
        print("FAIL", name, "got", repr(got), "expected", repr(expected))


def done():
    if _fails[0]:
        print("FAILED", _fails[0], "of", _count[0])
    else:
        print("PASS", _count[0])


def setup_path():
    # Run from firmware/: the modules under test are on the path as on the board.
    if "." not in sys.path:
        sys.path.insert(0, ".")
