"""The project's own open reference packet protocol for DIY boards (spec: firmware_specs/reference_packet.md).

A data notification is a 16-byte little-endian header followed by ``n`` samples of int16 counts::

    offset  type  field
    0       u8    version (= 1)
    1       u8    sample_count n (1..255)
    2       u16   seq: packet sequence number, +1 per packet, wraps at 65536
    4       u64   t_last_us: device time of the LAST sample in the packet, µs, free-running
    12      u16   rate_hz: configured output data rate
    14      u8    acc_range_code
    15      u8    gyr_range_code (0xFF: no gyroscope, samples are ax ay az only)
    16      ...   n × (ax ay az [gx gy gz]) int16

One count is ``range / 32768`` (m/s² via :data:`STANDARD_GRAVITY_MS2` for the accelerometer, deg/s for the
gyroscope). There is no CRC: the Bluetooth LE link layer already protects and retransmits every PDU, and the
session's raw log has its own CRC32 (the spec gives the full reasoning). Loss is always visible through
``seq``, and clock drift through ``t_last_us`` against the host's receive time.

The control characteristic takes :class:`StartCommand` / :class:`StopCommand` and answers with a
:class:`CommandResponse` notification.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices.base import DecodeError, SensorFrame
from imu.errors import InputError

PROTOCOL_VERSION: Final = 1

UUID_BASE: Final = "326f{:04x}-1631-4f39-bca8-6c4c3ce0118f"
"""Our own random 128-bit base; the 16-bit slot in bytes 2–3 tells service and characteristics apart."""
SERVICE_UUID: Final = UUID_BASE.format(0x0001)
DATA_CHAR_UUID: Final = UUID_BASE.format(0x0002)
"""Notify: one data packet per notification."""
CONTROL_CHAR_UUID: Final = UUID_BASE.format(0x0003)
"""Write with response: commands; notify: one :class:`CommandResponse` per command."""

ACC_RANGES_G: Final[Mapping[int, int]] = {0: 2, 1: 4, 2: 8, 3: 16, 4: 32}
"""Accelerometer range code → full scale, g."""
GYR_RANGES_DPS: Final[Mapping[int, int]] = {0: 125, 1: 250, 2: 500, 3: 1000, 4: 2000, 5: 4000}
"""Gyroscope range code → full scale, deg/s."""
GYR_OFF: Final = 0xFF
"""Gyroscope range code meaning "no gyroscope": samples carry the accelerometer only."""

_HEADER: Final = struct.Struct("<BBHQHBB")
HEADER_SIZE: Final = _HEADER.size  # 16
_FULL_SCALE_COUNTS: Final = 32768.0


def _acc_code(range_g: int) -> int:
    for code, g in ACC_RANGES_G.items():
        if g == range_g:
            return code
    raise InputError(
        "unsupported accelerometer range",
        expected=f"one of {sorted(ACC_RANGES_G.values())} g",
        found=f"{range_g!r}",
    )


def _gyr_code(range_dps: int | None) -> int:
    if range_dps is None:
        return GYR_OFF
    for code, dps in GYR_RANGES_DPS.items():
        if dps == range_dps:
            return code
    raise InputError(
        "unsupported gyroscope range",
        expected=f"one of {sorted(GYR_RANGES_DPS.values())} deg/s",
        found=f"{range_dps!r}",
    )


def _check_rate(rate_hz: float) -> int:
    if not float(rate_hz).is_integer() or not 1 <= rate_hz <= 0xFFFF:
        raise InputError(
            "unsupported sampling rate", expected="a whole number of Hz in 1..65535", found=f"{rate_hz!r}"
        )
    return int(rate_hz)


def _quantise(values: NDArray[np.float64], full_scale: float) -> NDArray[np.int16]:
    """Counts of one LSB = full_scale / 32768, clipped at the range as a saturating sensor does."""
    counts = np.rint(values * (_FULL_SCALE_COUNTS / full_scale))
    return np.clip(counts, -32768, 32767).astype("<i2")


@functools.cache
def _scale(acc_code: int, gyr_code: int) -> NDArray[np.float64]:
    """Per-axis physical units per count: m/s² for ax ay az, deg/s for gx gy gz (absent when gyr is off)."""
    acc = [ACC_RANGES_G[acc_code] * STANDARD_GRAVITY_MS2 / _FULL_SCALE_COUNTS] * 3
    gyr = [] if gyr_code == GYR_OFF else [GYR_RANGES_DPS[gyr_code] / _FULL_SCALE_COUNTS] * 3
    return np.array(acc + gyr)


# ------------------------------------------------------------------------------------------------ data
def encode_packets(
    acc_ms2: ArrayLike,
    gyr_dps: ArrayLike | None,
    *,
    rate_hz: float,
    samples_per_packet: int,
    acc_range_g: int = 16,
    gyr_range_dps: int = 2000,
    seq_start: int = 0,
    device_time_start_us: int = 0,
    clock_ppm: float = 0.0,
) -> list[bytes]:
    """Packets a reference board would send for these samples (what a virtual sensor and tests need).

    Sample ``i`` is taken at true time ``i / rate_hz``; the board's clock runs ``clock_ppm`` fast, so it
    stamps it ``device_time_start_us + round(i / rate_hz * 1e6 * (1 + clock_ppm * 1e-6))`` µs. Each packet
    carries the stamp of its last sample. Values are quantised to int16 counts of the range and clipped at
    it; a final packet may hold fewer than ``samples_per_packet`` samples.
    """
    acc = np.asarray(acc_ms2, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise InputError("acceleration has the wrong shape", expected="(N, 3) m/s²", found=str(acc.shape))
    n_total = acc.shape[0]
    gyr = None if gyr_dps is None else np.asarray(gyr_dps, dtype=np.float64)
    if gyr is not None and gyr.shape != acc.shape:
        raise InputError(
            "angular rate has the wrong shape", expected=f"({n_total}, 3) deg/s", found=str(gyr.shape)
        )
    if not 1 <= samples_per_packet <= 255:
        raise InputError("unsupported samples per packet", expected="1..255", found=f"{samples_per_packet!r}")
    rate = _check_rate(rate_hz)
    acc_code = _acc_code(acc_range_g)
    gyr_code = _gyr_code(None if gyr is None else gyr_range_dps)

    counts = _quantise(acc, acc_range_g * STANDARD_GRAVITY_MS2)
    if gyr is not None:
        counts = np.hstack([counts, _quantise(gyr, float(gyr_range_dps))])
    stamps_us = device_time_start_us + np.rint(
        np.arange(n_total) * (1e6 / rate) * (1.0 + clock_ppm * 1e-6)
    ).astype(np.int64)

    packets = []
    for k, start in enumerate(range(0, n_total, samples_per_packet)):
        stop = min(start + samples_per_packet, n_total)
        header = _HEADER.pack(
            PROTOCOL_VERSION,
            stop - start,
            (seq_start + k) & 0xFFFF,
            int(stamps_us[stop - 1]),
            rate,
            acc_code,
            gyr_code,
        )
        packets.append(header + counts[start:stop].tobytes())
    return packets


CHANNEL_DATA: Final = 0
"""``decode(..., channel=CHANNEL_DATA)``: a notification of the data characteristic."""
CHANNEL_CONTROL: Final = 1
"""``decode(..., channel=CHANNEL_CONTROL)``: a response notified on the control characteristic."""


class ReferenceDecoder:
    """Decoder for reference data packets: one packet per notification, stateless.

    Control responses (channel :data:`CHANNEL_CONTROL`) are checked and yield no samples.
    """

    protocol: ClassVar[str] = "reference"

    def decode(self, payload: bytes, channel: int = CHANNEL_DATA) -> list[SensorFrame]:
        if channel == CHANNEL_CONTROL:
            decode_response(payload)
            return []
        if len(payload) < HEADER_SIZE:
            raise DecodeError(
                "reference packet shorter than its header",
                expected=f"≥ {HEADER_SIZE} bytes",
                found=f"{len(payload)} bytes",
            )
        version, n, seq, t_last_us, rate_hz, acc_code, gyr_code = _HEADER.unpack_from(payload)
        if version != PROTOCOL_VERSION:
            raise DecodeError(
                "unknown reference packet version", expected=str(PROTOCOL_VERSION), found=str(version)
            )
        if acc_code not in ACC_RANGES_G:
            raise DecodeError(
                "unknown accelerometer range code",
                expected=f"one of {sorted(ACC_RANGES_G)}",
                found=str(acc_code),
            )
        if gyr_code != GYR_OFF and gyr_code not in GYR_RANGES_DPS:
            raise DecodeError(
                "unknown gyroscope range code",
                expected=f"one of {sorted(GYR_RANGES_DPS)} or {GYR_OFF}",
                found=str(gyr_code),
            )
        if n == 0 or rate_hz == 0:
            raise DecodeError(
                "empty reference packet",
                expected="sample_count ≥ 1 and rate_hz ≥ 1",
                found=f"sample_count {n}, rate_hz {rate_hz}",
            )
        channels = 3 if gyr_code == GYR_OFF else 6
        size = HEADER_SIZE + 2 * channels * n
        if len(payload) != size:
            raise DecodeError(
                "reference packet length does not match its sample count",
                expected=f"{size} bytes for {n} samples × {channels} channels",
                found=f"{len(payload)} bytes",
            )
        counts = np.frombuffer(payload, dtype="<i2", count=n * channels, offset=HEADER_SIZE).reshape(
            n, channels
        )
        values = counts * _scale(acc_code, gyr_code)  # one multiply for all axes: m/s² then deg/s
        acc = values[:, :3]
        gyr = values[:, 3:] if channels == 6 else None
        return [
            SensorFrame(acc=acc, gyr=gyr, device_time_s=t_last_us * 1e-6, seq=seq, rate_hz=float(rate_hz))
        ]


# --------------------------------------------------------------------------------------------- control
class Opcode(IntEnum):
    START = 0x01
    STOP = 0x02


class ResponseStatus(IntEnum):
    OK = 0
    UNKNOWN_COMMAND = 1
    INVALID_PARAMETER = 2
    INVALID_LENGTH = 3


RESPONSE_MARKER: Final = 0x80
_START: Final = struct.Struct("<BHBBB")


@dataclass(frozen=True)
class StartCommand:
    """Start (or restart) streaming; ``gyr_range_dps=None`` streams the accelerometer only."""

    rate_hz: int
    acc_range_g: int = 16
    gyr_range_dps: int | None = 2000
    samples_per_packet: int = 8


@dataclass(frozen=True)
class StopCommand:
    """Stop streaming."""


@dataclass(frozen=True)
class CommandResponse:
    """The board's answer to one command, notified on the control characteristic."""

    opcode: int
    status: ResponseStatus


def encode_command(command: StartCommand | StopCommand) -> bytes:
    """Bytes to write to :data:`CONTROL_CHAR_UUID`."""
    if isinstance(command, StopCommand):
        return bytes([Opcode.STOP])
    if not 1 <= command.samples_per_packet <= 255:
        raise InputError(
            "unsupported samples per packet", expected="1..255", found=f"{command.samples_per_packet!r}"
        )
    return _START.pack(
        Opcode.START,
        _check_rate(command.rate_hz),
        _acc_code(command.acc_range_g),
        _gyr_code(command.gyr_range_dps),
        command.samples_per_packet,
    )


def decode_command(payload: bytes) -> StartCommand | StopCommand:
    """What a board (or the virtual sensor) does with a control write; :class:`DecodeError` when invalid."""
    if not payload:
        raise DecodeError("empty control command", expected="an opcode byte", found="0 bytes")
    opcode = payload[0]
    if opcode == Opcode.STOP:
        if len(payload) != 1:
            raise DecodeError("stop command with arguments", expected="1 byte", found=f"{len(payload)} bytes")
        return StopCommand()
    if opcode != Opcode.START:
        raise DecodeError(
            "unknown control opcode", expected=f"one of {[int(o) for o in Opcode]}", found=f"{opcode:#04x}"
        )
    if len(payload) != _START.size:
        raise DecodeError(
            "start command of the wrong length",
            expected=f"{_START.size} bytes",
            found=f"{len(payload)} bytes",
        )
    _, rate_hz, acc_code, gyr_code, per_packet = _START.unpack(payload)
    if acc_code not in ACC_RANGES_G or (gyr_code != GYR_OFF and gyr_code not in GYR_RANGES_DPS):
        raise DecodeError(
            "start command with an unknown range code",
            expected=f"acc in {sorted(ACC_RANGES_G)}, gyr in {sorted(GYR_RANGES_DPS)} or {GYR_OFF}",
            found=f"acc {acc_code}, gyr {gyr_code}",
        )
    if rate_hz == 0 or per_packet == 0:
        raise DecodeError(
            "start command with a zero rate or packet size",
            expected="≥ 1",
            found=f"rate_hz {rate_hz}, samples_per_packet {per_packet}",
        )
    return StartCommand(
        rate_hz=rate_hz,
        acc_range_g=ACC_RANGES_G[acc_code],
        gyr_range_dps=None if gyr_code == GYR_OFF else GYR_RANGES_DPS[gyr_code],
        samples_per_packet=per_packet,
    )


def encode_response(response: CommandResponse) -> bytes:
    return bytes([RESPONSE_MARKER, response.opcode & 0xFF, int(response.status)])


def decode_response(payload: bytes) -> CommandResponse:
    if len(payload) != 3 or payload[0] != RESPONSE_MARKER:
        raise DecodeError(
            "not a control response",
            expected=f"3 bytes starting {RESPONSE_MARKER:#04x}",
            found=payload.hex(" ") or "0 bytes",
        )
    try:
        status = ResponseStatus(payload[2])
    except ValueError:
        raise DecodeError(
            "unknown response status",
            expected=f"one of {[int(s) for s in ResponseStatus]}",
            found=str(payload[2]),
        ) from None
    return CommandResponse(opcode=payload[1], status=status)
