"""Fuzz every decoder: random, mutated, truncated, extended and oversized notifications.

The only exception a decoder may raise is :class:`DecodeError`; whatever it returns must be well formed
(N x 3 finite float64, both sensors with the same N) and its reassembly state must stay bounded. Seeded,
so a failure reproduces; the offending notification is printed in hex.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from imu.devices import movesense as ms
from imu.devices import polar_pmd as pmd
from imu.devices import witmotion as wit
from imu.devices.base import DecodeError, Decoder, SensorFrame
from tests.devices.vectors import hex_bytes, load

N_NOTIFICATIONS = 100_000


def _polar_seeds() -> list[bytes]:
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.integers(-300, 300, (70, 3)), axis=0)
    seeds = [
        pmd.encode_acc_delta_frame(10**17, walk, block_samples=17),
        pmd.encode_gyro_delta_frame(10**17, walk // 4, block_samples=9),
        pmd.encode_acc_raw_frame(10**17, walk),
        pmd.encode_data_frame(pmd.MeasurementType.ACC, 7, 0, True, pmd.encode_delta_payload(walk, 16, 30)),
    ]
    for name, key in (
        ("polar_pmd_sdk_unit_tests.json", "frames"),
        ("polar_pmd_real_captures.json", "vectors"),
    ):
        data = load(name)
        seeds += [hex_bytes(v["frame_hex"]) for v in (data or {}).get(key, [])]
    return seeds


def _polar_control_seeds() -> list[bytes]:
    data = load("polar_pmd_control_point.json")
    seeds = [
        b"\xf0\x02\x02\x00\x00\x05\x01\x00\x00\x20\x40",
        b"\x01\x01\x02",
        b"\xf0\x01\x02\x00\x00\x00\x01\x34\x00",
    ]
    return seeds + [hex_bytes(v["hex"]) for v in (data or {}).get("vectors", []) if "hex" in v]


def _movesense_seeds() -> list[bytes]:
    rng = np.random.default_rng(2)
    acc, gyr = rng.normal(0, 10, (8, 3)), rng.normal(0, 100, (8, 3))
    seeds = ms.encode_imu6_notifications(99, 123, acc, gyr) + ms.encode_imu6_notifications(
        99, 5, acc[:4], gyr[:4]
    )
    data = load("movesense_gsp_synthetic.json")
    for v in (data or {}).get("vectors", []):
        seeds += [hex_bytes(v[k]) for k in ("hex", "part1_hex", "part2_hex") if k in v]
    return seeds


def _witmotion_seeds() -> list[bytes]:
    rng = np.random.default_rng(3)
    stream = wit.encode_imu_packets(
        rng.normal(0, 2, (6, 3)), rng.normal(0, 300, (6, 3)), rng.normal(0, 90, (6, 3))
    )
    seeds = [stream, stream[:37], stream[37:], bytes((0x55, 0x71)) + bytes(18)]
    data = load("witmotion_wt901ble_synthetic.json")
    if data:
        seeds += [hex_bytes(v["frame_hex"]) for v in data["vectors"]]
        seeds += [hex_bytes(c) for c in data["stream_reassembly_vector"]["chunks_hex"]]
    return seeds


def _notifications(seeds: list[bytes], n: int, seed: int) -> list[bytes]:
    """``n`` notifications: 25 % random bytes (2 % of them oversized, up to 3 kB), 30 % mutated seeds
    (1-4 bytes replaced), 25 % truncated seeds, 10 % seeds with random bytes appended, 10 % seeds whose
    header is kept and whose body is random (exercises the deep parsing paths)."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, 4_000_000, dtype=np.uint8).tobytes()
    kinds = rng.choice(5, size=n, p=[0.25, 0.30, 0.25, 0.10, 0.10])
    picks = rng.integers(0, len(seeds), n)
    starts = rng.integers(0, len(pool) - 4000, n)
    sizes = np.where(rng.random(n) < 0.02, rng.integers(300, 3000, n), rng.integers(0, 300, n))
    out: list[bytes] = []
    for kind, pick, start, size in zip(
        kinds.tolist(), picks.tolist(), starts.tolist(), sizes.tolist(), strict=True
    ):
        base = seeds[pick]
        if kind == 0:
            out.append(pool[start : start + size])
        elif kind == 1:
            mutated = bytearray(base)
            if mutated:
                for k in range(1 + start % 4):
                    mutated[(start * (k + 7)) % len(mutated)] = pool[start + k]
            out.append(bytes(mutated))
        elif kind == 2:
            out.append(base[: start % (len(base) + 1)])
        elif kind == 3:
            out.append(base + pool[start : start + size % 64])
        else:
            out.append(base[:10] + pool[start : start + max(len(base) - 10, 0)])
    return out


def _check(frames: list[SensorFrame]) -> None:
    for frame in frames:
        n = frame.n_samples
        assert n > 0
        for values in (frame.acc, frame.gyr):
            if values is not None:
                assert values.dtype == np.float64 and values.shape == (n, 3)
                assert np.isfinite(values).all()


def _fuzz(decoder: Decoder, notifications: list[bytes], channels: list[int] | None = None) -> tuple[int, int]:
    rejected = accepted = 0
    for i, payload in enumerate(notifications):
        channel = 0 if channels is None else channels[i]
        try:
            frames = decoder.decode(payload, channel)
        except DecodeError:
            rejected += 1
            continue
        except Exception as error:  # pragma: no cover - the failure report
            pytest.fail(f"{type(error).__name__}: {error} on channel {channel}, payload {payload.hex(' ')}")
        _check(frames)
        accepted += 1
    return rejected, accepted


Case = tuple[Callable[[], Decoder], Callable[[], list[bytes]]]


@pytest.mark.parametrize(
    ("make_decoder", "make_seeds"),
    [
        (lambda: pmd.PolarPmdDecoder(acc_factor=0.000244), _polar_seeds),
        (ms.MovesenseDecoder, _movesense_seeds),
        (lambda: wit.WitMotionDecoder(rate_hz=100.0), _witmotion_seeds),
    ],
    ids=["polar_pmd", "movesense_gsp", "witmotion_wt901ble"],
)
def test_only_decode_errors_escape(
    make_decoder: Callable[[], Decoder], make_seeds: Callable[[], list[bytes]]
) -> None:
    decoder = make_decoder()
    notifications = _notifications(make_seeds(), N_NOTIFICATIONS, seed=len(decoder.protocol))
    rejected, accepted = _fuzz(decoder, notifications)
    assert rejected + accepted == N_NOTIFICATIONS
    assert accepted > 0  # the seeds and their mild mutations must still decode
    if isinstance(decoder, wit.WitMotionDecoder):
        assert len(decoder._buffer) < wit.PACKET_BYTES and len(decoder.register_replies) <= 16
    else:
        assert rejected > 0


def test_polar_control_point_fuzz_interleaved_with_data() -> None:
    decoder = pmd.PolarPmdDecoder()
    control = _notifications(_polar_control_seeds(), 20_000, seed=11)
    data = _notifications(_polar_seeds(), 20_000, seed=12)
    channels = [pmd.CHANNEL_CONTROL] * len(control) + [pmd.CHANNEL_DATA] * len(data)
    order = np.random.default_rng(13).permutation(len(channels))
    payloads = [(control + data)[i] for i in order]
    rejected, accepted = _fuzz(decoder, payloads, [channels[i] for i in order])
    assert rejected > 0 and accepted > 0
    assert all(np.isfinite(f) and f > 0 for f in decoder.factors.values())
