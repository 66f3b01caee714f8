"""A simulated ESP32 board on a pseudo-terminal, for ``mpremote`` and ``make flash``/``make provision``.

    with SimBoard(Path("flash.img")) as board:     # the 2 MiB littlefs partition, kept across resets
        subprocess.run(["mpremote", "connect", board.port, "fs", "ls"])

The board speaks MicroPython's REPL protocol on the pty as ``shared/runtime/pyexec.c`` does on a
real board: the friendly REPL (echo, ``>>>``/``...``, Ctrl-C, Ctrl-D soft reset, Ctrl-E paste
mode), the raw REPL (Ctrl-A → ``raw REPL; CTRL-B to exit\\r\\n>``; Ctrl-D executes, replying ``OK``,
the output, ``\\x04``, the exception, ``\\x04``, ``>``), raw-paste mode (Ctrl-E ``A`` Ctrl-A →
``R\\x01``, a window of 128 bytes announced with its size and then by ``\\x01``, Ctrl-D ends it)
and Ctrl-B. Ctrl-C while code runs interrupts it (``KeyboardInterrupt``).

The code runs on a real MicroPython unix-port process (the "chip"), whose root filesystem is the
partition image (``os.VfsLfs2`` on a file-backed block device, ``firmware/hal/hostflash.py``): a
fresh image is formatted and given ESP32's default ``boot.py`` at first boot, as the ESP32 port's
``inisetup`` does. ``sys.path`` is ESP32's (``''``, ``.frozen``, ``/lib``), so imports come from
the partition only. A soft reset (Ctrl-D, ``SystemExit``) and a hard reset (``machine.reset()``,
as ``mpremote reset`` sends it) start a fresh chip process on the same image; the hard reset and
power-on then run ``boot.py`` and ``main.py`` like the board (``main.py`` only in friendly-REPL
mode, as ``ports/esp32/main.c``). The REPL state machine is here, in CPython (the board's C code),
and the chip only compiles and runs what it is sent.

Bytes that arrive while code runs wait in the receive buffer (a real UART's) and are read after.
Garbage on the line is what it is on a board: echoed, compiled, refused with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from simulators.pty_serial import PtySerial

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
BLOCK_SIZE = 4096
BLOCKS = 512  # 2 MiB, the board's littlefs partition
RAW_PASTE_WINDOW = 128  # MICROPY_REPL_STDIN_BUFFER_MAX (256) / 2, as pyexec.c announces it
HARD_RESET_EXIT = 7
TRANSCRIPT_MAX = 256 * 1024  # the chip's exit status for machine.reset()

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
BANNER = (
    b"MicroPython v1.25.0 on 2025-04-15; facteur simulated board (unix port) with ESP32\r\n"
    b'Type "help()" for more information.\r\n'
)
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
POWER_ON = b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
SW_RESET = b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"

# The chip: MicroPython code run by the unix port. It mounts the partition image as its root,
# then runs frames read from stdin: op u8 ('E' file input, 'S' single input, 'F' a file if it
# exists) | length u32 | source. It replies with the output, b"\x04", the exception, b"\x04", then a
# status byte ('0' done, '1' exception, 'S' SystemExit) that the board keeps to itself.
CHIP = r"""
import sys, os, io, vfs
sys.path.insert(0, FIRMWARE)
from hal.hostflash import FileBlockDevice
del sys.modules['hal.hostflash']
del sys.modules['hal']
dev = FileBlockDevice(IMAGE, BLOCK_SIZE, BLOCKS)
fresh = False
try:
    fs = vfs.VfsLfs2(dev)
except OSError:
    vfs.VfsLfs2.mkfs(dev)
    fs = vfs.VfsLfs2(dev)
    fresh = True
vfs.umount('/')
vfs.mount(fs, '/')
os.chdir('/')
sys.path[:] = ['', '.frozen', '/lib']
if fresh:
    print('Performing initial setup')
    with open('boot.py', 'w') as f:
        f.write('# This file is executed on every boot (including wake-boot from deepsleep)\n'
                '#import esp\n#esp.osdebug(None)\n#import webrepl\n#webrepl.start()\n')
import machine as _machine


class HardReset(BaseException):
    pass


class Machine:
    # the unix port's machine module, plus what a board has and the unix port lacks
    def __getattr__(self, name):
        return getattr(_machine, name)

    def reset(self):
        raise HardReset()

    def soft_reset(self):
        raise SystemExit

    def reset_cause(self):
        return RESET_CAUSE

    def unique_id(self):
        return b'\x24\x0a\xc4\x00\x00\x01'


sys.modules['machine'] = Machine()
stdin = sys.stdin.buffer
out = sys.stdout.buffer
g = {'__name__': '__main__'}


def read_exact(n):
    b = b''
    while len(b) < n:
        try:
            part = stdin.read(n - len(b))
        except KeyboardInterrupt:  # a Ctrl-C that came just after the code it was meant for
            continue
        if not part:
            raise SystemExit(0)
        b += part
    return b


def report(e):
    # bytes: a message may quote bytes that are no UTF-8 (garbage on the line)
    s = io.BytesIO()
    try:
        sys.print_exception(e, s)
    except Exception:
        s.write(b'exception\n')
    # drop this program's own frame: the board's traceback starts at <stdin>
    name = CHIP_NAME.encode()
    return b''.join(l + b'\n' for l in s.getvalue().split(b'\n') if l and name not in l)


def step():
    head = read_exact(5)
    n = head[1] | head[2] << 8 | head[3] << 16 | head[4] << 24
    src = read_exact(n)
    op = head[0]
    status = b'0'
    err = b''
    try:
        if op == 70:  # 'F': boot.py / main.py
            name = src.decode()
            try:
                os.stat(name)
            except OSError:
                name = None
            if name is not None:
                with open(name) as f:
                    code = f.read()
                exec(compile(code, name, 'exec'), g)
        else:
            exec(compile(src, '<stdin>', 'single' if op == 83 else 'exec'), g)
    except HardReset:
        return True
    except SystemExit:
        status = b'S'
    except BaseException as e:
        status = b'1'
        err = report(e)
    out.write(b'\x04' + err + b'\x04' + status)
    return False


out.write(b'\x04\x040')
reset = False
while not reset:
    try:
        reset = step()
    except KeyboardInterrupt:  # a Ctrl-C that landed after the code, in this loop: end the run
        out.write(b'\x04\x041')
raise SystemExit(HARD_RESET)
"""


def micropython_path() -> Path:
    """The unix port: ``$FACTEUR_MICROPYTHON``, next to this interpreter, or on the PATH (as
    ``ingest.testing.micropython_path``, without importing the test plugin)."""
    env = os.environ.get("FACTEUR_MICROPYTHON")
    found = shutil.which("micropython")
    for candidate in (env, Path(sys.executable).parent / "micropython", found):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError("the MicroPython unix port is not built; run `make bootstrap`")


_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_COMPOUND = ("if", "while", "for", "try", "with", "def", "class", "async", "@")


def needs_more(text: str) -> bool:
    """The friendly REPL's continuation rule (``mp_repl_continue_with_input``, simplified):
    open brackets or triple quotes, a trailing backslash, or a compound statement not yet ended
    by an empty line."""
    depth = 0
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if c == "\\":
                i += 1
        elif text.startswith('"""', i) or text.startswith("'''", i):
            quote = text[i : i + 3]
            i += 3
            continue
        elif c in "\"'":
            quote = c
        elif c == "#":
            while i < len(text) and text[i] != "\n":
                i += 1
        elif c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
        i += 1
    if (quote and len(quote) == 3) or depth > 0 or text.endswith("\\"):
        return True
    first = text.split("\n", 1)[0].lstrip()
    compound = first.endswith(":") or first.split(" ", 1)[0].rstrip(":") in _COMPOUND
    return compound and not text.endswith("\n")


def _cooked(data: bytes) -> bytes:
    """A board's stdout sends every LF as CR LF (``mp_hal_stdout_tx_strn_cooked``: stateless, so a
    CR LF printed becomes CR CR LF, as on the board)."""
    return data.replace(b"\n", b"\r\n")


class SimBoard:
    """The board: a pty (``port``), a chip process on the partition ``image``, the REPL between."""

    def __init__(
        self,
        image: Path,
        *,
        micropython: Path | None = None,
        heap: str = "128k",
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.image = Path(image)
        self.micropython = micropython or micropython_path()
        self.heap = heap
        self.log = log
        self.pty = PtySerial(backlog_limit=1 << 20)
        self.port = self.pty.path
        self._dir = tempfile.TemporaryDirectory(prefix="facteur-board-")
        self._chip_file = Path(self._dir.name) / "esp32_chip.py"
        self._chip: subprocess.Popen[bytes] | None = None
        self.transcript = bytearray()  # the last TRANSCRIPT_MAX bytes the board sent
        self._rx = bytearray()  # the UART's receive buffer: bytes not yet read by the REPL
        self._mode = "friendly"  # friendly | raw
        self._line = bytearray()
        self._paste: bytearray | None = None  # friendly paste mode (Ctrl-E)
        self._raw_paste: bytearray | None = None  # raw-paste mode
        self._window = 0
        self._cont = False  # friendly REPL: collecting a compound statement
        # The running operation: its kind, how many \x04 the chip has sent, its exception text.
        self._op: str | None = None
        self._eofs = 0
        self._err = bytearray()
        self._after: Callable[[str], None] | None = None
        self._interrupted = False
        self._reset_cause = 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts = {
            "soft_resets": 0,
            "hard_resets": 0,
            "executed": 0,
            "exceptions": 0,
            "interrupts": 0,
            "raw_pastes": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "chip_crashes": 0,
        }

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> SimBoard:
        self._power_on(POWER_ON)
        self._thread = threading.Thread(target=self._serve, name="sim-board", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._kill_chip()
        self.pty.close()
        self._dir.cleanup()

    def __enter__(self) -> SimBoard:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once no code runs and the receive buffer is empty (boot finished, input read)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._op is None and not self._rx:
                return True
            time.sleep(0.01)
        return False

    # --- the chip ---------------------------------------------------------------------------

    def _start_chip(self, reset_cause: int) -> None:
        self._kill_chip()
        prelude = (
            f"FIRMWARE = {str(FIRMWARE)!r}\nIMAGE = {str(self.image)!r}\nBLOCK_SIZE = {BLOCK_SIZE}\n"
            f"BLOCKS = {BLOCKS}\nRESET_CAUSE = {reset_cause}\nHARD_RESET = {HARD_RESET_EXIT}\n"
            f"CHIP_NAME = {str(self._chip_file)!r}\n"
        )
        self._chip_file.write_text(prelude + CHIP)
        self._chip = subprocess.Popen(
            [str(self.micropython), "-X", f"heapsize={self.heap}", str(self._chip_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self._dir.name,
        )
        assert self._chip.stdout is not None
        os.set_blocking(self._chip.stdout.fileno(), False)
        self._begin("boot", None)  # the chip's own start (mount, first-boot setup) ends with \x04\x04

    def _kill_chip(self) -> None:
        chip, self._chip = self._chip, None
        if chip is None:
            return
        for f in (chip.stdin, chip.stdout):
            if f is not None:
                with contextlib.suppress(OSError):
                    f.close()
        if chip.poll() is None:
            chip.kill()
        chip.wait()

    def _send(self, op: str, src: bytes, after: Callable[[str], None] | None) -> None:
        chip = self._chip
        assert chip is not None and chip.stdin is not None
        self._begin(op, after)
        try:
            chip.stdin.write(op[:1].encode() + struct.pack("<I", len(src)) + src)
            chip.stdin.flush()
        except OSError:  # the chip died: handled when its exit is seen
            pass

    def _begin(self, op: str, after: Callable[[str], None] | None) -> None:
        self._op = op
        self._eofs = 0
        self._err = bytearray()
        self._after = after
        self._interrupted = False

    def _chip_output(self, data: bytes) -> None:
        """Chip stdout while an operation runs: output, \\x04, exception, \\x04, status byte."""
        raw = self._op in ("E", "P")  # raw REPL: the board sends the \x04 separators too
        out = bytearray()
        for i, byte in enumerate(data):
            if self._eofs == 2:  # the status byte
                if out:
                    self._write(_cooked(bytes(out)))
                    out.clear()
                self._finish(chr(byte))
                rest = data[i + 1 :]
                if rest:  # nothing should follow; keep it visible rather than lose it
                    self._write(_cooked(rest))
                break
            if byte == CTRL_D:
                self._eofs += 1
                if raw:
                    if out:
                        self._write(_cooked(bytes(out)))
                        out.clear()
                    self._write(b"\x04")
                continue
            if self._eofs == 1:
                self._err.append(byte)
                if raw:
                    out.append(byte)
            else:
                out.append(byte)
        if out:
            self._write(_cooked(bytes(out)))

    def _finish(self, status: str) -> None:
        op, after = self._op, self._after
        self._op = None
        self._after = None
        if op not in (None, "boot"):
            self.counts["executed"] += 1
        if status == "1":
            self.counts["exceptions"] += 1
        if op not in {"E", "P", "boot"} and self._err:
            self._write(_cooked(bytes(self._err)))
        if after is not None:
            after(status)

    def _chip_exited(self) -> None:
        chip = self._chip
        code = chip.poll() if chip is not None else None
        if chip is not None and chip.stdout is not None:
            with contextlib.suppress(OSError):
                rest = chip.stdout.read()
                if rest and code != HARD_RESET_EXIT:
                    self._write(_cooked(rest))
        if code == HARD_RESET_EXIT:
            self.counts["hard_resets"] += 1
            self._power_on(SW_RESET)
        else:  # a crash of the chip: a board would print a Guru Meditation and reboot
            self.counts["chip_crashes"] += 1
            self._write(b"\r\nchip stopped (exit %d): rebooting\r\n" % (code if code is not None else -1))
            self._power_on(SW_RESET)

    # --- resets -------------------------------------------------------------------------------

    def _power_on(self, rom: bytes) -> None:
        """Power-on or hard reset: the mode goes back to friendly, boot.py then main.py run."""
        self._rx.clear()  # what was sent while the chip reset is lost
        self._mode = "friendly"
        self._write(rom)
        self._reset_cause = 1 if rom is POWER_ON else 5  # ESP32: PWRON_RESET, SOFT_RESET (esp_restart)
        self._start_chip(self._reset_cause)
        self._after = lambda _s: self._boot_scripts()

    def _soft_reset(self) -> None:
        self.counts["soft_resets"] += 1
        self._write(b"MPY: soft reboot\r\n")
        self._start_chip(self._reset_cause)  # a soft reboot does not reset the chip: the cause stays
        self._after = lambda _s: self._boot_scripts()

    def _boot_scripts(self) -> None:
        def after_boot(status: str) -> None:
            if status == "S":
                self._soft_reset()
            elif self._mode == "friendly":
                self._send("F", b"main.py", after_main)
            else:
                self._prompt()

        def after_main(status: str) -> None:
            if status == "S":
                self._soft_reset()
            else:
                self._prompt()

        self._send("F", b"boot.py", after_boot)

    def _prompt(self, banner: bool = True) -> None:
        if self._mode == "raw":
            self._write((RAW_BANNER if banner else b"") + b">")
        else:
            self._line.clear()
            self._cont = False
            self._write((BANNER if banner else b"") + b">>> ")

    # --- the serial line ----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self.counts["bytes_out"] += len(data)
        self.transcript += data
        if len(self.transcript) > TRANSCRIPT_MAX:
            del self.transcript[: len(self.transcript) - TRANSCRIPT_MAX]
        self.pty.write(data)

    def _serve(self) -> None:
        while not self._stop.is_set():
            chip = self._chip
            fds = [self.pty.master]
            if chip is not None and chip.stdout is not None:
                fds.append(chip.stdout.fileno())
            try:
                ready, _, _ = select.select(fds, [], [], 0.02)
            except (OSError, ValueError):
                continue
            if self.pty.master in ready:
                data = self.pty.read()
                self.counts["bytes_in"] += len(data)
                for byte in data:
                    if byte == CTRL_C and self._op is not None and self._op != "boot":
                        self._interrupt()
                    else:
                        self._rx.append(byte)
            if chip is not None and chip.stdout is not None and chip.stdout.fileno() in ready:
                try:
                    data = os.read(chip.stdout.fileno(), 65536)
                except BlockingIOError:
                    data = b"-"
                except OSError:
                    data = b""
                if data and data != b"-":
                    self._chip_output(data)
                elif not data:
                    chip.wait()
                    self._chip_exited()
            self.pty.flush()
            while self._rx and self._op is None and not self._stop.is_set():
                byte = self._rx.pop(0)
                self._key(byte)

    def _interrupt(self) -> None:
        """Ctrl-C while code runs: a KeyboardInterrupt in the chip (one per run, as on a board a
        second one would only queue behind the first)."""
        chip = self._chip
        if self._interrupted or chip is None:
            return
        self._interrupted = True
        self.counts["interrupts"] += 1
        with contextlib.suppress(OSError):
            chip.send_signal(signal.SIGINT)

    def _key(self, byte: int) -> None:
        if self._raw_paste is not None:
            self._raw_paste_key(byte)
        elif self._mode == "raw":
            self._raw_key(byte)
        elif self._paste is not None:
            self._paste_key(byte)
        else:
            self._friendly_key(byte)

    # raw REPL (pyexec_raw_repl)
    def _raw_key(self, byte: int) -> None:
        line = self._line
        if byte == CTRL_A:
            if len(line) == 2 and line[0] == CTRL_E:
                self._raw_paste_start(line[1])
                return
            line.clear()
            self._write(RAW_BANNER + b">")
        elif byte == CTRL_B:
            line.clear()
            self._mode = "friendly"
            self._write(b"\r\n")
            self._prompt()
        elif byte == CTRL_C:
            line.clear()
        elif byte == CTRL_D:
            self._write(b"OK")
            src = bytes(line)
            line.clear()
            if not src:
                self._write(b"\r\n")
                self._soft_reset()
                return
            self._send("E", src, self._raw_done)
        else:
            line.append(byte)

    def _raw_done(self, status: str) -> None:
        if status == "S":
            self._soft_reset()
        else:
            self._write(b">")

    def _raw_paste_start(self, command: int) -> None:
        self._line.clear()
        if command != ord("A"):
            self._write(b"R\x00>")
            return
        self.counts["raw_pastes"] += 1
        self._write(b"R\x01" + struct.pack("<H", RAW_PASTE_WINDOW) + b"\x01")
        self._raw_paste = bytearray()
        self._window = RAW_PASTE_WINDOW

    def _raw_paste_key(self, byte: int) -> None:
        buf = self._raw_paste
        assert buf is not None
        if byte in (CTRL_C, CTRL_D):
            self._raw_paste = None
            self._write(b"\x04")  # end acknowledged
            if byte == CTRL_C:
                self._write(b"\x04Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n\x04>")
                return
            self._send("P", bytes(buf), self._raw_done)
            return
        buf.append(byte)
        self._window -= 1
        if self._window == 0:
            self._write(b"\x01")  # another window may be sent
            self._window = RAW_PASTE_WINDOW

    # friendly REPL (pyexec_friendly_repl + readline)
    def _friendly_key(self, byte: int) -> None:
        line = self._line
        if byte == CTRL_A:
            self._write(b"\r\n")
            self._mode = "raw"
            line.clear()
            self._prompt()
        elif byte == CTRL_B:
            self._write(b"\r\n")
            self._prompt()
        elif byte == CTRL_C:
            self._write(b"\r\n")
            self._prompt(banner=False)
        elif byte == CTRL_D:
            if not line or (self._cont and line.endswith(b"\n")):
                if self._cont:  # ends the compound statement
                    self._run_friendly()
                    return
                self._write(b"\r\n")
                self._soft_reset()
        elif byte == CTRL_E and not line:
            self._write(b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
            self._paste = bytearray()
        elif byte in (8, 127):
            if line and line[-1:] != b"\n":
                del line[-1]
                self._write(b"\x08 \x08")
        elif byte == 13:
            self._write(b"\r\n")
            text = bytes(line).decode("utf-8", "replace")
            if not text.strip() and not self._cont:
                line.clear()
                self._write(b">>> ")
                return
            if needs_more(text):
                self._cont = True
                line.append(10)
                self._write(b"... ")
                return
            self._run_friendly()
        elif byte == 10:
            return  # a terminal sends CR; a stray LF is ignored
        else:
            line.append(byte)
            self._write(bytes([byte]))

    def _run_friendly(self) -> None:
        src = bytes(self._line)
        self._line.clear()
        self._cont = False
        self._send("S", src, self._friendly_done)

    def _friendly_done(self, status: str) -> None:
        if status == "S":
            self._soft_reset()
        else:
            self._prompt(banner=False)

    def _paste_key(self, byte: int) -> None:
        buf = self._paste
        assert buf is not None
        if byte == CTRL_C:
            self._paste = None
            self._write(b"\r\n")
            self._prompt(banner=False)
        elif byte == CTRL_D:
            self._paste = None
            self._write(b"\r\n")
            self._send("E-friendly", bytes(buf), self._friendly_done)
        else:
            buf.append(byte)
            self._write(b"\r\n=== " if byte == 13 else bytes([byte]))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``facteur-sim board`` subcommand."""
    b = sub.add_parser("board", help="a simulated ESP32 board on a pty, for mpremote / make flash")
    b.add_argument("--image", default="artifacts/board/flash.img", help="the 2 MiB littlefs partition image")
    b.add_argument("--port-file", help="write the pty path to this file once the board is up")
    b.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: until Ctrl-C)")
    b.set_defaults(func=cmd_board)


def cmd_board(args: argparse.Namespace) -> int:
    image = Path(args.image)
    image.parent.mkdir(parents=True, exist_ok=True)
    with SimBoard(image) as board:
        board.wait_idle()
        print(f"board on {board.port} (image {image}); make flash PORT={board.port}", flush=True)
        if args.port_file:
            Path(args.port_file).write_text(board.port + "\n")
        deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
        try:
            while board.alive and (deadline is None or time.monotonic() < deadline):
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        print(dict(board.counts), file=sys.stderr)
    return 0
