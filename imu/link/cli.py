"""``imu scan`` and ``imu record``: arguments and handlers (link modules load only when a command runs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from imu.errors import SessionError

if TYPE_CHECKING:
    from imu.link.ble import BleLink
    from imu.link.record import RecordResult

VIRTUAL_KINDS = ("movesense", "polar", "reference", "witmotion")


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--device", metavar="ADDR", help="Bluetooth address of the sensor (see imu scan)")
    source.add_argument(
        "--virtual", metavar="KIND", choices=VIRTUAL_KINDS, help="a virtual sensor: %(choices)s"
    )
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    p.add_argument(
        "--speed", type=float, default=1.0, help="time acceleration of a virtual sensor (default 1)"
    )
    p.add_argument("session", metavar="SESSION_DIR")


def run_scan(args: argparse.Namespace) -> int:
    """The ``imu scan`` command."""
    from imu.link.scan import format_sensors, scan

    print(format_sensors(asyncio.run(scan(args.timeout))))
    return 0


async def _record(args: argparse.Namespace) -> RecordResult:
    from imu.link.protocols import PROTOCOLS, SensorProtocol
    from imu.link.record import record

    loop = asyncio.get_running_loop()
    ready: asyncio.Future[BleLink] = loop.create_future()
    air = None
    protocol: SensorProtocol | None = None
    if args.virtual:
        from imu.link.virtual import virtual_sensor

        air, device = virtual_sensor(args.virtual, seconds=args.seconds or 600.0, speed=args.speed)
        address, backend, timebase = device.address, air.client_backend, air.time
        protocol = PROTOCOLS[args.virtual]()
        air.switch_on()
    else:
        address, backend, timebase = args.device, None, None
    task = asyncio.ensure_future(
        record(
            args.session,
            address,
            protocol,
            seconds=args.seconds,
            backend=backend,
            timebase=timebase,
            link_ready=ready,
        )
    )
    for sig in (signal.SIGINT, signal.SIGTERM):  # a clean stop: streams stopped, session closed, exit 0
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, _stop_when_ready, ready)
    try:
        return await task
    finally:
        if air is not None:
            await air.switch_off()


def _stop_when_ready(ready: asyncio.Future[BleLink]) -> None:
    if ready.done():
        ready.result().stop()


def _summary(path: Path, result: RecordResult) -> str:
    s = result.stats
    if result.recording is None:
        return f"{path}: nothing recorded (no connection)"
    t_s = result.recording.samples.t_s
    duration_s = float(t_s[-1] - t_s[0]) if t_s.size else 0.0
    return (
        f"{path}: {s.samples} samples ({duration_s:.1f} s), {s.notifications} notifications, "
        f"{s.reconnects} reconnects, {s.gaps} gaps ({s.missing_samples} samples missing), "
        f"{s.duplicates} duplicates, {s.decode_errors} malformed, {s.queue_drops} dropped by the host"
    )


def run_record(args: argparse.Namespace) -> int:
    """The ``imu record`` command."""
    if bool(args.device) == bool(args.virtual):
        raise SessionError("give exactly one of --device ADDR or --virtual KIND")
    result = asyncio.run(_record(args))
    print(_summary(Path(args.session), result))
    return 0 if result.recording is not None else 1
