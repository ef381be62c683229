"""OpenEarable 2 IMU: the shared vector, the envelope, both layouts, and 100,000 fuzzed notifications."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from imu.devices.base import DecodeError
from imu.devices.openearable import (
    ACC_MS2_PER_COUNT,
    GYR_DPS_PER_COUNT,
    LEGACY,
    OpenEarableDecoder,
    decode_samples,
    encode_packet,
)
from imu.devices.registry import decoder_for
from tests.devices.vectors import params


@pytest.mark.parametrize("vector", params("openearable_imu_compact.json", "vectors"))
def test_shared_vector_compact_sample(vector: dict[str, Any] | None) -> None:
    assert vector is not None
    sample = bytes.fromhex(vector["sample_hex"].replace(" ", ""))
    acc, gyr, mag = decode_samples(sample)
    expected = vector["expected"]
    np.testing.assert_array_equal(
        acc[0], np.float32(np.array(expected["acc_counts"], np.float32) * ACC_MS2_PER_COUNT)
    )
    np.testing.assert_array_equal(
        gyr[0], np.float32(np.array(expected["gyro_counts"], np.float32) * GYR_DPS_PER_COUNT)
    )
    assert mag[0, 0] == 1.25 and mag[0, 1] == -2.5
    assert mag[0, 2] == 0.0 and np.signbit(mag[0, 2])  # "-0.0 (sign bit set)"


def test_multi_sample_packet_times_its_last_sample() -> None:
    acc = np.array([[0, 0, 16384], [1, 2, 3], [-4, 5, -6]])
    gyr = np.array([[10, 0, 0], [0, 20, 0], [0, 0, -30]])
    packet = encode_packet(1_000_000, acc, gyr, period_us=10_000)
    assert len(packet) == 2 + 8 + 3 * 24 + 2
    (frame,) = OpenEarableDecoder().decode(packet)
    assert frame.device_time_s == pytest.approx(1.02)
    assert frame.rate_hz == pytest.approx(100.0)
    assert frame.acc is not None and frame.acc[0, 2] == pytest.approx(9.80665, rel=1e-6)  # 16384 counts = 1 g
    assert frame.gyr is not None and frame.gyr[2, 2] == pytest.approx(-30 * 2000 / 32768, rel=1e-6)


def test_two_packets_in_one_notification_and_other_sensors_skipped() -> None:
    imu = encode_packet(5, np.zeros((1, 3)), np.zeros((1, 3)))
    other = struct.pack("<BB", 7, 3) + b"abc"
    frames = decoder_for("openearable", {}).decode(imu + other + imu)
    assert [f.n_samples for f in frames] == [1, 1]


def test_legacy_layout_is_nine_floats() -> None:
    floats = np.arange(9, dtype="<f4")
    acc, gyr, mag = decode_samples(floats.tobytes(), LEGACY)
    np.testing.assert_array_equal(acc[0], [0, 1, 2])
    np.testing.assert_array_equal(gyr[0], [3, 4, 5])
    np.testing.assert_array_equal(mag[0], [6, 7, 8])


@pytest.mark.parametrize(
    "payload",
    [b"\x00", b"\x00\x20" + b"\x00" * 10, b"\x00\x0b" + b"\x00" * 11, b"\x00\xff" + b"\x00" * 255],
)
def test_malformed_packets_are_decode_errors(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        OpenEarableDecoder().decode(payload)


def test_fuzz_only_decode_errors_escape() -> None:
    rng = np.random.default_rng(7)
    seed = encode_packet(123, rng.integers(-300, 300, (9, 3)), rng.integers(-300, 300, (9, 3)), 5000)
    decoder = OpenEarableDecoder()
    decoded = 0
    for i in range(100_000):
        kind = i % 4
        if kind == 0:
            data = rng.bytes(int(rng.integers(0, 300)))
        elif kind == 1:
            data = bytearray(seed)
            for at in rng.integers(0, len(data), int(rng.integers(1, 6))):
                data[at] = int(rng.integers(0, 256))
            data = bytes(data)
        elif kind == 2:
            data = seed[: int(rng.integers(0, len(seed)))]
        else:
            data = seed + rng.bytes(int(rng.integers(1, 40)))
        try:
            frames = decoder.decode(data)
        except DecodeError:
            continue
        for f in frames:
            assert f.acc is not None and f.gyr is not None and f.acc.shape == f.gyr.shape
            assert np.all(np.isfinite(f.acc)) and np.all(np.isfinite(f.gyr))
        decoded += 1
    assert 0 < decoded < 100_000
