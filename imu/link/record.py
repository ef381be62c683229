"""``imu record``: a live sensor (or a virtual one) into a session folder, through disconnects and Ctrl-C.

The session is created once the first connection has fixed the settings; every notification (control
responses on their channel, link events on :data:`~imu.io.session.LINK_EVENT_CHANNEL`) is appended to the
raw log as it is consumed. However the recording ends (``--seconds``, Ctrl-C / SIGTERM, cancellation, or
an error), the session is closed: ``samples.parquet`` and ``gaps.parquet`` are written from the raw log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from bleak.backends.client import BaseBleakClient

from imu.errors import SessionError
from imu.io.session import SessionWriter
from imu.link.ble import BleLink, LinkStats, ReconnectPolicy
from imu.link.protocols import SensorProtocol
from imu.link.timebase import Timebase
from imu.samples import Recording

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordResult:
    """The closed recording (None when no connection was ever made) and the link's statistics."""

    recording: Recording | None
    stats: LinkStats


def _check_empty(path: Path) -> None:
    """Fail before connecting when the folder cannot take a new session (SessionWriter checks it again)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise SessionError(
            f"{path}: refusing to record into an existing, non-empty path; choose a new folder"
        )


async def record(
    path: str | Path,
    address: str,
    protocol: SensorProtocol | None = None,
    *,
    seconds: float | None = None,
    backend: type[BaseBleakClient] | None = None,
    timebase: Timebase | None = None,
    policy: ReconnectPolicy | None = None,
    link_ready: asyncio.Future[BleLink] | None = None,
) -> RecordResult:
    """Record ``address`` into ``path`` until ``seconds`` pass, the link is stopped, or the task is cancelled.

    ``link_ready`` (optional) receives the :class:`BleLink` as soon as it exists (to stop it from outside).
    """
    folder = Path(path)
    _check_empty(folder)
    writer: SessionWriter | None = None

    def on_ready(ready: SensorProtocol) -> None:
        nonlocal writer
        writer = SessionWriter.create(folder, device=ready.device_meta(address), settings=ready.settings())

    def sink(channel: int, payload: bytes, host_time_ns: int) -> None:
        assert writer is not None
        writer.append(payload, host_time_ns, channel)

    link = BleLink(
        address, protocol, sink=sink, on_ready=on_ready, backend=backend, timebase=timebase, policy=policy
    )
    if link_ready is not None:
        link_ready.set_result(link)
    try:
        stats = await link.run(seconds)
    finally:
        recording = writer.close() if writer is not None and not writer.closed else None
    return RecordResult(recording, stats)
