"""Polar Measurement Data (PMD): Verity Sense accelerometer + gyroscope, H10 accelerometer.

The protocol is described in ``firmware_specs/polar_pmd.md``. Two GATT characteristics matter: the control
point (commands, their responses and device-initiated stops) and the data characteristic (one frame per
notification). :class:`PolarPmdDecoder` takes both: data on :data:`CHANNEL_DATA`, control-point
notifications on :data:`CHANNEL_CONTROL`, so it learns the FACTOR the device announces when a stream starts.

Data frame: ``meas_type u8 | timestamp u64 LE (ns since 2000-01-01T00:00:00, time of the LAST sample) |
frame_type u8 (bit 7 = delta compressed) | content``. Delta-compressed content is a reference sample
followed by blocks ``bit_width u8 | sample_count u8 | packed deltas`` (bits LSB-first, two's complement of
``bit_width`` bits, sums wrap at 32 bits). Everything here is vectorised per block, never per sample.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices.base import DecodeError, SensorFrame

IntArray = NDArray[np.int64]

PMD_SERVICE_UUID: Final = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID: Final = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID: Final = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

CHANNEL_DATA: Final = 0
"""``decode(..., channel=CHANNEL_DATA)``: a notification of the PMD data characteristic."""
CHANNEL_CONTROL: Final = 1
"""``decode(..., channel=CHANNEL_CONTROL)``: a notification of the PMD control point."""

PMD_EPOCH_UTC: Final = "2000-01-01T00:00:00Z"
"""Epoch of the data-frame timestamps (nanoseconds)."""

HEADER_BYTES: Final = 10
_MEAS_TYPE_MASK: Final = 0x3F
_COMPRESSED_BIT: Final = 0x80
_FRAME_TYPE_MASK: Final = 0x7F
_MAX_DELTA_BITS: Final = 32
_CHANNELS: Final = 3


class MeasurementType(IntEnum):
    """The measurement-type byte (low 6 bits of the data frame's first byte)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SKIN_TEMP = 7
    SDK_MODE = 9


class ControlOp(IntEnum):
    """Client-to-device control-point op codes."""

    GET_MEASUREMENT_SETTINGS = 1
    REQUEST_MEASUREMENT_START = 2
    STOP_MEASUREMENT = 3
    GET_SDK_MODE_SETTINGS = 4
    GET_MEASUREMENT_STATUS = 5


class SettingType(IntEnum):
    """Setting TLV types; values are little-endian of the size in :data:`SETTING_SIZES`."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5


SETTING_SIZES: Final = {
    SettingType.SAMPLE_RATE: 2,
    SettingType.RESOLUTION: 2,
    SettingType.RANGE: 2,
    SettingType.RANGE_MILLIUNIT: 4,
    SettingType.CHANNELS: 1,
    SettingType.FACTOR: 4,
}

RESPONSE_CODE: Final = 0xF0
"""First byte of every control-point response to a client command."""
MEASUREMENT_STOPPED_CODE: Final = 0x01
"""First byte of a device-initiated 'online measurement stopped' control-point notification."""

STATUS_NAMES: Final = (
    "SUCCESS",
    "ERROR_INVALID_OP_CODE",
    "ERROR_INVALID_MEASUREMENT_TYPE",
    "ERROR_NOT_SUPPORTED",
    "ERROR_INVALID_LENGTH",
    "ERROR_INVALID_PARAMETER",
    "ERROR_ALREADY_IN_STATE",
    "ERROR_INVALID_RESOLUTION",
    "ERROR_INVALID_SAMPLE_RATE",
    "ERROR_INVALID_RANGE",
    "ERROR_INVALID_MTU",
    "ERROR_INVALID_NUMBER_OF_CHANNELS",
    "ERROR_INVALID_STATE",
    "ERROR_DEVICE_IN_CHARGER",
    "ERROR_DISK_FULL",
)

_RAW_ACC_BYTES: Final = {0: 1, 1: 2, 2: 3}
"""Uncompressed ACC frame types: bytes per axis value (mG)."""

# Powers of two per bit position, the weights that turn LSB-first bit rows into integers.
_POW2: Final = np.left_shift(np.int64(1), np.arange(_MAX_DELTA_BITS, dtype=np.int64))


# --------------------------------------------------------------------------------------------------------
# Data frames
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PmdFrame:
    """One decoded data frame, in the device's units.

    ``values`` is (N, 3) float64: mG for ACC, deg/s for GYRO, already multiplied by FACTOR where the
    protocol says so. ``timestamp_ns`` is the time of the LAST sample, ns since 2000-01-01.
    """

    meas_type: int
    timestamp_ns: int
    frame_type: int
    compressed: bool
    values: NDArray[np.float64]


def _wrap_int32(values: IntArray) -> IntArray:
    """Two's-complement wrap to 32 bits, as the device's int32 accumulator does."""
    return ((values + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _sign_extend(values: IntArray, bits: int) -> IntArray:
    """Interpret the low ``bits`` bits as two's complement (a 1-bit field holds 0 or -1)."""
    half = 1 << (bits - 1)
    return (values ^ half) - half


def _read_reference(content: bytes, channels: int, resolution_bits: int) -> tuple[IntArray, int]:
    """The reference sample: one little-endian value of ceil(resolution/8) bytes per channel."""
    width_bytes = (resolution_bits + 7) // 8
    n_bytes = width_bytes * channels
    if len(content) < n_bytes:
        raise DecodeError(
            "PMD delta frame too short for its reference sample",
            expected=f"at least {n_bytes} bytes",
            found=f"{len(content)} bytes",
        )
    if width_bytes in (1, 2, 4) and resolution_bits == 8 * width_bytes:  # the usual case: plain int16
        return np.frombuffer(content, dtype=f"<i{width_bytes}", count=channels).astype(np.int64), n_bytes
    raw = np.frombuffer(content, dtype=np.uint8, count=n_bytes).reshape(channels, width_bytes)
    unsigned = raw.astype(np.int64) @ np.left_shift(np.int64(1), 8 * np.arange(width_bytes, dtype=np.int64))
    return _sign_extend(unsigned & ((1 << resolution_bits) - 1), resolution_bits), n_bytes


def decode_delta_payload(content: bytes, channels: int, resolution_bits: int) -> IntArray:
    """Samples (N, channels) as int32 values (in int64) from a delta-compressed frame's content.

    The reference sample comes first; each block then holds ``sample_count`` samples of ``bit_width``-bit
    deltas, LSB-first, which are summed onto the previous sample with 32-bit wrap-around. A truncated
    block, a bit width of 0 or above 32, or a dangling block header raise :class:`DecodeError`.
    """
    if not 1 <= resolution_bits <= _MAX_DELTA_BITS:
        raise DecodeError("PMD resolution out of range", expected="1..32 bits", found=str(resolution_bits))
    reference, offset = _read_reference(content, channels, resolution_bits)
    size = len(content)
    blocks: list[tuple[int, int, int]] = []  # (bit offset of the block's data, bit width, sample count)
    n_samples = 1
    while offset < size:
        if offset + 2 > size:
            raise DecodeError(
                "PMD delta block header truncated", expected="2 header bytes", found=f"{size - offset}"
            )
        width, count = content[offset], content[offset + 1]
        if not 1 <= width <= _MAX_DELTA_BITS:
            raise DecodeError("PMD delta bit width out of range", expected="1..32", found=str(width))
        n_bytes = (width * count * channels + 7) // 8
        if offset + 2 + n_bytes > size:
            raise DecodeError(
                "PMD delta block truncated",
                expected=f"{n_bytes} bytes for {count} samples of {width} bits",
                found=f"{size - offset - 2} bytes",
            )
        blocks.append((8 * (offset + 2), width, count))
        n_samples += count
        offset += 2 + n_bytes
    samples = np.empty((n_samples, channels), dtype=np.int64)
    samples[0] = reference
    if blocks:
        bits = np.unpackbits(np.frombuffer(content, dtype=np.uint8), bitorder="little")
        row = 1
        for bit_offset, width, count in blocks:
            n_bits = width * count * channels
            fields = bits[bit_offset : bit_offset + n_bits].reshape(count * channels, width)
            deltas = _sign_extend((fields @ _POW2[:width]).astype(np.int64, copy=False), width)
            samples[row : row + count] = deltas.reshape(count, channels)
            row += count
        np.cumsum(samples, axis=0, out=samples)
    return _wrap_int32(samples)


def decode_raw_payload(content: bytes, channels: int, value_bytes: int) -> IntArray:
    """Samples (N, channels) from an uncompressed frame: signed little-endian values of ``value_bytes``."""
    stride = channels * value_bytes
    if not content or len(content) % stride:
        raise DecodeError(
            "PMD raw frame content is not a whole number of samples",
            expected=f"a positive multiple of {stride} bytes",
            found=f"{len(content)} bytes",
        )
    raw = np.frombuffer(content, dtype=np.uint8).reshape(-1, channels, value_bytes).astype(np.int64)
    unsigned = raw @ np.left_shift(np.int64(1), 8 * np.arange(value_bytes, dtype=np.int64))
    return _sign_extend(unsigned, 8 * value_bytes)


def parse_frame_header(payload: bytes) -> tuple[int, int, int, bool]:
    """``(meas_type, timestamp_ns, frame_type, compressed)`` of a data frame."""
    if len(payload) <= HEADER_BYTES:
        raise DecodeError(
            "PMD data frame too short",
            expected=f"more than {HEADER_BYTES} bytes (header + content)",
            found=f"{len(payload)} bytes",
        )
    timestamp_ns = int.from_bytes(payload[1:9], "little")
    frame_byte = payload[9]
    return (
        payload[0] & _MEAS_TYPE_MASK,
        timestamp_ns,
        frame_byte & _FRAME_TYPE_MASK,
        bool(frame_byte & _COMPRESSED_BIT),
    )


def decode_data_frame(payload: bytes, factor: float = 1.0) -> PmdFrame:
    """Decode an ACC or GYRO data frame into device units (mG, deg/s), FACTOR applied.

    ACC: raw types 0/1/2 hold 8/16/24-bit mG (no factor); delta type 0 holds G·factor (so mG is
    ``raw * factor * 1000``); delta type 1 holds mG·factor. GYRO: delta type 0 holds deg/s·factor as int16;
    delta type 1 holds float32 bit patterns whose deltas are summed as int32, then ``float * factor``.
    Other measurement types and frame types raise :class:`DecodeError`.
    """
    meas_type, timestamp_ns, frame_type, compressed = parse_frame_header(payload)
    content = payload[HEADER_BYTES:]
    values: NDArray[np.float64]
    if meas_type == MeasurementType.ACC:
        if not compressed and frame_type in _RAW_ACC_BYTES:
            values = decode_raw_payload(content, _CHANNELS, _RAW_ACC_BYTES[frame_type]).astype(np.float64)
        elif compressed and frame_type in (0, 1):
            counts = decode_delta_payload(content, _CHANNELS, 16)
            scale = factor * 1000.0 if frame_type == 0 else factor
            values = (counts * scale).astype(np.float64, copy=False)
        else:
            raise _unsupported(meas_type, frame_type, compressed)
    elif meas_type == MeasurementType.GYRO:
        if compressed and frame_type == 0:
            values = (decode_delta_payload(content, _CHANNELS, 16) * factor).astype(np.float64, copy=False)
        elif compressed and frame_type == 1:
            as_float32 = decode_delta_payload(content, _CHANNELS, 32).astype(np.int32).view(np.float32)
            if not np.isfinite(as_float32).all():
                raise DecodeError("PMD gyro frame holds NaN or infinite floats", expected="finite samples")
            values = as_float32.astype(np.float64) * factor
        else:
            raise _unsupported(meas_type, frame_type, compressed)
    else:
        raise _unsupported(meas_type, frame_type, compressed)
    if not np.isfinite(values).all():
        raise DecodeError("PMD frame decodes to NaN or infinite values", expected="finite samples")
    return PmdFrame(meas_type, timestamp_ns, frame_type, compressed, values)


def _unsupported(meas_type: int, frame_type: int, compressed: bool) -> DecodeError:
    kind = "delta" if compressed else "raw"
    return DecodeError(
        "unsupported PMD data frame",
        expected="ACC raw type 0/1/2, ACC delta type 0/1 or GYRO delta type 0/1",
        found=f"measurement type {meas_type}, {kind} frame type {frame_type}",
    )


def frame_sample_times_ns(
    timestamp_ns: int, previous_timestamp_ns: int, n_samples: int, rate_hz: float
) -> NDArray[np.float64]:
    """Per-sample times as Polar's SDK assigns them (ns since 2000-01-01; the last equals ``timestamp_ns``).

    With a previous frame of the same kind the interval to it is split evenly over the samples; without
    one (``previous_timestamp_ns == 0``) the configured rate spaces them. Note that after a lost frame the
    SDK's rule stretches the samples over the gap: the imu clock therefore spaces samples by the rate and
    marks the gap instead (``imu.link``); this function exists to check decoders against the SDK.
    """
    if n_samples <= 0:
        raise DecodeError("no samples to time", expected="at least 1 sample", found=str(n_samples))
    if previous_timestamp_ns:
        if timestamp_ns <= previous_timestamp_ns:
            raise DecodeError(
                "PMD frame timestamp does not advance",
                expected=f"more than the previous {previous_timestamp_ns} ns",
                found=f"{timestamp_ns} ns",
            )
        step = (timestamp_ns - previous_timestamp_ns) / n_samples
        start = previous_timestamp_ns + step
    else:
        if rate_hz <= 0:
            raise DecodeError("no rate to time the first frame", expected="rate_hz > 0", found=str(rate_hz))
        step = 1e9 / rate_hz
        start = timestamp_ns - step * (n_samples - 1)
    times = np.round(start + step * np.arange(n_samples, dtype=np.float64))
    times[-1] = timestamp_ns
    return times


# --------------------------------------------------------------------------------------------------------
# Encoders (virtual sensor, round-trip tests)
# --------------------------------------------------------------------------------------------------------


def _bits_needed(deltas: IntArray) -> int:
    """Smallest two's-complement width holding every delta (at least 1 bit)."""
    if deltas.size == 0:
        return 1
    high = int(deltas.max())
    low = int(deltas.min())
    return max(1, high.bit_length() + 1 if high > 0 else 1, (-low - 1).bit_length() + 1 if low < 0 else 1)


def encode_delta_payload(samples: IntArray, resolution_bits: int, block_samples: int = 255) -> bytes:
    """Delta-compressed content for integer ``samples`` (N, channels), the inverse of
    :func:`decode_delta_payload`. Deltas are cut into blocks of at most ``block_samples`` samples, each
    with the narrowest bit width that holds its deltas, so a varying signal yields mixed widths."""
    values = np.asarray(samples, dtype=np.int64)
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError("samples must be a non-empty (N, channels) integer array")
    if not 1 <= block_samples <= 255:
        raise ValueError("block_samples must be 1..255 (the count field is one byte)")
    n = values.shape[0]
    width_bytes = (resolution_bits + 7) // 8
    mask_ref = (1 << (8 * width_bytes)) - 1
    out = bytearray()
    for value in values[0]:
        out += (int(value) & mask_ref).to_bytes(width_bytes, "little")
    deltas = _wrap_int32(np.diff(values, axis=0))
    for start in range(0, n - 1, block_samples):
        block = deltas[start : start + block_samples]
        width = _bits_needed(block)
        unsigned = block.reshape(-1) & ((1 << width) - 1)
        bits = ((unsigned[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
        out += bytes((width, block.shape[0]))
        out += np.packbits(bits.reshape(-1), bitorder="little").tobytes()
    return bytes(out)


def encode_data_frame(
    meas_type: int, timestamp_ns: int, frame_type: int, compressed: bool, content: bytes
) -> bytes:
    """A data-frame notification: header (``timestamp_ns`` = time of the last sample) + content."""
    frame_byte = (frame_type & _FRAME_TYPE_MASK) | (_COMPRESSED_BIT if compressed else 0)
    return bytes((meas_type,)) + struct.pack("<Q", timestamp_ns) + bytes((frame_byte,)) + content


def encode_acc_delta_frame(timestamp_ns: int, acc_mg: IntArray, block_samples: int = 255) -> bytes:
    """An ACC delta type-1 frame (mG·factor with factor 1), as the Verity Sense streams it."""
    content = encode_delta_payload(np.asarray(acc_mg, dtype=np.int64), 16, block_samples)
    return encode_data_frame(MeasurementType.ACC, timestamp_ns, 1, True, content)


def encode_gyro_delta_frame(timestamp_ns: int, gyr_counts: IntArray, block_samples: int = 255) -> bytes:
    """A GYRO delta type-0 frame: int16 counts that the client multiplies by the stream's FACTOR."""
    content = encode_delta_payload(np.asarray(gyr_counts, dtype=np.int64), 16, block_samples)
    return encode_data_frame(MeasurementType.GYRO, timestamp_ns, 0, True, content)


def encode_acc_raw_frame(timestamp_ns: int, acc_mg: IntArray) -> bytes:
    """An ACC raw type-1 frame (int16 mG), as the H10 streams it."""
    values = np.asarray(acc_mg, dtype=np.int64)
    if np.any(values < -32768) or np.any(values > 32767):
        raise ValueError("raw type-1 ACC values must fit int16 (mG)")
    return encode_data_frame(MeasurementType.ACC, timestamp_ns, 1, False, values.astype("<i2").tobytes())


# --------------------------------------------------------------------------------------------------------
# Control point
# --------------------------------------------------------------------------------------------------------

SettingValues = Mapping[SettingType, Sequence[float]]


def encode_settings(settings: SettingValues) -> bytes:
    """Setting TLVs ``type u8 | count u8 | count x value`` (FACTOR as float32, others unsigned LE)."""
    out = bytearray()
    for setting, values in settings.items():
        out += bytes((int(setting), len(values)))
        for value in values:
            if setting == SettingType.FACTOR:
                out += struct.pack("<f", value)
            else:
                out += int(value).to_bytes(SETTING_SIZES[setting], "little")
    return bytes(out)


def parse_settings(data: bytes) -> dict[SettingType, tuple[float, ...]]:
    """Setting TLVs as ``{type: values}``; an unknown type or a truncated value raises DecodeError."""
    settings: dict[SettingType, tuple[float, ...]] = {}
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise DecodeError("PMD setting header truncated", expected="type and count bytes", found="1 byte")
        type_byte, count = data[offset], data[offset + 1]
        if type_byte not in SETTING_SIZES:
            raise DecodeError(
                "unknown PMD setting type (its value size is unknown)",
                expected=f"one of {sorted(int(s) for s in SETTING_SIZES)}",
                found=str(type_byte),
            )
        setting = SettingType(type_byte)
        size = SETTING_SIZES[setting]
        end = offset + 2 + count * size
        if end > len(data):
            raise DecodeError(
                f"PMD setting {setting.name} truncated",
                expected=f"{count} values of {size} bytes",
                found=f"{len(data) - offset - 2} bytes",
            )
        fields = [data[offset + 2 + i * size : offset + 2 + (i + 1) * size] for i in range(count)]
        if setting == SettingType.FACTOR:
            settings[setting] = tuple(struct.unpack("<f", f)[0] for f in fields)
        else:
            settings[setting] = tuple(int.from_bytes(f, "little") for f in fields)
        offset = end
    return settings


def build_get_settings_command(meas_type: int) -> bytes:
    """Ask which rates, resolutions, ranges and channel counts a measurement supports."""
    return bytes((ControlOp.GET_MEASUREMENT_SETTINGS, meas_type))


def build_get_sdk_mode_settings_command(meas_type: int) -> bytes:
    """Ask the full settings available in SDK mode (Verity Sense)."""
    return bytes((ControlOp.GET_SDK_MODE_SETTINGS, meas_type))


def build_start_command(
    meas_type: int, sample_rate_hz: int, resolution_bits: int, range_: int, channels: int = 3
) -> bytes:
    """Start a stream; ``range_`` is in G for ACC and deg/s for GYRO."""
    settings = {
        SettingType.SAMPLE_RATE: (sample_rate_hz,),
        SettingType.RESOLUTION: (resolution_bits,),
        SettingType.RANGE: (range_,),
        SettingType.CHANNELS: (channels,),
    }
    return bytes((ControlOp.REQUEST_MEASUREMENT_START, meas_type)) + encode_settings(settings)


def build_stop_command(meas_type: int) -> bytes:
    """Stop a stream."""
    return bytes((ControlOp.STOP_MEASUREMENT, meas_type))


def build_sdk_mode_command(enable: bool) -> bytes:
    """Enter (or leave) SDK mode, which unlocks the Verity Sense's full rates and ranges (26-416 Hz)."""
    op = ControlOp.REQUEST_MEASUREMENT_START if enable else ControlOp.STOP_MEASUREMENT
    return bytes((op, MeasurementType.SDK_MODE))


def build_measurement_status_command() -> bytes:
    """Ask which measurements are running."""
    return bytes((ControlOp.GET_MEASUREMENT_STATUS,))


@dataclass(frozen=True)
class ControlPointResponse:
    """A response (first byte 0xF0) to a client command; ``parameters`` are the raw bytes after ``more``."""

    op: int
    meas_type: int
    status: int
    more: bool
    parameters: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def status_name(self) -> str:
        return (
            STATUS_NAMES[self.status] if self.status < len(STATUS_NAMES) else f"UNKNOWN_STATUS_{self.status}"
        )

    def settings(self) -> dict[SettingType, tuple[float, ...]]:
        """The parameters read as setting TLVs (GET_MEASUREMENT_SETTINGS, or a start response's FACTOR)."""
        return parse_settings(self.parameters)


@dataclass(frozen=True)
class MeasurementStopped:
    """The device stopped these measurements on its own (first byte 0x01)."""

    meas_types: tuple[int, ...]


def parse_control_point(payload: bytes) -> ControlPointResponse | MeasurementStopped:
    """A control-point notification: a command response or a device-initiated stop."""
    if not payload:
        raise DecodeError("empty PMD control-point notification", expected="at least 1 byte", found="0 bytes")
    if payload[0] == MEASUREMENT_STOPPED_CODE:
        return MeasurementStopped(tuple(b & _MEAS_TYPE_MASK for b in payload[1:]))
    if payload[0] != RESPONSE_CODE:
        raise DecodeError(
            "unknown PMD control-point notification",
            expected="0xF0 (response) or 0x01 (measurement stopped)",
            found=f"0x{payload[0]:02X}",
        )
    if len(payload) < 4:
        raise DecodeError(
            "PMD control-point response truncated", expected="at least 4 bytes", found=f"{len(payload)}"
        )
    status = payload[3]
    success = status == 0
    more = success and len(payload) > 4 and payload[4] != 0
    parameters = bytes(payload[5:]) if success else b""
    return ControlPointResponse(payload[1], payload[2] & _MEAS_TYPE_MASK, status, more, parameters)


# --------------------------------------------------------------------------------------------------------
# The stateful decoder
# --------------------------------------------------------------------------------------------------------


class PolarPmdDecoder:
    """Decoder for a Polar PMD stream (Verity Sense ACC + GYRO, H10 ACC).

    ``acc_rate_hz`` / ``gyr_rate_hz`` are the rates the link requested in its start commands; FACTORs
    default to 1 and are updated from start responses seen on :data:`CHANNEL_CONTROL` (or given here).
    ACC comes out in m/s², GYRO in deg/s, each in its own :class:`SensorFrame` (Polar never mixes them).
    Frames of other measurements (PPG, MAG...) are counted in ``skipped_frames`` and yield nothing;
    ``stopped`` collects measurement types the device stopped on its own.
    """

    protocol: ClassVar[str] = "polar_pmd"

    def __init__(
        self,
        acc_rate_hz: float = 52.0,
        gyr_rate_hz: float = 52.0,
        acc_factor: float = 1.0,
        gyr_factor: float = 1.0,
    ) -> None:
        self.rates_hz: dict[int, float] = {
            MeasurementType.ACC: acc_rate_hz,
            MeasurementType.GYRO: gyr_rate_hz,
        }
        self.factors: dict[int, float] = {MeasurementType.ACC: acc_factor, MeasurementType.GYRO: gyr_factor}
        self.skipped_frames = 0
        self.stopped: set[int] = set()
        self.last_response: ControlPointResponse | None = None

    def decode(self, payload: bytes, channel: int = CHANNEL_DATA) -> list[SensorFrame]:
        if channel == CHANNEL_CONTROL:
            self._observe_control_point(payload)
            return []
        if channel != CHANNEL_DATA:
            raise DecodeError(
                "unknown PMD channel", expected=f"{CHANNEL_DATA} or {CHANNEL_CONTROL}", found=str(channel)
            )
        meas_type = payload[0] & _MEAS_TYPE_MASK if payload else -1
        if len(payload) > HEADER_BYTES and meas_type not in self.factors:
            self.skipped_frames += 1
            return []
        frame = decode_data_frame(payload, self.factors.get(meas_type, 1.0))
        device_time_s = frame.timestamp_ns / 1e9
        rate_hz = self.rates_hz[frame.meas_type]
        if frame.meas_type == MeasurementType.ACC:
            acc = frame.values * (STANDARD_GRAVITY_MS2 / 1000.0)
            return [SensorFrame(acc=acc, gyr=None, device_time_s=device_time_s, seq=None, rate_hz=rate_hz)]
        return [
            SensorFrame(acc=None, gyr=frame.values, device_time_s=device_time_s, seq=None, rate_hz=rate_hz)
        ]

    def _observe_control_point(self, payload: bytes) -> None:
        message = parse_control_point(payload)
        if isinstance(message, MeasurementStopped):
            self.stopped.update(message.meas_types)
            return
        self.last_response = message
        if message.op == ControlOp.REQUEST_MEASUREMENT_START and message.ok:
            self.stopped.discard(message.meas_type)
            factor = message.settings().get(SettingType.FACTOR)
            if factor and message.meas_type in self.factors:
                if not (np.isfinite(factor[0]) and factor[0] > 0):
                    raise DecodeError(
                        "PMD FACTOR not usable", expected="a finite positive float", found=str(factor[0])
                    )
                self.factors[message.meas_type] = float(factor[0])
