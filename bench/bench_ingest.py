"""Ingest throughput end to end against raw binary COPY of the same rows, in the same run.

What is measured (one fresh database, the real service as ``uvicorn --workers N`` subprocesses):

- **raw COPY**: the decoded rows of every chunk, pre-encoded as binary COPY, copied into the same
  hypertables (``track``, ``air``) over 1 and 2 connections: the database's own ceiling.
- **service**: the same chunks posted as gateway batches over HTTP (auth, HMAC verify, parse,
  range de-duplication, decode, filters, binary COPY, commit, ack) to 1 and 2 workers. The traffic
  is what depots send: ``FACTEUR_BENCH_GATEWAYS`` (4) gateways, one per depot, each forwarding its
  own vans' chunks in spool order with one batch in flight at a time (as ``gateway.forwarder``
  does), on a new connection per request (see ``gateway_forwarder``), sent by a lean HTTP/1.1
  client (:mod:`bench.http_post`) so that the load generator takes little of the CPU the service
  is measured on (raw COPY's client only writes pre-encoded bodies).

Reported: readings/s, the ratio to raw COPY with as many connections as workers, CPU µs per
reading of the ingest processes (and of all PostgreSQL processes, which other users of a shared
machine inflate), the p50/p99 acknowledgement time of a batch request, and the CPU time of each
worker process (an idle worker would show there), and the CPU of the load generator. Raw COPY and
the service alternate for ``FACTEUR_BENCH_ROUNDS`` rounds (3); the table shows each one's best run,
and the ratio of each round's service run to the raw COPY run just before it is reported as well
(median and all rounds): the machine's speed drifts, and a pair close in time shares the drift.

    make bench BENCH_ARGS=ingest        # or: python -m bench ingest
    FACTEUR_BENCH_DEVICES=48 FACTEUR_BENCH_CHUNKS=6   # size (default ≈ 1 M readings)
    FACTEUR_BENCH_ROUNDS=5 python -m bench ingest     # more pairs for the round-by-round median

Last run (2026-12-07 23:33 UTC, commit 4a801df, ``FACTEUR_BENCH_ROUNDS=5 python -m bench ingest``,
nothing else running, load 2.2; 1,054,080 readings): 1 worker 215,730 readings/s = 1.57x raw COPY
over 1 connection (137,121/s), rounds 1.41-1.58; 2 workers 223,650/s = 0.89x raw COPY over 2
connections (251,934/s), rounds 0.76 0.88 0.89 0.92 0.97 (median 0.89); ingest CPU 1.16-1.21 us
per reading, PostgreSQL 6.78-7.30 (raw COPY 6.90-7.12), load generator 0.04-0.05 (raw COPY's
0.11-0.13); p99 acknowledgement 820-833 ms. The same code at 23:25: 2 workers 0.84x, rounds
0.81-0.95 (median 0.93), ingest 1.19-1.20 us. The service as it was at ed67144, measured with this
same bench at 23:29 (PYTHONPATH to a worktree): 2 workers 0.85x, rounds 0.72-0.86 (median 0.85),
ingest 1.57-1.76 us per reading. The 0.64x reported earlier for ed67144 came from the bench: an httpx load
generator spending 0.24-0.35 us of the shared CPUs per reading, and runs that paid for flushing
their predecessor's writes (no CHECKPOINT between runs).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import httpx
import numpy as np
import psycopg

from bench.http_post import post
from bench.procstat import cpu_seconds, postgres_cpu, tree, wait_healthy
from gateway.config import GatewaySettings
from ingest import localdb
from ingest.chunks.batch import BATCH_MEDIA_TYPE, join_batch
from ingest.chunks.pgcopy import Column, copy_body
from ingest.chunks.readings import LAYOUT
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.decode import decode_blocks
from ingest.records.envelope import build_chunk, parse_blocks
from ingest.schema import migrate
from ingest.testing import free_port

DEVICES = int(os.environ.get("FACTEUR_BENCH_DEVICES", "48"))
CHUNKS_PER_DEVICE = int(os.environ.get("FACTEUR_BENCH_CHUNKS", "6"))
#: ≈ 32 KiB (about an hour of driving), what the firmware puts in one upload
#: (``_CHUNK_BYTES`` in firmware/upload.py); FACTEUR_BENCH_BLOCKS_PER_CHUNK to change.
BLOCKS_PER_CHUNK = int(os.environ.get("FACTEUR_BENCH_BLOCKS_PER_CHUNK", "360"))
#: The gateway's default batch (FACTEUR_BENCH_CHUNKS_PER_BATCH).
CHUNKS_PER_BATCH = int(
    os.environ.get("FACTEUR_BENCH_CHUNKS_PER_BATCH", GatewaySettings.model_fields["batch_max_chunks"].default)
)
#: Depots, each with its gateway forwarding its own vans' chunks (FACTEUR_BENCH_GATEWAYS).
GATEWAYS = int(os.environ.get("FACTEUR_BENCH_GATEWAYS", "4"))
ROUNDS = int(os.environ.get("FACTEUR_BENCH_ROUNDS", "3"))
ADMIN = "bench-admin-token"
WIDTHS = (28, 12, 8, 14, 10, 14, 9, 9)


@dataclass
class Dataset:
    devices: list[tuple[str, bytes]]
    chunks: list[bytes]  # device-major order: each device's chunks in seq order
    readings: int
    copy_bodies: dict[str, list[bytes]]  # table -> one binary COPY body per van (raw COPY's best case)


def make_dataset() -> Dataset:
    devices = [(f"bench-{i:04d}", secrets.token_bytes(32)) for i in range(DEVICES)]
    chunks: list[bytes] = []
    bodies: dict[str, list[bytes]] = {"track": [], "air": []}
    readings = 0
    for device_id, key in devices:
        blocks = synthetic_blocks(0, BLOCKS_PER_CHUNK * CHUNKS_PER_DEVICE)
        decoded = decode_blocks(parse_blocks(b"".join(blocks)))  # one boot: every row dated
        for kind in ("track", "air"):
            table = getattr(decoded, kind)
            readings += len(table)
            _, fields = LAYOUT[kind]
            t = table
            bodies[kind].append(
                bytes(
                    copy_body(
                        [
                            Column(t["utc"], "timestamptz"),
                            Column(np.full(len(t), device_id.encode()), "text"),
                            Column(t["boot_id"], "int4"),
                            Column(t["seq"], "int8"),
                            Column(t["ticks"], "int8"),
                            *(Column(t[f], k) for _, f, k in fields),
                        ]
                    )
                )
            )
        for c in range(CHUNKS_PER_DEVICE):
            chunks.append(
                build_chunk(device_id, key, blocks[c * BLOCKS_PER_CHUNK : (c + 1) * BLOCKS_PER_CHUNK])
            )
    return Dataset(devices, chunks, readings, bodies)


def _depot(index: int) -> str:
    return f"bench-depot-{index % GATEWAYS}"


def reset(url: str) -> None:
    """Empty the tables and flush the last run's dirty buffers (CHECKPOINT): a run would otherwise
    pay for writing out its predecessor's ~1 GB of WAL and pages, whichever of the two it is."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE track, air, chunk_ranges, raw_runs, quarantine, boot_anchors, track_hourly")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            print("(no CHECKPOINT between runs: the bench's database user may not)", file=sys.stderr)


def raw_copy(url: str, data: Dataset, connections: int) -> tuple[float, float]:
    """Seconds to COPY every pre-encoded body over ``connections`` connections, and the client's CPU
    seconds."""
    jobs = [("track", b) for b in data.copy_bodies["track"]] + [("air", b) for b in data.copy_bodies["air"]]
    names = {
        k: ", ".join(["time", "device_id", "boot_id", "seq", "ticks", *(c for c, _, _ in LAYOUT[k][1])])
        for k in LAYOUT
    }
    lock = threading.Lock()
    conns = [psycopg.connect(url, autocommit=True) for _ in range(connections)]

    def worker(conn: psycopg.Connection[tuple[object, ...]]) -> None:
        while True:
            with lock:
                if not jobs:
                    return
                kind, body = jobs.pop()
            with (
                conn.transaction(),
                conn.cursor().copy(f"COPY {kind} ({names[kind]}) FROM STDIN (FORMAT BINARY)") as cp,
            ):
                cp.write(body)

    start, cpu0 = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=worker, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, client_cpu = time.perf_counter() - start, time.process_time() - cpu0
    for c in conns:
        c.close()
    return elapsed, client_cpu


@dataclass
class ServiceRun:
    seconds: float
    ingest_cpu: float
    postgres_cpu: float
    latencies: list[float]
    accepted: int
    #: CPU seconds of each worker process, largest first (are the workers evenly loaded?).
    worker_cpu: list[float]
    #: CPU seconds of the load generator (this process) while it sent.
    client_cpu: float


def service(url: str, data: Dataset, workers: int) -> ServiceRun:
    port = free_port()
    env = {**os.environ, "FACTEUR_DATABASE_URL": url, "FACTEUR_ADMIN_TOKEN": ADMIN}
    env.pop("FACTEUR_ROAD_NETWORK", None)  # no map matching in the background: ingest alone is measured
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "ingest.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, "ingest")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        # The bench's vans keep their ids and keys from run to run (registered once, 409 after),
        # each at a fixed depot; one gateway per depot, with a new gateway id per run.
        for i, (device_id, key) in enumerate(data.devices):
            httpx.post(f"{base}/v1/registry/devices", json={"device_id": device_id, "depot": _depot(i),
                       "key_hex": key.hex()}, headers=admin, timeout=10)  # fmt: skip
        queues: list[list[bytes]] = []
        tokens: list[str] = []
        for g in range(GATEWAYS):
            gateway = {"gateway_id": f"gw-bench-{g}-{secrets.token_hex(3)}", "depot": _depot(g)}
            r = httpx.post(f"{base}/v1/registry/gateways", json=gateway, headers=admin, timeout=10)
            tokens.append(r.json()["token"])
            # In spool order, as the gateway forwards: each van's uploads of the day one after the other.
            order = [c for i, c in enumerate(data.chunks) if _depot(i // CHUNKS_PER_DEVICE) == _depot(g)]
            queues.append(
                [join_batch(order[i : i + CHUNKS_PER_BATCH]) for i in range(0, len(order), CHUNKS_PER_BATCH)]
            )
        pids = tree(proc.pid)
        cpu0, pg0 = cpu_seconds(pids), postgres_cpu()
        per0 = {p: cpu_seconds([p]) for p in pids}
        latencies: list[float] = []
        accepted = 0

        async def gateway_forwarder(queue: list[bytes], token: str) -> None:
            """One batch in flight at a time, as ``gateway.forwarder`` does."""
            nonlocal accepted
            headers = {"Authorization": f"Bearer {token}", "Content-Type": BATCH_MEDIA_TYPE}
            # A new connection per request: uvicorn's workers share one listening socket, and a
            # kept-alive connection stays with the worker that accepted it (a load balancer would
            # spread requests); a new one is accepted by whichever worker is free.
            for body in queue:
                while True:
                    t0 = time.perf_counter()
                    resp = await post("127.0.0.1", port, "/v1/chunks", body, headers, timeout=120)
                    if resp.status in (429, 503):
                        await asyncio.sleep(float(resp.headers.get("retry-after", "1")) / 10)
                        continue
                    if resp.status != 200:
                        raise RuntimeError(f"ingest answered {resp.status}: {resp.body[:200]!r}")
                    latencies.append(time.perf_counter() - t0)
                    accepted += int(resp.json()["accepted"])
                    break

        async def client() -> None:
            await asyncio.gather(*(gateway_forwarder(q, t) for q, t in zip(queues, tokens, strict=True)))

        start, client0 = time.perf_counter(), time.process_time()
        asyncio.run(client())
        elapsed, client_cpu = time.perf_counter() - start, time.process_time() - client0
        pids = tree(proc.pid)
        # The busiest processes are the workers (with --workers 2, uvicorn's supervisor and
        # multiprocessing's resource tracker idle).
        per_worker = sorted((cpu_seconds([p]) - per0.get(p, 0.0) for p in pids), reverse=True)[:workers]
        return ServiceRun(
            elapsed,
            cpu_seconds(pids) - cpu0,
            postgres_cpu() - pg0,
            latencies,
            accepted,
            per_worker,
            client_cpu,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    admin = localdb.database_url().rsplit("/", 1)[0] + "/postgres"  # starts the private cluster if needed
    name = f"facteur_bench_{secrets.token_hex(4)}"
    localdb.create_database(admin, name)
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.apply(url)
        t0 = time.perf_counter()
        data = make_dataset()
        total_blocks = DEVICES * CHUNKS_PER_DEVICE * BLOCKS_PER_CHUNK
        print(f"dataset: {DEVICES} vans × {CHUNKS_PER_DEVICE} chunks × {BLOCKS_PER_CHUNK} blocks = "
              f"{total_blocks} blocks, {data.readings} readings, {sum(map(len, data.chunks)) / 1e6:.1f} MB "
              f"(built in {time.perf_counter() - t0:.1f} s)")  # fmt: skip
        # Raw COPY and the service alternate, ROUNDS times; each configuration keeps its best run,
        # so a burst of load from other users of the machine does not decide the ratio.
        raw: dict[int, tuple[float, float, float]] = {}  # connections -> (readings/s, pg, client µs/rd)
        svc: dict[int, tuple[float, ServiceRun]] = {}
        # Each round's service rate over the raw COPY rate measured just before it: the machine's
        # speed drifts between rounds (raw COPY over 2 connections moved 224-350k readings/s in one
        # session), and a pair close in time shares the drift.
        paired: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(ROUNDS):
            for n in (1, 2):
                reset(url)
                pg0 = postgres_cpu()
                seconds, client_cpu = raw_copy(url, data, n)
                pg_us = (postgres_cpu() - pg0) / data.readings * 1e6
                if data.readings / seconds > raw.get(n, (0.0, 0.0, 0.0))[0]:
                    raw[n] = (data.readings / seconds, pg_us, client_cpu / data.readings * 1e6)
                reset(url)
                run = service(url, data, n)
                if run.accepted != total_blocks:
                    print(f"service stored {run.accepted} of {total_blocks} blocks", file=sys.stderr)
                    return 1
                if n not in svc or data.readings / run.seconds > svc[n][0]:
                    svc[n] = (data.readings / run.seconds, run)
                paired[n].append(seconds / run.seconds)
        header = (
            f"run (best of {ROUNDS})",
            "readings/s",
            "vs raw",
            "ingest µs/rd",
            "pg µs/rd",
            "client µs/rd",
            "p50 ms",
            "p99 ms",
        )
        print("".join(f"{h:<28}" if i == 0 else f"{h:>{WIDTHS[i]}}" for i, h in enumerate(header)))
        for n in (1, 2):
            print(f"{f'raw binary COPY, {n} conn':<28}{raw[n][0]:>12,.0f}{'1.00':>8}{'-':>14}"
                  f"{raw[n][1]:>10.2f}{raw[n][2]:>14.2f}{'-':>9}{'-':>9}")  # fmt: skip
        for n in (1, 2):
            rate, run = svc[n]
            lat = np.array(run.latencies) * 1000
            ingest_us = run.ingest_cpu / data.readings * 1e6
            pg_us = run.postgres_cpu / data.readings * 1e6
            client_us = run.client_cpu / data.readings * 1e6
            print(f"{f'service, {n} worker(s)':<28}{rate:>12,.0f}{rate / raw[n][0]:>8.2f}"
                  f"{ingest_us:>14.2f}{pg_us:>10.2f}{client_us:>14.2f}"
                  f"{np.percentile(lat, 50):>9.0f}{np.percentile(lat, 99):>9.0f}")  # fmt: skip
        for n in (1, 2):
            rate, run = svc[n]
            # When both keep every CPU busy, the ratio of throughputs is the inverse ratio of the CPU
            # each spends per reading (database, service and load generator on the same cores).
            svc_us = (run.postgres_cpu + run.ingest_cpu + run.client_cpu) / data.readings * 1e6
            raw_us = raw[n][1] + raw[n][2]
            cpu_bound = raw_us / svc_us
            print(f"service, {n} worker(s): CPU s per worker process "
                  + " / ".join(f"{c:.2f}" for c in run.worker_cpu)
                  + f"; all CPU per reading {svc_us:.2f} µs vs raw COPY's {raw_us:.2f} "
                  f"(ratio when CPU-bound {cpu_bound:.2f}); CPUs busy: service "
                  f"{rate * svc_us / 1e6:.2f}, raw COPY {raw[n][0] * raw_us / 1e6:.2f}")  # fmt: skip
        for n in (1, 2):
            ratios = sorted(paired[n])
            print(f"service, {n} worker(s) / raw COPY, {n} conn, round by round: median "
                  f"{float(np.median(ratios)):.2f} ({' '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
        print(f"(chunk = {BLOCKS_PER_CHUNK} blocks; batch = {CHUNKS_PER_BATCH} chunks "
              f"≈ {CHUNKS_PER_BATCH * BLOCKS_PER_CHUNK * 10} readings; "
              f"{GATEWAYS} gateways, one batch in flight each; "
              f"{os.cpu_count()} CPUs shared with the database)")  # fmt: skip
    finally:
        localdb.drop_database(admin, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
