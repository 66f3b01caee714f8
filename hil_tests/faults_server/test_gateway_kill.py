"""The depot gateway killed (SIGKILL, a power cut as far as it knows) mid spool and mid forward,
then restarted: every reading is in the database once, and the counters say what happened.

- **mid spool, real firmware**: the chain of ``hil_tests/chain`` (the real firmware on the unix port
  uploading through the depot Wi-Fi to a real gateway process); the Wi-Fi here is a tap that kills
  the gateway at chosen points of an upload: part of the request relayed, the whole request relayed
  (the gateway is verifying or fsyncing it), the reply on its way. The gateway is restarted at once;
  the firmware resends from its acknowledged seq.
- **mid forward**: the gateway's batch is inside ingest's transaction (held there by the per-van
  advisory lock ingest takes) when the gateway is killed; ingest commits, the reply goes nowhere, and
  the restarted gateway sends the batch again: stored as duplicates, nothing written twice.
- **sweep** (``make test-long``): many kills at random moments while vans upload and the gateway
  forwards.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.testing import GatewayProcess
from hil_tests.chain.harness import Chain, compare
from hil_tests.chain.tap import UplinkTap, _read_http
from hil_tests.faults_server.support import KILLS, Van, metric, readings_stored, scrape, seqs_stored
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import WAITING_FOR_ADVISORY_LOCK, IngestService
from simulators.gnss import GnssConfig
from simulators.loops import block_loop
from simulators.scenario import make_van

pytestmark = pytest.mark.timeout(600)


def _firmware_children() -> list[int]:
    """Pids of the MicroPython processes this test process started (the firmware under test)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                comm = Path(f"/proc/{child}/comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith("micropython"):
                pids.append(int(child))
    return pids


class KillingTap(UplinkTap):
    """The depot Wi-Fi, killing the gateway during chosen uploads (one plan entry per connection):

    ``("kill_mid_request", k)``: k bytes of the request reach the gateway, then SIGKILL;
    ``("kill_after_request", ms)``: the whole request reaches it, SIGKILL ms later (before the reply);
    ``("kill_before_reply", 0)``: the gateway replies (the chunk is spooled), SIGKILL before the van
    hears it. The gateway is restarted before the van's connection is closed.
    """

    def __init__(self, gateway: GatewayProcess, plan: list[tuple[str, int]]) -> None:
        self.gateway = gateway
        self.kills = 0
        self.busy = threading.Lock()  # held while a kill and restart are under way
        super().__init__(("127.0.0.1", gateway.port), plan)

    def _kill(self, van: socket.socket) -> None:
        """SIGKILL the gateway, drop the van's connection, restart the gateway.

        The firmware runs in lockstep with the simulators, as fast as it can: the second or two a
        gateway process takes to start would be many simulated minutes, and the van would leave the
        depot. So the van's world is paused (SIGSTOP of the firmware process this test started)
        while the gateway restarts, as if the restart were instantaneous.
        """
        paused = _firmware_children()
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        # The van may have given up on this upload (and even ended its round) before the kill.
        self.busy.acquire()
        try:
            self.gateway.kill()
            self.kills += 1
            KILLS["gateway SIGKILL mid spool (real firmware uploads)"] += 1
            van.close()
            self.gateway.start()
            KILLS["gateway restarts"] += 1
        finally:
            self.busy.release()
            for pid in paused:
                os.kill(pid, signal.SIGCONT)

    def wait_idle(self) -> None:
        """Until no kill or restart is under way (call before asking the gateway anything)."""
        with self.busy:
            pass

    def _relay(self, conn: socket.socket) -> None:
        with self.lock:
            action, at = self.plan[0] if self.plan else ("ok", 0)
        if not action.startswith("kill_"):
            super()._relay(conn)  # takes its own plan entry
            return
        with self.lock:
            self.plan.pop(0)
            self.counts.connections += 1
        conn.settimeout(60)
        head, body, complete = _read_http(conn)
        if not complete:
            return
        with self.lock:
            self.bodies.append(body)
        request = head + b"\r\n\r\n" + body
        with socket.create_connection(self.upstream, timeout=60) as up:
            if action == "kill_mid_request":
                up.sendall(request[:at])
                time.sleep(0.05)
            elif action == "kill_after_request":
                up.sendall(request)
                time.sleep(at / 1000)
            else:
                up.sendall(request)
                _read_http(up)
            self._kill(conn)


def kill_mid_spool(
    chain_factory: Callable[..., Chain], ingest: IngestService, plan: list[tuple[str, int]], laps: int
) -> None:
    before = scrape(ingest.url)
    with chain_factory() as chain:
        assert chain.tap is not None
        chain.tap.close()
        tap = KillingTap(chain.gateway, plan)
        chain.tap = tap
        van, _ = make_van(block_loop(laps=laps), seed=12, gnss=GnssConfig(ttff_s=20.0), tail_s=400.0)
        run = chain.drive(chain.world(van), timeout=300.0)
        tap.wait_idle()
        status = chain.settle()
        made = chain.produced(run)
        held = chain.stored()
    after = scrape(ingest.url)
    assert run.errors() == []
    assert tap.kills == len(plan), (tap.counts, run.last.stats)
    # Every killed upload was a failure for the van, and it uploaded everything afterwards.
    assert run.last.stats["upload_failures"] >= len(plan) and run.last.stats["uploaded_chunks"] >= 1
    assert made.bad_mac == 0 and made.seqs == list(range(len(made.seqs)))
    uploaded = made.uploaded
    assert held.seqs() == sorted(uploaded)
    result = compare(made.keys(), held, seqs=uploaded)
    assert result.exact, result
    assert result.total_lost == 0 and result.total_duplicates == 0
    van_status = next(v for v in status["vans"] if v["device_id"] == chain.device_id)
    assert van_status["acked_seq"] == max(uploaded) and status["backlog_chunks"] == 0
    # A chunk spooled just before a kill that ate its reply is sent again by the van inside a longer
    # one: the gateway spools that whole (its MAC covers all of it) and ingest trims the overlap.
    name = "facteur_ingest_blocks_total"
    accepted = metric(after, name, outcome="accepted") - metric(before, name, outcome="accepted")
    duplicate = metric(after, name, outcome="duplicate") - metric(before, name, outcome="duplicate")
    assert accepted == len(uploaded)
    if ("kill_before_reply", 0) in plan:
        assert duplicate >= 1
    print(
        f"\ngateway killed mid spool: {tap.kills} kills + restarts under real firmware uploads, "
        f"{len(uploaded)} blocks, readings compared {result.total_compared}, lost 0, duplicates 0 "
        f"(ingest trimmed {duplicate:.0f} blocks sent twice)"
    )


def test_gateway_killed_mid_spool_while_the_real_firmware_uploads(
    chain_factory: Callable[..., Chain], ingest_service: IngestService
) -> None:
    kill_mid_spool(
        chain_factory, ingest_service, [("kill_mid_request", 600), ("kill_before_reply", 0)], laps=2
    )


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_gateway_killed_mid_spool_sweep_real_firmware(
    chain_factory: Callable[..., Chain], ingest_service: IngestService
) -> None:
    plan = [("kill_mid_request", k) for k in (0, 150, 3000)]
    plan += [("kill_after_request", ms) for ms in (0, 30)] + [("kill_before_reply", 0)]
    kill_mid_spool(chain_factory, ingest_service, plan, laps=6)


def test_gateway_killed_mid_forward_resends_and_nothing_is_stored_twice(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-kill-forward"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    # An idle forwarder looks for work every 2 s: the van's four chunks are spooled by then, one batch.
    g = GatewayProcess(
        tmp_path / "spool",
        ingest_service.url,
        token,
        FACTEUR_GATEWAY_BATCH_MAX_CHUNKS="4",
        FACTEUR_GATEWAY_POLL_SECONDS="2",
    )
    gateways.append(g)
    blocks = synthetic_blocks(0, 40)
    chunks = [build_chunk(device, key, blocks[i : i + 10]) for i in range(0, 40, 10)]
    before = scrape(ingest_service.url)
    with psycopg.connect(ingest_service.database_url, autocommit=True) as blocker:
        # Ingest's transaction for this van will wait on its advisory lock: the forward is in flight.
        blocker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 7001))", (device,))
        g.start()
        van = Van(device, chunks)
        van.upload_all(g.url)
        deadline = time.monotonic() + 20
        while blocker.execute(WAITING_FOR_ADVISORY_LOCK).fetchone() != (1,):
            assert time.monotonic() < deadline, "the forward never reached ingest's transaction"
            time.sleep(0.02)
        g.kill()  # mid forward: the batch is inside ingest's transaction
        KILLS["gateway SIGKILL mid forward"] += 1
        blocker.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 7001))", (device,))
    # Ingest commits the orphaned batch (its reply goes nowhere) ...
    orphan = _settled(ingest_service.database_url, device)
    assert orphan[0] == orphan[1] > 0
    # ... and the restarted gateway, which never heard the acknowledgement, sends it again.
    g.start()
    KILLS["gateway restarts"] += 1
    status = g.wait_drained()
    after = scrape(ingest_service.url)
    assert seqs_stored(ingest_service.database_url, device) == (40, 40)
    assert readings_stored(ingest_service.database_url, device)["track"] == 400
    assert status["backlog_chunks"] == 0
    name = "facteur_ingest_blocks_total"
    assert metric(after, name, outcome="accepted") - metric(before, name, outcome="accepted") == 40
    assert metric(after, name, outcome="duplicate") - metric(before, name, outcome="duplicate") == orphan[0]
    assert metric(scrape(g.url), "facteur_gateway_forwarded_chunks_total") == 4  # since the restart


def _settled(database_url: str, device: str) -> tuple[int, int]:
    """What the database holds for the van once it has stopped changing for a second."""
    last, since = seqs_stored(database_url, device), time.monotonic()
    while time.monotonic() - since < 1.0:
        time.sleep(0.1)
        now = seqs_stored(database_url, device)
        if now != last:
            last, since = now, time.monotonic()
    return last


def _sweep(ingest: IngestService, tmp_path: Path, kills: int, seed: int) -> None:
    """Vans upload (an upload in flight when the kill hits is cut) while the gateway forwards;
    SIGKILL at random moments, restart; finally everything is in the database once."""
    rng = random.Random(seed)
    depot = f"depot-sweep-{seed}"
    vans = [(*ingest.add_device(depot), rng) for _ in range(4)]
    _, token = ingest.add_gateway(depot)
    g = GatewayProcess(tmp_path / "spool", ingest.url, token, FACTEUR_GATEWAY_BATCH_MAX_CHUNKS="2")
    per_van = 12 * 10
    fleet = [
        Van(device, [build_chunk(device, key, b) for b in _split(synthetic_blocks(0, per_van), rng)])
        for device, key, _ in vans
    ]
    g.start()
    try:
        for _ in range(kills):
            stop = threading.Event()

            def upload(stop: threading.Event = stop) -> None:
                while not stop.is_set() and any(v.pending() for v in fleet):
                    for v in fleet:
                        v.upload_one(g.url, timeout=5)

            worker = threading.Thread(target=upload)
            worker.start()
            time.sleep(rng.uniform(0.0, 0.6))
            g.kill()
            KILLS["gateway SIGKILL (sweep, random moment)"] += 1
            stop.set()
            worker.join()
            g.start()
            KILLS["gateway restarts"] += 1
        for v in fleet:
            v.upload_all(g.url)
        g.wait_drained(timeout=120)
    finally:
        g.stop()
    for v in fleet:
        assert seqs_stored(ingest.database_url, v.device_id) == (per_van, per_van), v.device_id
        assert readings_stored(ingest.database_url, v.device_id)["track"] == per_van * 10


def _split(blocks: list[bytes], rng: random.Random) -> list[list[bytes]]:
    out, i = [], 0
    while i < len(blocks):
        n = rng.randint(3, 20)
        out.append(blocks[i : i + n])
        i += n
    return out


def test_gateway_kill_sample(ingest_service: IngestService, tmp_path: Path) -> None:
    _sweep(ingest_service, tmp_path, kills=4, seed=1)


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_gateway_kill_sweep(ingest_service: IngestService, tmp_path: Path) -> None:
    _sweep(ingest_service, tmp_path, kills=60, seed=2)


def test_health_after_restart_reports_the_spool(ingest_service: IngestService, tmp_path: Path) -> None:
    """What the kill left in the spool is visible in /status after the restart (backlog, vans)."""
    depot = "depot-kill-status"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    # Forward only in a window that never comes now: what is spooled stays there across the kill.
    hour = time.localtime().tm_hour
    window = f"{(hour + 2) % 24:02d}:00-{(hour + 3) % 24:02d}:00"
    g = GatewayProcess(tmp_path / "spool", ingest_service.url, token, FACTEUR_GATEWAY_FORWARD_WINDOW=window)
    g.start()
    try:
        Van(device, [build_chunk(device, key, synthetic_blocks(0, 10))]).upload_all(g.url)
        g.kill()
        KILLS["gateway SIGKILL with a held backlog"] += 1
        g.start()
        KILLS["gateway restarts"] += 1
        status = g.status()
        assert status["backlog_chunks"] == 1
        assert [(v["device_id"], v["acked_seq"]) for v in status["vans"]] == [(device, 9)]  # type: ignore[attr-defined]
        assert httpx.get(f"{g.url}/health", timeout=5).status_code == 200
    finally:
        g.stop()
