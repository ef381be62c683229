"""WitMotion WT901BLE(CL) over BLE: the default 0x55 0x61 packet (acceleration, angular rate, angle).

The protocol is described in ``firmware_specs/witmotion_wt901ble.md``. The notify characteristic carries a
byte stream of 20-byte packets ``0x55 | flag | 9 x int16 LE``; a notification may hold several packets or
cut one in two, and there is no checksum, sequence number or timestamp. The decoder therefore reassembles
the stream, resynchronises on ``0x55 0x61`` / ``0x55 0x71`` after garbage, and leaves timing to the host
clock. Scales: acceleration ±16 g, angular rate ±2000 deg/s, angle ±180 deg over the int16 range.

Note the vendor UUID base ends in ``9a34fb``, not the Bluetooth SIG's ``9b34fb``: match the exact strings.
"""

from __future__ import annotations

from typing import ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices.base import SensorFrame

WIT_SERVICE_UUID: Final = "0000ffe5-0000-1000-8000-00805f9a34fb"
WIT_NOTIFY_UUID: Final = "0000ffe4-0000-1000-8000-00805f9a34fb"
WIT_WRITE_UUID: Final = "0000ffe9-0000-1000-8000-00805f9a34fb"

PACKET_BYTES: Final = 20
HEADER: Final = 0x55
FLAG_IMU: Final = 0x61
"""Acceleration, angular rate and angle (sent continuously by default)."""
FLAG_REGISTER: Final = 0x71
"""Reply to a register read: start register + 8 registers."""

ACC_FULL_SCALE_G: Final = 16.0
GYR_FULL_SCALE_DPS: Final = 2000.0
ANGLE_FULL_SCALE_DEG: Final = 180.0
_INT16_SPAN: Final = 32768.0

UNLOCK_COMMAND: Final = bytes.fromhex("FFAA6988B5")
"""Unlocks configuration writes for about 10 s."""
SAVE_COMMAND: Final = bytes.fromhex("FFAA000000")
"""Stores the configuration in flash."""
RATE_CODES: Final = {50: 0x08, 100: 0x09, 200: 0x0B}
"""Output-rate register (0x03) values for the rates a running analysis can use."""


def build_rate_command(rate_hz: int) -> bytes:
    """Set the output rate (send :data:`UNLOCK_COMMAND` first and :data:`SAVE_COMMAND` after)."""
    if rate_hz not in RATE_CODES:
        raise ValueError(f"WitMotion output rate must be one of {sorted(RATE_CODES)} Hz, not {rate_hz}")
    return bytes((0xFF, 0xAA, 0x03, RATE_CODES[rate_hz], 0x00))


def build_read_register_command(register: int) -> bytes:
    """Read 8 registers from ``register`` on; the reply is a 0x55 0x71 packet."""
    return bytes((0xFF, 0xAA, 0x27, register & 0xFF, 0x00))


def decode_imu_packets(packets: NDArray[np.uint8]) -> tuple[NDArray[np.float64], ...]:
    """``(acc_g, gyr_dps, angle_deg)``, each (N, 3), from complete 0x55 0x61 packets (N, 20)."""
    counts = np.ascontiguousarray(packets[:, 2:]).view("<i2").astype(np.float64)
    acc_g = counts[:, 0:3] * (ACC_FULL_SCALE_G / _INT16_SPAN)
    gyr_dps = counts[:, 3:6] * (GYR_FULL_SCALE_DPS / _INT16_SPAN)
    angle_deg = counts[:, 6:9] * (ANGLE_FULL_SCALE_DEG / _INT16_SPAN)
    return acc_g, gyr_dps, angle_deg


def _to_counts(values: NDArray[np.float64], full_scale: float) -> NDArray[np.int16]:
    counts = np.rint(np.asarray(values, dtype=np.float64) * (_INT16_SPAN / full_scale))
    return np.clip(counts, -32768, 32767).astype("<i2")


def encode_imu_packets(
    acc_g: NDArray[np.float64], gyr_dps: NDArray[np.float64], angle_deg: NDArray[np.float64]
) -> bytes:
    """Byte-exact 0x55 0x61 packets for (N, 3) values (rounded to the nearest count, clipped to int16)."""
    fields = np.concatenate(
        [
            _to_counts(acc_g, ACC_FULL_SCALE_G),
            _to_counts(gyr_dps, GYR_FULL_SCALE_DPS),
            _to_counts(angle_deg, ANGLE_FULL_SCALE_DEG),
        ],
        axis=1,
    )
    n = fields.shape[0]
    packets = np.empty((n, PACKET_BYTES), dtype=np.uint8)
    packets[:, 0] = HEADER
    packets[:, 1] = FLAG_IMU
    packets[:, 2:] = fields.view(np.uint8).reshape(n, PACKET_BYTES - 2)
    return packets.tobytes()


def _is_header(data: NDArray[np.uint8], at: NDArray[np.intp]) -> NDArray[np.bool_]:
    flags = data[at + 1]
    return (data[at] == HEADER) & ((flags == FLAG_IMU) | (flags == FLAG_REGISTER))


def split_packets(data: NDArray[np.uint8]) -> tuple[list[NDArray[np.uint8]], int, int]:
    """Cut a byte stream into whole 20-byte packets.

    Returns ``(runs, consumed, skipped)``: runs of consecutive packets as (k, 20) arrays, the number of
    bytes used up (the rest is an incomplete packet or a lone trailing 0x55 to keep), and how many of
    those were garbage. A header candidate that is not followed by another header is dropped in favour
    of a later candidate inside its 20 bytes that is, so a stray ``55 61`` in garbage does not swallow a
    real packet. The loop runs once per resynchronisation, not per packet.
    """
    size = data.shape[0]
    if size < 2:
        keep = 1 if size == 1 and data[0] == HEADER else 0
        return [], size - keep, size - keep
    starts = np.flatnonzero(_is_header(data, np.arange(size - 1)))
    runs: list[NDArray[np.uint8]] = []
    pos = 0
    skipped = 0
    while True:
        i = int(np.searchsorted(starts, pos))
        if i == len(starts):
            keep = 1 if data[size - 1] == HEADER and size - 1 >= pos else 0
            skipped += size - keep - pos
            return runs, size - keep, skipped
        start = int(starts[i])
        if start + PACKET_BYTES > size:
            skipped += start - pos
            return runs, start, skipped
        k_max = (size - start) // PACKET_BYTES
        aligned = _is_header(data, start + PACKET_BYTES * np.arange(k_max))
        k = k_max if aligned.all() else int(np.argmin(aligned))
        after = start + PACKET_BYTES
        if k == 1 and after + 1 < size and not _is_header(data, np.array([after]))[0]:
            # The packet is not followed by a header: prefer a later candidate that is.
            inside = starts[(starts > start) & (starts < start + PACKET_BYTES)]
            inside = inside[inside + PACKET_BYTES + 1 < size]
            confirmed = inside[_is_header(data, inside + PACKET_BYTES)]
            if confirmed.size:
                skipped += int(confirmed[0]) - pos
                pos = int(confirmed[0])
                continue
        skipped += start - pos
        end = start + k * PACKET_BYTES
        runs.append(data[start:end].reshape(k, PACKET_BYTES))
        pos = end


class WitMotionDecoder:
    """Decoder for the WT901BLE notification stream: acc (m/s²) and gyr (deg/s) per complete packet.

    ``rate_hz`` is the output rate the link configured (None when unknown); the packets carry no time, so
    ``device_time_s`` is None and the host clock stamps them. Bytes that are not packets are skipped and
    counted in ``skipped_bytes``; register replies are kept in ``register_replies`` (last 16). The angle
    fields (the sensor's own orientation estimate) are exposed by :func:`decode_imu_packets`, not here.
    """

    protocol: ClassVar[str] = "witmotion_wt901ble"

    def __init__(self, rate_hz: float | None = None) -> None:
        self.rate_hz = rate_hz
        self.skipped_bytes = 0
        self.register_replies: list[bytes] = []
        self._buffer = b""

    def decode(self, payload: bytes, channel: int = 0) -> list[SensorFrame]:
        stream = self._buffer + bytes(payload)
        if HEADER not in stream:  # fast path for pure garbage
            self.skipped_bytes += len(stream)
            self._buffer = b""
            return []
        runs, consumed, skipped = split_packets(np.frombuffer(stream, dtype=np.uint8))
        self._buffer = stream[consumed:]
        self.skipped_bytes += skipped
        if not runs:
            return []
        packets = np.concatenate(runs) if len(runs) > 1 else runs[0]
        is_imu = packets[:, 1] == FLAG_IMU
        if not is_imu.all():
            self.register_replies.extend(p.tobytes() for p in packets[~is_imu])
            del self.register_replies[:-16]
            packets = packets[is_imu]
            if packets.shape[0] == 0:
                return []
        acc_g, gyr_dps, _ = decode_imu_packets(packets)
        acc = acc_g * STANDARD_GRAVITY_MS2
        return [SensorFrame(acc=acc, gyr=gyr_dps, device_time_s=None, seq=None, rate_hz=self.rate_hz)]

    def reset(self) -> None:
        """Drop a half-received packet (after a reconnect the stream restarts at a packet boundary)."""
        self._buffer = b""
