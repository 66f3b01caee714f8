"""The host link end to end over real loopback TCP and real ptys, with a CPython client that
behaves as the firmware's host HAL does (HELLO, then sleeps, I2C reads, Wi-Fi checks)."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pynmea2  # type: ignore[import-untyped,unused-ignore]
import serial  # type: ignore[import-untyped,unused-ignore]

from simulators.cli import main
from simulators.gnss import GnssConfig
from simulators.hostlink import LinkServer
from simulators.loops import block_loop
from simulators.scenario import make_van
from simulators.world import World


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, op: int, payload: bytes = b"") -> tuple[int, bytes]:
        self.sock.sendall(struct.pack("<BH", op, len(payload)) + payload)
        head = self._exactly(3)
        status, n = struct.unpack("<BH", head)
        return status, self._exactly(n)

    def _exactly(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            assert chunk
            buf += chunk
        return buf


def test_a_round_in_lockstep_over_the_link() -> None:
    traj = block_loop(laps=2)
    van, _ = make_van(traj, seed=3, gnss=GnssConfig(ttff_s=5.0), tail_s=30.0)
    world = World(van)
    server = LinkServer()
    port = server.add(world)
    thread = threading.Thread(
        target=server.serve, args=(lambda: world.finished and bool(server.closed_worlds),)
    )
    thread.start()
    try:
        gnss = serial.Serial(world.ptys["gnss"].path, 9600, timeout=0)
        modem = serial.Serial(world.ptys["modem"].path, 115200, timeout=0)
        c = Client(port)
        assert c.call(0x01, b"\x02future-fw")[0] == 3  # only version 1 of the link exists
        status, payload = c.call(0x01, b"\x01test-fw")
        assert status == 0 and struct.unpack("<I", payload)[0] == 0
        assert c.call(0x12, bytes([0x18, 0x0F]) + struct.pack("<H", 1)) == (0, b"\x33")
        assert c.call(0x12, bytes([0x19, 0x0F]) + struct.pack("<H", 1))[0] == 1  # NACK
        for reg, val in ((0x20, 0x57), (0x23, 0x18), (0x24, 0x40), (0x2E, 0x80)):
            assert c.call(0x13, bytes([0x18, reg, val]))[0] == 0
        assert c.call(0x10, bytes([0x62, 0x21, 0xB1]))[0] == 0
        status, scan = c.call(0x20)
        assert scan[0] == 1 and scan[2 : 2 + scan[1]] == b"facteur-depot"
        ticks, accel_samples, raw, left_depot = 0, 0, b"", False
        modem.write(b"AT+CESQ\r")
        while True:
            ticks += 250
            status, payload = c.call(0x03, struct.pack("<I", ticks))
            if status == 2:
                assert payload == b"end"
                break
            ticks = struct.unpack("<I", payload)[0]
            n = c.call(0x12, bytes([0x18, 0x2F]) + struct.pack("<H", 1))[1][0] & 0x1F
            if n:
                accel_samples += len(c.call(0x12, bytes([0x18, 0xA8]) + struct.pack("<H", 6 * n))[1]) // 6
            raw += gnss.read(65536)
            if not c.call(0x20)[1][0]:
                left_depot = True
        assert left_depot and c.call(0x20)[1][0] == 1  # back in the depot's geofence at the end
        # the kernel hands pty bytes over asynchronously: collect the tail with a timeout
        assert world.drain()
        modem.timeout = gnss.timeout = 0.3
        reply = modem.read(4096)
        while chunk := gnss.read(65536):
            raw += chunk
        assert b"+CESQ:" in reply and reply.endswith(b"OK\r\n")
        c.sock.close()
    finally:
        thread.join(timeout=10)
        server.close()
        world.close()
    lines = [ln for ln in raw.decode("ascii").split("\r\n") if ln]
    rmc = [pynmea2.parse(ln, check=True) for ln in lines if ln.startswith("$GPRMC")]
    assert abs(len(rmc) - int(world.end_t)) <= 1
    assert all(m.status == "A" for m in rmc[10:])
    # the firmware-like client kept up with the FIFO at 100 Hz: every sample arrived
    assert world.lis3dh.samples_lost == 0
    assert abs(accel_samples - world.end_t * 100) < 100


def test_real_time_mode_waits_on_the_wall_clock() -> None:
    van, _ = make_van(block_loop(), seed=3, tail_s=5.0)
    world = World(van, realtime=True, speed=20.0, wake_on_uart=False)
    try:
        world.handle(0x01, b"\x01test")  # the real-time clock starts when the board says hello
        started = time.monotonic()
        status, payload = world.handle(0x03, struct.pack("<I", 1000))
        elapsed = time.monotonic() - started
    finally:
        world.close()
    assert status == 0 and struct.unpack("<I", payload)[0] == 1000
    assert elapsed >= 0.045  # 1 simulated second at 20× real time


DRIVER = """
import json, os, socket, struct
doc = json.load(open(os.environ["FACTEUR_WIRING"]))
assert set(doc["uart"]) == {"gnss", "pms", "modem"} and json.load(open(doc["provision"]))["device_id"]
host, port = doc["link"].split(":")
s = socket.create_connection((host, int(port)))
ticks, status = 0, 0
while status != 2:
    ticks += 20000
    s.sendall(struct.pack("<BHI", 3, 4, ticks))
    status, n = struct.unpack("<BH", s.recv(3))
    body = s.recv(n)
    if status == 0:
        ticks = struct.unpack("<I", body)[0]
"""


def test_cli_serve_runs_a_program_against_the_round(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    args = ["serve", "--pbf", "monaco", "--stops", "2", "--out", str(tmp_path / "out"), "--quiet"]
    assert main([*args, "--run", f"{sys.executable} {script}"]) == 0
    link = json.loads((tmp_path / "out" / "link.json").read_text())
    assert link["finished"] and link["requests"]["0x03"] > 10
    assert (tmp_path / "out" / "track.csv").exists()
