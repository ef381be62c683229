"""OpenEarable 2 IMU stream (sensor ID 0): the packet envelope and both sample layouts.

Facts from the OpenEarable protocol schema (``OpenEarable/protocol`` ``schemas/imu/README.md``, MIT), see
``firmware_specs/openearable.md``:

- envelope, little-endian: sensor ID ``u8`` (IMU = 0) | payload length ``u8`` (bytes after these two) |
  first sample's timestamp ``u64`` µs | samples | ``u16`` sample period µs, only when there are several;
- compact samples (firmware 2.3.x, 24 bytes): acc X/Y/Z ``int16`` counts, gyro X/Y/Z ``int16`` counts,
  magnetometer X/Y/Z ``float32`` µT; acc m/s² = ``float32(raw · (2·9.80665/32768))`` (±2 g),
  gyro deg/s = ``float32(raw · 2000/32768)``;
- legacy samples (firmware 2.1.x / 2.2.x, 36 bytes): nine ``float32`` (acc m/s², gyro deg/s, mag µT).

The layout must be chosen from the firmware version read at connection (``settings["sample_layout"]``),
never inferred from the packet size. No sequence number: loss shows only as a timestamp jump.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import numpy as np

from imu.devices.base import DecodeError, FloatArray, SensorFrame
from imu.errors import InputError

IMU_SENSOR_ID: Final = 0
ACC_MS2_PER_COUNT: Final = np.float32(2.0 * 9.80665 / 32768.0)
GYR_DPS_PER_COUNT: Final = np.float32(2000.0 / 32768.0)

COMPACT: Final = "compact"
LEGACY: Final = "legacy"
_SAMPLE_DTYPES: Final = {
    COMPACT: np.dtype([("acc", "<i2", 3), ("gyr", "<i2", 3), ("mag", "<f4", 3)]),
    LEGACY: np.dtype([("acc", "<f4", 3), ("gyr", "<f4", 3), ("mag", "<f4", 3)]),
}
_HEADER: Final = struct.Struct("<BBQ")


def decode_samples(data: bytes, layout: str = COMPACT) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``(acc m/s², gyr deg/s, mag µT)``, each (N, 3), from back-to-back samples of one layout."""
    dtype = _SAMPLE_DTYPES[layout]
    if len(data) % dtype.itemsize:
        raise DecodeError(
            "OpenEarable IMU samples are cut short",
            expected=f"a multiple of {dtype.itemsize} bytes ({layout} layout)",
            found=f"{len(data)} bytes",
        )
    rec = np.frombuffer(data, dtype=dtype)
    if layout == COMPACT:  # the wire contract: float32 of the count times a float32 scale
        acc = (rec["acc"].astype(np.float32) * ACC_MS2_PER_COUNT).astype(np.float64)
        gyr = (rec["gyr"].astype(np.float32) * GYR_DPS_PER_COUNT).astype(np.float64)
    else:
        acc, gyr = rec["acc"].astype(np.float64), rec["gyr"].astype(np.float64)
    with np.errstate(invalid="ignore"):  # a signalling-NaN bit pattern in the magnetometer is not our concern
        mag = rec["mag"].astype(np.float64)
    return acc, gyr, mag


def encode_packet(
    first_time_us: int, acc_counts: np.ndarray, gyr_counts: np.ndarray, period_us: int | None = None
) -> bytes:
    """A compact-layout IMU packet (for the tests and a virtual sensor); magnetometer zeros."""
    n = len(acc_counts)
    rec = np.zeros(n, dtype=_SAMPLE_DTYPES[COMPACT])
    rec["acc"], rec["gyr"] = acc_counts, gyr_counts
    tail = b"" if n == 1 else struct.pack("<H", period_us or 0)
    body = struct.pack("<Q", first_time_us) + rec.tobytes() + tail
    return struct.pack("<BB", IMU_SENSOR_ID, len(body)) + body


class OpenEarableDecoder:
    """Decodes notifications of one or more IMU packets; other sensor IDs are skipped."""

    protocol: ClassVar[str] = "openearable"

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        settings = settings or {}
        self.layout = str(settings.get("sample_layout", COMPACT))
        if self.layout not in _SAMPLE_DTYPES:
            raise InputError(
                "unknown OpenEarable sample layout", expected="compact or legacy", found=self.layout
            )
        self.rate_hz = float(settings["rate_hz"]) if "rate_hz" in settings else None

    def decode(self, payload: bytes, channel: int = 0) -> list[SensorFrame]:
        frames: list[SensorFrame] = []
        at, size = 0, _SAMPLE_DTYPES[self.layout].itemsize
        while at < len(payload):
            if len(payload) - at < 2:
                raise DecodeError("OpenEarable packet header cut short", expected="2 bytes", found="1 byte")
            sensor_id, length = payload[at], payload[at + 1]
            body = payload[at + 2 : at + 2 + length]
            if len(body) != length:
                raise DecodeError(
                    "OpenEarable packet cut short", expected=f"{length} payload bytes", found=f"{len(body)}"
                )
            at += 2 + length
            if sensor_id != IMU_SENSOR_ID:
                continue
            frames.append(self._imu_packet(body, size))
        return frames

    def _imu_packet(self, body: bytes, size: int) -> SensorFrame:
        if len(body) == 8 + size:  # one sample: no period
            n, period_us = 1, None
        elif len(body) > 8 + size and (len(body) - 10) % size == 0:
            n = (len(body) - 10) // size
            (period_us,) = struct.unpack_from("<H", body, len(body) - 2)
        else:
            raise DecodeError(
                "OpenEarable IMU packet has the wrong length",
                expected=f"8 + {size}·n (+ 2 when n > 1) bytes",
                found=f"{len(body)} bytes",
            )
        (first_us,) = struct.unpack_from("<Q", body, 0)
        acc, gyr, _ = decode_samples(body[8 : 8 + n * size], self.layout)
        if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(gyr))):
            raise DecodeError("OpenEarable IMU sample is not finite", expected="finite float32 values")
        last_us = first_us + (n - 1) * (period_us or 0)
        rate = 1e6 / period_us if period_us else self.rate_hz
        return SensorFrame(acc=acc, gyr=gyr, device_time_s=last_us / 1e6, seq=None, rate_hz=rate)
