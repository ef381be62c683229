"""AccGyrMerger (Polar's separate ACC/GYRO frames on one axis) and DeviceClock.restart (reconnect gaps)."""

from __future__ import annotations

import numpy as np
import pytest

from imu.devices import polar_pmd as pmd
from imu.devices.base import SensorFrame
from imu.devices.witmotion import WitMotionDecoder, encode_imu_packets
from imu.link.clock import DeviceClock
from imu.link.merge import AccGyrMerger

RATE = 52.0
N = 26  # samples per frame
FACTOR = 2000.0 / 32768.0


def _frames(n_frames: int, seed: int = 0) -> tuple[list[tuple[bytes, bytes]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    acc_mg = rng.integers(-2000, 2000, (n_frames * N, 3))
    gyr_counts = rng.integers(-3000, 3000, (n_frames * N, 3))
    pairs = []
    for k in range(n_frames):
        stamp_ns = 10**18 + round(((k + 1) * N - 1) / RATE * 1e9)
        sl = slice(k * N, (k + 1) * N)
        pairs.append(
            (
                pmd.encode_acc_delta_frame(stamp_ns, acc_mg[sl]),
                pmd.encode_gyro_delta_frame(stamp_ns, gyr_counts[sl]),
            )
        )
    return pairs, acc_mg * 9.80665e-3, gyr_counts * FACTOR


def _merge(notifications: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray, AccGyrMerger]:
    merger = AccGyrMerger(pmd.PolarPmdDecoder(RATE, RATE, gyr_factor=FACTOR))
    clock = DeviceClock(rate_hz=RATE)
    block = clock.feed(([*merger.decode(p)], 0) for p in notifications)
    assert block.gyr is not None
    return block.t_s, block.acc, block.gyr, merger


def test_interleaving_does_not_change_the_merged_stream() -> None:
    pairs, acc, gyr = _frames(12)
    t1, acc1, gyr1, _ = _merge([p for pair in pairs for p in pair])
    np.testing.assert_allclose(acc1, acc)
    np.testing.assert_allclose(gyr1, gyr)
    for delay in (1, 2, 3):  # the gyroscope frames arrive `delay` frames late (within the hold limit)
        accs, gyrs = [a for a, _ in pairs], [g for _, g in pairs]
        order = accs[:delay] + [p for a, g in zip(accs[delay:], gyrs, strict=False) for p in (a, g)]
        order += gyrs[len(accs) - delay :]
        t2, acc2, gyr2, _ = _merge(order)
        np.testing.assert_array_equal(t2, t1)
        np.testing.assert_array_equal(acc2, acc1)
        np.testing.assert_array_equal(gyr2, gyr1)


@pytest.mark.parametrize("lost", ["acc", "gyr"])
def test_a_lost_frame_of_either_stream_is_one_gap_of_its_samples(lost: str) -> None:
    pairs, acc, _ = _frames(10)
    notifications = [
        p
        for k, (a, g) in enumerate(pairs)
        for p in (a, g)
        if not (k == 4 and p is (a if lost == "acc" else g))
    ]
    t, merged_acc, _, merger = _merge(notifications)
    keep = np.ones(10 * N, dtype=bool)
    keep[4 * N : 5 * N] = False
    np.testing.assert_allclose(merged_acc, acc[keep])
    assert np.count_nonzero(np.diff(t) > 1.5 / RATE) == 1
    assert merger.unpaired_samples == (N if lost == "gyr" else 0)


def test_duplicates_are_dropped_and_counted() -> None:
    pairs, acc, _ = _frames(6)
    notifications = [p for pair in pairs for p in pair for _ in range(2 if pair is pairs[2] else 1)]
    _, merged_acc, _, merger = _merge(notifications)
    np.testing.assert_allclose(merged_acc, acc)
    assert merger.duplicates == 2


def test_a_restart_of_a_timestampless_stream_is_a_gap_measured_on_the_host_clock() -> None:
    decoder = WitMotionDecoder(rate_hz=100.0)
    clock = DeviceClock(rate_hz=100.0)
    packet = encode_imu_packets(np.zeros((10, 3)), np.zeros((10, 3)), np.zeros((10, 3)))
    first = clock.update(decoder.decode(packet), 0)
    clock.restart()
    second = clock.update(decoder.decode(packet), 3_000_000_000)  # 3 s later on the host clock
    assert len(first) == len(second) == 10
    assert second.t_s[-1] - first.t_s[-1] == pytest.approx(3.0)
    (gap,) = clock.gaps
    assert gap.index == 10 and gap.missing_samples == pytest.approx(290, abs=1)


def test_a_restart_forgets_the_sequence_number() -> None:
    clock = DeviceClock(rate_hz=100.0)
    frame = SensorFrame(np.zeros((4, 3)), None, 1.0, seq=40000, rate_hz=100.0)
    clock.update([frame], 0)
    clock.restart()
    clock.update([SensorFrame(np.zeros((4, 3)), None, 9.0, seq=0, rate_hz=100.0)], 8 * 10**9)
    assert clock.stats.lost_packets == 0 and clock.stats.gaps == 1
