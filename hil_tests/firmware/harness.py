"""Run the real firmware (firmware/main.py on the unix port) against the simulators for one round.

    result = run_round(workdir, laps=2)     # -> RoundResult: decoded readings, bytes, CPU, heap

The van drives ``simulators.scenario`` around a block; the host link server and ptys come from
``simulators``; the depot gateway is a loopback HTTP double speaking the upload contract
(``gateway_double.Gateway``); flash is a folder (or a VfsLfs2 image).

The firmware runs as precompiled .mpy files (as `make flash` deploys it) on the plain unix port, or
with ``frozen=True`` frozen into a unix-port binary of its own (``build_frozen.sh``: bytecode in the
binary as on a production board; the heap-budget runs).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil_tests.firmware.gateway_double import Gateway
from ingest.records import parse_blocks
from ingest.records.decode import Readings, decode_blocks
from ingest.testing import micropython_path
from simulators.gnss import GnssConfig
from simulators.hostlink import LinkServer, lockstep_cpu, pin
from simulators.loops import block_loop
from simulators.scenario import make_van
from simulators.world import World

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
MPY_CROSS = micropython_path().parent / "mpy-cross"
BUILD_FROZEN = Path(__file__).resolve().parent / "build_frozen.sh"


def build_firmware(out: Path) -> Path:
    """Precompile every firmware module to .mpy (as `make flash` deploys it): a 64 KiB heap cannot
    hold the compiler's work for the app's sources."""
    out.mkdir(parents=True, exist_ok=True)
    for src in FIRMWARE.rglob("*.py"):
        rel = src.relative_to(FIRMWARE)
        if rel.parts[0] == "tests":
            continue
        dst = out / rel.with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(MPY_CROSS), "-O3", "-o", str(dst), "-s", str(rel), str(src)], check=True)
    return out


def _frozen_cache() -> tuple[str, Path]:
    version = subprocess.run(
        [str(micropython_path()), "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return version, FIRMWARE.parent / ".cache" / f"micropython-{version}-frozen"


def frozen_source_ready() -> bool:
    """The frozen build's source tree is in the cache (a rebuild needs no download)."""
    return (_frozen_cache()[1] / "src" / ".facteur-patched").is_file()


def frozen_micropython() -> Path:
    """The unix port with firmware/ frozen in, next to the plain one's cache
    (``.cache/micropython-<version>-frozen``); built, or rebuilt when the firmware changed, first."""
    version, cache = _frozen_cache()
    proc = subprocess.run(
        ["bash", str(BUILD_FROZEN), version, str(cache)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"build_frozen.sh failed: {proc.stderr}")
    return cache / "bin" / "micropython"


KEY = bytes(range(100, 132))
DEVICE = "van-0001"


@dataclass
class RoundResult:
    returncode: int
    stdout: str
    stderr: str
    sim_seconds: float
    drive_seconds: float
    cpu_seconds: float
    wall_seconds: float
    blocks: bytes
    readings: Readings
    summary: dict[str, Any]
    fw: dict[str, Any]
    gateway_blocks: int
    server_cpu_seconds: float = 0.0  # the link server's thread: the simulators' side of the round


def run_round(
    workdir: Path,
    *,
    laps: int = 1,
    heap: str = "64k",
    image: bool = False,
    tail_s: float = 120.0,
    upload: bool = True,
    depot_ssids: bool = True,
    timeout: float = 1800,
    frozen: bool = False,
) -> RoundResult:
    workdir.mkdir(parents=True, exist_ok=True)
    binary = frozen_micropython() if frozen else micropython_path()
    traj = block_loop(laps=laps)
    van, _ = make_van(traj, seed=11, gnss=GnssConfig(ttff_s=20.0), tail_s=tail_s)
    gateway = Gateway([]) if upload else None
    if gateway is not None:
        van.wifi.gateway = f"127.0.0.1:{gateway.port}"
    world = World(van, wake_on_uart=False)
    server = LinkServer()
    link = server.add_unix(world)
    flash: Path = workdir / ("flash.img" if image else "flash")
    if not image:
        flash.mkdir(exist_ok=True)
    prov = workdir / "provision.json"
    prov.write_text(
        json.dumps(
            {"device_id": DEVICE, "key_hex": KEY.hex(), "depot_ssids": [van.wifi.ssid] if depot_ssids else []}
        )
    )
    wiring = world.wiring(link, str(flash), str(prov))
    (workdir / "wiring.json").write_text(json.dumps(wiring))
    stop = threading.Event()
    core = lockstep_cpu()  # the server thread and the firmware share one CPU (hostlink.lockstep_cpu)

    server_cpu = [0.0]

    def serve() -> None:
        pin(core)
        t0 = time.thread_time()
        try:
            server.serve(lambda: stop.is_set() or (world.finished and bool(server.closed_worlds)))
        finally:
            server_cpu[0] = time.thread_time() - t0

    thread = threading.Thread(target=serve)
    thread.start()
    env = dict(os.environ, FACTEUR_WIRING=str(workdir / "wiring.json"))
    # Frozen: nothing importable in the working folder, every module comes from the binary.
    build = workdir if frozen else build_firmware(workdir / "fw")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    try:
        child = subprocess.Popen(
            [str(binary), "-X", f"heapsize={heap}", "-c", "import main"],
            cwd=build,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        pin(core, child.pid)
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            err += f"\nharness: the firmware did not finish within {timeout} s (killed)"
        proc = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    finally:
        stop.set()
        thread.join(timeout=30)
        server.close()
        world.close()
        if gateway is not None:
            gateway.close()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    blocks = b""
    if gateway is not None:
        blocks = b"".join(gateway.blocks[s] for s in sorted(gateway.blocks))
    if not image:
        for seg in sorted((flash / "log").glob("*.seg")):
            blocks += seg.read_bytes()
    parsed = parse_blocks(blocks)
    # the flash folder may repeat blocks the gateway already holds (not yet reclaimed)
    unique = {b.seq: b for b in parsed}
    readings = decode_blocks([unique[s] for s in sorted(unique)])
    fw: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("facteur-stats "):
            fw = json.loads(line[len("facteur-stats ") :])
    moving = float((traj.sample(_grid(world.clock.t)).speed > 0.5).sum()) if hasattr(traj, "sample") else 0.0
    return RoundResult(
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        sim_seconds=world.clock.t,
        drive_seconds=moving,
        cpu_seconds=cpu,
        wall_seconds=wall,
        blocks=b"".join(unique[s].raw for s in sorted(unique)),
        readings=readings,
        summary=world.summary(),
        fw=fw,
        gateway_blocks=len(gateway.blocks) if gateway is not None else 0,
        server_cpu_seconds=server_cpu[0],
    )


def _grid(t_end: float) -> Any:
    return np.arange(0.0, max(t_end, 1.0), 1.0)
