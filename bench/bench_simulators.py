"""Simulator budgets (issue 4): an 8-h round with truth, lockstep link throughput, a 100-van fleet.

1. Generate an ~8-h Helsinki round with all its truth files (no picture), timed.
2. Lockstep: a CPython client plays the firmware's host-HAL pattern (sleep 250 ms, drain the
   LIS3DH FIFO, read the GNSS pty) over real loopback TCP for ``FACTEUR_BENCH_SIM_H`` simulated
   hours (default 1); reported as simulated seconds per wall second and as a ratio against a
   baseline in the same run: the same number of request/reply round trips to a trivial echo
   server on loopback (what the link costs with no world behind it).
3. The error statistics measured on the round against the configured values.
4. ``FACTEUR_BENCH_VANS`` (default 100) vans of 10 stops written in parallel worker processes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ingest.roadnet import helsinki_pbf, load_network
from simulators.fleet import build, generate
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.hostlink import LinkServer
from simulators.loops import block_loop
from simulators.scenario import make_van
from simulators.truth import write_round
from simulators.world import World


def _call(sock: socket.socket, op: int, payload: bytes = b"") -> tuple[int, bytes]:
    sock.sendall(struct.pack("<BH", op, len(payload)) + payload)
    head = b""
    while len(head) < 3:
        head += sock.recv(3 - len(head))
    status, n = struct.unpack("<BH", head)
    body = b""
    while len(body) < n:
        body += sock.recv(n - len(body))
    return status, body


def lockstep(sim_hours: float) -> tuple[float, float, float, int]:
    laps = max(1, round(sim_hours * 3600 / 400))
    van, _ = make_van(block_loop(laps=laps), seed=3, gnss=GnssConfig(ttff_s=5.0), tail_s=0.0)
    world = World(van)
    server = LinkServer()
    port = server.add(world)
    thread = threading.Thread(target=server.serve, args=(lambda: bool(server.closed_worlds),))
    thread.start()
    gnss = os.open(world.ptys["gnss"].path, os.O_RDONLY | os.O_NONBLOCK)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    calls = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    _call(sock, 0x01, b"\x01bench")
    for reg, val in ((0x20, 0x57), (0x23, 0x18), (0x24, 0x40), (0x2E, 0x80)):
        _call(sock, 0x13, bytes([0x18, reg, val]))
    ticks = 0
    while True:
        ticks += 250
        status, payload = _call(sock, 0x03, struct.pack("<I", ticks))
        calls += 1
        if status == 2:
            break
        ticks = struct.unpack("<I", payload)[0]
        n = _call(sock, 0x12, bytes([0x18, 0x2F, 1, 0]))[1][0] & 0x1F
        calls += 1
        if n:
            _call(sock, 0x12, bytes([0x18, 0xA8]) + struct.pack("<H", 6 * n))
            calls += 1
        with contextlib.suppress(BlockingIOError):
            os.read(gnss, 65536)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    sock.close()
    thread.join()
    server.close()
    world.close()
    os.close(gnss)
    return world.clock.t, wall, cpu, calls


def echo_baseline(calls: int) -> float:
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def echo() -> None:
        conn, _ = lsock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            head = conn.recv(3)
            if not head:
                break
            _, n = struct.unpack("<BH", head)
            if n:
                conn.recv(n)
            conn.sendall(b"\x00\x04\x00" + b"\x00" * 4)
        conn.close()

    thread = threading.Thread(target=echo)
    thread.start()
    sock = socket.create_connection(lsock.getsockname())
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    start = time.perf_counter()
    for _ in range(calls):
        _call(sock, 0x02, struct.pack("<I", 0))
    wall = time.perf_counter() - start
    sock.close()
    thread.join()
    lsock.close()
    return wall


def main() -> int:
    net = load_network(helsinki_pbf())
    stops = int(os.environ.get("FACTEUR_BENCH_STOPS", "200"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        plan = build(net, stops, 3, "bench-van")
        planned = time.perf_counter() - start
        summary = write_round(plan.rnd, plan.van, plan.profile, Path(tmp) / "round")
        total = time.perf_counter() - start
    print(
        f"round: {stops} stops, {summary['duration_h']:.2f} h, {summary['length_km']:.1f} km, "
        f"{summary['edges_driven']} edges, {summary['u_turns']} U-turns"
    )
    print(f"  planned + devices built in {planned:.2f} s; with every truth file written: {total:.2f} s")
    rx = plan.van.gnss
    assert isinstance(rx, GnssReceiver)
    open_sky = rx.fix & (plan.rnd.traj.seg_canyon[plan.rnd.traj.sample(rx.t).segment] < 0.25)
    noise = rx.noise[open_sky, :2].std()
    print(
        f"  GNSS: fix {summary['gnss']['fix_fraction']:.4f}, horizontal error rms "
        f"{summary['gnss']['horizontal_error_rms_m']:.2f} m (canyons included); white noise per axis "
        f"{noise:.3f} m vs {rx.cfg.sigma_noise_m} configured"
    )
    sim_h = float(os.environ.get("FACTEUR_BENCH_SIM_H", "1"))
    sim_s, wall, cpu, calls = lockstep(sim_h)
    base = echo_baseline(calls)
    print(
        f"lockstep: {sim_s:.0f} simulated s in {wall:.2f} s wall ({sim_s / wall:.0f}× real time; "
        f"8 h would take {8 * 3600 / (sim_s / wall):.1f} s of simulator-side wall time; CPU of client and "
        f"server together {cpu:.2f} s, {8 * 3600 * cpu / sim_s:.1f} s per 8 h), {calls} link calls; "
        f"echo baseline for the same calls {base:.2f} s (world costs {wall / base:.2f}× the bare link)"
    )
    vans = int(os.environ.get("FACTEUR_BENCH_VANS", "100"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        fleet = generate(helsinki_pbf(), vans, 10, Path(tmp), workers=2)
        wall = time.perf_counter() - start
    hours = sum(float(s["duration_h"]) for s in fleet)
    print(f"fleet: {len(fleet)} vans, {hours:.1f} van-hours with truth written in {wall:.1f} s (2 workers)")
    ok = np.isfinite(total) and len(fleet) == vans
    return 0 if ok else 1
