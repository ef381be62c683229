"""How the link talks to each supported sensor: recognise it, configure it, start and stop its streams.

Each :class:`SensorProtocol` follows its spec in ``firmware_specs/``: which characteristics to enable
(each becomes a raw-log channel, numbered as the protocol's decoder expects), which commands to write and
which responses to wait for. Every notification, control responses included, goes through the link's
queue to the recorder first; :meth:`SensorProtocol.observe` then sees it, so a start command is confirmed
by the very response that is in the raw log.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from bleak import BleakClient

from imu.devices import movesense as ms
from imu.devices import polar_pmd as pmd
from imu.devices import reference as ref
from imu.devices import witmotion as wit
from imu.devices.base import DecodeError
from imu.errors import ImuError

Subscribe = Callable[[str, int], Awaitable[None]]
"""``subscribe(characteristic_uuid, channel)``: enable notifications into the link's queue."""


class ProtocolError(ImuError):
    """The sensor refused the configuration (retrying will not help): the link stops and says why."""


@dataclass(frozen=True)
class SensorKind:
    """A supported sensor family: how it advertises (service UUID, name) and which protocol it speaks."""

    kind: str
    protocol: str
    service_uuid: str
    name_pattern: re.Pattern[str]
    description: str

    def matches(self, name: str | None, service_uuids: list[str]) -> bool:
        uuids = {u.lower() for u in service_uuids}
        return self.service_uuid in uuids or bool(name and self.name_pattern.search(name))


KINDS: tuple[SensorKind, ...] = (
    SensorKind(
        "polar", "polar_pmd", pmd.PMD_SERVICE_UUID, re.compile(r"^Polar (Sense|H10|Verity)"), "Polar PMD"
    ),
    SensorKind("movesense", "movesense_gsp", ms.GSP_SERVICE_UUID, re.compile(r"^Movesense"), "Movesense GSP"),
    SensorKind(
        "witmotion", "witmotion_wt901ble", wit.WIT_SERVICE_UUID, re.compile(r"^WT901"), "WitMotion WT901BLE"
    ),
    SensorKind("reference", "reference", ref.SERVICE_UUID, re.compile(r"^imu-ref"), "imu reference packet"),
)


def identify(name: str | None, service_uuids: list[str]) -> SensorKind | None:
    """The supported sensor family advertising this name / these services (service UUIDs decide first)."""
    uuids = {u.lower() for u in service_uuids}
    for kind in KINDS:
        if kind.service_uuid in uuids:
            return kind
    return next((k for k in KINDS if k.matches(name, [])), None)


class _Responses:
    """Futures resolved by the control responses the link's consumer observes."""

    def __init__(self) -> None:
        self._waiting: list[tuple[Callable[[int, bytes], bool], asyncio.Future[bytes]]] = []

    def observe(self, channel: int, payload: bytes) -> None:
        for entry in list(self._waiting):
            match, future = entry
            try:
                hit = match(channel, payload)
            except (DecodeError, IndexError, ValueError):
                hit = False
            if hit:
                self._waiting.remove(entry)
                if not future.done():
                    future.set_result(payload)

    async def request(
        self,
        client: BleakClient,
        uuid: str,
        data: bytes,
        match: Callable[[int, bytes], bool],
        timeout_s: float,
    ) -> bytes:
        """Write with response and wait for the notification ``match`` accepts (TimeoutError otherwise)."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        entry = (match, future)
        self._waiting.append(entry)
        try:
            await client.write_gatt_char(uuid, data, response=True)
            return await asyncio.wait_for(future, timeout_s)
        finally:
            if entry in self._waiting:
                self._waiting.remove(entry)


class SensorProtocol:
    """Base: one instance per link (it keeps the settings it chose across reconnects)."""

    kind: ClassVar[SensorKind]
    response_timeout_s: float = 5.0

    def __init__(self) -> None:
        self._responses = _Responses()
        self.name: str | None = None
        self.refused: ProtocolError | None = None
        """Set when a notification says the sensor refused the configuration after all."""

    async def prepare(self, client: BleakClient) -> None:
        """First connection only: read what the sensor offers and fix the settings."""
        self.name = client.name

    def settings(self) -> dict[str, Any]:
        """The session's ``settings`` (what the decoder and clock need, plus what was configured)."""
        raise NotImplementedError

    def channels(self) -> dict[int, str]:
        raise NotImplementedError

    async def start(self, client: BleakClient, subscribe: Subscribe) -> None:
        """Enable notifications and start the streams (again after every reconnect)."""
        raise NotImplementedError

    async def stop(self, client: BleakClient) -> None:
        """Stop the streams before a deliberate disconnect (best effort)."""

    def observe(self, channel: int, payload: bytes) -> None:
        self._responses.observe(channel, payload)

    def device_meta(self, address: str) -> dict[str, Any]:
        return {
            "protocol": self.kind.protocol,
            "name": self.name,
            "address": address,
            "channels": self.channels(),
        }


class PolarProtocol(SensorProtocol):
    """Verity Sense ACC + GYRO (SDK mode unless 52 Hz), or H10 ACC only (chosen from the feature read)."""

    kind = KINDS[0]

    def __init__(self, rate_hz: int = 52, acc_range_g: int = 8, gyr_range_dps: int = 2000) -> None:
        super().__init__()
        self.rate_hz = rate_hz
        self.acc_range_g = acc_range_g
        self.gyr_range_dps = gyr_range_dps
        self.gyro = True

    async def prepare(self, client: BleakClient) -> None:
        await super().prepare(client)
        features = await client.read_gatt_char(pmd.PMD_CONTROL_POINT_UUID)
        if len(features) < 2 or features[0] != 0x0F or not features[1] & 0x04:
            raise ProtocolError(
                f"the Polar sensor offers no accelerometer stream (features {features.hex()})"
            )
        self.gyro = bool(features[1] & 0x20)

    @property
    def sdk_mode(self) -> bool:
        return self.gyro and self.rate_hz != 52

    def settings(self) -> dict[str, Any]:
        return {
            "rate_hz": self.rate_hz,
            "acc_rate_hz": self.rate_hz,
            "gyr_rate_hz": self.rate_hz if self.gyro else None,
            "acc_range_g": self.acc_range_g,
            "gyr_range_dps": self.gyr_range_dps if self.gyro else None,
            "sdk_mode": self.sdk_mode,
        }

    def channels(self) -> dict[int, str]:
        return {pmd.CHANNEL_DATA: "pmd data", pmd.CHANNEL_CONTROL: "pmd control point"}

    async def start(self, client: BleakClient, subscribe: Subscribe) -> None:
        await subscribe(pmd.PMD_CONTROL_POINT_UUID, pmd.CHANNEL_CONTROL)
        await subscribe(pmd.PMD_DATA_UUID, pmd.CHANNEL_DATA)
        if self.sdk_mode:
            await self._command(client, pmd.build_sdk_mode_command(True))
        await self._command(
            client, pmd.build_start_command(pmd.MeasurementType.ACC, self.rate_hz, 16, self.acc_range_g)
        )
        if self.gyro:
            await self._command(
                client,
                pmd.build_start_command(pmd.MeasurementType.GYRO, self.rate_hz, 16, self.gyr_range_dps),
            )

    async def stop(self, client: BleakClient) -> None:
        for meas in (
            (pmd.MeasurementType.ACC, pmd.MeasurementType.GYRO) if self.gyro else (pmd.MeasurementType.ACC,)
        ):
            await client.write_gatt_char(
                pmd.PMD_CONTROL_POINT_UUID, pmd.build_stop_command(meas), response=True
            )

    async def _command(self, client: BleakClient, command: bytes) -> None:
        def answers(channel: int, payload: bytes) -> bool:
            if channel != pmd.CHANNEL_CONTROL or not payload or payload[0] != pmd.RESPONSE_CODE:
                return False
            response = pmd.parse_control_point(payload)
            return (
                isinstance(response, pmd.ControlPointResponse)
                and response.op == command[0]
                and response.meas_type == command[1]
            )

        payload = await self._responses.request(
            client, pmd.PMD_CONTROL_POINT_UUID, command, answers, self.response_timeout_s
        )
        response = pmd.parse_control_point(payload)
        assert isinstance(response, pmd.ControlPointResponse)
        if not response.ok and response.status != 6:  # 6: already in state (a stream still running)
            raise ProtocolError(f"Polar refused command {command.hex(' ')}: {response.status_name}")


class MovesenseProtocol(SensorProtocol):
    """IMU6 over GSP: HELLO (liveness), then SUBSCRIBE /Meas/IMU6/{rate} with our reference."""

    kind = KINDS[1]
    REFERENCE: ClassVar[int] = 0x63
    HELLO_REFERENCE: ClassVar[int] = 0x01

    def __init__(self, rate_hz: int = 104) -> None:
        super().__init__()
        if rate_hz not in ms.IMU6_RATES_HZ:
            raise ProtocolError(f"Movesense IMU6 rate must be one of {ms.IMU6_RATES_HZ} Hz, not {rate_hz}")
        self.rate_hz = rate_hz

    def settings(self) -> dict[str, Any]:
        return {"rate_hz": self.rate_hz, "ref": self.REFERENCE}

    def channels(self) -> dict[int, str]:
        return {0: "gsp data"}

    async def start(self, client: BleakClient, subscribe: Subscribe) -> None:
        await subscribe(ms.GSP_NOTIFY_UUID, 0)

        def hello(channel: int, payload: bytes) -> bool:
            return payload[:2] == bytes((ms.MSG_COMMAND_RESULT, self.HELLO_REFERENCE))

        await self._responses.request(
            client, ms.GSP_WRITE_UUID, ms.build_hello(self.HELLO_REFERENCE), hello, self.response_timeout_s
        )
        await client.write_gatt_char(
            ms.GSP_WRITE_UUID, ms.build_imu6_subscribe(self.REFERENCE, self.rate_hz), response=True
        )

    async def stop(self, client: BleakClient) -> None:
        await client.write_gatt_char(ms.GSP_WRITE_UUID, ms.build_unsubscribe(self.REFERENCE), response=True)

    def observe(self, channel: int, payload: bytes) -> None:
        super().observe(channel, payload)
        if payload[:2] == bytes((ms.MSG_COMMAND_RESULT, self.REFERENCE)) and len(payload) >= 4:
            status = int.from_bytes(payload[2:4], "big")
            if status >= 300:
                self.refused = ProtocolError(f"Movesense refused the IMU6 subscription: status {status}")


class WitMotionProtocol(SensorProtocol):
    """WT901BLE: notifications on, then unlock, set the output rate, save (no responses to wait for)."""

    kind = KINDS[2]

    def __init__(self, rate_hz: int = 100) -> None:
        super().__init__()
        if rate_hz not in wit.RATE_CODES:
            raise ProtocolError(f"WitMotion rate must be one of {sorted(wit.RATE_CODES)} Hz, not {rate_hz}")
        self.rate_hz = rate_hz

    def settings(self) -> dict[str, Any]:
        return {"rate_hz": self.rate_hz, "acc_range_g": 16, "gyr_range_dps": 2000}

    def channels(self) -> dict[int, str]:
        return {0: "wit data"}

    async def start(self, client: BleakClient, subscribe: Subscribe) -> None:
        await subscribe(wit.WIT_NOTIFY_UUID, 0)
        for command in (wit.UNLOCK_COMMAND, wit.build_rate_command(self.rate_hz), wit.SAVE_COMMAND):
            await client.write_gatt_char(wit.WIT_WRITE_UUID, command, response=False)


class ReferenceProtocol(SensorProtocol):
    """The reference board: data and control notifications on, START with the chosen settings."""

    kind = KINDS[3]

    def __init__(
        self,
        rate_hz: int = 208,
        acc_range_g: int = 16,
        gyr_range_dps: int = 2000,
        samples_per_packet: int = 8,
    ) -> None:
        super().__init__()
        self.command = ref.StartCommand(rate_hz, acc_range_g, gyr_range_dps, samples_per_packet)

    def settings(self) -> dict[str, Any]:
        c = self.command
        return {
            "rate_hz": c.rate_hz,
            "acc_range_g": c.acc_range_g,
            "gyr_range_dps": c.gyr_range_dps,
            "samples_per_packet": c.samples_per_packet,
        }

    def channels(self) -> dict[int, str]:
        return {ref.CHANNEL_DATA: "reference data", ref.CHANNEL_CONTROL: "reference control"}

    async def start(self, client: BleakClient, subscribe: Subscribe) -> None:
        await subscribe(ref.CONTROL_CHAR_UUID, ref.CHANNEL_CONTROL)
        await subscribe(ref.DATA_CHAR_UUID, ref.CHANNEL_DATA)

        def answers(channel: int, payload: bytes) -> bool:
            return channel == ref.CHANNEL_CONTROL and ref.decode_response(payload).opcode == ref.Opcode.START

        payload = await self._responses.request(
            client, ref.CONTROL_CHAR_UUID, ref.encode_command(self.command), answers, self.response_timeout_s
        )
        status = ref.decode_response(payload).status
        if status != ref.ResponseStatus.OK:
            raise ProtocolError(f"the reference board refused {self.command}: {status.name}")

    async def stop(self, client: BleakClient) -> None:
        await client.write_gatt_char(
            ref.CONTROL_CHAR_UUID, ref.encode_command(ref.StopCommand()), response=True
        )


PROTOCOLS: dict[str, type[SensorProtocol]] = {
    "polar": PolarProtocol,
    "movesense": MovesenseProtocol,
    "witmotion": WitMotionProtocol,
    "reference": ReferenceProtocol,
}


def protocol_for_services(service_uuids: list[str], name: str | None) -> SensorProtocol | None:
    """A protocol driver for a connected sensor, from its GATT services (or its name)."""
    kind = identify(name, service_uuids)
    return None if kind is None else PROTOCOLS[kind.kind]()
