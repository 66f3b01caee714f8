"""``facteur-sim``: make rounds with their truth, serve them to the firmware, replay logs, fleets.

    facteur-sim round --pbf helsinki --stops 80 --out DIR        # files + round.png, no firmware
    facteur-sim serve --pbf helsinki --stops 80 --out DIR [--run 'micropython firmware/main.py']
    facteur-sim replay LOG.nmea [--realtime] [--speed 10]         # a log on a pty, its own timing
    facteur-sim replay TRACK.gpx --out DIR                        # a GPX track as the truth
    facteur-sim fleet --vans 100 --stops 30 --out DIR [--serve]

``--pbf`` takes a path, or ``helsinki`` / ``monaco`` for the extracts available offline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from ingest.roadnet import helsinki_pbf, load_network, monaco_pbf
from simulators.board import add_parser as board_parser
from simulators.fleet import build, generate
from simulators.fleet import serve as fleet_serve
from simulators.gnss import GnssConfig
from simulators.hostlink import LinkServer
from simulators.picture import draw_round
from simulators.pty_serial import PtySerial
from simulators.replay import NmeaLog, read_gpx, serve_log
from simulators.scenario import make_van
from simulators.truth import write_round
from simulators.world import World


def _pbf(name: str) -> Path:
    if name == "helsinki":
        return helsinki_pbf()
    if name == "monaco":
        return monaco_pbf()
    return Path(name)


def _start(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime(2026, 6, 15, 6, 0, tzinfo=dt.UTC)
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _gnss_config(args: argparse.Namespace) -> GnssConfig:
    return GnssConfig(
        corrupt_prob=args.corrupt,
        start_utc=_start(args.start),
        ttff_s=args.ttff,
        week_rollover_bug=args.week_rollover,
        leap_second_at=_start(args.leap_second) if args.leap_second else None,
    )


def cmd_round(args: argparse.Namespace) -> int:
    out = Path(args.out)
    steps = tqdm(total=4, desc="round", unit="step", disable=args.quiet)
    net = load_network(_pbf(args.pbf))
    steps.update(1)
    gnss = _gnss_config(args)
    plan = build(net, args.stops, args.seed, f"van-{args.seed}", start_utc=_start(args.start), gnss=gnss)
    steps.update(1)
    summary = write_round(plan.rnd, plan.van, plan.profile, out, rate_hz=args.rate)
    steps.update(1)
    if not args.no_picture:
        draw_round(plan.rnd, plan.van, plan.profile, out / "round.png")
    steps.update(1)
    steps.close()
    print(json.dumps(summary, indent=2))
    print(f"written to {out}/")
    return 0


def _serve_world(world: World, out: Path, run: str | None, quiet: bool) -> int:
    server = LinkServer()
    port = server.add(world, 0)
    wiring = world.write_wiring(out / "wiring.json", f"127.0.0.1:{port}", out)
    provision = out / "provision.json"
    if not provision.exists():  # what the fleet tool would flash: identity, key, depot SSIDs
        provision.write_text(
            json.dumps(
                {
                    "device_id": world.van.name,
                    "key_hex": os.urandom(32).hex(),
                    "depot_ssids": [world.van.wifi.ssid],
                }
            )
        )
    print(f"wiring: {wiring} (link 127.0.0.1:{port}; uarts {', '.join(p.path for p in world.ptys.values())})")
    proc = None
    if run:
        proc = subprocess.Popen(shlex.split(run), env={**os.environ, "FACTEUR_WIRING": str(wiring)})
    bar = tqdm(total=round(world.end_t), desc=world.van.name, unit="sim-s", disable=quiet)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.n = round(world.clock.t)
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    started = time.monotonic()
    try:
        server.serve(
            until=lambda: bool(server.closed_worlds) or (proc is not None and proc.poll() is not None)
        )
    finally:
        stop.set()
        bar.n = round(world.clock.t)
        bar.close()
        server.close()
        world.close()
    summary = world.summary()
    summary["wall_s"] = round(time.monotonic() - started, 2)
    (out / "link.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0 if proc is None else (proc.wait() or 0)


def cmd_serve(args: argparse.Namespace) -> int:
    out = Path(args.out)
    net = load_network(_pbf(args.pbf))
    plan = build(
        net, args.stops, args.seed, f"van-{args.seed}", start_utc=_start(args.start), gnss=_gnss_config(args)
    )
    write_round(plan.rnd, plan.van, plan.profile, out)
    world = World(plan.van, realtime=args.realtime, speed=args.speed, wake_on_uart=args.wake_on_uart)
    return _serve_world(world, out, args.run, args.quiet)


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.log)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gpx":
        traj, start = read_gpx(path)
        van, _ = make_van(traj, seed=args.seed, start_utc=start)
        return _serve_world(
            World(van, realtime=args.realtime, speed=args.speed, wake_on_uart=args.wake_on_uart),
            out,
            args.run,
            args.quiet,
        )
    log = NmeaLog.read(path)
    if args.link:
        van, _ = make_van(log.trajectory(), seed=args.seed, start_utc=log.start_utc)
        van.gnss = log
        return _serve_world(
            World(van, realtime=args.realtime, speed=args.speed, wake_on_uart=args.wake_on_uart),
            out,
            args.run,
            args.quiet,
        )
    # the log alone, on a pty, at its own pace (sped up by --speed)
    pty = PtySerial()
    print(f"serving {path} on {pty.path} ({log.n_epochs} epochs, {log.times[-1]:.0f} s)", flush=True)
    try:
        serve_log(log, pty, realtime=args.realtime, speed=args.speed)
        if args.linger:
            time.sleep(args.linger)
    finally:
        pty.close()
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    out = Path(args.out)
    pbf = _pbf(args.pbf)
    if args.serve:
        net = load_network(pbf)
        worlds = fleet_serve(
            net, args.vans, args.stops, out, ready=lambda ws: print(f"{len(ws)} wiring files")
        )
        print(json.dumps([w.summary() for w in worlds], indent=1))
        return 0
    bar = tqdm(total=args.vans, desc="fleet", unit="van", disable=args.quiet)
    started = time.monotonic()
    summaries = generate(pbf, args.vans, args.stops, out, workers=args.workers, progress=bar.update)
    bar.close()
    hours = sum(float(s["duration_h"]) for s in summaries)
    info = {
        "vans": len(summaries),
        "van_hours": round(hours, 2),
        "wall_s": round(time.monotonic() - started, 2),
    }
    (out / "fleet.json").write_text(json.dumps({"summary": info, "vans": summaries}, indent=1))
    print(json.dumps(info))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facteur-sim", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--pbf", default="helsinki", help="PBF path, or helsinki / monaco")
        sp.add_argument("--stops", type=int, default=80)
        sp.add_argument("--seed", type=int, default=1)
        sp.add_argument("--start", help="UTC start of the round (ISO 8601)")
        sp.add_argument("--out", default="artifacts/sim")
        sp.add_argument("--quiet", action="store_true", help="no progress bars")
        sp.add_argument("--corrupt", type=float, default=0.0, help="probability of a damaged NMEA sentence")
        sp.add_argument("--ttff", type=float, default=30.0, help="cold start: seconds without a fix")
        sp.add_argument("--week-rollover", action="store_true", help="dates 1024 weeks early (old receivers)")
        sp.add_argument("--leap-second", help="UTC instant at which a 23:59:60 is inserted (ISO 8601)")

    r = sub.add_parser("round", help="a round with its device output and truth, and a PNG")
    common(r)
    r.add_argument("--rate", type=float, default=1.0, help="truth track rate (Hz)")
    r.add_argument("--no-picture", action="store_true")
    r.set_defaults(func=cmd_round)

    s = sub.add_parser("serve", help="serve a round to the firmware over the host link")
    common(s)
    s.add_argument("--realtime", action="store_true")
    s.add_argument("--speed", type=float, default=1.0)
    s.add_argument("--run", help="command to start with FACTEUR_WIRING set (e.g. the firmware)")
    s.add_argument("--wake-on-uart", action="store_true", help="end a sleep early when UART bytes arrive")
    s.set_defaults(func=cmd_serve)

    rp = sub.add_parser("replay", help="replay an NMEA log (its own timing) or a GPX track")
    rp.add_argument("log")
    rp.add_argument("--out", default="artifacts/replay")
    rp.add_argument("--seed", type=int, default=1)
    rp.add_argument("--realtime", action="store_true", help="honour the log's timing on the wall clock")
    rp.add_argument("--speed", type=float, default=1.0)
    rp.add_argument(
        "--link", action="store_true", help="serve over the host link in lockstep, with all sensors"
    )
    rp.add_argument("--run", help="command to start with FACTEUR_WIRING set")
    rp.add_argument("--wake-on-uart", action="store_true", help="end a sleep early when UART bytes arrive")
    rp.add_argument("--linger", type=float, default=0.0, help="keep the pty open this long at the end")
    rp.add_argument("--quiet", action="store_true")
    rp.set_defaults(func=cmd_replay)

    f = sub.add_parser("fleet", help="N vans on N rounds (files, or live links with --serve)")
    common(f)
    f.add_argument("--vans", type=int, default=100)
    f.add_argument("--workers", type=int, default=None)
    f.add_argument("--serve", action="store_true")
    f.set_defaults(func=cmd_fleet, stops=30)
    board_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
