"""Virtual sensors plugged into bleak through its documented ``backend=`` hook.

``BleakClient(address, backend=air.client_backend)`` and ``BleakScanner(backend=air.scanner_backend)`` run
bleak's own client and scanner code (characteristic resolution, callback wrapping, ``discover``) on top of
:class:`VirtualBleakClient` / :class:`VirtualBleakScanner`, which talk to the :class:`VirtualAir`: the
virtual sensors switched on in this process. The backend classes are subclassed per air, because bleak
constructs them itself and only passes the address.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, ClassVar, cast

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

from imu.link.timebase import AcceleratedTime
from imu.link.virtual.device import DeviceUnreachable, VirtualDevice

MTU = 247


class VirtualAir:
    """The virtual sensors within reach, all on one accelerated clock."""

    def __init__(self, time: AcceleratedTime | None = None) -> None:
        self.time = time or AcceleratedTime()
        self.devices: dict[str, VirtualDevice] = {}
        self._tasks: list[asyncio.Task[None]] = []
        air = self
        self.client_backend: type[VirtualBleakClient] = type(
            "VirtualBleakClient", (VirtualBleakClient,), {"air": air}
        )
        self.scanner_backend: type[VirtualBleakScanner] = type(
            "VirtualBleakScanner", (VirtualBleakScanner,), {"air": air}
        )

    def add(self, device: VirtualDevice) -> VirtualDevice:
        self.devices[device.address.upper()] = device
        return device

    def switch_on(self) -> None:
        """Start every sensor's clock and radio (call inside the running event loop)."""
        self.time.restart()
        for device in self.devices.values():
            self._tasks.append(asyncio.create_task(device.serve(self.time), name=f"virtual {device.kind}"))

    async def switch_off(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def advertisement(self, device: VirtualDevice) -> AdvertisementData:
        return AdvertisementData(
            local_name=device.name,
            manufacturer_data={},
            service_data={},
            service_uuids=[device.service_uuid],
            tx_power=None,
            rssi=-55,
            platform_data=(),
        )


class VirtualBleakClient(BaseBleakClient):
    """A bleak client backend whose peripheral is a :class:`VirtualDevice` of the air."""

    air: ClassVar[VirtualAir]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._device: VirtualDevice | None = None

    @property
    def name(self) -> str:
        device = self.air.devices.get(self.address.upper())
        return device.name if device is not None else self.address

    @property
    def mtu_size(self) -> int:
        return MTU

    @property
    def is_connected(self) -> bool:
        return self._device is not None and self._device.client is self

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        device = self.air.devices.get(self.address.upper())
        if device is None:
            raise BleakDeviceNotFoundError(self.address, f"no virtual sensor at {self.address}")
        await asyncio.sleep(0)  # a connection takes a moment
        try:
            device.accept(self)
        except DeviceUnreachable:
            raise BleakDeviceNotFoundError(self.address, "virtual sensor not advertising") from None
        self._device = device
        self.services = self._gatt(device)

    async def disconnect(self) -> None:
        if self._device is not None:
            self._device.release(self)
            self._device = None

    def lost_connection(self) -> None:
        """The sensor dropped the link: an unsolicited disconnect, reported as bleak does."""
        self._device = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def unpair(self) -> None:
        return None

    def _connected_device(self) -> VirtualDevice:
        if self._device is None or self._device.client is not self:
            raise BleakError("Not connected")
        return self._device

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(self._connected_device().handle_read(characteristic.uuid))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise BleakError("virtual sensors have no readable descriptors")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        device = self._connected_device()
        allowed = "write" if response else "write-without-response"
        if allowed not in characteristic.properties:
            raise BleakError(f"{characteristic.uuid} does not support {allowed}")
        await asyncio.sleep(0)
        device.write(characteristic.uuid, bytes(data))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        raise BleakError("virtual sensors have no writable descriptors")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        if "notify" not in characteristic.properties:
            raise BleakError(f"{characteristic.uuid} does not notify")
        self._connected_device().subscribe(characteristic.uuid, callback)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._connected_device().subscribe(characteristic.uuid, None)

    def _gatt(self, device: VirtualDevice) -> BleakGATTServiceCollection:
        services = BleakGATTServiceCollection()
        service = BleakGATTService(None, 1, device.service_uuid)
        services.add_service(service)
        for k, char in enumerate(device.characteristics):
            services.add_characteristic(
                BleakGATTCharacteristic(
                    None, 2 + 2 * k, char.uuid, cast(Any, list(char.properties)), lambda: MTU - 3, service
                )
            )
        return services


class VirtualBleakScanner(BaseBleakScanner):
    """A bleak scanner backend that hears the air's virtual sensors advertise."""

    air: ClassVar[VirtualAir]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        self.seen_devices = {}
        for key, device in self.air.devices.items():
            adv = self.air.advertisement(device)
            if not self.is_allowed_uuid(adv.service_uuids):
                continue
            ble_device = self.create_or_update_device(key, device.address, device.name, None, adv)
            self.call_detection_callbacks(ble_device, adv)

    async def stop(self) -> None:
        return None
