"""DeviceClock: loss becomes gaps (never stretched), seq wrap, duplicates, drift, batching independence."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu.devices.base import SensorFrame
from imu.devices.reference import ReferenceDecoder, encode_packets
from imu.errors import ImuError
from imu.link.clock import DeviceClock
from imu.samples import SampleBlock

RATE_HZ = 208
PER_PACKET = 8


def _frames(n_packets: int, *, seed: int = 0, **kwargs: Any) -> list[SensorFrame]:
    rng = np.random.default_rng(seed)
    n = n_packets * PER_PACKET
    packets = encode_packets(
        rng.normal(0, 20, (n, 3)),
        rng.normal(0, 200, (n, 3)),
        rate_hz=RATE_HZ,
        samples_per_packet=PER_PACKET,
        **kwargs,
    )
    decoder = ReferenceDecoder()
    return [decoder.decode(p)[0] for p in packets]


def _host_ns(frames: list[SensorFrame], *, seed: int = 1) -> list[int]:
    """Arrival on a true host clock: packet sent when its last sample is taken, plus BLE latency ≥ 7.5 ms."""
    rng = np.random.default_rng(seed)
    sent_s = (np.arange(len(frames)) + 1) * PER_PACKET / RATE_HZ
    arrival_s = sent_s + 0.0075 + rng.exponential(0.015, len(frames))
    return [1_700_000_000_000_000_000 + int(t * 1e9) for t in arrival_s]


def _run(frames: list[SensorFrame], host_ns: list[int] | None = None) -> tuple[SampleBlock, DeviceClock]:
    clock = DeviceClock()
    host_ns = host_ns or _host_ns(frames)
    return clock.feed(([f], h) for f, h in zip(frames, host_ns, strict=True)), clock


def test_contiguous_stream_is_evenly_spaced_from_zero() -> None:
    block, clock = _run(_frames(50))
    assert len(block) == 400
    assert block.start_index == 0
    assert block.t_s[0] == 0.0
    np.testing.assert_allclose(np.diff(block.t_s), 1 / RATE_HZ, atol=1.5e-6)  # µs-rounded stamps
    stats = clock.stats
    assert (stats.packets, stats.samples, stats.lost_packets, stats.gaps) == (50, 400, 0, 0)
    assert stats.measured_rate_hz == pytest.approx(RATE_HZ, rel=1e-5)


def test_lost_packets_become_a_gap_and_are_not_stretched() -> None:
    frames = _frames(40)
    kept = frames[:10] + frames[13:]  # packets 10, 11, 12 lost
    block, clock = _run(kept)
    assert len(block) == 37 * PER_PACKET
    dt = np.diff(block.t_s)
    jump = int(np.argmax(dt))
    assert jump + 1 == 10 * PER_PACKET
    assert dt[jump] == pytest.approx((3 * PER_PACKET + 1) / RATE_HZ, abs=2e-6)
    others = np.delete(dt, jump)
    np.testing.assert_allclose(others, 1 / RATE_HZ, atol=1.5e-6)  # every other interval is one period
    stats = clock.stats
    assert (stats.lost_packets, stats.gaps, stats.missing_samples) == (3, 1, 24)
    (gap,) = clock.gaps
    assert gap.index == 80
    assert gap.missing_samples == 24
    # the samples after the gap sit where the device stamped them
    assert block.t_s[80] == pytest.approx(13 * PER_PACKET / RATE_HZ, abs=2e-6)


def test_seq_wrap_is_not_a_loss_but_a_loss_across_it_is_counted() -> None:
    frames = _frames(20, seq_start=65530)
    _, clock = _run(frames)
    assert clock.stats.lost_packets == 0
    kept = frames[:4] + frames[9:]  # seqs 65534, 65535, 0, 1, 2 lost
    _, clock = _run(kept)
    assert (clock.stats.lost_packets, clock.stats.gaps, clock.stats.missing_samples) == (5, 1, 40)


def test_a_device_time_jump_without_seq_loss_is_a_gap() -> None:
    """A FIFO overflow on the board: samples lost, packets not."""
    first = _frames(10)
    later = _frames(
        10, seed=3, seq_start=10, device_time_start_us=round(100 * 1e6 / RATE_HZ)
    )  # 20 samples skipped
    block, clock = _run(first + later)
    assert clock.stats.lost_packets == 0
    assert (clock.stats.gaps, clock.stats.missing_samples) == (1, 20)
    assert block.t_s[80] - block.t_s[79] == pytest.approx(21 / RATE_HZ, abs=2e-6)


def test_duplicates_and_late_frames_are_dropped_and_counted() -> None:
    frames = _frames(20)
    stream = [*frames[:5], frames[4], *frames[5:8], frames[6], *frames[8:]]  # one repeat, one late arrival
    block, clock = _run(stream)
    reference, _ = _run(frames)
    np.testing.assert_array_equal(block.t_s, reference.t_s)
    np.testing.assert_array_equal(block.acc, reference.acc)
    assert (clock.stats.duplicates, clock.stats.out_of_order, clock.stats.packets) == (1, 1, 20)


def test_a_device_reset_continues_session_time_from_the_host_clock() -> None:
    first = _frames(30, device_time_start_us=50_000_000)
    second = _frames(30, seed=4)  # rebooted: seq and device time restart
    host = _host_ns(first + second)
    host[30:] = [h + 2_000_000_000 for h in host[30:]]  # 2 s offline
    block, clock = _run(first + second, host)
    assert clock.stats.clock_resets == 1
    assert clock.stats.gaps == 1
    assert len(block) == 60 * PER_PACKET
    assert block.t_s[240] - block.t_s[239] == pytest.approx(2 + PER_PACKET / RATE_HZ, abs=0.05)


@pytest.mark.parametrize("clock_ppm", [100.0, -40.0])
def test_drift_estimate_on_a_synthetic_clock(clock_ppm: float) -> None:
    frames = _frames(int(180 * RATE_HZ / PER_PACKET), clock_ppm=clock_ppm)  # 3 minutes
    _, clock = _run(frames)
    assert clock.stats.drift_ppm == pytest.approx(clock_ppm, abs=10.0)


def test_drift_is_unknown_until_there_is_enough_time() -> None:
    _, clock = _run(_frames(20))
    assert np.isnan(clock.stats.drift_ppm)


def test_frames_without_timestamps_are_placed_by_counting() -> None:
    frames = [SensorFrame(f.acc, f.gyr, None, f.seq, f.rate_hz) for f in _frames(10)]
    block, clock = _run(frames[:3] + frames[5:])
    assert clock.stats.lost_packets == 2
    assert clock.stats.gaps == 1
    assert block.t_s[24] - block.t_s[23] == pytest.approx(17 / RATE_HZ)


def test_gyroscope_only_frames_are_refused_clearly() -> None:
    frame = _frames(1)[0]
    with pytest.raises(ImuError, match="not merged"):
        DeviceClock().update([SensorFrame(None, frame.gyr, 0.1, 0, RATE_HZ)], 0)


def test_empty_update_gives_a_typed_empty_block() -> None:
    block = DeviceClock().update([], 0)
    assert len(block) == 0
    assert block.has_gyr


@settings(max_examples=40, deadline=None)
@given(
    drops=st.lists(st.integers(0, 59), max_size=8),
    repeats=st.lists(st.integers(0, 59), max_size=4),
    cuts=st.lists(st.integers(0, 70), max_size=10),
)
def test_output_does_not_depend_on_batching(drops: list[int], repeats: list[int], cuts: list[int]) -> None:
    frames = _frames(60, seed=7, seq_start=65500)
    stream = [f for i, f in enumerate(frames) if i not in drops]
    for i in sorted(set(repeats), reverse=True):
        if i < len(stream):
            stream.insert(i + 1, stream[i])
    host = _host_ns(stream)
    notifications = list(zip(([f] for f in stream), host, strict=True))

    whole = DeviceClock()
    expected = whole.feed(notifications)

    batched = DeviceClock()
    bounds = [0, *sorted(c for c in cuts if c < len(notifications)), len(notifications)]
    blocks = []
    for a, b in pairwise(bounds):
        if b - a == 1:
            blocks.append(batched.update(*notifications[a]))
        else:
            blocks.append(batched.feed(notifications[a:b]))
    got = SampleBlock.concat([b for b in blocks if len(b)])
    np.testing.assert_array_equal(got.t_s, expected.t_s)
    np.testing.assert_array_equal(got.acc, expected.acc)
    np.testing.assert_array_equal(got.gyr, expected.gyr)
    assert [b.start_index for b in blocks if len(b)] == list(
        np.cumsum([0] + [len(b) for b in blocks if len(b)])[:-1]
    )
    assert replace(batched.stats, drift_ppm=0.0) == replace(whole.stats, drift_ppm=0.0)
    np.testing.assert_array_equal(batched.stats.drift_ppm, whole.stats.drift_ppm)  # NaN == NaN here
    assert batched.gaps == whole.gaps


def test_an_output_rate_off_nominal_is_honoured_without_a_sawtooth() -> None:
    """A MEMS oscillator 2 % slow: the stamps show it and the samples follow them, not the nominal rate."""
    block, clock = _run(_frames(50, clock_ppm=20_000.0))
    # the first frame can only be spaced at the nominal rate: nothing has been measured yet
    np.testing.assert_allclose(np.diff(block.t_s[PER_PACKET - 1 :]), 1.02 / RATE_HZ, atol=1.5e-6)
    assert clock.stats.measured_rate_hz == pytest.approx(RATE_HZ / 1.02, rel=1e-5)
    assert clock.stats.gaps == 0
