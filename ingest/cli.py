"""``facteur``: the command line of the central side.

facteur db start|stop|status|url    the private TimescaleDB + PostGIS cluster
facteur run [--port 8400]           the stack on its embedded defaults, until Ctrl-C
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from ingest.app import create_app
from ingest.core.config import Settings
from ingest.localdb import LocalDatabase, LocalDatabaseError


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


def _run(host: str, port: int) -> int:
    settings = Settings(host=host, port=port)
    local = LocalDatabase.default()
    started_here = False
    if settings.database_url is None:
        started_here = not local.running()
        settings = settings.model_copy(update={"database_url": local.ensure_running()})
        where = f"private TimescaleDB on 127.0.0.1:{local.port}"
    else:
        where = "FACTEUR_DATABASE_URL"
    print(f"facteur: database: {where}")
    print(f"facteur: ingest   http://{host}:{port}/health   (API docs: http://{host}:{port}/docs)")
    print("facteur: Ctrl-C stops everything")
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        if started_here:
            local.stop()
            print("facteur: private database stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facteur", description=__doc__.split("\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="the private database")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    run = sub.add_parser("run", help="run the stack on its embedded defaults")
    run.add_argument("--host", default=Settings().host)
    run.add_argument("--port", type=int, default=Settings().port)
    args = parser.parse_args(argv)
    try:
        if args.command == "db":
            return _db(args.action)
        return _run(args.host, args.port)
    except LocalDatabaseError as exc:
        print(f"facteur: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
