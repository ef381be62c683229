"""Shared helpers: record a virtual sensor through bleak and the link, and what the recording should hold."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from imu.link.ble import ReconnectPolicy
from imu.link.protocols import PROTOCOLS
from imu.link.record import RecordResult, record
from imu.link.virtual import FaultSettings, VirtualDevice, virtual_sensor

TIMESTAMPED = ("polar", "movesense", "reference")


def record_virtual(
    kind: str,
    folder: Path,
    *,
    seconds: float,
    faults: FaultSettings | None = None,
    speed: float = 50.0,
    policy: ReconnectPolicy | None = None,
    device_class: type[VirtualDevice] | None = None,
) -> tuple[RecordResult, VirtualDevice]:
    """Record ``seconds`` (simulated) of a virtual ``kind`` sensor into ``folder``."""
    air, device = virtual_sensor(kind, seconds=seconds, faults=faults, speed=speed)
    if device_class is not None:  # the same run and faults, another behaviour (e.g. fuzzing)
        device = air.add(device_class(device.run, device.faults, address=device.address))

    async def main() -> RecordResult:
        air.switch_on()
        try:
            return await record(
                folder,
                device.address,
                PROTOCOLS[kind](),
                seconds=seconds,
                backend=air.client_backend,
                timebase=air.time,
                policy=policy or ReconnectPolicy(stall_s=120.0),  # accelerated: hiccups are not stalls
            )
        finally:
            await air.switch_off()

    return asyncio.run(main()), device


def expected_samples(device: VirtualDevice) -> np.ndarray:
    """Which simulated samples the recording must hold, from the delivery order the sensor recorded.

    Per stream, a delivered packet is kept when it ends after every packet of that stream delivered before
    it (the clock drops repeats and late packets, never retracting samples). Polar's streams are merged on
    the accelerometer times: a sample needs both its acc and its gyr.
    """
    n = len(device.run.samples)
    kept = {stream: np.zeros(n, dtype=bool) for stream in device.streams()}
    last = dict.fromkeys(device.streams(), -1)
    for stream, i0, i1 in device.injected.deliveries:
        if i1 > last[stream]:
            kept[stream][i0:i1] = True
            last[stream] = i1
    return np.logical_and.reduce(list(kept.values()))


def holes(mask: np.ndarray) -> list[tuple[int, int]]:
    """Interior runs of False between the first and last True: (samples kept before, run length)."""
    idx = np.flatnonzero(mask)
    inner = mask[idx[0] : idx[-1] + 1]
    edges = np.flatnonzero(np.diff(inner.astype(np.int8)))
    starts, stops = edges[0::2] + 1, edges[1::2] + 1
    before = np.cumsum(inner)
    return [(int(before[s - 1]), int(e - s)) for s, e in zip(starts, stops, strict=True)]
