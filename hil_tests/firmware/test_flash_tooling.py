"""`make flash` and `make provision` through real mpremote to a simulated board, then a boot from the image.

The board (``simulators.board.SimBoard``) speaks MicroPython's REPL protocol on a pty and runs what
mpremote sends on a real MicroPython unix-port process whose root filesystem is a 2 MiB littlefs
image. After flashing and provisioning through the Makefile's own targets:

- the image holds every .mpy of ``firmware-build`` byte for byte, ``main.py`` and the provisioning
  file (which the firmware's ``load_provision`` accepts); ``mpremote fs ls``/``cat`` agree;
- the image boots: the unix port mounts it, imports the firmware's .mpy from it (nothing from the
  source tree) and drives a short round against the simulators with the host HAL; the depot
  gateway double accepts only chunks signed with the key `make provision` drew, and the readings
  decode with ``ingest.records``, starting with the BOOT record carrying ``firmware/version.py``.

And the REPL protocol itself (friendly, raw, raw-paste flow control, resets, Ctrl-C) byte for
byte, and garbage on the line, after which the board still answers mpremote.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hil_tests.firmware import gateway_double
from hil_tests.firmware.gateway_double import Gateway
from ingest.records import build_chunk, parse_blocks, parse_chunk
from ingest.records.decode import decode_blocks
from ingest.testing import micropython_path
from simulators.board import BLOCK_SIZE, BLOCKS, RAW_PASTE_WINDOW, SimBoard
from simulators.gnss import GnssConfig
from simulators.hostlink import LinkServer
from simulators.loops import block_loop
from simulators.scenario import make_van
from simulators.world import World

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MPREMOTE = ROOT / ".cache" / "firmware-venv" / "bin" / "mpremote"
DEVICE = "van-0042"
VERSION = re.search(r'VERSION = "([^"]+)"', (FIRMWARE / "version.py").read_text())[1]  # type: ignore[index]

pytestmark = pytest.mark.skipif(not MPREMOTE.is_file(), reason="mpremote: run `make firmware-venv`")


def mpremote(port: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MPREMOTE), "connect", port, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def make(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


# --- reading the image from another MicroPython process -------------------------------------------

LIST_IMAGE = """
import sys, os, vfs, json, hashlib, binascii
sys.path.insert(0, FIRMWARE)
from hal.hostflash import FileBlockDevice
vfs.mount(vfs.VfsLfs2(FileBlockDevice(IMAGE, BLOCK_SIZE, BLOCKS)), '/img')
files = {}
def walk(d):
    for name, kind, *_ in os.ilistdir(d):
        p = d + '/' + name
        if kind == 0x4000:
            walk(p)
        else:
            with open(p, 'rb') as f:
                files[p[len('/img/'):]] = binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()
walk('/img')
print(json.dumps(files))
"""


def _constants(image: Path) -> str:
    return (
        f"FIRMWARE = {str(FIRMWARE)!r}\nIMAGE = {str(image)!r}\n"
        f"BLOCK_SIZE = {BLOCK_SIZE}\nBLOCKS = {BLOCKS}\n"
    )


def image_files(image: Path) -> dict[str, str]:
    """{path: sha256 hex} of every file on the littlefs image."""
    code = _constants(image) + LIST_IMAGE
    proc = subprocess.run(
        [str(micropython_path()), "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    files: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return files


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- flashed and provisioned once for the module ----------------------------------------------------


@dataclass
class Flashed:
    image: Path
    build: Path
    provision: Path
    flash: subprocess.CompletedProcess[str]
    provision_run: subprocess.CompletedProcess[str]
    ls: str
    ls_hal: str
    cat_provision: str
    cat_boot: str
    files: dict[str, str]
    counts: dict[str, int]
    transcript: bytes
    ssid: str


@pytest.fixture(scope="module")
def flashed(tmp_path_factory: pytest.TempPathFactory) -> Flashed:
    tmp = tmp_path_factory.mktemp("board")
    image, build, provision = tmp / "flash.img", tmp / "build", tmp / "provision.json"
    ssid = "facteur-depot-07"
    with SimBoard(image) as board:
        assert board.wait_idle(), board.transcript.decode(errors="replace")
        # an earlier source deploy: a stale app.py would be imported instead of app.mpy
        stale = "f = open('app.py', 'w'); f.write('raise ImportError(\\'stale source\\')'); f.close()"
        planted = mpremote(board.port, "exec", stale)
        assert planted.returncode == 0, planted.stderr
        flash = make("flash", f"PORT={board.port}", f"FW_BUILD={build}")
        assert flash.returncode == 0, flash.stdout + flash.stderr
        prov = make(
            "provision",
            f"PORT={board.port}",
            f"DEVICE={DEVICE}",
            f"SSIDS={ssid}",
            f"PROVISION_OUT={provision}",
        )
        assert prov.returncode == 0, prov.stdout + prov.stderr
        assert board.wait_idle(), board.transcript[-2000:].decode(errors="replace")
        ls = mpremote(board.port, "fs", "ls", ":")
        ls_hal = mpremote(board.port, "fs", "ls", ":hal")
        cat_prov = mpremote(board.port, "fs", "cat", ":provision.json")
        cat_boot = mpremote(board.port, "fs", "cat", ":boot.py")
        for p in (ls, ls_hal, cat_prov, cat_boot):
            assert p.returncode == 0, p.stdout + p.stderr
        counts = dict(board.counts)
        transcript = bytes(board.transcript)
    return Flashed(
        image=image,
        build=build,
        provision=provision,
        flash=flash,
        provision_run=prov,
        ls=ls.stdout,
        ls_hal=ls_hal.stdout,
        cat_provision=cat_prov.stdout,
        cat_boot=cat_boot.stdout,
        files=image_files(image),
        counts=counts,
        transcript=transcript,
        ssid=ssid,
    )


def test_image_holds_every_module_of_the_build(flashed: Flashed) -> None:
    built = {str(p.relative_to(flashed.build)): sha256(p) for p in flashed.build.rglob("*") if p.is_file()}
    mpy = [p for p in built if p.endswith(".mpy")]
    sources = {str(p.relative_to(FIRMWARE)) for p in FIRMWARE.rglob("*.py") if p.parts[-2] != "tests"}
    assert len(mpy) == len(sources) - 1  # every module but main.py, which stays source
    assert "main.py" in built
    for path, digest in built.items():
        assert flashed.files.get(path) == digest, path  # byte for byte
    # the partition holds the firmware, the provisioning file and ESP32's first-boot boot.py: no more
    # (the stale app.py planted before flashing is gone)
    assert set(flashed.files) == set(built) | {"provision.json", "boot.py"}
    assert flashed.files["provision.json"] == sha256(flashed.provision)
    # mpremote's `cp -r . :` went through raw-paste mode, and the board was reset after each target
    assert flashed.counts["raw_pastes"] > len(built)
    assert flashed.counts["hard_resets"] == 2
    assert flashed.transcript.count(b"rst:0xc (SW_CPU_RESET)") == 2


def test_mpremote_ls_and_cat(flashed: Flashed) -> None:
    sizes = {line.split()[1]: int(line.split()[0]) for line in flashed.ls.splitlines()[1:] if line.strip()}
    top = {p.name: p.stat().st_size for p in flashed.build.iterdir() if p.is_file()}
    assert {k: v for k, v in sizes.items() if k in top} == top
    assert {"hal/", "drivers/", "provision.json", "boot.py"} <= set(sizes)
    assert sizes["provision.json"] == flashed.provision.stat().st_size
    hal = {line.split()[1] for line in flashed.ls_hal.splitlines()[1:] if line.strip()}
    assert hal == {p.name for p in (flashed.build / "hal").iterdir()}
    doc = json.loads(flashed.cat_provision)
    assert doc == json.loads(flashed.provision.read_text())
    assert doc["device_id"] == DEVICE and doc["depot_ssids"] == [flashed.ssid]
    assert len(bytes.fromhex(doc["key_hex"])) == 32  # drawn by `make provision`
    assert flashed.cat_boot.startswith("# This file is executed on every boot")


# --- booting the image ------------------------------------------------------------------------------

BOOT = """
import sys, os, vfs, json
sys.path.insert(0, FIRMWARE)
from hal.hostflash import FileBlockDevice  # the host's block device: the board's flash chip
del sys.modules['hal.hostflash']
del sys.modules['hal']
vfs.mount(vfs.VfsLfs2(FileBlockDevice(IMAGE, BLOCK_SIZE, BLOCKS)), '/flash')
sys.path[:] = ['/flash', '.frozen', '/flash/lib']  # as the board's ['', '.frozen', '/lib']
import app
print('facteur-accepts ' + json.dumps(app.load_provision('/flash/provision.json') is not None))
import main
print('facteur-modules ' + json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items()}))
print('facteur-log ' + json.dumps(sorted(os.listdir('/flash/log'))))
"""


@dataclass
class Booted:
    proc: subprocess.CompletedProcess[str]
    gateway: Gateway
    key: bytes
    lines: dict[str, object]


def boot(image: Path, workdir: Path, ssid: str, key: bytes, monkeypatch: pytest.MonkeyPatch) -> Booted:
    """Run the firmware from the image (host HAL, simulators) for one lap of a block and a depot stop."""
    monkeypatch.setattr(gateway_double, "KEY", key)  # the gateway knows the provisioned key only
    van, _ = make_van(block_loop(laps=1), seed=5, gnss=GnssConfig(ttff_s=20.0), tail_s=120.0)
    gateway = Gateway([])
    van.wifi.gateway = f"127.0.0.1:{gateway.port}"
    van.wifi.ssid = ssid
    world = World(van, wake_on_uart=False)
    server = LinkServer()
    port = server.add(world)
    wiring = world.wiring(f"127.0.0.1:{port}", "/flash", "/flash/provision.json")
    (workdir / "wiring.json").write_text(json.dumps(wiring))
    stop = threading.Event()
    thread = threading.Thread(
        target=server.serve, args=(lambda: stop.is_set() or (world.finished and bool(server.closed_worlds)),)
    )
    thread.start()
    code = _constants(image) + BOOT
    try:
        proc = subprocess.run(
            [str(micropython_path()), "-X", "heapsize=128k", "-c", code],
            cwd=workdir,  # empty: nothing importable but the image
            env=dict(os.environ, FACTEUR_WIRING=str(workdir / "wiring.json")),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        server.close()
        world.close()
        gateway.close()
    lines: dict[str, object] = {}
    for line in proc.stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag.startswith("facteur-"):
            lines[tag] = json.loads(rest)
    return Booted(proc, gateway, key, lines)


@pytest.fixture(scope="module")
def booted(flashed: Flashed, tmp_path_factory: pytest.TempPathFactory) -> Booted:
    work = tmp_path_factory.mktemp("boot")
    image = work / "flash.img"
    image.write_bytes(flashed.image.read_bytes())  # the flashed board, booted once
    key = bytes.fromhex(json.loads(flashed.provision.read_text())["key_hex"])
    with pytest.MonkeyPatch.context() as mp:
        return boot(image, work, flashed.ssid, key, mp)


def test_image_boots_and_uploads_signed_readings(booted: Booted) -> None:
    proc = booted.proc
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert booted.lines["facteur-accepts"] is True  # load_provision took the provisioned file
    stats = booted.lines["facteur-stats"]
    assert isinstance(stats, dict)
    assert stats["init_errors"] == 0 and stats["task_errors"] == 0
    # every firmware module came from the image, none from the source tree
    modules = booted.lines["facteur-modules"]
    assert isinstance(modules, dict)
    ours = {"main", "app", "records", "flashlog", "features", "version", "hal", "hal.host", "drivers.nmea"}
    assert ours <= set(modules)
    for name in ours:
        assert str(modules[name]).startswith("/flash/"), (name, modules[name])
    assert str(modules["app"]).endswith(".mpy")
    # the flash log was written on the partition
    assert booted.lines["facteur-log"]
    # the gateway double verified every chunk with the key `make provision` drew, and refused none
    gw = booted.gateway
    assert gw.rejected == [] and len(gw.blocks) >= 20
    assert stats["upload_failures"] == 0 and stats["uploaded_chunks"] >= 1


def test_readings_decode_and_start_with_the_boot_record(booted: Booted) -> None:
    gw = booted.gateway
    blocks = parse_blocks(b"".join(gw.blocks[s] for s in sorted(gw.blocks)))
    assert [b.seq for b in blocks] == list(range(len(blocks)))
    r = decode_blocks(blocks)
    assert r.errors == []
    (boot_row,) = r.boots
    assert boot_row["firmware_version"] == VERSION
    assert boot_row["seq"] == 0 and blocks[0].first_after_boot
    assert boot_row["reset_cause"] == 255  # the unix port has no machine.reset_cause()
    assert np.isfinite(boot_row["utc"])  # dated from the boot's first GNSS time
    assert len(r.track) >= 200 and r.track["fix"].sum() >= 150
    assert np.isfinite(r.track["utc"]).all()


def test_a_chunk_signed_with_another_key_is_refused(booted: Booted) -> None:
    """The key matters: the same blocks in a chunk signed with another key do not verify."""
    gw = booted.gateway
    blocks = [gw.blocks[s] for s in sorted(gw.blocks)][:5]
    good = parse_chunk(build_chunk(DEVICE, booted.key, blocks))
    bad = parse_chunk(build_chunk(DEVICE, bytes(32), blocks))
    assert good.verify(booted.key) and not bad.verify(booted.key)


# --- the protocol, byte for byte --------------------------------------------------------------------


class Line:
    """The host end of the board's serial line (what mpremote does through pyserial)."""

    def __init__(self, port: str) -> None:
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read_until(self, ending: bytes, timeout: float = 10.0) -> bytes:
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(ending):
            if time.monotonic() > deadline:
                raise AssertionError(f"timeout waiting for {ending!r}; got {data[-300:]!r}")
            try:
                data += os.read(self.fd, 1)
            except OSError as e:
                if e.errno != errno.EAGAIN:
                    raise
                time.sleep(0.002)
        return data

    def drain(self, quiet: float = 0.2) -> bytes:
        data = b""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            try:
                data += os.read(self.fd, 4096)
                last = time.monotonic()
            except OSError:
                time.sleep(0.01)
        return data

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[SimBoard, Line]]:
    board = SimBoard(tmp_path / "flash.img").start()
    assert board.wait_idle()
    ln = Line(board.port)
    ln.drain(0.05)
    yield board, ln
    ln.close()
    board.close()


def test_friendly_repl(line: tuple[SimBoard, Line]) -> None:
    board, ln = line
    ln.send(b"\x02")  # Ctrl-B: the banner again
    assert ln.read_until(b">>> ").endswith(b'Type "help()" for more information.\r\n>>> ')
    ln.send(b"6 * 7\r")
    assert ln.read_until(b">>> ") == b"6 * 7\r\n42\r\n>>> "  # echoed, evaluated, printed
    ln.send(b"for i in range(2):\r")
    assert ln.read_until(b"... ").endswith(b"\r\n... ")
    ln.send(b"  print(i)\r\r")
    assert ln.read_until(b">>> ").endswith(b"\r\n0\r\n1\r\n>>> ")
    ln.send(b"1/0\r")
    assert b"ZeroDivisionError: divide by zero\r\n>>> " in ln.read_until(b">>> ")
    ln.send(b"x = 5\r")
    ln.read_until(b">>> ")
    ln.send(b"\x04")  # Ctrl-D on an empty line: soft reset, the interpreter's state is gone
    assert ln.read_until(b">>> ").startswith(b"\r\nMPY: soft reboot\r\nMicroPython ")
    ln.send(b"x\r")
    assert b"NameError: name 'x' isn't defined" in ln.read_until(b">>> ")
    assert board.counts["soft_resets"] == 1


def test_raw_repl_and_raw_paste(line: tuple[SimBoard, Line]) -> None:
    board, ln = line
    ln.send(b"\r\x01")
    assert ln.read_until(b"raw REPL; CTRL-B to exit\r\n>") == b"\r\n>>> \r\nraw REPL; CTRL-B to exit\r\n>"
    ln.send(b"print('a')\nprint('b')\x04")
    assert ln.read_until(b"\x04>") == b"OKa\r\nb\r\n\x04\x04>"
    ln.send(b"import nope\x04")
    out = ln.read_until(b"\x04>")
    assert out.startswith(b"OK\x04Traceback (most recent call last):\r\n")
    assert out.endswith(b"ImportError: no module named 'nope'\r\n\x04>")
    # raw paste: window size announced, then one \x01 per window consumed
    ln.send(b"\x05A\x01")
    expected = b"R\x01" + RAW_PASTE_WINDOW.to_bytes(2, "little") + b"\x01"
    assert ln.read_until(expected, timeout=5) == expected
    src = b"s = 0\n" + b"".join(b"s += %d\n" % i for i in range(60)) + b"print(s)\n"
    ln.send(src[: 2 * RAW_PASTE_WINDOW])  # the two windows it said were free
    assert ln.read_until(b"\x01\x01", timeout=5) == b"\x01\x01"
    ln.send(src[2 * RAW_PASTE_WINDOW :] + b"\x04")
    more = len(src) // RAW_PASTE_WINDOW - 2  # one \x01 per further window consumed
    assert more >= 1
    assert ln.read_until(b"\x04>") == b"\x01" * more + b"\x04" + b"%d\r\n" % sum(range(60)) + b"\x04\x04>"
    # an unknown raw-paste command
    ln.send(b"\x05B\x01")
    assert ln.read_until(b">") == b"R\x00>"
    # Ctrl-C interrupts running code
    ln.send(b"while True:\n  pass\n\x04")
    assert ln.read_until(b"OK") == b"OK"
    time.sleep(0.3)
    ln.send(b"\x03")
    assert ln.read_until(b"\x04>").endswith(b"KeyboardInterrupt: \r\n\x04>")
    assert board.counts["interrupts"] == 1
    # Ctrl-D on an empty raw line: soft reset, back to the raw REPL
    ln.send(b"\x04")
    assert ln.read_until(b"\r\n>") == b"OK\r\nMPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>"
    ln.send(b"\x02")
    assert ln.read_until(b">>> ").startswith(b"\r\nMicroPython ")


def test_files_survive_resets_and_power_cycles(tmp_path: Path) -> None:
    image = tmp_path / "flash.img"
    with SimBoard(image) as board:
        assert board.wait_idle()
        r = mpremote(
            board.port, "exec", "f = open('kept.txt', 'w'); f.write('kept'); f.close()", "+", "reset"
        )
        assert r.returncode == 0, r.stderr
        assert board.wait_idle()
        r = mpremote(board.port, "fs", "cat", ":kept.txt")
        assert (r.returncode, r.stdout) == (0, "kept")
        assert board.counts["hard_resets"] == 1
    assert image.stat().st_size == BLOCK_SIZE * BLOCKS
    with SimBoard(image) as board:  # power off, power on
        assert board.wait_idle()
        assert b"Performing initial setup" not in board.transcript  # formatted once only
        r = mpremote(
            board.port, "exec", "import machine; print(machine.reset_cause(), open('kept.txt').read())"
        )
        assert (r.returncode, r.stdout.strip()) == (0, "1 kept")  # PWRON_RESET


def test_garbage_on_the_line_does_not_crash_the_board(tmp_path: Path) -> None:
    with SimBoard(tmp_path / "flash.img") as board:
        assert board.wait_idle()
        ln = Line(board.port)
        rng = np.random.default_rng(20)
        for _ in range(40):
            chunk = rng.integers(0, 256, int(rng.integers(1, 600)), dtype=np.uint8).tobytes()
            ln.send(chunk)
            ln.drain(0.01)
        ln.drain(0.3)
        assert board.wait_idle(30)
        assert board.alive and board.counts["chip_crashes"] == 0
        assert board.counts["bytes_in"] > 5000 and board.counts["exceptions"] >= 1
        ln.close()
        r = mpremote(board.port, "exec", "print(6 * 7)")
        assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr
