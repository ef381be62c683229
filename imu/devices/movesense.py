"""Movesense GATT SensorData Protocol (GSP): the IMU6 stream (accelerometer + gyroscope).

The protocol is described in ``firmware_specs/movesense_gsp.md``. The client writes small commands
(``command u8 | reference u8 | data``) and the sensor answers on one notify characteristic with
``type u8 | reference u8 | body``: type 1 a command result, type 2 data, type 3 the second part of a data
message too long for one notification (its body is appended to the preceding type-2 body).

An IMU6 body is ``timestamp u32 LE (ms, sensor clock, time of the FIRST sample) | N x acc float32 xyz
(m/s²) | N x gyro float32 xyz (deg/s)``, so N = (len - 4) / 24.
"""

from __future__ import annotations

from typing import ClassVar, Final

import numpy as np
from numpy.typing import NDArray

from imu.devices.base import DecodeError, SensorFrame

GSP_SERVICE_UUID: Final = "34802252-7185-4d5d-b431-630e7050e8f0"
GSP_WRITE_UUID: Final = "34800001-7185-4d5d-b431-630e7050e8f0"
GSP_NOTIFY_UUID: Final = "34800002-7185-4d5d-b431-630e7050e8f0"

CMD_HELLO: Final = 0
CMD_SUBSCRIBE: Final = 1
CMD_UNSUBSCRIBE: Final = 2

MSG_COMMAND_RESULT: Final = 1
MSG_DATA: Final = 2
MSG_DATA_PART2: Final = 3

IMU6_RATES_HZ: Final = (13, 26, 52, 104, 208, 416, 833, 1666)
"""Sample rates the /Meas/IMU6/{rate} resource accepts."""

TIMESTAMP_BYTES: Final = 4
SAMPLE_BYTES: Final = 24
"""One IMU6 sample: acc xyz + gyro xyz, float32 each."""
_TIMESTAMP_WRAP_MS: Final = 1 << 32


def build_hello(ref: int) -> bytes:
    """HELLO: the sensor answers with a type-1 message on the same reference."""
    return bytes((CMD_HELLO, _check_ref(ref)))


def build_subscribe(ref: int, resource_path: str) -> bytes:
    """SUBSCRIBE to a Whiteboard resource path; its data arrive as type-2 messages tagged ``ref``."""
    return bytes((CMD_SUBSCRIBE, _check_ref(ref))) + resource_path.encode("ascii")


def build_imu6_subscribe(ref: int, rate_hz: int) -> bytes:
    """SUBSCRIBE to ``/Meas/IMU6/{rate_hz}`` (accelerometer + gyroscope at one rate)."""
    if rate_hz not in IMU6_RATES_HZ:
        raise ValueError(f"IMU6 rate must be one of {IMU6_RATES_HZ} Hz, not {rate_hz}")
    return build_subscribe(ref, f"/Meas/IMU6/{rate_hz}")


def build_unsubscribe(ref: int) -> bytes:
    """UNSUBSCRIBE the subscription made with ``ref``."""
    return bytes((CMD_UNSUBSCRIBE, _check_ref(ref)))


def _check_ref(ref: int) -> int:
    if not 1 <= ref <= 255:
        raise ValueError(f"a GSP reference must be 1..255 (0 is reserved), not {ref}")
    return ref


def decode_imu6_body(body: bytes) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """``(timestamp_ms, acc_ms2 (N, 3), gyr_dps (N, 3))`` of a complete IMU6 message body."""
    n_data = len(body) - TIMESTAMP_BYTES
    if n_data < SAMPLE_BYTES or n_data % SAMPLE_BYTES:
        raise DecodeError(
            "Movesense IMU6 message is not a whole number of samples",
            expected=f"4 + a positive multiple of {SAMPLE_BYTES} bytes",
            found=f"{len(body)} bytes",
        )
    n = n_data // SAMPLE_BYTES
    timestamp_ms = int.from_bytes(body[:TIMESTAMP_BYTES], "little")
    values = np.frombuffer(body, dtype="<f4", offset=TIMESTAMP_BYTES)
    if not np.isfinite(values).all():
        raise DecodeError("Movesense IMU6 message holds NaN or infinite values", expected="finite floats")
    values = values.astype(np.float64).reshape(2, n, 3)
    return timestamp_ms, values[0], values[1]


def encode_imu6_notifications(
    ref: int,
    timestamp_ms: int,
    acc_ms2: NDArray[np.float64],
    gyr_dps: NDArray[np.float64],
    max_bytes: int = 155,
) -> list[bytes]:
    """Notifications carrying one IMU6 message: a type-2 part and, if it exceeds ``max_bytes``, a type-3
    part with the rest (the inverse of :class:`MovesenseDecoder`)."""
    acc = np.asarray(acc_ms2, dtype="<f4")
    gyr = np.asarray(gyr_dps, dtype="<f4")
    if acc.ndim != 2 or acc.shape[1] != 3 or acc.shape != gyr.shape or acc.shape[0] == 0:
        raise ValueError("acc and gyr must be non-empty (N, 3) arrays of the same shape")
    body = (timestamp_ms % _TIMESTAMP_WRAP_MS).to_bytes(4, "little") + acc.tobytes() + gyr.tobytes()
    head = max_bytes - 2
    if len(body) <= head:
        return [bytes((MSG_DATA, ref)) + body]
    if len(body) - head > head:
        raise ValueError("message needs more than two notifications; raise max_bytes or send fewer samples")
    return [bytes((MSG_DATA, ref)) + body[:head], bytes((MSG_DATA_PART2, ref)) + body[head:]]


class MovesenseDecoder:
    """Decoder for a Movesense GSP IMU6 subscription.

    ``rate_hz`` is the rate in the subscription path; it places the last sample after the first-sample
    timestamp. ``ref`` restricts decoding to one subscription (None: any reference). A type-2 message whose
    body is not a whole number of samples waits for its type-3 part; ``samples_per_message`` (when known)
    makes that test exact instead of relying on the byte count. A first part superseded by a new message
    before its second part came is dropped and counted in ``skipped_messages``. The 32-bit millisecond
    clock is unwrapped. Command results are kept in ``command_results``; messages of other references are
    counted in ``skipped_messages``. IMU6 carries no sample count: without ``samples_per_message`` a message
    cut exactly at a sample boundary cannot be told from a shorter complete one.
    """

    protocol: ClassVar[str] = "movesense_gsp"

    def __init__(
        self, rate_hz: float = 104.0, ref: int | None = None, samples_per_message: int | None = None
    ):
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, not {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.ref = ref
        self.samples_per_message = samples_per_message
        self.command_results: dict[int, bytes] = {}
        self.skipped_messages = 0
        self._pending: tuple[int, bytes] | None = None
        self._wraps = 0
        self._last_timestamp_ms: int | None = None

    def decode(self, payload: bytes, channel: int = 0) -> list[SensorFrame]:
        if len(payload) < 2:
            raise DecodeError(
                "Movesense notification too short",
                expected="type and reference bytes",
                found=f"{len(payload)}",
            )
        kind, ref, body = payload[0], payload[1], bytes(payload[2:])
        if kind == MSG_COMMAND_RESULT:
            self.command_results[ref] = body
            return []
        if kind not in (MSG_DATA, MSG_DATA_PART2):
            raise DecodeError("unknown Movesense message type", expected="1, 2 or 3", found=str(kind))
        if self.ref is not None and ref != self.ref:
            self.skipped_messages += 1
            return []
        if kind == MSG_DATA_PART2:
            pending, self._pending = self._pending, None
            if pending is None or pending[0] != ref:
                raise DecodeError(
                    "Movesense data part 2 without its part 1",
                    expected=f"a preceding type-2 message with reference {ref}",
                    found="none" if pending is None else f"reference {pending[0]}",
                )
            message = pending[1] + body
            if self._is_first_part(message):
                raise DecodeError(
                    "Movesense message still incomplete after its part 2",
                    expected=self._expected_size(),
                    found=f"{len(message)} bytes",
                )
            return [self._frame(message)]
        if self._pending is not None:
            self._pending = None
            self.skipped_messages += 1
        if self._is_first_part(body):
            self._pending = (ref, body)
            return []
        return [self._frame(body)]

    def _is_first_part(self, body: bytes) -> bool:
        n_data = len(body) - TIMESTAMP_BYTES
        if self.samples_per_message is not None:
            return 0 <= n_data < self.samples_per_message * SAMPLE_BYTES
        return n_data >= 0 and n_data % SAMPLE_BYTES != 0

    def _expected_size(self) -> str:
        if self.samples_per_message is None:
            return f"4 + a multiple of {SAMPLE_BYTES} bytes"
        return f"{TIMESTAMP_BYTES + self.samples_per_message * SAMPLE_BYTES} bytes"

    def _frame(self, body: bytes) -> SensorFrame:
        timestamp_ms, acc, gyr = decode_imu6_body(body)
        if self._last_timestamp_ms is not None and timestamp_ms < self._last_timestamp_ms - (1 << 31):
            self._wraps += 1
        self._last_timestamp_ms = timestamp_ms
        first_s = (timestamp_ms + self._wraps * _TIMESTAMP_WRAP_MS) / 1000.0
        last_s = first_s + (acc.shape[0] - 1) / self.rate_hz
        return SensorFrame(acc=acc, gyr=gyr, device_time_s=last_s, seq=None, rate_hz=self.rate_hz)

    def reset(self) -> None:
        """Forget a half-received message and the clock unwrapping (after a reconnect)."""
        self._pending = None
        self._wraps = 0
        self._last_timestamp_ms = None
