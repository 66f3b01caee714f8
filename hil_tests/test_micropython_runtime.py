"""The MicroPython unix port built by the bootstrap has what the firmware relies on.

Each check runs a real program on the port under a board-sized heap and reads what it prints.
"""

from __future__ import annotations

from pathlib import Path

from ingest.testing import run_micropython

# Deterministic under any machine load: the order comes from events and the scheduler's FIFO run
# queue, and the one timed step only checks that a sleeping task does not block a ready one.
ASYNCIO_ORDER = """
import asyncio
out = []
async def ping(mine, theirs, n):
    for i in range(n):
        await mine.wait()
        mine.clear()
        out.append('p' + str(i))
        theirs.set()
async def pong(mine, theirs, n):
    for i in range(n):
        theirs.set()
        await mine.wait()
        mine.clear()
        out.append('q' + str(i))
async def sleeper():
    await asyncio.sleep_ms(500)
    out.append('slept')
async def main():
    a = asyncio.Event()
    b = asyncio.Event()
    s = asyncio.create_task(sleeper())
    await asyncio.gather(ping(a, b, 3), pong(b, a, 3))
    out.append('done')
    await s
asyncio.run(main())
print(','.join(out))
"""

LITTLEFS_REMOUNT = """
import os
class RAMBlockDevice:
    def __init__(self, block_size, blocks):
        self.block_size = block_size
        self.data = bytearray(block_size * blocks)
        self.blocks = blocks
    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start:start + len(buf)]
    def writeblocks(self, block, buf, offset=None):
        start = block * self.block_size + (offset or 0)
        self.data[start:start + len(buf)] = buf
    def ioctl(self, op, arg):
        if op == 4: return self.blocks
        if op == 5: return self.block_size
        if op == 6:
            start = arg * self.block_size
            self.data[start:start + self.block_size] = b'\\xff' * self.block_size
            return 0
bdev = RAMBlockDevice(512, 64)
os.VfsLfs2.mkfs(bdev)
os.mount(os.VfsLfs2(bdev), '/flash')
with open('/flash/log.bin', 'wb') as f:
    f.write(b'facteur' * 10)
    f.flush()
os.umount('/flash')
os.mount(os.VfsLfs2(bdev), '/flash')
with open('/flash/log.bin', 'rb') as f:
    data = f.read()
print(len(data), data[:7].decode())
"""


def test_version_and_implementation(micropython: Path) -> None:
    proc = run_micropython(
        micropython, "import sys; print(sys.implementation.name, sys.implementation.version[:2])"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "micropython (1, 25)"


def test_frozen_asyncio_interleaves_tasks(micropython: Path) -> None:
    proc = run_micropython(micropython, ASYNCIO_ORDER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "p0,q0,p1,q1,p2,q2,done,slept"


def test_littlefs_survives_remount(micropython: Path) -> None:
    proc = run_micropython(micropython, LITTLEFS_REMOUNT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "70 facteur"


def test_heap_limit_is_enforced(micropython: Path) -> None:
    proc = run_micropython(micropython, "x = bytearray(200 * 1024)", heap="64k")
    assert proc.returncode != 0
    assert "MemoryError" in proc.stderr
