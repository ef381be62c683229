"""Decoding throughput per protocol, in samples per second on one core.

Each protocol decodes a stream of notifications shaped as its device sends them (samples per
notification, delta block layout, message splitting), built with the protocol's own encoder from a
smooth, noisy synthetic movement signal. The decoder runs exactly as a live link drives it: one
``decode(notification)`` call per notification, fresh decoder state, best of several repeats. Time is
the process's CPU time, so other load on a shared machine does not deflate the figures.

Run: ``.venv/bin/python -m benchmarks.decode_throughput``; figures go to
``benchmarks/results/decode_throughput.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices import movesense as ms
from imu.devices import polar_pmd as pmd
from imu.devices import witmotion as wit
from imu.devices.base import Decoder

RESULTS = Path(__file__).resolve().parent / "results" / "decode_throughput.json"
N_SAMPLES = 200_000
REPEATS = 3


@dataclass(frozen=True)
class Case:
    name: str
    layout: str
    make_decoder: Callable[[], Decoder]
    notifications: list[bytes]
    n_samples: int


def _movement(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Running-like signals: acc (m/s²) ~ gravity + 2 g swings + noise; gyr (deg/s) ~ 150 deg/s swings."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    phase = 2 * np.pi * 1.4 * t[:, None] + np.array([0.0, 1.0, 2.0])
    acc = 2 * STANDARD_GRAVITY_MS2 * np.sin(phase) + rng.normal(0, 0.3, (n, 3))
    acc[:, 2] += STANDARD_GRAVITY_MS2
    gyr = 150 * np.cos(phase) + rng.normal(0, 2.0, (n, 3))
    return acc, gyr


def _polar_delta_case() -> Case:
    acc, _ = _movement(N_SAMPLES, 1)
    counts = np.rint(acc / STANDARD_GRAVITY_MS2 * 1000).astype(np.int64)  # mG, delta type 1, factor 1
    per_frame = 71  # Verity Sense at MTU 232: ~70 samples in 4 blocks of mixed widths
    frames = [
        pmd.encode_acc_delta_frame(10**17 + i * 10**9, counts[i : i + per_frame], block_samples=18)
        for i in range(0, N_SAMPLES - per_frame + 1, per_frame)
    ]
    return Case(
        "polar_pmd delta",
        "ACC delta type 1, 71 samples/frame, 4 blocks",
        pmd.PolarPmdDecoder,
        frames,
        len(frames) * per_frame,
    )


def _polar_raw_case() -> Case:
    acc, _ = _movement(N_SAMPLES, 2)
    counts = np.rint(acc / STANDARD_GRAVITY_MS2 * 1000).astype(np.int64)
    per_frame = 36  # H10 ACC raw type 1 at MTU 232
    frames = [
        pmd.encode_acc_raw_frame(10**17 + i * 10**9, counts[i : i + per_frame])
        for i in range(0, N_SAMPLES - per_frame + 1, per_frame)
    ]
    return Case(
        "polar_pmd raw",
        "ACC raw type 1 (int16 mG), 36 samples/frame",
        pmd.PolarPmdDecoder,
        frames,
        len(frames) * per_frame,
    )


def _movesense_case() -> Case:
    acc, gyr = _movement(N_SAMPLES, 3)
    per_message = 8
    notifications = [
        part
        for i in range(0, N_SAMPLES - per_message + 1, per_message)
        for part in ms.encode_imu6_notifications(
            99, i * 10, acc[i : i + per_message], gyr[i : i + per_message]
        )
    ]
    n = (N_SAMPLES // per_message) * per_message
    return Case(
        "movesense_gsp",
        "IMU6 8 samples/message, split in 2 notifications",
        ms.MovesenseDecoder,
        notifications,
        n,
    )


def _witmotion_case() -> Case:
    acc, gyr = _movement(N_SAMPLES, 4)
    stream = wit.encode_imu_packets(acc / STANDARD_GRAVITY_MS2, gyr, np.zeros_like(gyr))
    notifications = [stream[i : i + wit.PACKET_BYTES] for i in range(0, len(stream), wit.PACKET_BYTES)]
    return Case(
        "witmotion_wt901ble",
        "one 20-byte packet (1 sample) per notification",
        lambda: wit.WitMotionDecoder(rate_hz=100.0),
        notifications,
        N_SAMPLES,
    )


def _reference_case() -> Case | None:
    try:
        from imu.devices import reference
    except ImportError:
        return None
    acc, gyr = _movement(N_SAMPLES, 5)
    packets = reference.encode_packets(acc, gyr, rate_hz=100.0, samples_per_packet=8)
    return Case("reference", "8 samples/packet, acc + gyr", reference.ReferenceDecoder, packets, N_SAMPLES)


def _measure(case: Case) -> dict[str, float | int | str]:
    best_s = np.inf
    for _ in range(REPEATS):
        decoder = case.make_decoder()
        decode = decoder.decode
        start = time.process_time()
        decoded = 0
        for notification in case.notifications:
            for frame in decode(notification):
                decoded += frame.n_samples
        best_s = min(best_s, time.process_time() - start)
        if decoded != case.n_samples:
            raise RuntimeError(f"{case.name}: decoded {decoded} samples, expected {case.n_samples}")
    n_notifications = len(case.notifications)
    return {
        "layout": case.layout,
        "samples": case.n_samples,
        "notifications": n_notifications,
        "samples_per_s": round(case.n_samples / best_s),
        "notifications_per_s": round(n_notifications / best_s),
        "us_per_notification": round(best_s / n_notifications * 1e6, 2),
    }


def main() -> dict[str, object]:
    cases = [_polar_raw_case(), _polar_delta_case(), _movesense_case(), _witmotion_case()]
    reference_case = _reference_case()
    if reference_case is not None:
        cases.append(reference_case)
    figures = {case.name: _measure(case) for case in cases}
    result: dict[str, object] = {
        "what": f"decode throughput, one core, CPU time, best of {REPEATS} runs; sample = acc and/or gyr xyz",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "protocols": figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'protocol':<20} {'samples/s':>12} {'notif/s':>10} {'us/notif':>9}  layout")
    for name, row in figures.items():
        print(
            f"{name:<20} {row['samples_per_s']:>12,} {row['notifications_per_s']:>10,} "
            f"{row['us_per_notification']:>9}  {row['layout']}"
        )
    print(f"written to {RESULTS}")
    return result


if __name__ == "__main__":
    main()
