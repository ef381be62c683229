"""``imu scan``: the supported sensors advertising nearby, recognised by service UUID or name.

A machine without Bluetooth (no adapter, no BlueZ / D-Bus, radio off) gets one clear line, never a
traceback and never a hang: the scan is bounded by its timeout plus a small grace period.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from imu.errors import ImuError
from imu.link.protocols import SensorKind, identify

GRACE_S = 5.0
"""How much longer than its timeout a scan may take before it is abandoned (a stuck stack)."""


class BluetoothUnavailable(ImuError):
    """No usable Bluetooth on this machine."""


@dataclass(frozen=True)
class FoundSensor:
    """A supported sensor heard advertising."""

    address: str
    name: str | None
    rssi: int
    kind: SensorKind


async def scan(timeout_s: float = 5.0, *, backend: type[BaseBleakScanner] | None = None) -> list[FoundSensor]:
    """Scan for ``timeout_s`` seconds; supported sensors sorted by signal strength (strongest first)."""
    try:
        discovery = (
            BleakScanner.discover(timeout_s, return_adv=True)
            if backend is None
            else BleakScanner.discover(timeout_s, return_adv=True, backend=backend)
        )
        found = await asyncio.wait_for(discovery, timeout_s + GRACE_S)
    except TimeoutError:
        raise BluetoothUnavailable(
            f"the Bluetooth scan did not finish within {timeout_s + GRACE_S:.0f} s"
        ) from None
    except (BleakError, OSError, ImportError, ValueError, KeyError) as exc:  # D-Bus / adapter failures
        raise BluetoothUnavailable(
            f"Bluetooth is not available on this machine ({type(exc).__name__}: {exc})"
        ) from None
    sensors = []
    for device, adv in found.values():
        kind = identify(adv.local_name or device.name, adv.service_uuids)
        if kind is not None:
            sensors.append(FoundSensor(device.address, adv.local_name or device.name, adv.rssi, kind))
    return sorted(sensors, key=lambda s: -s.rssi)


def format_sensors(sensors: list[FoundSensor]) -> str:
    if not sensors:
        return "no supported sensor found (is it switched on, awake and not connected to a phone?)"
    lines = [f"{'ADDRESS':<20} {'RSSI':>5}  {'KIND':<10} NAME"]
    lines += [
        f"{s.address:<20} {s.rssi:>5}  {s.kind.kind:<10} {s.name or ''}  ({s.kind.description})"
        for s in sensors
    ]
    return "\n".join(lines)
