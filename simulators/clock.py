"""The one simulated clock that drives every simulator and the firmware's host HAL.

Time is seconds since the board powered on (``t``); the board sees it as ``ticks_ms`` (u32,
wrapping like ``time.ticks_ms``), and the world as UTC ``start_utc + t``. In lockstep mode time
moves only when the firmware asks to sleep; in real-time mode a sleep also waits on the wall
clock (optionally sped up), so the same devices can be served to a person or a real program.
"""

from __future__ import annotations

import datetime as dt
import time

TICKS_MOD = 1 << 32


class SimClock:
    def __init__(self, start_utc: dt.datetime, *, realtime: bool = False, speed: float = 1.0) -> None:
        self.start_utc = start_utc
        self.t = 0.0
        self.realtime = realtime
        self.speed = speed
        self._wall0 = time.monotonic()

    @property
    def ticks_ms(self) -> int:
        return round(self.t * 1000.0) % TICKS_MOD

    @property
    def utc_seconds(self) -> float:
        return self.start_utc.timestamp() + self.t

    def target_of(self, ticks: int) -> float:
        """Simulated time of a future ``ticks_ms`` value (the past, or a wrap beyond 2^31, is now)."""
        delta = (ticks - self.ticks_ms) % TICKS_MOD
        if delta >= TICKS_MOD // 2:
            return self.t
        return (round(self.t * 1000.0) + delta) / 1000.0

    def anchor(self) -> None:
        """Tie the current simulated time to the wall clock now (when the board says HELLO)."""
        self._wall0 = time.monotonic() - self.t / self.speed

    def set(self, t: float) -> None:
        if self.realtime:
            wait = self._wall0 + t / self.speed - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self.t = max(self.t, t)
