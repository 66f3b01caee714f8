"""A fleet's evening at the depots: 100 simulated vans through 3 real gateways into one real ingest.

Every process is real and on loopback: the ingest service (``uvicorn ingest.app``) on a fresh
database of the private cluster, three ``facteur-gateway`` processes (one per depot), and the vans:
simulated in this process (asyncio), each uploading its day as the firmware does (chunk after
chunk from its acknowledged seq, ``POST /v1/chunks`` to its depot's gateway, resending on failure).

Measured, in one run:

- **baseline**: the same chunks posted straight to ingest as gateway batches (8 chunks, 4 requests
  in flight): ingest's own rate on this machine now. The fleet's rate is reported against it.
- **fleet**: readings/s end to end (first upload to the last reading committed, all gateways
  drained), p50/p99 van→gateway acknowledgement (measured by the vans), p99 gateway→ingest
  acknowledgement (ingest's ``facteur_ingest_ack_seconds`` histogram, interpolated in its bucket as
  Prometheus' ``histogram_quantile`` does), and the time a chunk waited in a gateway's spool until
  ingest acknowledged it (the spools' timestamps); peak RSS and CPU seconds per process.
- **overload**: ingest restarted with one write slot and no queue (``FACTEUR_MAX_CONCURRENT_WRITES=1``,
  ``FACTEUR_MAX_WAITING_WRITES=0``), the fleet again plus a burst of direct clients: ingest answers
  503 with ``Retry-After`` instead of making anyone wait; the gateways and clients honour it; no
  client times out; the database ends with exactly the readings sent.

    make bench BENCH_ARGS=fleet            # or: .venv/bin/python -m bench fleet
    FACTEUR_BENCH_FLEET_VANS=100 FACTEUR_BENCH_FLEET_CHUNKS=4 FACTEUR_BENCH_FLEET_BLOCKS=360
"""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from bench.procstat import cpu_seconds, peak_rss_mib, postgres_pids, tree, wait_healthy
from ingest import localdb
from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE, join_batch
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.decode import decode_blocks
from ingest.records.envelope import build_chunk, parse_blocks
from ingest.schema import migrate
from ingest.testing import free_port

VANS = int(os.environ.get("FACTEUR_BENCH_FLEET_VANS", "100"))
GATEWAYS = int(os.environ.get("FACTEUR_BENCH_FLEET_GATEWAYS", "3"))
#: Uploads per van (each about an hour of driving: 360 blocks ≈ 32 KiB, the firmware's chunk).
CHUNKS = int(os.environ.get("FACTEUR_BENCH_FLEET_CHUNKS", "4"))
BLOCKS = int(os.environ.get("FACTEUR_BENCH_FLEET_BLOCKS", "360"))
WORKERS = int(os.environ.get("FACTEUR_BENCH_FLEET_WORKERS", "1"))
#: Direct clients hammering ingest during the overload phase, besides the gateways.
BURST_CLIENTS = 8
CLIENT_TIMEOUT = 60.0
ADMIN = "bench-fleet-admin"


# -- processes ----------------------------------------------------------------------------------------


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str
    cpu0: float = 0.0

    def pids(self) -> list[int]:
        return tree(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_ingest(url: str, **env: str) -> Service:
    port = free_port()
    environ = {**os.environ, "FACTEUR_DATABASE_URL": url, "FACTEUR_ADMIN_TOKEN": ADMIN, **env}
    environ.pop("FACTEUR_ROAD_NETWORK", None)  # ingest alone: no map matching in the background
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "ingest.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(WORKERS), "--log-level", "warning"],
        env=environ,
    )  # fmt: skip
    service = Service(proc, f"http://127.0.0.1:{port}")
    wait_healthy(service.url, proc, "ingest")
    return service


def start_gateway(ingest_url: str, token: str, spool: Path) -> Service:
    port = free_port()
    environ = {
        **os.environ,
        "FACTEUR_GATEWAY_HOST": "127.0.0.1",
        "FACTEUR_GATEWAY_PORT": str(port),
        "FACTEUR_GATEWAY_SPOOL_DIR": str(spool),
        "FACTEUR_GATEWAY_INGEST_URL": ingest_url,
        "FACTEUR_GATEWAY_TOKEN": token,
        # The evening's uploads arrive within seconds here, not over hours: look for work often.
        "FACTEUR_GATEWAY_POLL_SECONDS": "0.2",
    }
    log = (spool.parent / f"gateway-{port}.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "gateway"], env=environ, stdout=log, stderr=log)
    service = Service(proc, f"http://127.0.0.1:{port}")
    wait_healthy(service.url, proc, "gateway")
    return service


# -- the fleet -----------------------------------------------------------------------------------------


@dataclass
class Fleet:
    depots: list[str]
    vans: list[tuple[str, bytes, int]]  # device id, key, depot index
    chunks: dict[str, list[bytes]]
    readings: int


def make_fleet() -> Fleet:
    depots = [f"bench-fleet-depot-{i}" for i in range(GATEWAYS)]
    vans = [(f"fleet-{i:04d}", secrets.token_bytes(32), i % GATEWAYS) for i in range(VANS)]
    blocks = synthetic_blocks(0, CHUNKS * BLOCKS)
    decoded = decode_blocks(parse_blocks(b"".join(blocks)))
    per_van = len(decoded.track) + len(decoded.air)
    chunks = {
        device: [build_chunk(device, key, blocks[c * BLOCKS : (c + 1) * BLOCKS]) for c in range(CHUNKS)]
        for device, key, _ in vans
    }
    return Fleet(depots, vans, chunks, per_van * VANS)


def register(ingest: str, fleet: Fleet) -> None:
    """Register the vans, each to its depot."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for device, key, depot in fleet.vans:
        body = {"device_id": device, "depot": fleet.depots[depot], "key_hex": key.hex()}
        r = httpx.post(f"{ingest}/v1/registry/devices", headers=admin, timeout=10, json=body)
        r.raise_for_status()


@dataclass
class VanStats:
    acks: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    retry_after_missing: int = 0


async def drive_vans(fleet: Fleet, gateways: list[str], stats: VanStats) -> None:
    """Every van uploads its chunks to its depot's gateway, all vans at once."""
    limits = httpx.Limits(max_connections=VANS, max_keepalive_connections=VANS)
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, limits=limits) as http:

        async def van(device: str, depot: int) -> None:
            acked = -1
            todo = list(fleet.chunks[device])
            while todo:
                t0 = time.perf_counter()
                try:
                    r = await http.post(f"{gateways[depot]}/v1/chunks", content=todo[0],
                                        headers={"Content-Type": CHUNK_MEDIA_TYPE})  # fmt: skip
                except httpx.TimeoutException:
                    stats.timeouts += 1
                    continue
                except httpx.HTTPError:
                    stats.errors += 1
                    await asyncio.sleep(0.5)
                    continue
                stats.statuses[r.status_code] = stats.statuses.get(r.status_code, 0) + 1
                if r.status_code != 200:
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                    continue
                stats.acks.append(time.perf_counter() - t0)
                acked = max(acked, int(r.json()["acked_seq"]))
                todo = [c for c in todo if int.from_bytes(c[10 + c[5] : 14 + c[5]], "little") > acked]

        await asyncio.gather(*(van(device, depot) for device, _, depot in fleet.vans))


async def burst(ingest: str, token: str, bodies: list[bytes], stats: VanStats) -> None:
    """Direct clients posting batches while the gateways forward: more than ingest will take."""
    queue = list(bodies)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": BATCH_MEDIA_TYPE}
    async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:

        async def client() -> None:
            while queue:
                body = queue.pop()
                while True:
                    try:
                        r = await http.post(f"{ingest}/v1/chunks", content=body, headers=headers)
                    except httpx.TimeoutException:
                        stats.timeouts += 1
                        continue
                    stats.statuses[r.status_code] = stats.statuses.get(r.status_code, 0) + 1
                    if r.status_code in (429, 503):
                        if "retry-after" not in r.headers:
                            stats.retry_after_missing += 1
                        await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    r.raise_for_status()
                    break

        await asyncio.gather(*(client() for _ in range(BURST_CLIENTS)))


# -- measuring ----------------------------------------------------------------------------------------


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def histogram_quantile(q: float, text: str, name: str) -> float:
    """Prometheus' histogram_quantile over the cumulative ``<name>_bucket`` samples."""
    buckets = sorted((float(labels["le"]), v) for labels, v in metric_samples(text, f"{name}_bucket"))
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return prev_le


def stored_readings(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM track) + (SELECT count(*) FROM air)").fetchone()
    return int(row[0]) if row else 0


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE track, air, chunk_ranges, raw_runs, quarantine, boot_anchors")


def spool_waits(spools: list[Path]) -> list[float]:
    """Seconds each chunk spent in its gateway between the van's upload and ingest's ack."""
    waits: list[float] = []
    for spool in spools:
        with sqlite3.connect(spool / "spool.sqlite3") as db:
            waits += [float(w) for (w,) in db.execute(
                "SELECT forwarded_at - received_at FROM chunks WHERE forwarded_at IS NOT NULL")]  # fmt: skip
    return waits


def wait_drained(gateways: list[Service], url: str, expected: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while True:
        backlog = sum(
            int(httpx.get(f"{g.url}/status", timeout=30).json()["backlog_chunks"]) for g in gateways
        )
        if backlog == 0 and stored_readings(url) >= expected:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not drained: backlog {backlog}, stored {stored_readings(url)} of {expected}")
        time.sleep(0.1)


@dataclass
class Phase:
    seconds: float
    readings: int
    vans: VanStats
    ingest_text: str
    cpu: dict[str, float]
    rss: dict[str, float]
    waits: list[float]
    gateway_503: float
    gateway_forward_failures: float


def fleet_phase(url: str, fleet: Fleet, root: Path, *, overload: bool) -> Phase:
    env = (
        {
            "FACTEUR_MAX_CONCURRENT_WRITES": "1",
            "FACTEUR_MAX_WAITING_WRITES": "0",
            "FACTEUR_RETRY_AFTER_SECONDS": "1",
        }
        if overload
        else {}
    )
    ingest = start_ingest(url, **env)
    gateways: list[Service] = []
    try:
        tokens = _tokens(ingest.url, fleet)
        spools = []
        for i, token in enumerate(tokens):
            spool = root / f"{'overload' if overload else 'fleet'}-gw{i}" / "spool"
            spool.parent.mkdir(parents=True)
            spools.append(spool)
            gateways.append(start_gateway(ingest.url, token, spool))
        pg0 = cpu_seconds(postgres_pids())
        for s in (ingest, *gateways):
            s.cpu0 = cpu_seconds(s.pids())
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        stats = VanStats()
        expected = fleet.readings
        start = time.perf_counter()

        async def everything() -> None:
            jobs = [drive_vans(fleet, [g.url for g in gateways], stats)]
            if overload:
                # A second copy of the fleet's data under other device ids would need registering;
                # the burst re-sends the vans' own chunks as batches: once stored they are
                # duplicates (nothing written twice), and ingest is just as busy verifying them.
                bodies = [
                    join_batch(fleet.chunks[d][:CHUNKS])
                    for d, _, depot in fleet.vans[: 4 * BURST_CLIENTS]
                    if depot == 0
                ]
                jobs.append(burst(ingest.url, tokens[0], bodies, stats))
            await asyncio.gather(*jobs)

        asyncio.run(everything())
        wait_drained(gateways, url, expected)
        seconds = time.perf_counter() - start
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {
            "ingest": cpu_seconds(ingest.pids()) - ingest.cpu0,
            "gateways": sum(cpu_seconds(g.pids()) - g.cpu0 for g in gateways),
            "vans (this process)": (self1.ru_utime - self0.ru_utime) + (self1.ru_stime - self0.ru_stime),
            "postgres (all, shared)": cpu_seconds(postgres_pids()) - pg0,
        }
        rss = {"ingest": peak_rss_mib(ingest.pids())}
        for i, g in enumerate(gateways):
            rss[f"gateway {i}"] = peak_rss_mib(g.pids())
        rss["vans (this process)"] = self1.ru_maxrss / 1024
        gw_texts = [httpx.get(f"{g.url}/metrics", timeout=30).text for g in gateways]
        gateway_503 = sum(
            v for t in gw_texts for labels, v in metric_samples(t, "facteur_gateway_forward_failures_total")
            if labels.get("reason") in ("http_503", "http_429")
        )  # fmt: skip
        failures = sum(
            v for t in gw_texts for _, v in metric_samples(t, "facteur_gateway_forward_failures_total")
        )
        ingest_text = httpx.get(f"{ingest.url}/metrics", timeout=30).text
        return Phase(
            seconds,
            stored_readings(url),
            stats,
            ingest_text,
            cpu,
            rss,
            spool_waits(spools),
            gateway_503,
            failures,
        )
    finally:
        for g in gateways:
            g.stop()
        ingest.stop()


def _tokens(ingest: str, fleet: Fleet) -> list[str]:
    """New gateways for the depots (the vans are registered already)."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    tokens = []
    for depot in fleet.depots:
        r = httpx.post(f"{ingest}/v1/registry/gateways", headers=admin, timeout=10,
                       json={"gateway_id": f"gw-{depot}-{secrets.token_hex(2)}", "depot": depot})  # fmt: skip
        r.raise_for_status()
        tokens.append(str(r.json()["token"]))
    return tokens


def baseline(url: str, fleet: Fleet) -> tuple[float, float]:
    """(seconds, ingest CPU seconds) to post every chunk straight to ingest, 8 per batch, 4 in flight."""
    ingest = start_ingest(url)
    try:
        token = _tokens(ingest.url, fleet)
        by_depot: dict[int, list[bytes]] = {}
        for device, _, depot in fleet.vans:
            by_depot.setdefault(depot, []).extend(fleet.chunks[device])
        jobs = [
            (token[depot], join_batch(chunks[i : i + 8]))
            for depot, chunks in by_depot.items()
            for i in range(0, len(chunks), 8)
        ]
        cpu0 = cpu_seconds(ingest.pids())

        async def post_all() -> None:
            async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:

                async def one() -> None:
                    while jobs:
                        tok, body = jobs.pop()
                        while True:
                            headers = {"Authorization": f"Bearer {tok}", "Content-Type": BATCH_MEDIA_TYPE}
                            r = await http.post(f"{ingest.url}/v1/chunks", content=body, headers=headers)
                            if r.status_code in (429, 503):
                                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                                continue
                            r.raise_for_status()
                            break

                await asyncio.gather(*(one() for _ in range(4)))

        start = time.perf_counter()
        asyncio.run(post_all())
        return time.perf_counter() - start, cpu_seconds(ingest.pids()) - cpu0
    finally:
        ingest.stop()


def _ms(values: list[float], q: float) -> str:
    return f"{np.percentile(np.array(values) * 1000, q):,.0f}" if values else "-"


def report(label: str, phase: Phase, fleet: Fleet, base_rate: float) -> None:
    rate = phase.readings / phase.seconds
    s = phase.vans
    print(
        f"\n{label}: {phase.readings:,} readings stored of {fleet.readings:,} sent in {phase.seconds:.1f} s"
    )
    print(f"  readings/s end to end      {rate:>12,.0f}   ({rate / base_rate:.2f}x ingest direct)")
    print(
        f"  van->gateway ack           p50 {_ms(s.acks, 50)} ms, p99 {_ms(s.acks, 99)} ms "
        f"({len(s.acks)} uploads)"
    )
    p99 = histogram_quantile(0.99, phase.ingest_text, "facteur_ingest_ack_seconds") * 1000
    print(f"  gateway->ingest ack        p99 {p99:,.0f} ms (ingest's histogram, interpolated)")
    print(f"  chunk in spool until acked p50 {_ms(phase.waits, 50)} ms, p99 {_ms(phase.waits, 99)} ms")
    requests = {
        labels["status"]: v
        for labels, v in metric_samples(phase.ingest_text, "facteur_ingest_chunk_requests_total")
    }
    print(f"  ingest chunk requests      {', '.join(f'{k}: {v:.0f}' for k, v in sorted(requests.items()))}")
    print(
        f"  gateways' forwards refused 429/503: {phase.gateway_503:.0f} "
        f"(all forward failures {phase.gateway_forward_failures:.0f})"
    )
    print(f"  client replies             {dict(sorted(s.statuses.items()))}; timeouts {s.timeouts}, "
          f"connection errors {s.errors}, 429/503 without Retry-After {s.retry_after_missing}")  # fmt: skip
    print("  CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in phase.cpu.items())
          + f"; ingest {phase.cpu['ingest'] / max(phase.readings, 1) * 1e6:.1f} µs/reading")  # fmt: skip
    print("  peak RSS MiB: " + ", ".join(f"{k} {v:.0f}" for k, v in phase.rss.items()))


def main() -> int:
    admin = (
        localdb.LocalDatabase.default().url("postgres")
        if not os.environ.get("FACTEUR_DATABASE_URL")
        else (os.environ["FACTEUR_DATABASE_URL"].rsplit("/", 1)[0] + "/postgres")
    )
    if not os.environ.get("FACTEUR_DATABASE_URL"):
        localdb.LocalDatabase.default().start()
    name = f"facteur_bench_fleet_{secrets.token_hex(4)}"
    localdb.create_database(admin, name)
    url = admin.rsplit("/", 1)[0] + "/" + name
    root = Path(tempfile.mkdtemp(prefix="facteur-bench-fleet-"))
    ok = True
    try:
        migrate.apply(url)
        t0 = time.perf_counter()
        fleet = make_fleet()
        size = sum(len(c) for cs in fleet.chunks.values() for c in cs)
        print(f"fleet: {VANS} vans, {GATEWAYS} depots/gateways, {CHUNKS} uploads × {BLOCKS} blocks per van; "
              f"{fleet.readings:,} readings, {size / 1e6:.1f} MB "
              f"(built in {time.perf_counter() - t0:.1f} s); "
              f"ingest {WORKERS} worker(s); {os.cpu_count()} CPUs, load average at start "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        registrar = start_ingest(url)  # the vans are registered once, for every phase
        try:
            register(registrar.url, fleet)
        finally:
            registrar.stop()
        seconds, base_cpu = baseline(url, fleet)
        base_rate = fleet.readings / seconds
        print(f"\nbaseline, straight to ingest: {base_rate:,.0f} readings/s "
              f"({base_cpu / fleet.readings * 1e6:.1f} ingest CPU µs/reading)")  # fmt: skip
        for overload in (False, True):
            reset(url)
            phase = fleet_phase(url, fleet, root, overload=overload)
            report("overload (1 write slot, no queue)" if overload else "fleet", phase, fleet, base_rate)
            lost, duplicates = (
                max(0, fleet.readings - phase.readings),
                max(0, phase.readings - fleet.readings),
            )
            print(f"  lost {lost}, duplicates {duplicates}, client timeouts {phase.vans.timeouts}")
            ok = (
                ok
                and lost == duplicates == 0
                and phase.vans.timeouts == 0
                and phase.vans.retry_after_missing == 0
            )
            if overload:
                samples = metric_samples(phase.ingest_text, "facteur_ingest_chunk_requests_total")
                refused = sum(v for labels, v in samples if labels["status"] in ("429", "503"))
                ok = ok and refused > 0
        print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        localdb.drop_database(admin, name)
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
