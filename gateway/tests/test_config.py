"""Forwarding window and Retry-After parsing, table-driven."""

from __future__ import annotations

from datetime import time

import pytest

from gateway.config import GatewaySettings, in_window
from gateway.forwarder import retry_after_seconds

WINDOWS = [
    ("01:00-05:00", time(0, 59), False),
    ("01:00-05:00", time(1, 0), True),
    ("01:00-05:00", time(4, 59), True),
    ("01:00-05:00", time(5, 0), False),
    ("22:00-04:00", time(23, 30), True),
    ("22:00-04:00", time(3, 0), True),
    ("22:00-04:00", time(12, 0), False),
    ("", time(12, 0), True),
]


@pytest.mark.parametrize(("window", "now", "inside"), WINDOWS)
def test_window(window: str, now: time, inside: bool) -> None:
    settings = GatewaySettings(forward_window=window)
    assert in_window(now, settings.window()) is inside


def test_bad_window_is_refused() -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        GatewaySettings(forward_window="1am-5am")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (None, 3.0), ("", 3.0), ("soon", 3.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_retry_after(header: str | None, expected: float) -> None:
    assert retry_after_seconds(header, 3.0) == expected
