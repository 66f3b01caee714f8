"""The board transport: with ``--port`` a real board (flashed with ``make flash``, provisioned with
``make provision``) is checked over its USB serial console; without it, skipped with the reason.

The lockstep chain tests need the simulators' clock and run on the unix port only; on a board the
readings come from its own sensors (or from serial adapters the wiring file names), in real time.
"""

from __future__ import annotations

import subprocess
from typing import Any

CHECK = (
    "import app, json; p = app.load_provision('/provision.json');"
    " print(json.dumps({'provisioned': p is not None, 'device': p[0] if p else None}))"
)


def test_board_is_flashed_and_provisioned(board: dict[str, Any]) -> None:
    proc = subprocess.run(
        [board["mpremote"], "connect", board["port"], "exec", CHECK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"provisioned": true' in proc.stdout, proc.stdout
    wiring = board["wiring"]
    assert set(wiring["uart"]) == {"gnss", "pms", "modem"}
