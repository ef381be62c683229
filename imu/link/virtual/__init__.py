"""Virtual sensors for tests and demos: every supported protocol, streaming a simulated run through bleak.

>>> air, device = virtual_sensor("polar", seconds=10, speed=50)   # doctest: +SKIP
>>> link = BleLink(device.address, backend=air.client_backend, timebase=air.time)  # doctest: +SKIP
"""

from __future__ import annotations

from imu.errors import InputError
from imu.link.timebase import AcceleratedTime
from imu.link.virtual.backend import VirtualAir, VirtualBleakClient, VirtualBleakScanner
from imu.link.virtual.device import VirtualDevice
from imu.link.virtual.faults import FaultSettings, Injected
from imu.link.virtual.sensors import VIRTUAL_SENSORS

DEFAULT_RATES_HZ = {"polar": 52.0, "movesense": 104.0, "witmotion": 100.0, "reference": 208.0}
"""The rate each virtual sensor runs at: what its protocol driver asks for by default."""

__all__ = [
    "DEFAULT_RATES_HZ",
    "FaultSettings",
    "Injected",
    "VirtualAir",
    "VirtualBleakClient",
    "VirtualBleakScanner",
    "VirtualDevice",
    "virtual_sensor",
]


def virtual_sensor(
    kind: str,
    *,
    seconds: float,
    faults: FaultSettings | None = None,
    speed: float = 1.0,
    seed: int = 0,
    rate_hz: float | None = None,
) -> tuple[VirtualAir, VirtualDevice]:
    """A virtual sensor of ``kind`` streaming a simulated run of ``seconds`` (plus a margin), in the air."""
    from imu.sim.runner import RunnerSettings, simulate_run
    from imu.sim.sensor import SensorSettings

    if kind not in VIRTUAL_SENSORS:
        raise InputError(
            "unknown virtual sensor", expected=", ".join(sorted(VIRTUAL_SENSORS)), found=repr(kind)
        )
    rate = rate_hz or DEFAULT_RATES_HZ[kind]
    settings = RunnerSettings(
        minutes=(seconds + 5.0) / 60.0, seed=seed, standing_s=2.0, sensor=SensorSettings(rate_hz=rate)
    )
    air = VirtualAir(AcceleratedTime(speed))
    device = air.add(VIRTUAL_SENSORS[kind](simulate_run(settings), faults))
    return air, device
