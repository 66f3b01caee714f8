"""The whole chain on loopback: simulators -> the real firmware -> a real gateway -> real ingest.

The firmware is ``firmware/`` frozen into the MicroPython unix port (``build_frozen.sh``) run under
``-X heapsize=64k``, wired to one van's simulated world (``simulators.world.World``) through the host
link and ptys (``firmware/hal/HOSTLINK.md``). At the depot it uploads over a loopback TCP relay
(:class:`~hil_tests.chain.tap.UplinkTap`, the depot Wi-Fi, which records every upload and can drop
the link mid request) to a real ``facteur-gateway`` process, whose registry cache is synced from a
real ingest service on the private TimescaleDB; the gateway forwards to ingest.

    with Chain(ingest_service, tmp_path) as chain:      # a depot, its gateway, a registered van
        world = chain.world(van)                         # the van's simulators, Wi-Fi -> the tap
        run = chain.drive(world, cuts=[1800.0])          # the firmware, SIGKILLed at those sim times
        chain.settle()                                   # the gateway's backlog forwarded
        produced = chain.produced(run)                   # what the firmware wrote and uploaded
        stored = chain.stored()                          # what the database holds for the van
        assert compare(produced, stored).exact

"Produced" is what the firmware made durable: the blocks of every chunk it sent (recorded by the
tap, MAC-checked) and the blocks left on its flash at the end, keyed by seq (the same seq twice
must be the same bytes). Readings are compared per table as a multiset of ``(seq, ticks)``:
equal multisets mean every reading is in the database exactly once.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from gateway.testing import GatewayProcess
from hil_tests.chain.tap import UplinkTap
from hil_tests.firmware.harness import frozen_micropython
from ingest.records.decode import Readings, decode_blocks
from ingest.records.envelope import Block, ChunkError, _parse_block_at, parse_chunk
from ingest.testing import IngestService
from simulators.hostlink import LinkServer, lockstep_cpu, pin
from simulators.world import Van, World

#: Record kind (``ingest.chunks.readings.tables_of``) -> its hypertable.
TABLES = {
    "track": "track",
    "potholes": "potholes",
    "air": "air",
    "co2": "co2",
    "coverage": "coverage",
    "health": "device_health",
    "boots": "device_boots",
}

Key = tuple[int, int]  # (seq, ticks) of one reading


# -- one firmware process after another, on one world ------------------------------------------------


@dataclass
class Boot:
    """One run of the firmware process: from power-on to a clean end or a power cut."""

    returncode: int
    killed: bool
    stdout: str
    stderr: str
    stats: dict[str, Any]
    sim_start: float
    sim_end: float


@dataclass
class DriveResult:
    boots: list[Boot]
    flash: Path
    wall_seconds: float
    cpu_seconds: float
    sim_seconds: float
    summary: dict[str, Any]

    @property
    def cuts(self) -> int:
        return sum(b.killed for b in self.boots)

    @property
    def last(self) -> Boot:
        return self.boots[-1]

    def errors(self) -> list[str]:
        """Task/init errors and tracebacks of every boot (a power cut's output is not an error)."""
        out = []
        for b in self.boots:
            if b.stats.get("task_errors") or b.stats.get("init_errors"):
                out.append(f"boot at {b.sim_start:.0f} s: {b.stats}")
            if "Traceback" in b.stderr or "Error" in b.stdout:
                out.append(f"boot at {b.sim_start:.0f} s: {b.stdout[-800:]} {b.stderr[-800:]}")
            if not b.killed and b.returncode != 0:
                out.append(f"boot at {b.sim_start:.0f} s exited {b.returncode}: {b.stderr[-800:]}")
        return out


class PowerSwitch:
    """Kills the firmware (SIGKILL) once the world's clock passes each cut time.

    The kill is armed from the link server's thread when a request sees the clock past the cut, and
    lands after a random delay of up to ``jitter_s`` wall seconds, so it hits the firmware wherever
    it is (parsing, sealing, appending to flash, uploading), not only while it waits on the link.
    """

    def __init__(
        self,
        cuts: Iterable[float],
        rng: random.Random,
        jitter_s: float = 0.004,
        events: Iterable[tuple[float, Callable[[World], None]]] = (),
    ) -> None:
        self.cuts = sorted(cuts)
        #: Other faults at simulated times (e.g. garbage into a UART), run on the link's thread.
        self.events = sorted(events, key=lambda e: e[0])
        self.rng = rng
        self.jitter_s = jitter_s
        self.proc: subprocess.Popen[str] | None = None
        self.armed = False

    def attach(self, world: World) -> None:
        handle = world.handle

        def handle_and_cut(op: int, payload: bytes) -> tuple[int, bytes]:
            reply = handle(op, payload)
            while self.events and world.clock.t >= self.events[0][0]:
                self.events.pop(0)[1](world)
            proc = self.proc  # None until the harness knows the new boot's process: arm later
            due = bool(self.cuts) and world.clock.t >= self.cuts[0] and not world.finished
            if due and not self.armed and proc is not None:
                self.cuts.pop(0)
                self.armed = True
                timer = threading.Timer(self.rng.uniform(0.0, self.jitter_s), _kill, (proc,))
                timer.daemon = True
                timer.start()
            return reply

        world.handle = handle_and_cut  # type: ignore[method-assign]


class RestartableLinkServer(LinkServer):
    """The host link server for a board that may lose power: a reply to a firmware that died while
    waiting for it is dropped with the connection (the next boot connects again)."""

    def _service(self, c: Any, single: bool = False, timeout: float = 0.5) -> bool:
        try:
            return super()._service(c, single, timeout)
        except OSError:
            if c.sock.fileno() != -1:
                self._drop(c)
            return False


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)


def _stats(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith("facteur-stats "):
            doc: dict[str, Any] = json.loads(line[len("facteur-stats ") :])
            return doc
    return {}


class Firmware:
    """Starts the firmware on the unix port with a wiring file, the frozen build by default."""

    def __init__(self, workdir: Path, *, heap: str = "64k", binary: Path | None = None) -> None:
        self.workdir = workdir
        self.heap = heap
        self.binary = binary or frozen_micropython()

    def start(self, wiring: Path) -> subprocess.Popen[str]:
        # Frozen: nothing importable in the working folder, every module comes from the binary.
        return subprocess.Popen(
            [str(self.binary), "-X", f"heapsize={self.heap}", "-c", "import main"],
            cwd=self.workdir,
            env=dict(os.environ, FACTEUR_WIRING=str(wiring)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def drive(
    world: World,
    workdir: Path,
    provision: dict[str, Any],
    *,
    cuts: Sequence[float] = (),
    events: Sequence[tuple[float, Callable[[World], None]]] = (),
    seed: int = 0,
    image: bool = False,
    flash_blocks: int = 512,
    flash_block_size: int = 4096,
    heap: str = "64k",
    timeout: float = 1800.0,
) -> DriveResult:
    """Run the firmware on ``world`` until the world ends, restarting it after every power cut.

    The flash (a folder, or a littlefs image with ``image``) and the provisioning persist across
    boots; the world keeps its time while the board is off (a cut and restart take no simulated time).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    flash = workdir / ("flash.img" if image else "flash")
    if not image:
        flash.mkdir(exist_ok=True)
    prov = workdir / "provision.json"
    prov.write_text(json.dumps(provision))
    server = RestartableLinkServer()
    link = server.add_unix(world)  # a Unix socket: cheaper per request than TCP (HOSTLINK.md)
    wiring = world.wiring(link, str(flash), str(prov), blocks=flash_blocks)
    wiring["flash"]["block_size"] = flash_block_size  # type: ignore[index]
    wiring_path = workdir / "wiring.json"
    wiring_path.write_text(json.dumps(wiring))
    switch = PowerSwitch(cuts, random.Random(seed), events=events)
    switch.attach(world)
    firmware = Firmware(workdir, heap=heap)
    stop = threading.Event()
    core = lockstep_cpu()  # the link server's thread and each boot of the firmware share one CPU

    def serve() -> None:
        pin(core)
        server.serve(stop.is_set)

    thread = threading.Thread(target=serve, daemon=True, name="hostlink")
    thread.start()
    boots: list[Boot] = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    deadline = start + timeout
    try:
        while True:
            sim_start = world.clock.t
            switch.armed = False
            switch.proc = None
            proc = firmware.start(wiring_path)
            pin(core, proc.pid)
            switch.proc = proc
            try:
                out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                msg = f"the firmware did not finish within {timeout} s: {err[-2000:]}"
                raise AssertionError(msg) from None
            killed = proc.returncode == -signal.SIGKILL
            boots.append(Boot(proc.returncode, killed, out, err, _stats(out), sim_start, world.clock.t))
            if not killed:
                break
            # The board is off: wait until the link server has seen the connection go.
            t0 = time.monotonic()
            while world not in server.closed_worlds and time.monotonic() - t0 < 10:
                time.sleep(0.001)
            server.closed_worlds.clear()
            if world.finished:
                break
    finally:
        stop.set()
        thread.join(timeout=30)
        server.close()
        world.close()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return DriveResult(boots, flash, wall, cpu, world.clock.t, world.summary())


# -- what the firmware produced, and what the database holds ------------------------------------------


def scan_segments(data: bytes) -> list[Block]:
    """The valid blocks of one flash segment, up to the first torn or corrupt one (as the firmware's
    recovery reads it: what follows a tear was never made durable)."""
    blocks = []
    pos = 0
    while pos < len(data):
        try:
            block, pos = _parse_block_at(data, pos)
        except ChunkError:
            break
        blocks.append(block)
    return blocks


def flash_blocks(flash: Path, *, image_blocks: int = 512, image_block_size: int = 4096) -> list[Block]:
    """Blocks left in the van's flash log (a folder; littlefs images are read with the unix port)."""
    if flash.is_dir():
        out: list[Block] = []
        for seg in sorted((flash / "log").glob("*.seg")):
            out += scan_segments(seg.read_bytes())
        return out
    return _image_blocks(flash, image_blocks, image_block_size)


_READ_IMAGE = """
import sys, vfs
sys.path[:0] = [FW]
from hal.hostflash import FileBlockDevice
dev = FileBlockDevice(PATH, BS, N)
vfs.mount(vfs.VfsLfs2(dev), '/f')
import os
for name in sorted(os.listdir('/f/log')):
    if name.endswith('.seg'):
        with open('/f/log/' + name, 'rb') as f:
            data = f.read()
        sys.stdout.write(name + ' ' + data.hex() + '\\n')
"""


def _image_blocks(image: Path, blocks: int, block_size: int) -> list[Block]:
    from hil_tests.firmware.harness import FIRMWARE  # noqa: PLC0415
    from ingest.testing import micropython_path  # noqa: PLC0415

    code = f"FW = {str(FIRMWARE)!r}\nPATH = {str(image)!r}\nBS = {block_size}\nN = {blocks}\n" + _READ_IMAGE
    proc = subprocess.run(
        [str(micropython_path()), "-X", "heapsize=8m", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out: list[Block] = []
    for line in proc.stdout.splitlines():
        _, _, hexdata = line.partition(" ")
        out += scan_segments(bytes.fromhex(hexdata))
    return out


@dataclass
class Produced:
    """Every durable block the firmware produced, by seq, and where each was seen."""

    blocks: dict[int, Block]
    uploaded: set[int]
    on_flash: set[int]
    bad_mac: int = 0

    @property
    def seqs(self) -> list[int]:
        return sorted(self.blocks)

    def readings(self) -> Readings:
        return decode_blocks([self.blocks[s] for s in self.seqs])

    def keys(self) -> dict[str, Counter[Key]]:
        return reading_keys(self.readings())


def produced(bodies: Iterable[bytes], flash: Iterable[Block], device_id: str, key: bytes) -> Produced:
    blocks: dict[int, Block] = {}
    uploaded: set[int] = set()
    on_flash: set[int] = set()
    bad = 0

    def add(b: Block, where: set[int]) -> None:
        seen = blocks.get(b.seq)
        assert seen is None or seen.raw == b.raw, f"seq {b.seq} was reused for different bytes"
        blocks[b.seq] = b
        where.add(b.seq)

    for body in bodies:
        chunk = parse_chunk(body)
        if chunk.device_id != device_id or not chunk.verify(key):
            bad += 1
            continue
        for b in chunk.blocks:
            add(b, uploaded)
    for b in flash:
        add(b, on_flash)
    return Produced(blocks, uploaded, on_flash, bad)


def reading_keys(r: Readings) -> dict[str, Counter[Key]]:
    tables = {
        "track": r.track,
        "potholes": r.potholes,
        "air": r.air,
        "co2": r.co2,
        "coverage": r.coverage,
        "health": r.health,
        "boots": r.boots,
    }
    return {
        kind: Counter(zip(t["seq"].tolist(), t["ticks"].tolist(), strict=True)) for kind, t in tables.items()
    }


@dataclass
class Stored:
    """What the database holds for one device: readings per table, quarantined readings per kind
    (with their reasons), and the recorded seq ranges."""

    tables: dict[str, Counter[Key]]
    quarantined: dict[str, Counter[Key]]
    reasons: Counter[tuple[str, str]]
    ranges: list[tuple[int, int]]

    def seqs(self) -> list[int]:
        return sorted(s for lo, hi in self.ranges for s in range(lo, hi + 1))


def stored(database_url: str, device_id: str) -> Stored:
    with psycopg.connect(database_url) as conn:
        tables = {}
        for kind, table in TABLES.items():
            sql = f"SELECT seq, ticks FROM {table} WHERE device_id = %s"
            rows = conn.execute(sql, (device_id,)).fetchall()
            tables[kind] = Counter((int(s), int(t)) for s, t in rows)
        quarantined: dict[str, Counter[Key]] = {k: Counter() for k in TABLES}
        reasons: Counter[tuple[str, str]] = Counter()
        for kind, reason, seq, ticks in conn.execute(
            "SELECT kind, reason, seq, (reading ->> 'ticks')::bigint FROM quarantine WHERE device_id = %s",
            (device_id,),
        ).fetchall():
            reasons[(str(kind), str(reason))] += 1
            if kind in quarantined and ticks is not None:
                quarantined[kind][(int(seq), int(ticks))] += 1
        ranges = [
            (int(a), int(b))
            for a, b in conn.execute(
                "SELECT first_seq, last_seq FROM chunk_ranges WHERE device_id = %s ORDER BY first_seq",
                (device_id,),
            ).fetchall()
        ]
    return Stored(tables, quarantined, reasons, ranges)


@dataclass
class Comparison:
    """Per table: readings produced, stored, lost (produced, in neither table nor quarantine),
    duplicated (stored more often than produced) and unexpected (stored, never produced)."""

    produced: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def total_duplicates(self) -> int:
        return sum(self.duplicates.values())

    @property
    def total_compared(self) -> int:
        return sum(self.produced.values())

    @property
    def exact(self) -> bool:
        return self.total_lost == 0 and self.total_duplicates == 0 and sum(self.unexpected.values()) == 0


def compare(made: dict[str, Counter[Key]], held: Stored, seqs: set[int] | None = None) -> Comparison:
    """Compare readings per table; ``seqs`` limits the comparison to those blocks (e.g. the ones
    flash-full dropped are compared separately)."""
    out = Comparison()
    for kind in TABLES:
        want = made[kind]
        have = held.tables[kind] + held.quarantined[kind]
        if seqs is not None:
            want = Counter({k: n for k, n in want.items() if k[0] in seqs})
            have = Counter({k: n for k, n in have.items() if k[0] in seqs})
        out.produced[kind] = sum(want.values())
        out.stored[kind] = sum(held.tables[kind].values())
        out.quarantined[kind] = sum(held.quarantined[kind].values())
        out.lost[kind] = sum((want - have).values())
        extra = have - want
        out.duplicates[kind] = sum(n for k, n in extra.items() if k in want)
        out.unexpected[kind] = sum(n for k, n in extra.items() if k not in want)
    return out


# -- vans -------------------------------------------------------------------------------------------


def parked_van(
    frame: Any, x: float, y: float, seconds: float, start_utc: Any, *, seed: int = 100, name: str = "parked"
) -> Van:
    """A van standing at the depot (``x, y``, where its Wi-Fi is) with the ignition on for
    ``seconds``: the next morning's boot, which uploads what the last visit left."""
    from simulators.scenario import make_van  # noqa: PLC0415
    from simulators.trajectory import Trajectory  # noqa: PLC0415

    traj = Trajectory.build(frame, [[x, y], [x + 2.0, y]], [1.0], [], start_dwell_s=seconds)
    van, _ = make_van(traj, seed=seed, name=name, start_utc=start_utc, tail_s=0.0)
    return van


# -- a depot: the real gateway, registered at ingest, and a van provisioned for it ---------------------


class Chain:
    """One depot of the chain: a van registered at ingest for the depot, the depot's real gateway
    process (its registry cache synced from ingest) and the uplink tap in front of it."""

    def __init__(
        self,
        ingest: IngestService,
        workdir: Path,
        *,
        depot: str | None = None,
        plan: list[tuple[str, int]] | None = None,
        gateway_env: dict[str, str] | None = None,
    ) -> None:
        self.ingest = ingest
        self.workdir = workdir
        self.depot = depot or f"depot-{os.urandom(3).hex()}"
        self.device_id, self.key = ingest.add_device(self.depot)
        self.gateway_id, self.token = ingest.add_gateway(self.depot)
        self.gateway = GatewayProcess(workdir / "spool", ingest.url, self.token, **(gateway_env or {}))
        self.plan = plan
        self.tap: UplinkTap | None = None
        self.runs: list[DriveResult] = []

    def __enter__(self) -> Chain:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.gateway.start()
        self.tap = UplinkTap(("127.0.0.1", self.gateway.port), self.plan)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tap is not None:
            self.tap.close()
        self.gateway.stop()

    @property
    def provision(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "key_hex": self.key.hex()}

    def world(self, van: Van) -> World:
        """The van's world with its depot Wi-Fi leading to this depot's gateway (through the tap)."""
        assert self.tap is not None, "use the chain as a context manager"
        van.wifi.gateway = self.tap.address
        return World(van, wake_on_uart=False)

    def drive(self, world: World, *, depot_ssids: bool = True, name: str = "van", **kw: Any) -> DriveResult:
        prov = dict(self.provision, depot_ssids=[world.van.wifi.ssid] if depot_ssids else [])
        # One flash for every drive of this chain's van: later drives are later days (or the next boot).
        result = drive(world, self.workdir / name, prov, **kw)
        self.runs.append(result)
        return result

    def settle(self, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the gateway has forwarded everything it holds; returns its /status."""
        return dict(self.gateway.wait_drained(timeout=timeout))

    def produced(self, run: DriveResult, **image: int) -> Produced:
        assert self.tap is not None
        return produced(self.tap.bodies, flash_blocks(run.flash, **image), self.device_id, self.key)

    def stored(self) -> Stored:
        return stored(self.ingest.database_url, self.device_id)

    def gateway_metrics(self) -> dict[str, float]:
        return parse_metrics(httpx.get(f"{self.gateway.url}/metrics", timeout=10).text)

    def ingest_metrics(self) -> dict[str, float]:
        return parse_metrics(httpx.get(f"{self.ingest.url}/metrics", timeout=10).text)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {'name{labels}': value} (samples only)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out
