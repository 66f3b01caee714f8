"""``python -m gateway`` / ``facteur-gateway``: run a depot gateway until SIGINT/SIGTERM.

Every flag has a ``FACTEUR_GATEWAY_*`` environment variable (see :mod:`gateway.config`).
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings


def die_with_parent(parent_pid: int) -> None:
    """End this process (SIGTERM, a clean stop) when ``parent_pid``, which started it, exits.

    For a gateway run as part of a larger stack (``facteur run``): however the parent ends, even by
    SIGKILL, the gateway does not outlive it holding its port. Linux only (``PR_SET_PDEATHSIG``).
    """
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent was already gone before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


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
    parent = os.environ.get("FACTEUR_GATEWAY_PARENT_PID")
    if parent:
        die_with_parent(int(parent))
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
