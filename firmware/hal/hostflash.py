"""The host's flash as a file-backed block device mounted as vfs.VfsLfs2 (the 2 MiB ESP32 partition)."""

import os

import vfs


class FileBlockDevice:
    """A file-backed block device for vfs.VfsLfs2 (the 2 MiB ESP32 partition as a file)."""

    def __init__(self, path, block_size, blocks):
        self.bs = block_size
        self.n = blocks
        try:
            os.stat(path)
        except OSError:
            with open(path, "wb") as f:
                ff = b"\xff" * block_size
                for _ in range(blocks):
                    f.write(ff)
        self.f = open(path, "r+b")

    def readblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        self.f.readinto(buf)

    def writeblocks(self, block, buf, offset=0):
        self.f.seek(block * self.bs + offset)
        self.f.write(buf)
        self.f.flush()

    def ioctl(self, op, arg):
        if op == 4:
            return self.n
        if op == 5:
            return self.bs
        if op == 6:
            self.f.seek(arg * self.bs)
            self.f.write(b"\xff" * self.bs)
            return 0
        return 0


def mount_flash(spec, mountpoint="/flash"):
    """Mount the wiring file's flash; returns the folder the firmware writes to."""
    path = spec["path"]
    dev = FileBlockDevice(path, spec.get("block_size", 4096), spec.get("blocks", 512))
    try:
        fs = vfs.VfsLfs2(dev)  # pyright: ignore[reportArgumentType]  (duck-typed block device)
    except OSError:
        vfs.VfsLfs2.mkfs(dev)  # pyright: ignore[reportArgumentType]
        fs = vfs.VfsLfs2(dev)  # pyright: ignore[reportArgumentType]  (duck-typed block device)
    vfs.mount(fs, mountpoint)
    return mountpoint
