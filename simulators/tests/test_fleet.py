"""Several vans served at once on one link server, each in its own lockstep; a log over the link."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped,unused-ignore]

from ingest.roadnet import load_network, monaco_pbf
from simulators.fleet import serve
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.hostlink import LinkServer
from simulators.loops import block_loop
from simulators.replay import NmeaLog
from simulators.scenario import make_van
from simulators.world import World


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from a stream socket (a recv may return fewer, e.g. under load)."""
    data = bytearray()
    while len(data) < n:
        part = sock.recv(n - len(data))
        assert part, "the link closed mid-reply"
        data += part
    return bytes(data)


def drive(wiring: Path, step_ms: int, results: dict[str, float]) -> None:
    """A van's host HAL reduced to its clock: sleep until the simulator says the round is over."""
    doc = json.loads(wiring.read_text())
    host, port = doc["link"].split(":")
    sock = socket.create_connection((host, int(port)))
    ticks, status = 0, 0
    while status != 2:
        ticks += step_ms
        sock.sendall(struct.pack("<BHI", 0x03, 4, ticks))
        status, n = struct.unpack("<BH", recv_exact(sock, 3))
        payload = recv_exact(sock, n)
        if status == 0:
            ticks = struct.unpack("<I", payload)[0]
    results[str(wiring)] = ticks / 1000.0
    sock.close()


def test_a_fleet_is_served_from_one_thread(tmp_path: Path) -> None:
    net = load_network(monaco_pbf())
    results: dict[str, float] = {}
    threads: list[threading.Thread] = []

    def start(wirings: list[Path]) -> None:
        for w in wirings:
            threads.append(threading.Thread(target=drive, args=(w, 5000, results)))
            threads[-1].start()

    worlds = serve(net, 3, 2, tmp_path, ready=start)
    for t in threads:
        t.join()
    assert len(results) == 3
    assert all(w.finished for w in worlds)
    ends = sorted(results.values())
    assert len(set(ends)) == 3  # three different rounds, each on its own clock


@pytest.mark.long
def test_a_hundred_vans(tmp_path: Path) -> None:
    net = load_network(monaco_pbf())
    results: dict[str, float] = {}
    threads: list[threading.Thread] = []

    def start(wirings: list[Path]) -> None:
        for w in wirings:
            threads.append(threading.Thread(target=drive, args=(w, 30_000, results)))
            threads[-1].start()

    worlds = serve(net, 100, 2, tmp_path, ready=start)
    for t in threads:
        t.join()
    assert len(results) == 100 and all(w.finished for w in worlds)


def test_a_recorded_log_drives_the_world_over_the_link() -> None:
    rx = GnssReceiver(block_loop(), GnssConfig(ttff_s=0.0), tail_s=0.0)
    log = NmeaLog.parse(b"".join(rx.epoch(k) for k in range(rx.n_epochs) if not 30 <= k < 40))
    van, _ = make_van(log.trajectory(), seed=2, start_utc=log.start_utc, tail_s=5.0)
    van.gnss = log
    world = World(van, wake_on_uart=False)
    server = LinkServer()
    port = server.add(world)
    thread = threading.Thread(target=server.serve, args=(lambda: bool(server.closed_worlds),))
    thread.start()
    port_reader = serial.Serial(world.ptys["gnss"].path, 9600, timeout=0)
    got = bytearray()
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        ticks, status = 0, 0
        while status != 2:  # the firmware's pattern: sleep, then read what the UART holds
            ticks += 1000
            sock.sendall(struct.pack("<BHI", 0x03, 4, ticks))
            status, n = struct.unpack("<BH", recv_exact(sock, 3))
            body = recv_exact(sock, n)
            if status == 0:
                ticks = struct.unpack("<I", body)[0]
            got += port_reader.read(65536)
        sock.close()
        assert world.drain()
        # Everything written must arrive; wait for it generously (a loaded machine is slow), but
        # stop at the expected length so a surplus would show in the comparison below.
        expected = sum(len(c) for c in log.chunks)
        port_reader.timeout = 0.2
        deadline = time.monotonic() + 30
        while len(got) < expected and time.monotonic() < deadline:
            got += port_reader.read(expected - len(got))
    finally:
        port_reader.close()
        thread.join()
        server.close()
        world.close()
    assert world.ptys["gnss"].dropped == 0
    assert bytes(got) == b"".join(log.chunks)
