"""The four virtual sensors, each answering its commands and encoding its frames as its spec says.

- ``polar``: a Verity Sense (firmware_specs/polar_pmd.md): PMD control point (features on read, settings
  TLVs, start/stop, SDK mode, a FACTOR in the GYRO start response) and delta-compressed ACC and GYRO
  frames of their own, stamped in ns since 2000 on the sensor clock. Streams stop on a disconnect.
- ``movesense``: GSP (firmware_specs/movesense_gsp.md): HELLO, SUBSCRIBE ``/Meas/IMU6/{rate}`` tagged with
  the client's reference, messages split over two notifications when long. Unsubscribed on a disconnect.
- ``witmotion``: WT901BLE (firmware_specs/witmotion_wt901ble.md): streams 20-byte packets as soon as
  notifications are on, at its saved rate; configuration writes (unlock, rate, save) are accepted.
- ``reference``: the project's packet (firmware_specs/reference_packet.md): START/STOP with a response,
  ``seq`` from 0 at each START, µs stamps of the last sample. Stops streaming on a disconnect.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices import movesense as ms
from imu.devices import polar_pmd as pmd
from imu.devices import reference as ref
from imu.devices import witmotion as wit
from imu.devices.base import DecodeError
from imu.link.virtual.device import Characteristic, Packet, VirtualDevice

POLAR_EPOCH_OFFSET_S = 7.6e8
"""The virtual Verity Sense's clock at switch-on: about 2024 in seconds since 2000-01-01."""


class VirtualPolar(VirtualDevice):
    """A Polar Verity Sense streaming ACC (±8 g) and GYRO (±2000 deg/s) at the run's rate."""

    kind = "polar"
    service_uuid = pmd.PMD_SERVICE_UUID
    characteristics = (
        Characteristic(pmd.PMD_CONTROL_POINT_UUID, ("read", "write", "notify")),
        Characteristic(pmd.PMD_DATA_UUID, ("notify",)),
    )
    samples_per_packet = 36
    FEATURES: ClassVar[bytes] = bytes((0x0F, 0x6E, 0x02))
    GYR_FACTOR: ClassVar[float] = 2000.0 / 32768.0  # deg/s per count: exact in float32
    NORMAL_RATES_HZ: ClassVar[tuple[int, ...]] = (52,)
    SDK_RATES_HZ: ClassVar[tuple[int, ...]] = (26, 52, 104, 208, 416)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.running: set[int] = set()
        self.sdk_mode = False

    def default_name(self) -> str:
        return "Polar Sense VIRTUAL0"

    def streams(self) -> tuple[str, ...]:
        return ("acc", "gyr")

    def streaming(self) -> bool:
        return self.client is not None and bool(self.running) and self.subscribed(pmd.PMD_DATA_UUID)

    def handle_read(self, uuid: str) -> bytes:
        return self.FEATURES if uuid == pmd.PMD_CONTROL_POINT_UUID else b""

    def handle_write(self, uuid: str, data: bytes) -> list[tuple[str, bytes]]:
        if uuid != pmd.PMD_CONTROL_POINT_UUID or not self.subscribed(uuid) or len(data) < 1:
            return []
        op = data[0]
        meas = data[1] if len(data) > 1 else 0
        status, params = self._command(op, meas, data[2:])
        return [(uuid, bytes((pmd.RESPONSE_CODE, op, meas, status, 0)) + params)]

    def _command(self, op: int, meas: int, tlv: bytes) -> tuple[int, bytes]:
        types = (pmd.MeasurementType.ACC, pmd.MeasurementType.GYRO)
        if meas == pmd.MeasurementType.SDK_MODE and op in (2, 3):
            self.sdk_mode = op == 2
            self.running.clear()  # entering or leaving SDK mode stops running streams
            return 0, b""
        if meas not in types:
            return 2, b""
        if op == pmd.ControlOp.STOP_MEASUREMENT:
            self.running.discard(meas)
            return 0, b""
        if op != pmd.ControlOp.REQUEST_MEASUREMENT_START:
            return 1, b""
        try:
            settings = pmd.parse_settings(tlv)
        except DecodeError:
            return 4, b""
        rate = int(settings.get(pmd.SettingType.SAMPLE_RATE, (0,))[0])
        allowed = self.SDK_RATES_HZ if self.sdk_mode else self.NORMAL_RATES_HZ
        if rate not in allowed or rate != round(self.rate_hz):
            return 8, b""  # ERROR_INVALID_SAMPLE_RATE: the simulated run has one rate
        if meas in self.running:
            return 6, b""
        self.running.add(meas)
        if meas == pmd.MeasurementType.GYRO:
            return 0, pmd.encode_settings({pmd.SettingType.FACTOR: (self.GYR_FACTOR,)})
        return 0, b""

    def on_disconnect(self) -> None:
        self.running.clear()
        self.sdk_mode = False

    def packets(self, i0: int, i1: int) -> list[Packet]:
        samples = self.run.samples
        stamp_ns = round((POLAR_EPOCH_OFFSET_S + self.device_time_s((i1 - 1) / self.rate_hz)) * 1e9)
        out = []
        if pmd.MeasurementType.ACC in self.running:
            acc_mg = np.rint(samples.acc[i0:i1] * (1000.0 / STANDARD_GRAVITY_MS2)).astype(np.int64)
            frame = pmd.encode_acc_delta_frame(stamp_ns, acc_mg)
            out.append(Packet("acc", i0, i1, ((pmd.PMD_DATA_UUID, frame),)))
        if pmd.MeasurementType.GYRO in self.running and samples.gyr is not None:
            counts = np.rint(samples.gyr[i0:i1] / self.GYR_FACTOR).astype(np.int64)
            frame = pmd.encode_gyro_delta_frame(stamp_ns, counts)
            out.append(Packet("gyr", i0, i1, ((pmd.PMD_DATA_UUID, frame),)))
        return out


class VirtualMovesense(VirtualDevice):
    """A Movesense with the GATT SensorData app, IMU6 at the run's rate, 8 samples per message."""

    kind = "movesense"
    service_uuid = ms.GSP_SERVICE_UUID
    characteristics = (
        Characteristic(ms.GSP_WRITE_UUID, ("write", "write-without-response")),
        Characteristic(ms.GSP_NOTIFY_UUID, ("notify",)),
    )
    samples_per_packet = 8
    BOOT_MS: ClassVar[int] = 123_456

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.subscription: int | None = None

    def default_name(self) -> str:
        return "Movesense 000000000000"

    def streaming(self) -> bool:
        return (
            self.client is not None and self.subscription is not None and self.subscribed(ms.GSP_NOTIFY_UUID)
        )

    def handle_write(self, uuid: str, data: bytes) -> list[tuple[str, bytes]]:
        if uuid != ms.GSP_WRITE_UUID or len(data) < 2:
            return []
        command, reference, body = data[0], data[1], data[2:]
        result = ms.GSP_NOTIFY_UUID, bytes((ms.MSG_COMMAND_RESULT, reference))
        if command == ms.CMD_HELLO:
            return [(result[0], result[1] + b"Hello")]
        if command == ms.CMD_SUBSCRIBE:
            if body.decode("ascii", "replace") != f"/Meas/IMU6/{round(self.rate_hz)}":
                return [(result[0], result[1] + (404).to_bytes(2, "big"))]
            self.subscription = reference
            return []
        if command == ms.CMD_UNSUBSCRIBE and reference == self.subscription:
            self.subscription = None
        return []

    def on_disconnect(self) -> None:
        self.subscription = None

    def packets(self, i0: int, i1: int) -> list[Packet]:
        assert self.subscription is not None and self.run.samples.gyr is not None
        first_ms = self.BOOT_MS + round(float(self.device_time_s(i0 / self.rate_hz)) * 1000.0)
        parts = ms.encode_imu6_notifications(
            self.subscription, first_ms, self.run.samples.acc[i0:i1], self.run.samples.gyr[i0:i1]
        )
        return [Packet("data", i0, i1, tuple((ms.GSP_NOTIFY_UUID, p) for p in parts))]


class VirtualWitMotion(VirtualDevice):
    """A WT901BLE streaming at its saved rate (the run's rate), two packets per notification."""

    kind = "witmotion"
    service_uuid = wit.WIT_SERVICE_UUID
    characteristics = (
        Characteristic(wit.WIT_NOTIFY_UUID, ("notify",)),
        Characteristic(wit.WIT_WRITE_UUID, ("write", "write-without-response")),
    )
    samples_per_packet = 2

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.writes: list[bytes] = []

    def default_name(self) -> str:
        return "WT901BLE68"

    def streaming(self) -> bool:
        return self.client is not None and self.subscribed(wit.WIT_NOTIFY_UUID)

    def handle_write(self, uuid: str, data: bytes) -> list[tuple[str, bytes]]:
        self.writes.append(data)  # unlock / rate / save: the saved rate is the run's
        return []

    def packets(self, i0: int, i1: int) -> list[Packet]:
        s = self.run.samples
        assert s.gyr is not None
        payload = wit.encode_imu_packets(
            s.acc[i0:i1] / STANDARD_GRAVITY_MS2, s.gyr[i0:i1], np.zeros((i1 - i0, 3))
        )
        return [Packet("data", i0, i1, ((wit.WIT_NOTIFY_UUID, payload),))]


class VirtualReference(VirtualDevice):
    """A reference-protocol board (e.g. an nRF52 with an LSM6DSO) at the run's rate."""

    kind = "reference"
    service_uuid = ref.SERVICE_UUID
    characteristics = (
        Characteristic(ref.DATA_CHAR_UUID, ("notify",)),
        Characteristic(ref.CONTROL_CHAR_UUID, ("write", "notify")),
    )
    START_US: ClassVar[int] = 5_000_000_000

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.config: ref.StartCommand | None = None
        self.seq = 0

    def default_name(self) -> str:
        return "imu-ref VIRTUAL"

    def streaming(self) -> bool:
        return self.client is not None and self.config is not None and self.subscribed(ref.DATA_CHAR_UUID)

    def handle_write(self, uuid: str, data: bytes) -> list[tuple[str, bytes]]:
        if uuid != ref.CONTROL_CHAR_UUID:
            return []
        opcode = data[0] if data else 0
        try:
            command = ref.decode_command(data)
        except DecodeError as exc:
            status = (
                ref.ResponseStatus.UNKNOWN_COMMAND
                if "opcode" in str(exc)
                else ref.ResponseStatus.INVALID_LENGTH
            )
        else:
            status = ref.ResponseStatus.OK
            if isinstance(command, ref.StopCommand):
                self.config = None
            elif command.rate_hz != round(self.rate_hz) or command.gyr_range_dps is None:
                status = ref.ResponseStatus.INVALID_PARAMETER
            else:
                self.config, self.seq = command, 0
                self.samples_per_packet = command.samples_per_packet
        response = ref.encode_response(ref.CommandResponse(opcode, status))
        return [(ref.CONTROL_CHAR_UUID, response)]

    def on_disconnect(self) -> None:
        self.config = None

    def packets(self, i0: int, i1: int) -> list[Packet]:
        config = self.config
        assert config is not None and config.gyr_range_dps is not None
        start_us = self.START_US + math.floor(float(self.device_time_s(i0 / self.rate_hz)) * 1e6 + 0.5)
        (packet,) = ref.encode_packets(
            self.run.samples.acc[i0:i1],
            self.run.samples.gyr[i0:i1] if self.run.samples.gyr is not None else None,
            rate_hz=config.rate_hz,
            samples_per_packet=i1 - i0,
            acc_range_g=config.acc_range_g,
            gyr_range_dps=config.gyr_range_dps,
            seq_start=self.seq,
            device_time_start_us=start_us,
            clock_ppm=self.faults.clock_ppm,
        )
        self.seq += 1
        return [Packet("data", i0, i1, ((ref.DATA_CHAR_UUID, packet),))]


VIRTUAL_SENSORS: dict[str, type[VirtualDevice]] = {
    cls.kind: cls for cls in (VirtualPolar, VirtualMovesense, VirtualWitMotion, VirtualReference)
}
