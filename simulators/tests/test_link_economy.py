"""The request economy the lockstep speed relies on (counts, not timings).

An 8-h round with the firmware in the loop fits in a minute only if a host-link request costs the
simulator little: the accelerometer's signal is computed and encoded ``AHEAD_S`` seconds at a time
(not per request), an I2C transaction at an unchanged time produces nothing, and the link can be a
Unix socket. The firmware's own request rate is guarded in ``hil_tests/firmware``.
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators.hostlink import LinkServer
from simulators.lis3dh import AHEAD_S
from simulators.loops import block_loop
from simulators.scenario import make_van
from simulators.world import OP_HELLO, OP_I2C_READ_MEM, OP_I2C_WRITE_MEM, OP_SLEEP_UNTIL, World


class CountingSource:
    """The van's acceleration source, counting the calls and the samples asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.samples = 0

    def output(self, times: npt.ArrayLike, odr_hz: float = 100.0) -> npt.NDArray[np.float64]:
        self.calls += 1
        self.samples += len(np.asarray(times))
        out: npt.NDArray[np.float64] = self.inner.output(times, odr_hz)
        return out


def _firmware_pattern(world: World, seconds: int) -> tuple[int, CountingSource]:
    """HELLO, LIS3DH set-up, then a wake every 250 ms draining the FIFO (as the firmware does)."""
    source = CountingSource(world.lis3dh.source)
    world.lis3dh.source = source
    h = world.handle
    assert h(OP_HELLO, b"\x01test")[0] == 0
    for reg, value in ((0x20, 0x57), (0x23, 0x18), (0x24, 0x40), (0x2E, 0x80)):
        assert h(OP_I2C_WRITE_MEM, bytes([0x18, reg, value]))[0] == 0
    got = 0
    for wake in range(1, 4 * seconds + 1):
        assert h(OP_SLEEP_UNTIL, struct.pack("<I", 250 * wake))[0] == 0
        calls = source.calls
        _, src = h(OP_I2C_READ_MEM, struct.pack("<BBH", 0x18, 0x2F, 1))
        k = src[0] & 0x1F
        if k:
            _, raw = h(OP_I2C_READ_MEM, struct.pack("<BBH", 0x18, 0xA8, 6 * k))
            assert len(raw) == 6 * k
            got += k
        assert source.calls == calls, "an I2C transaction at an unchanged time computed samples"
    return got, source


def test_accelerometer_signal_is_computed_a_block_at_a_time() -> None:
    van, _ = make_van(block_loop(laps=1), seed=5, tail_s=0.0)
    world = World(van, wake_on_uart=False)
    try:
        seconds = 120
        got, source = _firmware_pattern(world, seconds)
    finally:
        world.close()
    # 100 Hz, every sample read, none lost to the FIFO (a drain every 25 samples)
    assert got == 100 * seconds
    assert world.lis3dh.samples_lost == 0
    # 4 wakes a second, but the source is asked once per AHEAD_S seconds (and for little more)
    assert source.calls <= seconds / AHEAD_S + 1
    assert source.samples <= 100 * (seconds + AHEAD_S)
    assert world.stats.requests[OP_SLEEP_UNTIL] == 4 * seconds


def test_the_link_serves_a_unix_socket() -> None:
    van, _ = make_van(block_loop(laps=1), seed=5, tail_s=0.0)
    world = World(van, wake_on_uart=False)
    server = LinkServer()
    link = server.add_unix(world)
    assert link.startswith("unix:@")
    thread = threading.Thread(target=server.serve, args=(lambda: bool(server.closed_worlds),), daemon=True)
    thread.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect("\0" + link[len("unix:@") :])
            replies = []
            for op, payload in ((OP_HELLO, b"\x01test"), (OP_SLEEP_UNTIL, struct.pack("<I", 1500))):
                sock.sendall(struct.pack("<BH", op, len(payload)) + payload)
                head = sock.recv(3, socket.MSG_WAITALL)
                status, n = struct.unpack("<BH", head)
                body = sock.recv(n, socket.MSG_WAITALL)
                replies.append((status, struct.unpack("<I", body)[0]))
        thread.join(timeout=10)
        assert replies == [(0, 0), (0, 1500)]
        assert server.closed_worlds == [world]
    finally:
        server.close()
        world.close()
