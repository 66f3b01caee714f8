"""``python -m gateway`` / ``facteur-gateway``: run a depot gateway until SIGINT/SIGTERM.

Every flag has a ``FACTEUR_GATEWAY_*`` environment variable (see :mod:`gateway.config`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facteur-gateway", description="facteur depot gateway")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--spool-dir", type=Path)
    parser.add_argument("--ingest-url")
    parser.add_argument("--token", help="this gateway's token at ingest (prefer FACTEUR_GATEWAY_TOKEN)")
    parser.add_argument("--forward-window", help="HH:MM-HH:MM; empty = whenever the WAN is up")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    try:
        settings = GatewaySettings(**overrides)
    except ValueError as exc:
        print(f"facteur-gateway: {exc}", file=sys.stderr)
        return 2
    if not settings.token:
        print("facteur-gateway: no ingest token (FACTEUR_GATEWAY_TOKEN or --token)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    print(
        f"facteur-gateway: listening on {settings.host}:{settings.port}, spool {settings.spool_dir}",
        flush=True,
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
