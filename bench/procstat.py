"""What the benches read about processes from /proc: CPU seconds, process trees, peak memory,
PostgreSQL's CPU (with its exited backends), and waiting for a service's /health."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

_TICKS = os.sysconf("SC_CLK_TCK")


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (index 0 is the state), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the live processes among ``pids``."""
    total = 0
    for pid in pids:
        fields = stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        for child in children:
            out += tree(int(child))
    return out


def peak_rss_mib(pids: list[int]) -> float:
    """Largest VmHWM (peak resident set) among ``pids``, MiB."""
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def postgres_pids() -> list[int]:
    pids = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if (p / "comm").read_text().strip().startswith("postgres"):
                pids.append(int(p.name))
        except OSError:
            continue
    return pids


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process so far, including backends that have exited.

    A backend exits when its connection closes (raw COPY closes its connections before the
    reading is taken); the postmaster then adds its CPU time to its own children's time.
    """
    pids = postgres_pids()
    total = cpu_seconds(pids)
    for pid in pids:
        fields = stat(pid)
        if fields is not None and int(fields[1]) not in pids:  # the postmaster: its parent is not postgres
            total += (int(fields[13]) + int(fields[14])) / _TICKS  # cutime, cstime: reaped backends
    return total


def wait_healthy(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    """Wait until ``url``/health answers 200; RuntimeError if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.1)
