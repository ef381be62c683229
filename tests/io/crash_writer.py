"""Records a session in real time until killed: the subject of the crash test (tests/io/test_crash.py).

Run as ``python -m tests.io.crash_writer SESSION_DIR``. After each notification is appended it prints the
number appended so far, so the test knows exactly which ones were acknowledged before it kills us.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from imu.constants import STANDARD_GRAVITY_MS2
from imu.devices.reference import encode_packets
from imu.io.session import SessionWriter

RATE_HZ = 208
PER_PACKET = 8
SECONDS = 60


def make_packets(seed: int = 11) -> list[bytes]:
    """A minute of a board at rest with noise and bursts that saturate the range (same bytes every time)."""
    rng = np.random.default_rng(seed)
    n = RATE_HZ * SECONDS
    acc = rng.normal(0, 15, (n, 3))
    acc[:, 2] += STANDARD_GRAVITY_MS2
    gyr = rng.normal(0, 500, (n, 3))
    return encode_packets(acc, gyr, rate_hz=RATE_HZ, samples_per_packet=PER_PACKET, seq_start=65000)


def main(folder: str) -> None:
    packets = make_packets()
    period_s = PER_PACKET / RATE_HZ
    device = {"protocol": "reference", "name": "crash-test board", "address": "00:00:00:00:00:00"}
    settings = {
        "rate_hz": RATE_HZ,
        "acc_range_g": 16,
        "gyr_range_dps": 2000,
        "samples_per_packet": PER_PACKET,
    }
    with SessionWriter.create(folder, device=device, settings=settings) as writer:
        start = time.monotonic()
        for k, packet in enumerate(packets):
            time.sleep(max(0.0, start + (k + 1) * period_s - time.monotonic()))
            writer.append(packet, time.time_ns())
            print(k + 1, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
