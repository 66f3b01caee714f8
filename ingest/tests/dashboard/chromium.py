"""A Node script driving Debian's headless Chromium (playwright-core) against the real ingest service
on loopback, for the dashboard tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ingest.app import create_app
from ingest.core.config import Settings
from ingest.dashboard import maplibre_dist, npm_modules
from ingest.testing import LiveServer

HERE = Path(__file__).resolve().parent
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "dashboard"


def run_in_chromium(script: str, database_url: str) -> dict[str, Any]:
    """Serve ingest on ``database_url``, run ``node HERE/script URL CHROMIUM ARTIFACTS`` and return the
    JSON object the script prints last (screenshots go to ``artifacts/dashboard/``)."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (make bootstrap installs it)"
    assert (maplibre_dist() / "maplibre-gl.js").is_file(), "run `make dashboard-assets`"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with LiveServer(create_app(Settings(database_url=database_url))) as server:
        proc = subprocess.run(
            ["node", str(HERE / script), server.url, chromium, str(ARTIFACTS)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NODE_PATH": str(npm_modules())},
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    return result
