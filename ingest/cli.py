"""``facteur``: the command line of the central side.

facteur db start|stop|status|url    the private TimescaleDB + PostGIS cluster
facteur run [--port 8400]           the stack on its embedded defaults (ingest + a demo depot
                                    gateway), until Ctrl-C
facteur registry add-device ID --depot D [--vehicle V] [--key-hex K] [--provision FILE ...]
facteur registry list-devices [--depot D]
facteur registry add-gateway ID --depot D          prints the gateway's token (once)
facteur registry provision ID --out FILE --gateway HOST:PORT [--ssid S ...]
facteur gateway [flags of facteur-gateway]          run a depot gateway
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import uvicorn

from ingest.core.config import Settings
from ingest.localdb import LocalDatabase, LocalDatabaseError, database_url, state_dir
from ingest.registry import store
from ingest.registry.store import RegistryError
from ingest.schema import migrate

T = TypeVar("T")

DEMO_DEPOT = "depot-demo"
DEMO_GATEWAY = "gw-demo"
DEMO_DEVICE = "van-demo-0001"
DEMO_GATEWAY_PORT = 8500
DEMO_SSID = "facteur-depot-demo"


def _db(action: str) -> int:
    db = LocalDatabase.default()
    if action == "start":
        url = db.ensure_running()
        print(f"facteur db: running on 127.0.0.1:{db.port} ({db.root}); url: {url}")
    elif action == "stop":
        db.stop()
        print("facteur db: stopped")
    elif action == "status":
        if db.running():
            print(f"facteur db: running on 127.0.0.1:{db.port} ({db.root})")
        else:
            print(f"facteur db: not running ({'initialised' if db.initialised() else 'not initialised'})")
            return 3
    elif action == "url":
        if os.environ.get("FACTEUR_DATABASE_URL"):
            print(os.environ["FACTEUR_DATABASE_URL"])
        else:
            print(db.ensure_running())
    return 0


def _with_registry(url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    """Run ``work`` on a connection to a migrated database."""
    migrate.apply(url)

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(go())


def _demo_depot(url: str, gateway_port: int) -> tuple[str, Path]:
    """Register the demo depot's gateway (new token each run) and van; returns the token and the
    van's provisioning file."""

    async def work(conn: psycopg.AsyncConnection[Any]) -> tuple[str, store.Device]:
        token = await store.issue_gateway_token(conn, DEMO_GATEWAY, depot=DEMO_DEPOT)
        device = await store.get_device(conn, DEMO_DEVICE)
        if device is None:
            device = await store.add_device(conn, DEMO_DEVICE, depot=DEMO_DEPOT, vehicle="demo")
        return token, device

    token, device = _with_registry(url, work)
    folder = state_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DEMO_DEVICE}.json"
    store.write_provisioning(path, device, [DEMO_SSID], f"127.0.0.1:{gateway_port}")
    return token, path


def _start_gateway(ingest_url: str, token: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FACTEUR_GATEWAY_HOST": "127.0.0.1",
        "FACTEUR_GATEWAY_PORT": str(port),
        "FACTEUR_GATEWAY_SPOOL_DIR": str(state_dir() / "gateway-demo"),
        "FACTEUR_GATEWAY_INGEST_URL": ingest_url,
        "FACTEUR_GATEWAY_TOKEN": token,
    }
    # Its own process group: Ctrl-C reaches us, and we stop the gateway in order. And it dies with
    # us however we end (SIGKILL, a supervisor's SIGTERM to make only): never an orphan on the port.
    env["FACTEUR_GATEWAY_PARENT_PID"] = str(os.getpid())
    return subprocess.Popen([sys.executable, "-m", "gateway"], env=env, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run(host: str, port: int, gateway_port: int) -> int:
    settings = Settings(host=host, port=port)
    local = LocalDatabase.default()
    started_here = False
    if settings.database_url is None:
        started_here = not local.running()
        settings = settings.model_copy(update={"database_url": local.ensure_running()})
        where = f"private TimescaleDB on 127.0.0.1:{local.port}"
        started_private = True
    else:
        where = "FACTEUR_DATABASE_URL"
        started_private = False
    assert settings.database_url is not None
    gateway: subprocess.Popen[bytes] | None = None
    try:
        token, provisioning = _demo_depot(settings.database_url, gateway_port)
        ingest_url = f"http://{host}:{port}"
        gateway = _start_gateway(ingest_url, token, gateway_port)
        print(f"facteur: database: {where}")
        print(f"facteur: ingest   {ingest_url}/health   (API docs: {ingest_url}/docs)")
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        print(f"facteur: gateway  {gateway_url}/status   (depot {DEMO_DEPOT})")
        print(f"facteur:          vans upload to {gateway_url}/v1/chunks")
        print(f"facteur: demo van {DEMO_DEVICE}, provisioning file {provisioning}")
        print(f"facteur: dashboard {ingest_url}/dashboard/")
        print("facteur: Ctrl-C stops everything")
        from ingest.app import create_app  # noqa: PLC0415 - the other commands do not need the app
        from ingest.indicators import demo_fleet  # noqa: PLC0415

        # The demo fleet goes into the private database only (or where FACTEUR_DEMO_FLEET=1 asks).
        if os.environ.get("FACTEUR_DEMO_FLEET", "1" if started_private else "0") == "1":
            os.environ.setdefault("FACTEUR_ROAD_NETWORK", "helsinki")
            demo_fleet.start_in_background(ingest_url, settings.admin_token, settings.database_url)
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        if gateway is not None:
            _stop(gateway)
            print("facteur: gateway stopped")
        if started_here:
            local.stop()
            print("facteur: private database stopped")
    return 0


def _registry(args: argparse.Namespace) -> int:
    url = database_url()

    async def add_device(conn: psycopg.AsyncConnection[Any]) -> store.Device:
        key = store.parse_key_hex(args.key_hex) if args.key_hex else None
        return await store.add_device(conn, args.device_id, depot=args.depot, vehicle=args.vehicle, key=key)

    async def get_device(conn: psycopg.AsyncConnection[Any]) -> store.Device | None:
        return await store.get_device(conn, args.device_id)

    async def list_devices(conn: psycopg.AsyncConnection[Any]) -> list[store.Device]:
        return await store.list_devices(conn, args.depot)

    async def add_gateway(conn: psycopg.AsyncConnection[Any]) -> tuple[store.Gateway, str]:
        return await store.add_gateway(conn, args.gateway_id, depot=args.depot)

    if args.action == "add-device":
        device = _with_registry(url, add_device)
        print(f"{device.device_id}\tdepot={device.depot}\tvehicle={device.vehicle or ''}")
        if args.provision:
            store.write_provisioning(Path(args.provision), device, args.ssid or [], args.gateway)
            print(f"provisioning file: {args.provision}")
    elif args.action == "list-devices":
        for d in _with_registry(url, list_devices):
            print(f"{d.device_id}\tdepot={d.depot}\tvehicle={d.vehicle or ''}")
    elif args.action == "add-gateway":
        gateway, token = _with_registry(url, add_gateway)
        print(f"{gateway.gateway_id}\tdepot={gateway.depot}")
        print(f"token (shown once; set FACTEUR_GATEWAY_TOKEN on the gateway): {token}")
    elif args.action == "provision":
        found = _with_registry(url, get_device)
        if found is None:
            raise RegistryError("unknown_device", f"{args.device_id} is not registered")
        store.write_provisioning(Path(args.out), found, args.ssid or [], args.gateway)
        print(f"provisioning file: {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gateway"]:
        from gateway.__main__ import main as gateway_main  # noqa: PLC0415 - only this command needs it

        return gateway_main(argv[1:])
    parser = argparse.ArgumentParser(prog="facteur", description=__doc__.split("\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="the private database")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    run = sub.add_parser("run", help="run the stack on its embedded defaults")
    run.add_argument("--host", default=Settings().host)
    run.add_argument("--port", type=int, default=Settings().port)
    run.add_argument("--gateway-port", type=int, default=DEMO_GATEWAY_PORT)
    sub.add_parser("gateway", help="run a depot gateway (see facteur gateway --help)")
    reg = sub.add_parser("registry", help="devices and gateways")
    regsub = reg.add_subparsers(dest="action", required=True)
    p = regsub.add_parser("add-device")
    p.add_argument("device_id")
    p.add_argument("--depot", required=True)
    p.add_argument("--vehicle")
    p.add_argument("--key-hex", help="64 hex digits; random when omitted")
    p.add_argument("--provision", metavar="FILE", help="also write the provisioning file")
    p.add_argument("--ssid", action="append", help="depot Wi-Fi SSID (repeatable)")
    p.add_argument("--gateway", default=f"192.168.4.1:{DEMO_GATEWAY_PORT}", help="gateway host:port")
    p = regsub.add_parser("list-devices")
    p.add_argument("--depot")
    p = regsub.add_parser("add-gateway")
    p.add_argument("gateway_id")
    p.add_argument("--depot", required=True)
    p = regsub.add_parser("provision")
    p.add_argument("device_id")
    p.add_argument("--out", required=True)
    p.add_argument("--ssid", action="append")
    p.add_argument("--gateway", default=f"192.168.4.1:{DEMO_GATEWAY_PORT}")
    args = parser.parse_args(argv)
    try:
        if args.command == "db":
            return _db(args.action)
        if args.command == "registry":
            return _registry(args)
        return _run(args.host, args.port, args.gateway_port)
    except (LocalDatabaseError, RegistryError, migrate.MigrationError, psycopg.OperationalError) as exc:
        print(f"facteur: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
