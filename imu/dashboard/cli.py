"""``imu replay`` and ``imu live``: a producer thread, the Dash app, and a web server until Ctrl-C.

Bad input gives one line before anything starts: a missing or unreadable recording, a port already in
use, a ``--record`` folder that is not empty, no Bluetooth for ``--device``. Ctrl-C (or SIGTERM) stops
cleanly: the producer is stopped and joined (the analysis flushed, a recorded session closed), the
server closed, and the command exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from imu.errors import InputError, SessionError

VIRTUAL_KINDS = ("movesense", "polar", "reference", "witmotion")
VIRTUAL_DEFAULT_S = 1800.0
"""How long a virtual sensor's simulated run lasts when ``--seconds`` is not given."""


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8050, help="web server port (default 8050)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0: LAN)"
    )
    p.add_argument(
        "--baseline",
        metavar="SESSION_OR_FILE",
        help="take the baseline from this recording instead of this run's first minutes",
    )


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SESSION_OR_FILE", help="a session folder or a recording file (FILE#N)")
    p.add_argument("--speed", type=float, default=1.0, help="times real time (default 1)")
    _add_common(p)


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--device", metavar="ADDR", help="Bluetooth address of the sensor (see imu scan)")
    source.add_argument(
        "--virtual", metavar="KIND", choices=VIRTUAL_KINDS, help="a virtual sensor: %(choices)s"
    )
    p.add_argument("--record", metavar="SESSION_DIR", help="also record the session into this new folder")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    p.add_argument(
        "--speed", type=float, default=1.0, help="time acceleration of a virtual sensor (default 1)"
    )
    _add_common(p)


# ---------------------------------------------------------------------------------------------- checks
def _check_port(host: str, port: int) -> None:
    """Fail at once when the port cannot be served (in use, or not allowed)."""
    if not 0 < port < 65536:
        raise InputError("invalid --port", expected="1–65535", found=str(port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            problem = (
                "port already in use" if exc.errno == errno.EADDRINUSE else f"cannot serve ({exc.strerror})"
            )
            raise InputError(
                problem, expected="a free port (try --port 8051)", found=f"{host}:{port}"
            ) from None


def _check_speed(speed: float) -> None:
    if not speed > 0:
        raise InputError("invalid --speed", expected="a positive number", found=str(speed))


def _baseline(path: str | None) -> Any:
    if path is None:
        return None
    from imu.analyze import analyze_recording
    from imu.fatigue import Baseline
    from imu.io.load import load_recording

    minutes = analyze_recording(load_recording(path)).minutes
    baseline = Baseline.from_minutes(minutes)
    if baseline is None:
        raise InputError(
            "the baseline recording is too short",
            expected="a minute of warm-up plus three minutes of running",
            found=f"{int((minutes['running_s'] >= 30).sum())} minutes with running",
            where=path,
        )
    return baseline


# ---------------------------------------------------------------------------------------------- serving
def _serve(state: Any, producer: Any, host: str, port: int, command: str) -> int:
    import logging

    from werkzeug.serving import make_server

    from imu.dashboard.app import create_app

    app = create_app(state)
    try:
        server = make_server(host, port, app.server, threaded=True)
    except OSError as exc:
        raise InputError("cannot serve", expected="a free port", found=f"{host}:{port} ({exc})") from None

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    if not logging.getLogger("imu").isEnabledFor(logging.DEBUG):  # one line per request only with --verbose
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    producer.start()
    print(f"imu {command}: dashboard at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        producer.stop()
        producer.join(timeout=30.0)
        server.server_close()
    snap = state.snapshot()
    print(
        f"imu {command}: {snap.status}; {snap.n_running_steps} running steps, {snap.n_minutes} minutes",
        file=sys.stderr,
    )
    return 1 if producer.error is not None else 0


def run_replay(args: argparse.Namespace) -> int:
    """The ``imu replay`` command."""
    from imu.dashboard.producer import ReplayProducer
    from imu.dashboard.state import LiveState
    from imu.io.load import load_recording

    _check_speed(args.speed)
    _check_port(args.host, args.port)
    recording = load_recording(args.source)
    baseline = _baseline(args.baseline)
    state = LiveState(rate_hz=recording.rate_hz, source=f"replay of {args.source} at {args.speed:g}×")
    producer = ReplayProducer(recording, state, speed=args.speed, baseline=baseline)
    return _serve(state, producer, args.host, args.port, "replay")


def run_live(args: argparse.Namespace) -> int:
    """The ``imu live`` command."""
    from imu.dashboard.producer import LiveProducer
    from imu.dashboard.state import LiveState

    if bool(args.device) == bool(args.virtual):
        raise SessionError("give exactly one of --device ADDR or --virtual KIND")
    _check_speed(args.speed)
    _check_port(args.host, args.port)
    record_to = Path(args.record) if args.record else None
    if record_to is not None and record_to.exists() and (not record_to.is_dir() or any(record_to.iterdir())):
        raise SessionError(
            f"{record_to}: refusing to record into an existing, non-empty path; choose a new folder"
        )
    baseline = _baseline(args.baseline)
    if args.virtual:
        from imu.link.protocols import PROTOCOLS
        from imu.link.virtual import virtual_sensor

        air, device = virtual_sensor(
            args.virtual, seconds=args.seconds or VIRTUAL_DEFAULT_S, speed=args.speed
        )
        kwargs: dict[str, Any] = {
            "protocol": PROTOCOLS[args.virtual](),
            "backend": air.client_backend,
            "timebase": air.time,
            "air": air,
        }
        address, source = device.address, f"virtual {args.virtual} sensor at {args.speed:g}×"
    else:
        from imu.link.scan import scan

        asyncio.run(scan(0.5))  # raises BluetoothUnavailable (one line) on a machine without Bluetooth
        kwargs, address, source = {}, args.device, f"sensor {args.device}"
    state = LiveState(source=source + (f", recording to {record_to}" if record_to else ""))
    producer = LiveProducer(
        state, address, record_to=record_to, seconds=args.seconds, baseline=baseline, **kwargs
    )
    status = _serve(state, producer, args.host, args.port, "live")
    if record_to is not None and producer.recording is not None:
        print(f"imu live: recorded {record_to}", file=sys.stderr)
    return status
